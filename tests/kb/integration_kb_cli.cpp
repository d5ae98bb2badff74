// `hearth kb …` as a user runs it: create/add/list/docs/chunks/stats/search/rm, JSON output,
// exit codes, and kill -9 in the middle of an ingest.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "fixtures.h"
#include "kb/store.h"
#include "testdata.h"

namespace fs = std::filesystem;
using namespace hearth::kb::test;

namespace {

using Result = hearth::test::CommandResult;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST(KbCli, CreateAddSearchInspectRemove) {
  std::string data = hearth::test::temp_dir();
  Result r = kb(data, {"create", "docs", "--chunking", "paragraph", "--chunk-tokens", "120", "--overlap", "20"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(kb(data, {"create", "docs"}).code, 2);  // exists
  EXPECT_EQ(kb(data, {"create", "x", "--chunking", "words"}).code, 2);
  r = kb(data, {"add", "docs", generated_dir(), chinese_markdown(), "--no-progress"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "12 added")) << r.out;
  EXPECT_TRUE(contains(r.out, "kb docs docs --errors")) << r.out;
  EXPECT_TRUE(fs::exists(data + "/kb.sqlite3"));

  r = kb(data, {"list"});
  EXPECT_TRUE(contains(r.out, "docs")) << r.out;
  EXPECT_TRUE(contains(r.out, "paragraph 120/20")) << r.out;

  r = kb(data, {"docs", "docs", "--errors"});
  EXPECT_TRUE(contains(r.out, "junk.bin")) << r.out;
  EXPECT_TRUE(contains(r.out, "binary data")) << r.out;
  EXPECT_FALSE(contains(r.out, "garden.docx")) << r.out;

  r = kb(data, {"chunks", "docs", generated_dir() + "/garden.docx", "--json"}, false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto chunks = nlohmann::json::parse(r.out);
  ASSERT_FALSE(chunks.empty());
  EXPECT_TRUE(chunks[0].contains("section"));
  EXPECT_EQ(chunks[0]["start"], 0);

  r = kb(data, {"chunks", "docs", generated_dir() + "/garden.docx"});
  EXPECT_TRUE(contains(r.out, "§ Garden Handbook")) << r.out;

  r = kb(data, {"stats", "docs", "--json"}, false);
  auto stats = nlohmann::json::parse(r.out);
  EXPECT_EQ(stats["documents_ok"], 12);
  EXPECT_GT(stats["chunks"].get<int>(), 20);

  r = kb(data, {"search", "docs", "量化模型", "-k", "3", "--json"}, false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto hits = nlohmann::json::parse(r.out);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_TRUE(contains(hits[0]["snippet"], "[量化]")) << hits[0]["snippet"];
  EXPECT_GE(hits[0]["score"].get<double>(), hits[1]["score"].get<double>());

  r = kb(data, {"search", "docs", "Vienna"});
  EXPECT_TRUE(contains(r.out, "diary.odt")) << r.out;
  EXPECT_TRUE(contains(r.out, "[Vienna]")) << r.out;
  EXPECT_TRUE(contains(r.out, "§ Travel Diary")) << r.out;

  EXPECT_EQ(kb(data, {"search", "nope", "x"}).code, 3);
  EXPECT_EQ(kb(data, {"add", "docs", data + "/missing-folder"}).code, 3);
  r = kb(data, {"rm", "docs"});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(kb(data, {"list"}).out, "no knowledge bases")) << r.out;
}

// kb create --tokenizer: chunk sizes in the model's tokens, shown by list and stats; a missing
// tokenizer file is refused at create, and one that went missing stops kb add before any file.
TEST(KbCli, TokenizerCountsChunkSizes) {
  std::string data = hearth::test::temp_dir();
  std::string model = hearth::test::source_dir() + "/models/stories260K.gguf";
  Result r = kb(data, {"create", "tok", "--chunk-tokens", "64", "--tokenizer", model});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "tokens: stories260K.gguf tokenizer")) << r.out;
  ASSERT_EQ(kb(data, {"create", "est"}).code, 0);
  r = kb(data, {"create", "bad", "--tokenizer", data + "/missing.gguf"});
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "missing.gguf")) << r.out;

  r = kb(data, {"add", "tok", generated_dir() + "/readme.md", chinese_markdown(), "--no-progress"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "2 added")) << r.out;

  r = kb(data, {"stats", "tok"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "stories260K.gguf tokenizer")) << r.out;
  r = kb(data, {"stats", "tok", "--json"}, false);
  auto stats = nlohmann::json::parse(r.out);
  EXPECT_EQ(stats["tokens_counted_by"], "stories260K.gguf tokenizer");
  EXPECT_EQ(stats["tokenizer"], model);
  EXPECT_GT(stats["chunks"].get<int>(), 5);
  EXPECT_LE(stats["max_tokens"].get<int>(), 64);
  EXPECT_TRUE(contains(kb(data, {"stats", "est"}).out, "estimate"));

