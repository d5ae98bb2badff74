// Extractors: structure (headings, pages, rows), encodings, and bad input rejected with a reason.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "kb/extract.h"
#include "util/error.h"

using namespace hearth::kb;
using namespace hearth::kb::test;

namespace {

Extracted gen(const std::string& name) { return extract_file(generated_dir() + "/" + name); }

bool has(const Extracted& e, const std::string& s) { return e.text.find(s) != std::string::npos; }

std::string section_of(const Extracted& e, const std::string& needle) {
  size_t at = e.text.find(needle);
  for (const auto& b : e.blocks)
    if (at >= b.start && at < b.end) return e.sections[b.section];
  return "<not found>";
}

hearth::ErrorKind error_kind(const std::string& path) {
  try {
    extract_file(path);
  } catch (const hearth::Error& e) {
    return e.kind();
  }
  return hearth::ErrorKind::internal;
}

}  // namespace

TEST(Extract, FormatFromExtension) {
  EXPECT_EQ(format_for_path("a/b/Notes.MD"), "markdown");
  EXPECT_EQ(format_for_path("/x/policy.txt.gz"), "text");
  EXPECT_EQ(format_for_path("/x/policy.pdf.gz"), "pdf");
  EXPECT_EQ(format_for_path("x.docx"), "docx");
  EXPECT_EQ(format_for_path("x.unknown"), "");
}

TEST(Extract, Docx) {
  Extracted e = gen("garden.docx");
  EXPECT_EQ(e.format, "docx");
  EXPECT_TRUE(has(e, "Tomatoes need full sun"));
  EXPECT_TRUE(has(e, "Basil | 20 cm"));
  EXPECT_EQ(section_of(e, "Loamy soil"), "Garden Handbook > Soil");
  EXPECT_EQ(section_of(e, "Aphids"), "Garden Handbook > Pests");
  EXPECT_EQ(block_coverage_problem(e), "");
}

TEST(Extract, Odt) {
  Extracted e = gen("diary.odt");
  EXPECT_TRUE(has(e, "night train to Vienna.  It was late."));
  EXPECT_EQ(section_of(e, "opera house"), "Travel Diary > Day Two");
  EXPECT_TRUE(has(e, "Cost | 42 EUR"));
}

TEST(Extract, Html) {
  Extracted e = gen("page.html");
  EXPECT_TRUE(has(e, "Bread needs flour, water & salt."));
  EXPECT_FALSE(has(e, "var x"));
  EXPECT_FALSE(has(e, "p{}"));
  EXPECT_TRUE(has(e, "Salt | 1 tsp"));
  EXPECT_TRUE(has(e, "code  block\n  kept"));  // <pre> keeps its spacing
  EXPECT_EQ(section_of(e, "Leek"), "Recipes > Soup");
}

TEST(Extract, Markdown) {
  Extracted e = gen("readme.md");
  EXPECT_TRUE(has(e, "Intro text with emphasis."));
  EXPECT_TRUE(has(e, "make run"));
  EXPECT_TRUE(has(e, "1 | 2"));
  EXPECT_TRUE(has(e, "Run it & enjoy."));
  EXPECT_EQ(section_of(e, "step two"), "Project > Install");
  EXPECT_EQ(section_of(e, "enjoy"), "Project > Use");
}

TEST(Extract, ChineseMarkdownCorpus) {
  Extracted e = extract_file(chinese_markdown());
  EXPECT_GT(e.text.size(), 10000u);
  EXPECT_GT(e.sections.size(), 10u);
  EXPECT_EQ(block_coverage_problem(e), "");
  EXPECT_TRUE(is_valid_utf8(e.text));
}

TEST(Extract, Encodings) {
  Extracted gb = gen("notes-gb18030.txt");
  EXPECT_TRUE(has(gb, "量化模型可以在笔记本电脑上运行"));
  Extracted u16 = gen("notes-utf16.txt");
  EXPECT_TRUE(has(u16, "UTF-16 notes about llamas."));
  EXPECT_EQ(u16.blocks.size(), 2u);
  Extracted l1 = gen("latin1.txt");
  EXPECT_TRUE(has(l1, "Café crème brûlée, naïve façade."));
}

TEST(Extract, CsvTsvJsonXml) {
  Extracted csv = gen("plants.csv");
  EXPECT_TRUE(has(csv, "name: sunflower | height: 200 | notes: tall, yellow"));
  EXPECT_TRUE(has(csv, "notes: likes \"shade\""));
  EXPECT_TRUE(has(gen("plants.tsv"), "name: moss | height: 2"));
  Extracted json = gen("config.json");
  EXPECT_TRUE(has(json, "server.port: 8080"));
  EXPECT_TRUE(has(json, "server.hosts[1]: b"));
  Extracted xml = gen("book.xml");
  EXPECT_EQ(section_of(xml, "ten countries"), "Rivers > Danube");
}

TEST(Extract, BadInputIsRejectedWithAReason) {
  const std::string& d = generated_dir();
  EXPECT_EQ(error_kind(d + "/junk.bin"), hearth::ErrorKind::format);
  EXPECT_EQ(error_kind(d + "/empty.md"), hearth::ErrorKind::format);
  EXPECT_EQ(error_kind(d + "/broken.pdf"), hearth::ErrorKind::format);
  EXPECT_EQ(error_kind(d + "/broken.docx"), hearth::ErrorKind::format);
  EXPECT_EQ(error_kind(d + "/bad.json"), hearth::ErrorKind::format);
  EXPECT_EQ(error_kind(d + "/does-not-exist.md"), hearth::ErrorKind::not_found);
  ExtractOptions small;
  small.max_file_bytes = 100;
  try {
    extract_file(d + "/notes-gb18030.txt", small);
    FAIL() << "no limit error";
  } catch (const hearth::Error& e) {
    EXPECT_EQ(e.kind(), hearth::ErrorKind::limit);
    EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos);
  }
  // Invalid UTF-8 that is not a plausible legacy encoding either: control bytes everywhere.
  std::string junk;
  for (int i = 0; i < 2000; ++i) junk += static_cast<char>(i % 31 + 1);
  EXPECT_THROW(extract_bytes(junk, "text", "junk"), hearth::Error);
}

TEST(Extract, PdfPagesFromDebianPolicy) {
  Extracted e = extract_file(debian_policy_dir() + "/fhs/fhs-3.0.pdf.gz");
  EXPECT_EQ(e.format, "pdf");
  EXPECT_GT(e.pages, 10);
  EXPECT_EQ(e.blocks.front().page, 1);
  EXPECT_EQ(e.blocks.back().page, e.pages);
  EXPECT_TRUE(has(e, "Filesystem Hierarchy Standard"));
  EXPECT_EQ(block_coverage_problem(e), "");
}

TEST(Extract, EpubFromDebianPolicy) {
  Extracted e = extract_file(debian_policy_dir() + "/policy.epub");
  EXPECT_EQ(e.format, "epub");
  EXPECT_TRUE(has(e, "maintainer scripts"));
  EXPECT_GT(e.sections.size(), 50u);
  EXPECT_EQ(block_coverage_problem(e), "");
}

TEST(Extract, GzippedTextFromDebianPolicy) {
  Extracted e = extract_file(debian_policy_dir() + "/upgrading-checklist.txt.gz");
  EXPECT_EQ(e.format, "text");
  EXPECT_GT(e.blocks.size(), 20u);
}
