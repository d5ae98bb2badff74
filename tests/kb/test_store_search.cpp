// Store (schema, transactions, cascades, integrity), ingest (incremental, bad input recorded)
// and BM25 search with the ICU tokenizer (Chinese by words, Latin case-folded).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "fixtures.h"
#include "kb/fts_tokenizer.h"
#include "kb/ingest.h"
#include "kb/search.h"
#include "kb/store.h"
#include "testdata.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace hearth::kb;
using namespace hearth::kb::test;

namespace {

std::string store_path() { return hearth::test::temp_dir() + "/kb.sqlite3"; }

IngestOptions quiet() {
  IngestOptions o;
  o.progress = false;
  return o;
}

std::optional<DocRow> doc_named(Store& s, const KbInfo& k, const std::string& name) {
  for (auto& d : s.documents(k.id))
    if (fs::path(d.path).filename() == name) return d;
  return std::nullopt;
}

}  // namespace

TEST(Tokenizer, SegmentsChineseIntoWordsAndFoldsLatin) {
  auto w = segment_words("Debian 软件包管理 HEARTH.toml Straße");
  std::vector<std::string> expect = {"debian", "软件", "包", "管理", "hearth", "toml", "strasse"};
  EXPECT_EQ(w, expect);
  auto ja = segment_words("東京で日本語を勉強します");
  EXPECT_GE(ja.size(), 4u);  // dictionary-based segmentation, not one token per sentence
  for (const auto& t : ja) EXPECT_LT(t.size(), 4u * 3 + 1) << t;
  EXPECT_TRUE(segment_words(" ,.!？。 ").empty());
}

TEST(Store, DataDirResolution) {
  EXPECT_EQ(data_dir("/x/y"), "/x/y");
  setenv("HEARTH_DATA_DIR", "/from/env", 1);
  EXPECT_EQ(data_dir(), "/from/env");
  unsetenv("HEARTH_DATA_DIR");
  setenv("XDG_DATA_HOME", "/xdg", 1);
  EXPECT_EQ(data_dir(), "/xdg/hearth");
  unsetenv("XDG_DATA_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(data_dir(), "/home/u/.local/share/hearth");
}

TEST(Store, SchemaKbsAndWal) {
  std::string p = store_path();
  {
    Store s(p);
    s.create_kb("notes", {ChunkStrategy::paragraph, 300, 30});
    EXPECT_THROW(s.create_kb("notes", {}), hearth::Error);
    EXPECT_THROW(s.create_kb("a/b", {}), hearth::Error);
    Stmt q(s.db(), "PRAGMA journal_mode");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.str(0), "wal");
  }
  Store s(p);  // reopen: schema present, version kept
  Stmt v(s.db(), "PRAGMA user_version");
  ASSERT_TRUE(v.step());
  EXPECT_EQ(v.i64(0), kSchemaVersion);
  KbInfo k = s.get_kb("notes");
  EXPECT_EQ(k.chunking.strategy, ChunkStrategy::paragraph);
  EXPECT_EQ(k.chunking.target_tokens, 300);
  try {
    s.get_kb("nope");
    FAIL();
  } catch (const hearth::Error& e) {
    EXPECT_EQ(e.kind(), hearth::ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("notes"), std::string::npos);
  }
  for (const char* table : {"documents", "chunks", "chunks_fts", "embedding_models", "embeddings"}) {
    Stmt q(s.db(), "SELECT count(*) FROM sqlite_master WHERE name = ?");
    q.bind(1, std::string(table));
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.i64(0), 1) << table;
  }
}

TEST(Store, VersionOneStoreGainsTheTokenizerColumn) {
  std::string p = store_path();
  {
    Store s(p);
    s.create_kb("old", {ChunkStrategy::fixed, 200, 20});
    // back to the version-1 shape: kbs without chunk_tokenizer
    s.exec("ALTER TABLE kbs DROP COLUMN chunk_tokenizer; PRAGMA user_version=1");
  }
  Store s(p);
  Stmt v(s.db(), "PRAGMA user_version");
  ASSERT_TRUE(v.step());
  EXPECT_EQ(v.i64(0), kSchemaVersion);
  KbInfo old = s.get_kb("old");
  EXPECT_EQ(old.tokenizer, "");
  EXPECT_EQ(old.chunking.target_tokens, 200);
  s.create_kb("new", {}, "/models/m.gguf");
  EXPECT_EQ(s.get_kb("new").tokenizer, "/models/m.gguf");
}

TEST(Store, NewerSchemaIsRefused) {
  std::string p = store_path();
  { Store s(p); s.exec("PRAGMA user_version=99"); }
  EXPECT_THROW(Store{p}, hearth::Error);
}

TEST(Store, NotADatabaseIsAnError) {
  std::string p = write_file(hearth::test::temp_dir() + "/kb.sqlite3", std::string(4096, 'x'));
  EXPECT_THROW(Store{p}, hearth::Error);
}

