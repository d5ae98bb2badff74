// Chunking: every strategy covers all extracted text of every test file, respects the target,
// and chunks know their section and page.
#include <gtest/gtest.h>

#include <filesystem>

#include "fixtures.h"
#include "kb/chunk.h"
#include "kb/token_counter.h"
#include "gguf/gguf.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using namespace hearth::kb;
using namespace hearth::kb::test;

namespace {

std::vector<std::string> test_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(generated_dir())) {
    std::string n = e.path().filename().string();
    if (n == "junk.bin" || n == "empty.md" || n.rfind("broken", 0) == 0 || n == "bad.json") continue;
    files.push_back(e.path().string());
  }
  files.push_back(chinese_markdown());
  files.push_back(debian_policy_dir() + "/fhs/fhs-3.0.pdf.gz");
  files.push_back(debian_policy_dir() + "/upgrading-checklist.txt.gz");
  files.push_back(debian_reference_dir() + "/ch03.en.html");
  files.push_back(debian_reference_dir() + "/ch03.zh-cn.html");
  return files;
}

std::vector<ChunkConfig> configs() {
  return {{ChunkStrategy::structure, 400, 0}, {ChunkStrategy::structure, 64, 0}, {ChunkStrategy::paragraph, 200, 40},
          {ChunkStrategy::paragraph, 32, 0},  {ChunkStrategy::fixed, 128, 32},     {ChunkStrategy::fixed, 16, 0}};
}

}  // namespace

TEST(Chunk, TokenEstimate) {
  EXPECT_EQ(estimate_tokens(""), 0);
  EXPECT_EQ(estimate_tokens("cat"), 1);
  EXPECT_EQ(estimate_tokens("elephant"), 2);           // 8 chars → 2
  EXPECT_EQ(estimate_tokens("a cat, a dog."), 6);      // 4 words + 2 punctuation
  EXPECT_EQ(estimate_tokens("量化模型"), 4);              // one per ideograph
  EXPECT_EQ(estimate_tokens("ひらがなカタカナ"), 8);
}

TEST(Chunk, EveryStrategyCoversAllTextOfEveryTestFile) {
  for (const auto& path : test_files()) {
    Extracted doc = extract_file(path);
    ASSERT_EQ(block_coverage_problem(doc), "") << path;
    for (const auto& cfg : configs()) {
      std::vector<Chunk> chunks = chunk_document(doc, cfg);
      ASSERT_FALSE(chunks.empty()) << path;
      EXPECT_EQ(coverage_problem(doc, chunks), "") << path << " with " << chunk_strategy_name(cfg.strategy) << " "
                                                   << cfg.target_tokens;
      for (const auto& c : chunks) {
        // A single block can exceed the target only in the token estimate's rounding.
        EXPECT_LE(c.tokens, cfg.target_tokens + 2) << path << " " << chunk_strategy_name(cfg.strategy);
        EXPECT_TRUE(is_valid_utf8(doc.text.substr(c.start, c.end - c.start))) << path;
      }
    }
  }
}

TEST(Chunk, StructureKeepsSectionsAndMergesSmallOnes) {
  Extracted doc = extract_file(generated_dir() + "/readme.md");
  auto big = chunk_document(doc, {ChunkStrategy::structure, 1000, 0});
  EXPECT_EQ(big.size(), 1u);  // whole small file merged into one chunk
  auto small = chunk_document(doc, {ChunkStrategy::structure, 16, 0});
  ASSERT_GE(small.size(), 3u);
  bool install = false;
  for (const auto& c : small) install |= c.section == "Project > Install";
  EXPECT_TRUE(install);
}

TEST(Chunk, ParagraphOverlapRepeatsTrailingParagraphs) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Paragraph number " + std::to_string(i) + " talks about gardens.\n\n";
  Extracted doc = extract_bytes(text, "text", "mem");
  auto chunks = chunk_document(doc, {ChunkStrategy::paragraph, 40, 15});
  ASSERT_GT(chunks.size(), 3u);
  for (size_t i = 1; i < chunks.size(); ++i) EXPECT_LT(chunks[i].start, chunks[i - 1].end) << i;  // overlap
  auto plain = chunk_document(doc, {ChunkStrategy::paragraph, 40, 0});
  for (size_t i = 1; i < plain.size(); ++i) EXPECT_GE(plain[i].start, plain[i - 1].end);
}

