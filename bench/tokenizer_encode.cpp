// Encode throughput of the tokenizers on about 1.5 MB of mixed English / Chinese text (bytes/s).
//
//   build/release/bench/bench_tokenizer_encode [--benchmark_filter=spm]
//
// The text is built from the test data: the Chinese Markdown guide (corpus/local-llm-guide-zh.md)
// interleaved with the inputs of the tokenizer test vectors (English, code-like text, emoji, other
// scripts), repeated until it passes 1.5 MB. HEARTH_TESTDATA overrides the test data directory.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

std::string testdata_dir() {
  const char* env = std::getenv("HEARTH_TESTDATA");
  return env != nullptr && *env != '\0' ? env : HEARTH_TESTDATA_DEFAULT;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& mixed_text() {
  static const std::string text = [] {
    const std::string dir = testdata_dir();
    const std::string zh = read_file(dir + "/corpus/local-llm-guide-zh.md");
    std::string en;
    for (const char* name : {"llama-spm", "gpt-2", "bert-bge", "qwen2", "qwen35"}) {
      std::string inp = read_file(dir + "/vocab/ggml-vocab-" + std::string(name) + ".gguf.inp");
      // The separator lines are test-file syntax, not text.
      for (size_t at; (at = inp.find("__ggml_vocab_test__")) != std::string::npos;) inp.erase(at, 19);
      en += inp;
    }
    std::string out;
    if (zh.empty() || en.empty()) return out;
    // Alternate paragraphs-sized slices so both scripts are spread through the text.
    const size_t slice = 4096;
    size_t zi = 0, ei = 0;
    while (out.size() < 1536 * 1024) {
      // Cut the Chinese text at a character boundary (not in the middle of a UTF-8 sequence).
      size_t end = std::min(zh.size(), zi + slice);
      while (end < zh.size() && (static_cast<unsigned char>(zh[end]) & 0xC0) == 0x80) ++end;
      out.append(zh, zi, end - zi);
      zi = end >= zh.size() ? 0 : end;
      out.append(en, ei, std::min(en.size() - ei, slice / 2));
      ei = ei + slice / 2 >= en.size() ? 0 : ei + slice / 2;
    }
    return out;
  }();
  return text;
}

void BM_Encode(benchmark::State& state, const char* vocab_file) {
  const std::string& text = mixed_text();
  if (text.empty()) {
    state.SkipWithError("test data not found: set HEARTH_TESTDATA");
    return;
  }
  std::unique_ptr<hearth::tokenizer::Tokenizer> tok;
  try {
    auto f = hearth::gguf::File::open(testdata_dir() + "/vocab/" + vocab_file);
    tok = hearth::tokenizer::Tokenizer::from_gguf(f);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  size_t n_tokens = 0;
  for (auto _ : state) {
    std::vector<hearth::tokenizer::Token> ids = tok->encode(text, true, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.counters["text_bytes"] = static_cast<double>(text.size());
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

BENCHMARK_CAPTURE(BM_Encode, spm_llama, "ggml-vocab-llama-spm.gguf")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, bpe_qwen2, "ggml-vocab-qwen2.gguf")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, bpe_llama3, "ggml-vocab-llama-bpe.gguf")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, wordpiece_bge, "ggml-vocab-bert-bge.gguf")->Unit(benchmark::kMillisecond);

}  // namespace
