// kb ask without the CLI: prompt building with numbered sources, fitting into a token budget
// counted with a real tokenizer (models/stories260K.gguf), dropped sources, citation mapping.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/generate.h"
#include "kb/ask.h"
#include "kb/store.h"
#include "testdata.h"
#include "util/error.h"

using namespace hearth;

namespace {

class AskTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::RegistryOptions ro;
    ro.models_dir = test::source_dir() + "/models";
    ro.defaults.n_parallel = 1;
    ro.defaults.n_ctx = 512;
    reg_ = new engine::Registry(ro);
    model_ = engine::TextModel::open(*reg_, "stories260K").release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete reg_;
  }
  static kb::SearchHit hit(const std::string& path, const std::string& section, int page, const std::string& text) {
    kb::SearchHit h;
    h.path = path;
    h.section = section;
    h.page = h.page_end = page;
    h.text = text;
    h.chunk_id = static_cast<int64_t>(text.size());
    return h;
  }
  static engine::Registry* reg_;
  static engine::TextModel* model_;
};
engine::Registry* AskTest::reg_ = nullptr;
engine::TextModel* AskTest::model_ = nullptr;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST_F(AskTest, SourceBlockNamesFileSectionAndPage) {
  EXPECT_EQ(kb::source_block(2, hit("/docs/notes/cats.md", "Pets › Cats", 0, "Cats like fish.\n")),
            "[2] cats.md — § Pets › Cats\nCats like fish.");
  EXPECT_EQ(kb::source_block(1, hit("/p/manual.pdf", "", 3, "x")), "[1] manual.pdf — p. 3\nx");
  kb::SearchHit h = hit("/p/manual.pdf", "Intro", 3, "x");
  h.page_end = 4;
  EXPECT_EQ(kb::source_block(5, h), "[5] manual.pdf — § Intro, pp. 3–4\nx");
  EXPECT_EQ(kb::source_block(1, hit("/a/b.txt", "", 0, "y")), "[1] b.txt\ny");
}

TEST_F(AskTest, AllSourcesFitNumberedInRankOrder) {
  std::vector<kb::SearchHit> hits = {hit("/d/a.md", "A", 0, "The cat sat on the mat."),
                                     hit("/d/b.md", "B", 2, "Lily had a red ball.")};
  kb::AskPrompt p = kb::build_prompt(*model_, "What did Lily have?", hits, {});
  ASSERT_EQ(p.sources.size(), 2u);
  EXPECT_TRUE(p.dropped.empty());
  EXPECT_EQ(p.sources[0].number, 1);
  EXPECT_EQ(p.sources[1].number, 2);
  EXPECT_EQ(p.sources[1].rank, 2);
  EXPECT_TRUE(contains(p.text, "[1] a.md — § A\nThe cat sat on the mat."));
  EXPECT_TRUE(contains(p.text, "[2] b.md — § B, p. 2\nLily had a red ball."));
  EXPECT_TRUE(contains(p.text, "Question: What did Lily have?"));
  EXPECT_TRUE(contains(p.text, kb::kAskSystemPrompt));
  EXPECT_LT(p.text.find("[1] a.md"), p.text.find("[2] b.md"));
  EXPECT_LT(p.text.find("[2] b.md"), p.text.find("Question:"));
  // Counted exactly with the model's tokenizer, as submitted.
  EXPECT_EQ(p.prompt_tokens, model_->count_prompt_tokens(p.text));
  EXPECT_LE(p.prompt_tokens, p.budget);
  EXPECT_GT(p.sources[0].tokens, model_->count_tokens("The cat sat on the mat.") - 1);
  EXPECT_EQ(p.budget, 512 - 256);  // default: context minus min(max_answer_tokens, context / 2)
  EXPECT_EQ(p.max_answer_tokens, std::min<int64_t>(512, 512 - p.prompt_tokens));
}

TEST_F(AskTest, SourceThatDoesNotFitIsDroppedAndReported) {
  std::string big;
  for (int i = 0; i < 40; ++i) big += "The big dog ran in the park and barked at the birds. ";
  std::vector<kb::SearchHit> hits = {hit("/d/small.md", "", 0, "The cat sat."), hit("/d/big.md", "Dogs", 0, big),
                                     hit("/d/other.md", "", 0, "Lily had a ball.")};
  // The budget of exactly the prompt with the two small sources.
  std::vector<std::string> blocks = {kb::source_block(1, hits[0]), kb::source_block(2, hits[2])};
  const std::string text = model_->render_chat({{"system", kb::kAskSystemPrompt},
                                                {"user", kb::ask_user_message(blocks, "Who had a ball?")}});
  kb::AskOptions o;
  o.max_context_tokens = model_->count_prompt_tokens(text);
  kb::AskPrompt p = kb::build_prompt(*model_, "Who had a ball?", hits, o);
  EXPECT_EQ(p.text, text);
  EXPECT_EQ(p.prompt_tokens, o.max_context_tokens);
  ASSERT_EQ(p.sources.size(), 2u);
  EXPECT_EQ(p.sources[0].hit.path, "/d/small.md");
  EXPECT_EQ(p.sources[1].hit.path, "/d/other.md");
  EXPECT_EQ(p.sources[1].number, 2);  // numbering stays contiguous
  EXPECT_EQ(p.sources[1].rank, 3);
  ASSERT_EQ(p.dropped.size(), 1u);
  EXPECT_EQ(p.dropped[0].hit.path, "/d/big.md");
  EXPECT_EQ(p.dropped[0].rank, 2);
  EXPECT_EQ(p.dropped[0].number, 0);
  EXPECT_GT(p.dropped[0].tokens, 300);
  EXPECT_FALSE(contains(p.text, "big dog"));

  // One token less: the last source is dropped too.
  o.max_context_tokens -= 1;
  p = kb::build_prompt(*model_, "Who had a ball?", hits, o);
  ASSERT_EQ(p.sources.size(), 1u);
  ASSERT_EQ(p.dropped.size(), 2u);
  EXPECT_EQ(p.dropped[1].rank, 3);
  EXPECT_LE(p.prompt_tokens, o.max_context_tokens);
}

