// `hearth kb ask` and `hearth kb add --watch` as a user runs them. The sample model
// (models/stories260K.gguf) writes nonsense, so the tests check the structure: the prompt with
// the numbered sources and the question, the sources list, dropped sources; and for --watch that
// the store follows created, changed and deleted files.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "fixtures.h"
#include "testdata.h"

namespace fs = std::filesystem;
using namespace hearth::kb::test;

namespace {

using Result = hearth::test::CommandResult;

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

std::string model_path() { return hearth::test::source_dir() + "/models/stories260K.gguf"; }

// A knowledge base with two short documents and one long one, all about cats.
std::string make_kb(const std::string& data) {
  std::string docs = hearth::test::temp_dir();
  write_file(docs + "/pets.md", "# Cats\n\nThe cat sat on the mat with a red ball.\n");
  write_file(docs + "/lily.txt", "Lily gave the cat a ball and the cat was happy.\n");
  std::string big = "# Cat stories\n\n";
  for (int i = 0; i < 30; ++i) big += "Once upon a time a small cat found a ball in the big green garden. ";
  write_file(docs + "/long.md", big + "\n");
  EXPECT_EQ(kb(data, {"create", "pets"}).code, 0);
  Result r = kb(data, {"add", "pets", docs, "--no-progress"});
  EXPECT_EQ(r.code, 0) << r.out;
  return docs;
}

}  // namespace

TEST(KbAsk, StreamsAnswerThenSourcesAndShowsTheExactPrompt) {
  std::string data = hearth::test::temp_dir();
  std::string docs = make_kb(data);
  Result r = kb(data, {"ask", "pets", "cat ball", "--model", model_path(), "--show-context", "--max-tokens", "24",
                       "--seed", "3"});
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string& o = r.out;
  EXPECT_TRUE(contains(o, "── prompt (")) << o;
  EXPECT_TRUE(contains(o, "answer only") || contains(o, "using only the numbered sources")) << o;
  EXPECT_TRUE(contains(o, "Question: cat ball")) << o;
  // Numbered sources in the prompt: [n] file — section, then the text.
  EXPECT_TRUE(contains(o, "[1] ")) << o;
  EXPECT_TRUE(contains(o, "pets.md — § Cats\nCats\n\nThe cat sat on the mat with a red ball.")) << o;
  EXPECT_TRUE(contains(o, "lily.txt\nLily gave the cat a ball")) << o;
  EXPECT_LT(o.find("── prompt"), o.find("── answer ──"));
  // After the answer: the sources list with full paths.
  size_t src = o.find("\nSources:\n");
  ASSERT_NE(src, std::string::npos) << o;
  EXPECT_GT(src, o.find("── answer ──"));
  EXPECT_TRUE(contains(o.substr(src), "] " + docs + "/pets.md — § Cats")) << o;
  EXPECT_TRUE(contains(o.substr(src), "] " + docs + "/lily.txt")) << o;
  EXPECT_FALSE(contains(o, "Dropped")) << o;
}

TEST(KbAsk, SourcesThatDoNotFitAreReported) {
  std::string data = hearth::test::temp_dir();
  std::string docs = make_kb(data);
  // Room for the instructions, the question and the two short sources, not the long one.
  Result r = kb(data, {"ask", "pets", "cat ball", "--model", model_path(), "--max-context-tokens", "260",
                       "--max-tokens", "8", "--show-context"});
  ASSERT_EQ(r.code, 0) << r.out;
  size_t dropped = r.out.find("Dropped (did not fit in 260 prompt tokens");
  ASSERT_NE(dropped, std::string::npos) << r.out;
  EXPECT_TRUE(contains(r.out.substr(dropped), docs + "/long.md")) << r.out;
  EXPECT_TRUE(contains(r.out.substr(dropped), "search result #")) << r.out;
  EXPECT_FALSE(contains(r.out, "Once upon a time")) << r.out;  // not in the prompt

  r = kb(data, {"ask", "pets", "cat ball", "--model", model_path(), "--max-context-tokens", "260", "--max-tokens",
                "8", "--json", "--show-context"},
         false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["answer"].is_string());
  ASSERT_GE(j["dropped"].size(), 1u) << r.out;  // the long file's chunks
  for (const auto& d : j["dropped"]) {
    EXPECT_EQ(d["path"], docs + "/long.md");
    EXPECT_GT(d["tokens"].get<int>(), 0);
    EXPECT_GE(d["rank"].get<int>(), 1);
  }
  EXPECT_EQ(j["sources"].size(), 2u);
  EXPECT_EQ(j["sources"][0]["number"], 1);
  EXPECT_LE(j["prompt_tokens"].get<int>(), 260);
  EXPECT_TRUE(contains(j["prompt"].get<std::string>(), "Question: cat ball"));
  EXPECT_TRUE(j["citations"].is_array());

  // Too small for even the question: an error that names the flag.
  r = kb(data, {"ask", "pets", "cat ball", "--model", model_path(), "--max-context-tokens", "20"});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.out, "--max-context-tokens")) << r.out;
}

