// The sample model (models/stories260K.gguf), greedy, prompt "Once upon a time", 64 tokens,
// must continue exactly as the established engine does (testdata/models/stories260K.greedy.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "model/model.h"
#include "testdata.h"

using namespace hearth;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string greedy_continuation(int n_threads) {
  auto m = model::Model::load(test::source_dir() + "/models/stories260K.gguf");
  model::Context ctx(*m, {.n_ctx = 256, .n_threads = n_threads});
  std::vector<tokenizer::Token> prompt = m->tokenizer().encode("Once upon a time", true, false);
  std::span<const float> logits = ctx.eval(prompt);
  std::vector<tokenizer::Token> out;
  for (int i = 0; i < 64; ++i) {
    auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    tokenizer::Token t = static_cast<tokenizer::Token>(best);
    out.push_back(t);
    logits = ctx.eval({&t, 1});
  }
  return m->tokenizer().decode(out);
}

}  // namespace

TEST(StoriesGolden, GreedyContinuationMatchesReference) {
  std::string expected = read_file(test::testdata_file("models/stories260K.greedy.txt"));
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(greedy_continuation(1), expected);
}

TEST(StoriesGolden, SameOutputWithTwoThreads) {
  std::string expected = read_file(test::testdata_file("models/stories260K.greedy.txt"));
  EXPECT_EQ(greedy_continuation(2), expected);
}
