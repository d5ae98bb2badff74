// The hearth binary, run as a subprocess: exit codes, messages and output of each command.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testdata.h"

namespace fs = std::filesystem;

namespace {

using Result = hearth::test::CommandResult;  // stdout and stderr together

Result run_hearth(const std::vector<std::string>& args, bool with_stderr = true) {
  std::string cmd = hearth::test::shell_quote(hearth::test::hearth_binary());
  for (const auto& a : args) {
    cmd += ' ';
    cmd += hearth::test::shell_quote(a);
  }
  cmd += with_stderr ? " 2>&1" : " 2>/dev/null";
  return hearth::test::run_command(cmd);
}

std::string sample_model() { return hearth::test::source_dir() + "/models/stories260K.gguf"; }

}  // namespace

TEST(Cli, Version) {
  Result r = run_hearth({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("hearth 0."), std::string::npos) << r.out;
}

TEST(Cli, HelpListsCommands) {
  Result r = run_hearth({"help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("show"), std::string::npos);
  EXPECT_NE(r.out.find("tokenize"), std::string::npos);
}

TEST(Cli, UnknownFlagAndCommandFail) {
  EXPECT_NE(run_hearth({"show", "--bogus", sample_model()}).code, 0);
  EXPECT_NE(run_hearth({"frobnicate"}).code, 0);
  EXPECT_NE(run_hearth({"show"}).code, 0);  // missing FILE
}

TEST(Cli, ShowSampleModel) {
  Result r = run_hearth({"show", sample_model()});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("architecture     llama"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layers           5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("heads / kv heads 8 / 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("llama, 512 tokens"), std::string::npos) << r.out;
}

TEST(Cli, BenchJsonReportsSpeedBandwidthAndEfficiency) {
  Result r = run_hearth({"bench", sample_model(), "-p", "16", "-n", "16", "-r", "2", "-t", "2", "--json"}, false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n_prompt"], 16);
  EXPECT_EQ(j["pp_tokens_per_s"]["samples"].size(), 2u);
  EXPECT_EQ(j["tg_tokens_per_s"]["samples"].size(), 2u);
  const double tg = j["tg_tokens_per_s"]["mean"], bytes = j["weight_bytes_per_token"];
  const double triad = j["bandwidth_gb_per_s"], reads = j["read_bandwidth_gb_per_s"];
  EXPECT_GT(tg, 0);
  EXPECT_GT(triad, 0);
  EXPECT_GT(reads, 0);
  // The efficiencies are exactly the documented ratios of the reported figures.
  EXPECT_NEAR(j["generation_efficiency"].get<double>(), bytes * tg / (triad * 1e9), 1e-9);
  EXPECT_NEAR(j["generation_efficiency_reads"].get<double>(), bytes * tg / (reads * 1e9), 1e-9);
  // The kernels' own speed on cached weights, and generation against it.
  const double kernels = j["kernel_gb_per_s"];
  EXPECT_GT(kernels, 0);
  EXPECT_NEAR(j["generation_efficiency_kernels"].get<double>(), bytes * tg / (kernels * 1e9), 1e-9);
  // And per repetition, against the bandwidth measured right after each one.
  const auto& p = j["paired"];
  ASSERT_EQ(p["triad_gb_per_s"].size(), 2u);
  ASSERT_EQ(p["generation_efficiency"]["samples"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const double tg_i = j["tg_tokens_per_s"]["samples"][i], triad_i = p["triad_gb_per_s"][i], reads_i = p["read_gb_per_s"][i];
    EXPECT_GT(triad_i, 0);
    EXPECT_NEAR(p["generation_efficiency"]["samples"][i].get<double>(), bytes * tg_i / (triad_i * 1e9), 1e-9);
    EXPECT_NEAR(p["generation_efficiency_reads"]["samples"][i].get<double>(), bytes * tg_i / (reads_i * 1e9), 1e-9);
  }
  // The share of the file on 2 MiB pages: a fraction where /proc/self/smaps exists (Linux).
  if (std::filesystem::exists("/proc/self/smaps")) {
    ASSERT_TRUE(j["huge_page_fraction"].is_number()) << j["huge_page_fraction"].dump();
    EXPECT_GE(j["huge_page_fraction"].get<double>(), 0.0);
    EXPECT_LE(j["huge_page_fraction"].get<double>(), 1.0);
  }
}

TEST(Cli, ShowJsonOnEveryTestdataFile) {
  std::string dir = hearth::test::testdata_dir();
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    ++files;
    Result r = run_hearth({"show", "--json", e.path().string()}, false);
    ASSERT_EQ(r.code, 0) << e.path() << "\n" << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_FALSE(j["architecture"].get<std::string>().empty()) << e.path();
    EXPECT_GT(j["tokenizer"]["vocab_size"].get<int>(), 0) << e.path();
    EXPECT_EQ(j["file_size"].get<uint64_t>(), fs::file_size(e.path()));
  }
  EXPECT_GE(files, 14);
}

TEST(Cli, ShowJsonCountsParameters) {
  Result r = run_hearth({"show", "--json", sample_model()}, false);
  ASSERT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensor_count"], 48);
  EXPECT_EQ(j["tensor_types"]["F32"]["tensors"], 48);
  // stories260K: 512×64 embedding + 5 layers + norms; the exact count is the sum of elements.
  EXPECT_GT(j["parameter_count"].get<int>(), 250000);
  EXPECT_LT(j["parameter_count"].get<int>(), 300000);
  EXPECT_EQ(j["context_length"], 2048);
  EXPECT_EQ(j["has_chat_template"], false);
}

TEST(Cli, MissingFileIsExit3WithTheName) {
  Result r = run_hearth({"show", "/nonexistent/model.gguf"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.out.find("/nonexistent/model.gguf: cannot open"), std::string::npos) << r.out;
}

TEST(Cli, CorruptFileIsExit4) {
  std::string dir = hearth::test::temp_dir();
  // A real model cut in half: the header parses, the tensor data is missing.
  std::ifstream in(sample_model(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir + "/half.gguf", std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size() / 2));
  Result r = run_hearth({"show", dir + "/half.gguf"});
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.out.find("extends past the end of the file"), std::string::npos) << r.out;
  std::ofstream(dir + "/text.gguf") << "hello, not a model";
  r = run_hearth({"show", dir + "/text.gguf"});
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.out.find("not a GGUF file"), std::string::npos) << r.out;
}

TEST(Cli, TokenizeSampleModel) {
  Result ids = run_hearth({"tokenize", "--model", sample_model(), "--ids-only", "Once upon a time"}, false);
  ASSERT_EQ(ids.code, 0) << ids.out;
  EXPECT_EQ(ids.out.rfind("1 ", 0), 0u) << "BOS first: " << ids.out;
  Result pieces = run_hearth({"tokenize", "--model", sample_model(), "Once upon a time"}, false);
  ASSERT_EQ(pieces.code, 0);
  EXPECT_NE(pieces.out.find("' upon'"), std::string::npos) << pieces.out;
  Result none = run_hearth({"tokenize", "--model", sample_model()});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.out.find("nothing to tokenize"), std::string::npos);
}

namespace {
std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
}  // namespace

TEST(Cli, RunGreedyPrintsPromptAndReferenceContinuation) {
  Result r = run_hearth({"run", sample_model(), "Once upon a time", "-n", "64", "--temp", "0"}, false);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string expected = read_all(hearth::test::testdata_file("models/stories260K.greedy.txt"));
  EXPECT_EQ(r.out, "Once upon a time" + expected + "\n");
}

TEST(Cli, RunVerboseReportsLoadSpeedAndPages) {
  Result r = run_hearth({"run", sample_model(), "Once upon a time", "-n", "8", "--temp", "0", "--verbose"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("loaded "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("generation: 8 tokens"), std::string::npos) << r.out;
  if (std::filesystem::exists("/proc/self/smaps")) {
    EXPECT_NE(r.out.find("% of the file mapped with 2 MiB pages"), std::string::npos) << r.out;
  }
}

TEST(Cli, RunSameSeedSameStory) {
  std::vector<std::string> args = {"run", sample_model(), "Once upon a time", "-n", "40", "--seed", "7"};
  Result a = run_hearth(args, false), b = run_hearth(args, false);
  ASSERT_EQ(a.code, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_GT(a.out.size(), std::string("Once upon a time").size() + 40);
}

TEST(Cli, RunRejectsAPromptLongerThanTheContext) {
  std::string prompt;
  for (int i = 0; i < 100; ++i) prompt += "Once upon a time ";
  Result r = run_hearth({"run", sample_model(), prompt, "--ctx", "32"});
  EXPECT_EQ(r.code, 7) << r.out;
  EXPECT_NE(r.out.find("context holds 32"), std::string::npos) << r.out;
}

TEST(Cli, QuantizeWritesAWorkingModel) {
  const std::string dir = hearth::test::temp_dir();
  const std::string out = dir + "/stories-q8.gguf";
  Result q = run_hearth({"quantize", sample_model(), out, "Q8_0"});
  ASSERT_EQ(q.code, 0) << q.out;
  EXPECT_NE(q.out.find("48 tensors"), std::string::npos) << q.out;
  // ffn_down rows of 172 values cannot be Q8_0: the fallback is reported, not hidden.
  EXPECT_NE(q.out.find("stored as F16"), std::string::npos) << q.out;

  Result show = run_hearth({"show", "--json", out}, false);
  ASSERT_EQ(show.code, 0) << show.out;
  auto j = nlohmann::json::parse(show.out);
  EXPECT_EQ(j["tensor_types"]["Q8_0"]["tensors"], 2 + 5 * 6);  // embeddings, output, 6 per layer
  EXPECT_EQ(j["tensor_types"]["F16"]["tensors"], 5);
  EXPECT_EQ(j["tensor_types"]["F32"]["tensors"], 1 + 5 * 2);  // norms stay exact
  EXPECT_LT(fs::file_size(out), fs::file_size(sample_model()) / 2);

  Result run = run_hearth({"run", out, "Once upon a time", "-n", "20", "--temp", "0"}, false);
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_EQ(run.out.rfind("Once upon a time, there was a little girl", 0), 0u) << run.out;
}

TEST(Cli, QuantizeErrorsLeaveNothingBehind) {
  const std::string dir = hearth::test::temp_dir();
  Result bad_type = run_hearth({"quantize", sample_model(), dir + "/x.gguf", "Q3_K"});
  EXPECT_EQ(bad_type.code, 2) << bad_type.out;
  EXPECT_NE(bad_type.out.find("Q3_K"), std::string::npos) << bad_type.out;
  EXPECT_FALSE(fs::exists(dir + "/x.gguf"));

  // A quantized model cannot be quantized again to another type.
  ASSERT_EQ(run_hearth({"quantize", sample_model(), dir + "/q8.gguf", "Q8_0"}).code, 0);
  Result again = run_hearth({"quantize", dir + "/q8.gguf", dir + "/q4.gguf", "Q4_0"});
  EXPECT_EQ(again.code, 5) << again.out;
  EXPECT_NE(again.out.find("stored as Q8_0"), std::string::npos) << again.out;
  EXPECT_FALSE(fs::exists(dir + "/q4.gguf"));

  Result no_dir = run_hearth({"quantize", sample_model(), dir + "/missing/dir/out.gguf", "Q8_0"});
  EXPECT_NE(no_dir.code, 0);
  EXPECT_FALSE(fs::exists(dir + "/missing"));
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().extension(), ".gguf") << "temporary file left behind: " << e.path();
  }
}