TEST(KbAsk, UnknownModelOrKnowledgeBase) {
  std::string data = hearth::test::temp_dir();
  make_kb(data);
  Result r = kb(data, {"ask", "pets", "cat", "--model", "no-such-model", "--models-dir", data});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.out, "no-such-model")) << r.out;
  r = kb(data, {"ask", "nope", "cat", "--model", model_path()});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.out, "nope")) << r.out;
}

namespace {

// Polls `cond` every 100 ms for up to 15 s.
bool eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 150; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

std::vector<std::string> doc_paths(const std::string& data) {
  Result r = kb(data, {"docs", "w", "--json"}, false);
  std::vector<std::string> out;
  if (r.code != 0) return out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& d : j) out.push_back(d["path"]);
  return out;
}

bool has_doc(const std::string& data, const std::string& path) {
  auto v = doc_paths(data);
  return std::find(v.begin(), v.end(), path) != v.end();
}

}  // namespace

TEST(KbWatch, FollowsCreatedChangedAndDeletedFiles) {
  std::string data = hearth::test::temp_dir();
  std::string dir = hearth::test::temp_dir();
  std::string log = data + "/watch.log";
  write_file(dir + "/a.md", "# A\n\nApples are red.\n");
  ASSERT_EQ(kb(data, {"create", "w"}).code, 0);

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("HEARTH_DATA_DIR", data.c_str(), 1);
    std::string bin = hearth::test::hearth_binary();
    execl(bin.c_str(), bin.c_str(), "kb", "add", "w", dir.c_str(), "--watch", "--no-progress", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto stop = [&] {
    kill(pid, SIGINT);
    int st = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -2;
  };
  // The initial ingest, then the watch starts.
  ASSERT_TRUE(eventually([&] { return contains(read_whole(log), "watching"); })) << read_whole(log);
  EXPECT_TRUE(has_doc(data, dir + "/a.md"));

  write_file(dir + "/b.md", "# B\n\nBananas are yellow.\n");
  EXPECT_TRUE(eventually([&] { return has_doc(data, dir + "/b.md"); })) << read_whole(log);

  write_file(dir + "/a.md", "# A\n\nZebras are striped.\n");
  EXPECT_TRUE(eventually([&] {
    Result r = kb(data, {"search", "w", "zebras", "--json"}, false);
    return r.code == 0 && contains(r.out, dir + "/a.md");
  })) << read_whole(log);

  fs::remove(dir + "/b.md");
  EXPECT_TRUE(eventually([&] { return !has_doc(data, dir + "/b.md"); })) << read_whole(log);

  // A new folder is watched too (recursive).
  fs::create_directories(dir + "/sub/deeper");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  write_file(dir + "/sub/deeper/c.md", "# C\n\nCherries.\n");
  EXPECT_TRUE(eventually([&] { return has_doc(data, dir + "/sub/deeper/c.md"); })) << read_whole(log);
  write_file(dir + "/sub/deeper/d.md", "# D\n\nDates.\n");
  EXPECT_TRUE(eventually([&] { return has_doc(data, dir + "/sub/deeper/d.md"); })) << read_whole(log);

  // Hidden files are passed over, as by kb add.
  write_file(dir + "/.e.md.swp", "junk");
  fs::remove_all(dir + "/sub");
  EXPECT_TRUE(eventually([&] { return !has_doc(data, dir + "/sub/deeper/c.md"); })) << read_whole(log);
  EXPECT_FALSE(has_doc(data, dir + "/.e.md.swp"));

  EXPECT_EQ(stop(), 0) << read_whole(log);
  std::string out = read_whole(log);
  EXPECT_TRUE(contains(out, "added " + dir + "/b.md")) << out;
  EXPECT_TRUE(contains(out, "updated " + dir + "/a.md")) << out;
  EXPECT_TRUE(contains(out, "removed " + dir + "/b.md")) << out;
  EXPECT_TRUE(contains(out, "stopped watching")) << out;
  EXPECT_EQ(doc_paths(data), std::vector<std::string>{dir + "/a.md"});
}