  r = kb(data, {"list"});
  EXPECT_TRUE(contains(r.out, "stories260K.gguf tokenizer")) << r.out;
  EXPECT_TRUE(contains(r.out, "estimate")) << r.out;
  r = kb(data, {"list", "--json"}, false);
  auto list = nlohmann::json::parse(r.out);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "est");
  EXPECT_EQ(list[0]["tokens"], "estimate");
  EXPECT_EQ(list[1]["tokens"], "stories260K.gguf tokenizer");

  // the tokenizer file goes away: kb add fails with the reason and leaves the documents alone
  std::string copy = data + "/copy.gguf";
  fs::copy_file(model, copy);
  ASSERT_EQ(kb(data, {"create", "moved", "--tokenizer", copy}).code, 0);
  fs::remove(copy);
  r = kb(data, {"add", "moved", generated_dir() + "/readme.md", "--no-progress"});
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "copy.gguf")) << r.out;
  r = kb(data, {"stats", "moved", "--json"}, false);
  EXPECT_EQ(nlohmann::json::parse(r.out)["documents"], 0);
}

TEST(KbCli, DataDirFlagWinsOverEnvironment) {
  std::string env_dir = hearth::test::temp_dir(), flag_dir = hearth::test::temp_dir();
  ASSERT_EQ(kb(env_dir, {"create", "a", "--data-dir", flag_dir}).code, 0);
  EXPECT_TRUE(fs::exists(flag_dir + "/kb.sqlite3"));
  EXPECT_FALSE(fs::exists(env_dir + "/kb.sqlite3"));
}

// kill -9 at several moments of an ingest: the store stays consistent and the next `kb add`
// finishes the work, ending with the same documents and chunks as an uninterrupted run.
TEST(KbCli, KillNineMidIngestLeavesAConsistentStore) {
  std::string corpus = hearth::test::temp_dir() + "/corpus";
  std::string para;
  for (int i = 0; i < 60; ++i) para += "Gardens in spring need water, light and patient hands; 花园需要水和阳光。 ";
  for (int f = 0; f < 80; ++f) {
    std::string text = "# File " + std::to_string(f) + "\n\n";
    for (int s = 0; s < 30; ++s) text += "## Section " + std::to_string(s) + "\n\n" + para + "\n\n";
    write_file(corpus + "/f" + std::to_string(f) + ".md", text);
  }
  std::string reference = hearth::test::temp_dir();
  ASSERT_EQ(kb(reference, {"create", "k", "--chunk-tokens", "100"}).code, 0);
  Result full = kb(reference, {"add", "k", corpus, "--no-progress"});
  ASSERT_EQ(full.code, 0) << full.out;
  auto count = [](const std::string& data) {
    hearth::kb::Store s(data + "/kb.sqlite3");
    hearth::kb::Stmt q(s.db(), "SELECT (SELECT count(*) FROM documents WHERE status = 'ok'), (SELECT count(*) FROM chunks)");
    q.step();
    return std::pair<int64_t, int64_t>(q.i64(0), q.i64(1));
  };
  auto expected = count(reference);
  ASSERT_EQ(expected.first, 80);

  std::string data = hearth::test::temp_dir();
  ASSERT_EQ(kb(data, {"create", "k", "--chunk-tokens", "100"}).code, 0);
  int kills = 0;
  for (int delay_ms : {150, 400, 700}) {
    pid_t pid = fork();
    if (pid == 0) {
      setenv("HEARTH_DATA_DIR", data.c_str(), 1);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(hearth::test::hearth_binary().c_str(), "hearth", "kb", "add", "k", corpus.c_str(), "--no-progress",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      ++kills;
    }
    waitpid(pid, &st, 0);
    hearth::kb::Store s(data + "/kb.sqlite3");
    EXPECT_EQ(s.integrity_check(), "") << "after kill at " << delay_ms << " ms";
    // every stored document has all its chunks (documents are written in one transaction)
    hearth::kb::Stmt q(s.db(), "SELECT count(*) FROM documents d WHERE chunk_count != "
                               "(SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)");
    q.step();
    EXPECT_EQ(q.i64(0), 0);
  }
  EXPECT_GE(kills, 1) << "ingest finished before any kill: make the corpus bigger";
  Result resume = kb(data, {"add", "k", corpus, "--no-progress"});
  ASSERT_EQ(resume.code, 0) << resume.out;
  EXPECT_EQ(count(data), expected);
  hearth::kb::Store s(data + "/kb.sqlite3");
  EXPECT_EQ(s.integrity_check(), "");
}

TEST(KbCli, DebianManualsSubset) {
  // A slice of the real corpora in every format they ship: HTML, gzipped text, PDF, EPUB.
  std::string data = hearth::test::temp_dir();
  ASSERT_EQ(kb(data, {"create", "deb"}).code, 0);
  std::string pol = debian_policy_dir(), ref = debian_reference_dir();
  Result r = kb(data, {"add", "deb", pol + "/menu-policy.html", pol + "/upgrading-checklist.txt.gz",
                       pol + "/fhs/fhs-3.0.pdf.gz", pol + "/policy.epub", ref + "/ch05.en.html", ref + "/ch05.zh-cn.html",
                       "--no-progress"});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "8 added")) << r.out;  // menu-policy.html is a folder of 3 pages
  r = kb(data, {"search", "deb", "/usr/local hierarchy", "-k", "1"});
  EXPECT_TRUE(contains(r.out, "fhs-3.0.pdf.gz")) << r.out;
  EXPECT_TRUE(contains(r.out, "p. ")) << r.out;
  r = kb(data, {"search", "deb", "网络配置", "-k", "1"});
  EXPECT_TRUE(contains(r.out, "ch05.zh-cn.html")) << r.out;
  r = kb(data, {"search", "deb", "network configuration", "-k", "1"});
  EXPECT_TRUE(contains(r.out, "ch05.en.html")) << r.out;
}