TEST(Chunk, FixedWindowsKeepPages) {
  Extracted doc = extract_file(debian_policy_dir() + "/fhs/fhs-3.0.pdf.gz");
  auto chunks = chunk_document(doc, {ChunkStrategy::fixed, 100, 20});
  int last_page = 0;
  for (const auto& c : chunks) {
    EXPECT_GE(c.page, last_page);
    EXPECT_EQ(c.page, c.page_end);  // windows never cross a page
    last_page = c.page;
  }
  EXPECT_EQ(last_page, doc.pages);
}

TEST(Chunk, LongCjkParagraphIsCutIntoWindows) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "本地模型在笔记本上运行。";
  Extracted doc = extract_bytes(text, "text", "mem");
  auto chunks = chunk_document(doc, {ChunkStrategy::structure, 100, 0});
  EXPECT_GE(chunks.size(), 60u);
  EXPECT_EQ(coverage_problem(doc, chunks), "");
}

TEST(Chunk, ConfigValidation) {
  EXPECT_THROW(chunk_document(Extracted{}, {ChunkStrategy::fixed, 4, 0}), hearth::Error);
  EXPECT_THROW(chunk_document(Extracted{}, {ChunkStrategy::fixed, 100, 80}), hearth::Error);
  EXPECT_THROW(parse_chunk_strategy("sentences"), hearth::Error);
}

// With a tokenizer configured (kb create --tokenizer), every size decision and Chunk::tokens use
// it: each chunk's count is exactly the tokenizer's count of its text, within the target, and
// the chunks still cover all the text.
TEST(Chunk, TokenizerCountsEveryChunkExactlyAndWithinTheTarget) {
  const std::string model = hearth::test::source_dir() + "/models/stories260K.gguf";
  TokenCounter count = make_token_counter(model);
  ASSERT_TRUE(count);
  EXPECT_EQ(token_counter_name(model), "stories260K.gguf tokenizer");
  EXPECT_EQ(token_counter_name(""), "estimate");
  EXPECT_FALSE(make_token_counter(""));
  // an independent tokenizer for the expected counts
  auto tok = hearth::tokenizer::Tokenizer::from_gguf(hearth::gguf::File::open(model));
  auto reference = [&](std::string_view t) { return static_cast<int>(tok->encode(t, false, false).size()); };

  std::string cjk;
  for (int i = 0; i < 300; ++i) cjk += "本地模型在笔记本上运行。";
  std::vector<std::pair<std::string, Extracted>> docs;
  for (std::string path : {generated_dir() + "/readme.md", chinese_markdown(), generated_dir() + "/garden.docx",
                           debian_policy_dir() + "/upgrading-checklist.txt.gz"})
    docs.emplace_back(path, extract_file(path));
  docs.emplace_back("cjk", extract_bytes(cjk, "text", "cjk"));
  bool differs_from_estimate = false;
  for (const auto& [name, doc] : docs) {
    for (const auto& cfg : configs()) {
      std::vector<Chunk> chunks = chunk_document(doc, cfg, count);
      ASSERT_FALSE(chunks.empty()) << name;
      EXPECT_EQ(coverage_problem(doc, chunks), "") << name << " with " << chunk_strategy_name(cfg.strategy) << " "
                                                   << cfg.target_tokens;
      for (const auto& c : chunks) {
        std::string_view text = std::string_view(doc.text).substr(c.start, c.end - c.start);
        EXPECT_EQ(c.tokens, reference(text)) << name;
        EXPECT_LE(c.tokens, cfg.target_tokens) << name << " " << chunk_strategy_name(cfg.strategy) << " "
                                               << cfg.target_tokens << ": " << text;
        EXPECT_TRUE(is_valid_utf8(text)) << name;
        differs_from_estimate |= c.tokens != estimate_tokens(text);
      }
    }
  }
  EXPECT_TRUE(differs_from_estimate);
}

TEST(Chunk, MissingOrBrokenTokenizerFileIsAClearError) {
  const std::string dir = hearth::test::temp_dir();
  try {
    make_token_counter(dir + "/nope.gguf");
    FAIL();
  } catch (const hearth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.gguf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tokenizer"), std::string::npos) << e.what();
  }
  std::string junk = write_file(dir + "/junk.gguf", std::string(1000, 'x'));
  try {
    make_token_counter(junk);
    FAIL();
  } catch (const hearth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.gguf"), std::string::npos) << e.what();
  }
}