TEST(Ingest, FolderWithGoodAndBadFiles) {
  Store s(store_path());
  KbInfo k = s.create_kb("gen", {});
  IngestReport r = ingest_paths(s, k, {generated_dir()}, quiet());
  EXPECT_EQ(r.files, 16);
  EXPECT_EQ(r.added, 11);
  EXPECT_EQ(r.failed + r.skipped, 5);  // junk.bin, empty.md, broken.pdf, broken.docx, bad.json
  auto junk = doc_named(s, k, "junk.bin");
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->status, DocStatus::error);
  EXPECT_NE(junk->error.find("binary"), std::string::npos) << junk->error;
  auto pdf = doc_named(s, k, "broken.pdf");
  ASSERT_TRUE(pdf);
  EXPECT_NE(pdf->error.find("PDF"), std::string::npos) << pdf->error;
  EXPECT_EQ(s.integrity_check(), "");

  // Chunks stored are exactly the byte ranges of the extracted text.
  auto docx = doc_named(s, k, "garden.docx");
  ASSERT_TRUE(docx);
  Extracted ex = extract_file(docx->path);
  for (const auto& c : s.chunks_of(docx->id))
    EXPECT_EQ(c.text, ex.text.substr(static_cast<size_t>(c.char_start), static_cast<size_t>(c.char_end - c.char_start)));
}

TEST(Ingest, IncrementalSkipsUnchangedRechunksChangedRemovesDeleted) {
  std::string dir = hearth::test::temp_dir() + "/notes";
  write_file(dir + "/a.md", "# A\n\nalpha apples\n");
  write_file(dir + "/b.md", "# B\n\nbeta bananas\n");
  write_file(dir + "/sub/c.txt", "gamma grapes\n");
  Store s(store_path());
  KbInfo k = s.create_kb("inc", {});
  IngestReport r1 = ingest_paths(s, k, {dir}, quiet());
  EXPECT_EQ(r1.added, 3);
  IngestReport r2 = ingest_paths(s, k, {dir}, quiet());
  EXPECT_EQ(r2.unchanged, 3);
  EXPECT_EQ(r2.bytes, 0);  // size + mtime unchanged: not even read
  write_file(dir + "/a.md", "# A\n\nalpha apricots\n");
  fs::remove(dir + "/b.md");
  // touched, same content: read and hashed, but not re-chunked
  fs::last_write_time(dir + "/sub/c.txt", fs::last_write_time(dir + "/sub/c.txt") + std::chrono::seconds(5));
  IngestReport r3 = ingest_paths(s, k, {dir}, quiet());
  EXPECT_EQ(r3.updated, 1);
  EXPECT_EQ(r3.removed, 1);
  EXPECT_EQ(r3.unchanged, 1);
  EXPECT_TRUE(search(s, k, "apples").empty());
  EXPECT_EQ(search(s, k, "apricots").size(), 1u);
  EXPECT_TRUE(search(s, k, "bananas").empty());
  EXPECT_EQ(s.integrity_check(), "");
  // a file added alone does not remove the rest of the folder
  write_file(dir + "/d.md", "delta dates\n");
  IngestReport r4 = ingest_paths(s, k, {dir + "/d.md"}, quiet());
  EXPECT_EQ(r4.added, 1);
  EXPECT_EQ(r4.removed, 0);
  EXPECT_EQ(s.documents(k.id).size(), 3u);
}

TEST(Ingest, SymlinkLoopsPermissionsLimitsGlobs) {
  std::string dir = hearth::test::temp_dir() + "/tree";
  write_file(dir + "/ok.md", "fine text\n");
  write_file(dir + "/big.txt", std::string(5000, 'a') + "\n");
  write_file(dir + "/skip/me.md", "excluded\n");
  fs::create_directory_symlink(dir, dir + "/loop");  // a folder that contains itself
  fs::create_symlink(dir + "/self1", dir + "/self2");
  fs::create_symlink(dir + "/self2", dir + "/self1");
  write_file(dir + "/secret.md", "secret\n");
  ::chmod((dir + "/secret.md").c_str(), 0);
  Store s(store_path());
  KbInfo k = s.create_kb("t", {});
  IngestOptions o = quiet();
  o.extract.max_file_bytes = 1000;
  o.exclude = {"skip"};
  IngestReport r = ingest_paths(s, k, {dir}, o);
  EXPECT_EQ(r.added, geteuid() == 0 ? 2 : 1);  // root reads mode-000 files
  auto loop = doc_named(s, k, "loop");
  ASSERT_TRUE(loop);
  EXPECT_NE(loop->error.find("loop"), std::string::npos);
  auto self = doc_named(s, k, "self1");
  ASSERT_TRUE(self);
  EXPECT_NE(self->error.find("loop"), std::string::npos);
  auto big = doc_named(s, k, "big.txt");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, DocStatus::skipped);
  EXPECT_NE(big->error.find("limit"), std::string::npos);
  EXPECT_FALSE(doc_named(s, k, "me.md"));
  if (geteuid() != 0) {
    auto secret = doc_named(s, k, "secret.md");
    ASSERT_TRUE(secret);
    EXPECT_NE(secret->error.find("ermission"), std::string::npos) << secret->error;
  }
}