TEST_F(AskTest, BudgetTooSmallForTheQuestionIsAnError) {
  kb::AskOptions o;
  o.max_context_tokens = 10;
  try {
    kb::build_prompt(*model_, "Who had a ball?", {hit("/d/a.md", "", 0, "x")}, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::limit);
    EXPECT_TRUE(contains(e.what(), "--max-context-tokens")) << e.what();
  }
}

TEST_F(AskTest, CitationsMapToSources) {
  std::vector<kb::SearchHit> hits = {hit("/d/a.md", "A", 0, "one"), hit("/d/b.pdf", "", 7, "two"),
                                     hit("/d/c.md", "C", 0, "three")};
  kb::AskPrompt p = kb::build_prompt(*model_, "q", hits, {});
  ASSERT_EQ(p.sources.size(), 3u);
  const std::string answer = "Cats [1]. Dogs [2, 3] and birds [1-3][9]. Not [x], [12345] nor [2 or [. End [3]";
  auto cites = kb::find_citations(answer, p);
  std::vector<int> nums, srcs;
  for (const auto& c : cites) {
    nums.push_back(c.number);
    srcs.push_back(c.source);
  }
  EXPECT_EQ(nums, (std::vector<int>{1, 2, 3, 1, 2, 3, 9, 3}));
  EXPECT_EQ(srcs, (std::vector<int>{0, 1, 2, 0, 1, 2, -1, 2}));
  EXPECT_EQ(cites[0].offset, answer.find("[1]"));
  EXPECT_EQ(cites.back().offset, answer.rfind("[3]"));
  kb::AskResult r;
  r.answer = answer;
  r.citations = cites;
  auto j = kb::ask_summary_json(p, r);
  EXPECT_EQ(j["citations"][1]["path"], "/d/b.pdf");
  EXPECT_EQ(j["citations"][1]["page"], 7);
  EXPECT_EQ(j["citations"][1]["location"], "p. 7");
  EXPECT_TRUE(j["citations"][6].contains("error"));
  EXPECT_EQ(j["sources"].size(), 3u);
}

TEST_F(AskTest, RunAskGeneratesAndMarksCitedSources) {
  std::vector<kb::SearchHit> hits = {hit("/d/a.md", "A", 0, "Lily had a red ball.")};
  kb::AskPrompt p = kb::build_prompt(*model_, "What did Lily have?", hits, {});
  engine::GenerateOptions go;
  go.max_tokens = 16;
  go.sampling.temperature = 0;
  std::string streamed;
  kb::AskResult r = kb::run_ask(*model_, p, go, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(r.answer, streamed);
  EXPECT_FALSE(r.answer.empty());
  EXPECT_EQ(r.generation.prompt_tokens, p.prompt_tokens);
  EXPECT_LE(r.generation.completion_tokens, 16);
  bool cited = false;
  for (const auto& c : r.citations) cited |= c.source == 0;
  EXPECT_EQ(p.sources[0].cited, cited);

  // A sink that says stop cancels the generation.
  int pieces = 0;
  r = kb::run_ask(*model_, p, go, [&](const std::string&) { return ++pieces < 2; });
  EXPECT_EQ(r.generation.finish_reason, "cancelled");
}

TEST_F(AskTest, PrepareAskRetrievesFromTheStore) {
  std::string dir = test::temp_dir();
  kb::Store store(dir + "/kb.sqlite3");
  kb::KbInfo k = store.create_kb("t", {});
  kb::DocRow d;
  d.kb_id = k.id;
  d.path = "/d/pets.md";
  d.format = "markdown";
  d.content_hash = "x";
  kb::ChunkRow c1, c2;
  c1.section = "Cats";
  c1.text = "The cat likes fish.";
  c2.ordinal = 1;
  c2.section = "Dogs";
  c2.text = "The dog likes bones.";
  store.put_document(d, {c1, c2});
  kb::AskOptions o;
  o.k = 1;
  kb::AskPrompt p = kb::prepare_ask(store, k, *model_, "what does the dog like", o);
  ASSERT_EQ(p.sources.size(), 1u);
  EXPECT_EQ(p.sources[0].hit.section, "Dogs");
  EXPECT_TRUE(contains(p.text, "[1] pets.md — § Dogs\nThe dog likes bones."));
  EXPECT_THROW(kb::prepare_ask(store, k, *model_, "  ", o), Error);
}
