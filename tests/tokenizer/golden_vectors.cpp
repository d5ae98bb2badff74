// The reference tokenizer test vectors (testdata/vocab/ggml-vocab-<name>.gguf.inp / .out): every
// input must encode to exactly the reference ids, with add_special = false and
// parse_special = false, and decode back to the input where the tokenizer is lossless.
//
// One test per vector file, so each vocabulary is its own ctest test. Vector files whose
// vocabulary GGUF is not in testdata (too large to obtain) are reported as SKIPPED with the
// reason, never counted as passed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using hearth::tokenizer::Token;
using hearth::tokenizer::Tokenizer;

namespace {

struct VectorFile {
  std::string name;   // "llama-spm"
  std::string inp;    // path of the .inp file ("" when testdata is missing)
  std::string gguf;   // path the vocabulary would have
  std::string error;  // set when the test data directory could not be read
};

// gtest prints the parameter of a failing test: the vocabulary name says it all.
void PrintTo(const VectorFile& vf, std::ostream* os) { *os << vf.name; }

std::vector<VectorFile> vector_files() {
  std::vector<VectorFile> files;
  try {
    const std::string dir = hearth::test::testdata_dir() + "/vocab";
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string file = entry.path().filename().string();
      const std::string prefix = "ggml-vocab-", suffix = ".gguf.inp";
      if (file.size() <= prefix.size() + suffix.size() || file.compare(0, prefix.size(), prefix) != 0 ||
          file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      const std::string name = file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
      files.push_back({name, entry.path().string(), dir + "/ggml-vocab-" + name + ".gguf", ""});
    }
  } catch (const std::exception& e) {
    files.push_back({"testdata_missing", "", "", e.what()});
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return files;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Inputs are each followed by the separator line.
std::vector<std::string> split_inputs(const std::string& text) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t at = 0;
  for (size_t hit; (hit = text.find(sep, at)) != std::string::npos; at = hit + sep.size()) {
    inputs.push_back(text.substr(at, hit - at));
  }
  if (at < text.size()) inputs.push_back(text.substr(at));  // a last input without separator
  return inputs;
}

// One line of space-separated ids per input.
std::vector<std::vector<Token>> read_expected(const std::string& text) {
  std::vector<std::vector<Token>> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    std::vector<Token> v;
    for (long id; ids >> id;) v.push_back(static_cast<Token>(id));
    lines.push_back(std::move(v));
  }
  return lines;
}

std::string ids_string(const std::vector<Token>& ids) {
  std::string s;
  for (Token t : ids) s += (s.empty() ? "" : " ") + std::to_string(t);
  return s;
}

std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.size() > 120 ? out.substr(0, 120) + "…" : out;
}

class GoldenVectors : public ::testing::TestWithParam<VectorFile> {
 protected:
  void SetUp() override {
    const VectorFile& vf = GetParam();
    ASSERT_TRUE(vf.error.empty()) << vf.error;
    if (!fs::exists(vf.gguf)) {
      RecordProperty("missing_vocab", vf.name);
      GTEST_SKIP() << "vectors " << fs::path(vf.inp).filename().string() << " have no vocabulary GGUF ("
                   << fs::path(vf.gguf).filename().string() << " is not in testdata): not checked";
    }
    inputs_ = split_inputs(read_file(vf.inp));
    expected_ = read_expected(read_file(vf.inp.substr(0, vf.inp.size() - 4) + ".out"));
    ASSERT_EQ(inputs_.size(), expected_.size()) << "the .inp and .out files disagree on the number of inputs";
    ASSERT_FALSE(inputs_.empty());
    auto f = hearth::gguf::File::open(vf.gguf);
    tok_ = Tokenizer::from_gguf(f);
  }

  std::vector<std::string> inputs_;
  std::vector<std::vector<Token>> expected_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_P(GoldenVectors, EncodeMatchesReference) {
  size_t passed = 0;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const std::vector<Token> got = tok_->encode(inputs_[i], /*add_special=*/false, /*parse_special=*/false);
    if (got == expected_[i]) {
      ++passed;
    } else {
      ADD_FAILURE() << "input " << i << " \"" << escaped(inputs_[i]) << "\"\n  expected: " << ids_string(expected_[i])
                    << "\n  got:      " << ids_string(got);
    }
  }
  RecordProperty("vectors_passed", std::to_string(passed) + "/" + std::to_string(inputs_.size()));
  std::printf("%s: %zu/%zu vectors match (%s tokenizer)\n", GetParam().name.c_str(), passed, inputs_.size(),
              std::string(tok_->kind()).c_str());
}

TEST_P(GoldenVectors, DecodeRoundTrip) {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const std::vector<Token> ids = tok_->encode(inputs_[i], false, false);
    if (tok_->lossless()) {
      EXPECT_EQ(escaped(tok_->decode(ids)), escaped(inputs_[i])) << "input " << i;
    } else {
      // A normalizing tokenizer cannot give the text back, but what it gives back must be a
      // fixed point: the decoded text (specials written out) encodes to the same ids.
      const std::string text = tok_->decode(ids, /*render_special=*/true);
      EXPECT_EQ(ids_string(tok_->encode(text, false, /*parse_special=*/true)), ids_string(ids))
          << "input " << i << " \"" << escaped(inputs_[i]) << "\" decoded as \"" << escaped(text) << "\"";
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<VectorFile>& info) {
  std::string s = info.param.name;
  std::replace_if(s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return s;
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, GoldenVectors, ::testing::ValuesIn(vector_files()), param_name);

}  // namespace