TEST(Search, ChineseQueryFindsChinesePassagesByWords) {
  Store s(store_path());
  KbInfo k = s.create_kb("zh", {ChunkStrategy::structure, 200, 0});
  ingest_paths(s, k, {chinese_markdown(), generated_dir() + "/notes-gb18030.txt"}, quiet());
  // The words of the query occur in the text, but never as this exact sentence.
  auto hits = search(s, k, "笔记本运行量化模型的速度");
  ASSERT_FALSE(hits.empty());
  EXPECT_NE(hits[0].path.find("notes-gb18030"), std::string::npos) << hits[0].path;
  EXPECT_NE(hits[0].snippet.find("[量化]"), std::string::npos) << hits[0].snippet;
  // A single word inside a longer run of Chinese text is found.
  auto hits2 = search(s, k, "显存");
  ASSERT_FALSE(hits2.empty());
  EXPECT_NE(hits2[0].text.find("显存"), std::string::npos);
  EXPECT_FALSE(hits2[0].section.empty());
}

TEST(Search, LatinIsCaseFoldedAndRanked) {
  Store s(store_path());
  KbInfo k = s.create_kb("en", {});
  ingest_paths(s, k, {generated_dir()}, quiet());
  auto hits = search(s, k, "TOMATOES sun");
  ASSERT_FALSE(hits.empty());
  EXPECT_NE(hits[0].path.find("garden.docx"), std::string::npos);
  EXPECT_EQ(hits[0].section, "Garden Handbook");
  EXPECT_GT(hits[0].score, 0);
  SearchOptions all;
  all.match_all = true;
  EXPECT_TRUE(search(s, k, "tomatoes opera", all).empty());
  EXPECT_EQ(search(s, k, "tomatoes opera").size(), 2u);
  EXPECT_THROW(search(s, k, " ,. "), hearth::Error);
}

TEST(Search, KnowledgeBasesAreSeparate) {
  Store s(store_path());
  KbInfo a = s.create_kb("a", {});
  KbInfo b = s.create_kb("b", {});
  ingest_paths(s, a, {generated_dir() + "/garden.docx"}, quiet());
  ingest_paths(s, b, {generated_dir() + "/diary.odt"}, quiet());
  EXPECT_EQ(search(s, a, "tomatoes").size(), 1u);
  EXPECT_TRUE(search(s, b, "tomatoes").empty());
  s.remove_kb("a");
  EXPECT_FALSE(s.find_kb("a"));
  EXPECT_EQ(search(s, b, "vienna").size(), 1u);
  EXPECT_EQ(s.integrity_check(), "");
  Stmt q(s.db(), "SELECT count(*) FROM chunks WHERE kb_id = ?");
  q.bind(1, a.id);
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.i64(0), 0);
}

TEST(Search, EnglishAndChineseReferencePairsFindTheSameSection) {
  // Debian Reference chapter 3 (system initialization) and 4 (authentication), English and
  // Chinese: a query in each language finds the matching chapter's section.
  Store s(store_path());
  KbInfo k = s.create_kb("ref", {});
  std::string d = debian_reference_dir();
  ingest_paths(s, k, {d + "/ch03.en.html", d + "/ch03.zh-cn.html", d + "/ch04.en.html", d + "/ch04.zh-cn.html"}, quiet());
  struct Pair { const char* en; const char* zh; const char* section_prefix; };
  for (const Pair& p : {Pair{"systemd journal", "systemd 日志", "3."}, Pair{"PAM and NSS", "PAM 和 NSS", "4."},
                        Pair{"good password", "好密码", "4."}}) {
    auto en = search(s, k, p.en, {.k = 1});
    auto zh = search(s, k, p.zh, {.k = 1});
    ASSERT_FALSE(en.empty()) << p.en;
    ASSERT_FALSE(zh.empty()) << p.zh;
    EXPECT_NE(en[0].path.find(".en.html"), std::string::npos) << p.en;
    EXPECT_NE(zh[0].path.find(".zh-cn.html"), std::string::npos) << p.zh;
    // same chapter file, and the same numbered section (the manuals number sections alike)
    EXPECT_EQ(fs::path(en[0].path).stem().stem(), fs::path(zh[0].path).stem().stem()) << p.en;
    auto number = [](const std::string& section) {
      size_t gt = section.rfind(" > ");
      std::string last = gt == std::string::npos ? section : section.substr(gt + 3);
      return last.substr(0, last.find(' '));
    };
    EXPECT_EQ(number(en[0].section), number(zh[0].section)) << en[0].section << " vs " << zh[0].section;
  }
}
