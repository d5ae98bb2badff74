// Model file digests: synchronous and background hashing, the (path, size, mtime) key, the
// cache file that keeps them across restarts, and what happens with a broken cache file.
#include "engine/model_digests.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "testdata.h"
#include "util/sha256.h"

namespace fs = std::filesystem;

namespace hearth::engine {
namespace {

std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Moves the file's mtime by `delta` (a rewrite within the same clock tick keeps it otherwise).
void shift_mtime(const std::string& path, std::chrono::seconds delta) {
  fs::last_write_time(path, fs::last_write_time(path) + delta);
}

TEST(ModelDigests, SmallFileIsHashedRightAway) {
  const std::string dir = test::temp_dir();
  const std::string model = write_file(dir + "/a.gguf", "model bytes");
  ModelDigests digests(dir + "/cache/digests.tsv");
  EXPECT_EQ(digests.digest(model), sha256_hex_of("model bytes"));
  // Found by any spelling of the path.
  EXPECT_EQ(digests.digest(dir + "/./a.gguf"), sha256_hex_of("model bytes"));
  EXPECT_EQ(digests.digest(dir + "/missing.gguf"), "");
}

TEST(ModelDigests, ChangedFileGetsANewDigest) {
  const std::string dir = test::temp_dir();
  const std::string model = write_file(dir + "/a.gguf", "version 1");
  ModelDigests digests("");
  EXPECT_EQ(digests.digest(model), sha256_hex_of("version 1"));
  write_file(model, "version 2");  // same size
  shift_mtime(model, std::chrono::seconds(5));
  EXPECT_EQ(digests.digest(model), sha256_hex_of("version 2"));
  write_file(model, "version three");  // other size
  EXPECT_EQ(digests.digest(model), sha256_hex_of("version three"));
}

TEST(ModelDigests, LargeFileIsHashedInTheBackground) {
  const std::string dir = test::temp_dir();
  const std::string bytes(size_t{3} << 20, 'q');
  const std::string model = write_file(dir + "/big.gguf", bytes);
  ModelDigests digests(dir + "/digests.tsv", /*sync_limit=*/1 << 20);
  EXPECT_EQ(digests.digest(model), "");  // started, not waited for
  digests.wait_idle();
  EXPECT_EQ(digests.digest(model), sha256_hex_of(bytes));
}

TEST(ModelDigests, BudgetSendsTheRestToTheBackground) {
  const std::string dir = test::temp_dir();
  const std::string a = write_file(dir + "/a.gguf", std::string(1000, 'a'));
  const std::string b = write_file(dir + "/b.gguf", std::string(1000, 'b'));
  ModelDigests digests("");
  uint64_t budget = 1500;
  EXPECT_EQ(digests.digest(a, &budget), sha256_hex_of(std::string(1000, 'a')));
  EXPECT_EQ(budget, 500u);
  EXPECT_EQ(digests.digest(b, &budget), "");  // over what is left
  EXPECT_EQ(budget, 500u);
  digests.wait_idle();
  EXPECT_EQ(digests.digest(b, &budget), sha256_hex_of(std::string(1000, 'b')));
}

TEST(ModelDigests, CacheFileKeepsDigestsAcrossInstances) {
  const std::string dir = test::temp_dir();
  const std::string model = write_file(dir + "/a.gguf", "weights");
  const std::string cache = dir + "/sub/dir/digests.tsv";  // directories are created
  {
    ModelDigests digests(cache);
    EXPECT_EQ(digests.digest(model), sha256_hex_of("weights"));
  }
  const std::string text = read_file(cache);
  const std::string canonical = fs::canonical(model).string();
  EXPECT_NE(text.find(sha256_hex_of("weights") + "\t7\t"), std::string::npos) << text;
  EXPECT_NE(text.find("\t" + canonical + "\n"), std::string::npos) << text;
  // A second instance answers from the file without reading the model: a digest planted in
  // the cache for this (path, size, mtime) is what it reports.
  const std::string fake(64, 'f');
  std::string planted = text;
  planted.replace(planted.find(sha256_hex_of("weights")), 64, fake);
  write_file(cache, planted);
  {
    ModelDigests digests(cache, /*sync_limit=*/0);  // could not hash it now if it wanted to
    EXPECT_EQ(digests.digest(model), fake);
  }
  // Once the file changes, the cached line no longer applies.
  shift_mtime(model, std::chrono::seconds(5));
  ModelDigests digests(cache);
  EXPECT_EQ(digests.digest(model), sha256_hex_of("weights"));
}

TEST(ModelDigests, BrokenCacheLinesAreIgnored) {
  const std::string dir = test::temp_dir();
  const std::string model = write_file(dir + "/a.gguf", "weights");
  const std::string canonical = fs::canonical(model).string();
  const std::string cache = write_file(dir + "/digests.tsv",
                                       "garbage\n"
                                       "\t\t\t\n" +
                                           std::string(64, 'g') + "\t7\t1\t" + canonical + "\n" +  // not hex
                                           std::string(63, 'a') + "\t7\t1\t" + canonical + "\n" +  // short
                                           std::string(64, 'a') + "\tseven\t1\t" + canonical + "\n" +
                                           std::string(64, 'a') + "\t7\t1\t" + canonical + "\n");  // stale mtime
  ModelDigests digests(cache, /*sync_limit=*/0);
  EXPECT_EQ(digests.digest(model), "");  // nothing usable in the cache: hashing in the background
  digests.wait_idle();
  EXPECT_EQ(digests.digest(model), sha256_hex_of("weights"));
  // The rewritten cache holds only the good line.
  const std::string text = read_file(cache);
  EXPECT_EQ(text.find("garbage"), std::string::npos) << text;
  EXPECT_NE(text.find(sha256_hex_of("weights")), std::string::npos) << text;
}

TEST(ModelDigests, UnwritableCacheKeepsDigestsInMemory) {
  const std::string dir = test::temp_dir();
  const std::string model = write_file(dir + "/a.gguf", "weights");
  write_file(dir + "/blocker", "a file where a directory should be");
  ModelDigests digests(dir + "/blocker/digests.tsv");
  EXPECT_EQ(digests.digest(model), sha256_hex_of("weights"));
  EXPECT_EQ(digests.digest(model), sha256_hex_of("weights"));
}

TEST(ModelDigests, DefaultCacheFileFollowsXdg) {
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  setenv("XDG_CACHE_HOME", "/some/cache", 1);
  EXPECT_EQ(default_digest_cache_file(), "/some/cache/hearth/model-digests.tsv");
  setenv("XDG_CACHE_HOME", "relative", 1);  // not absolute: ignored, as the spec says
  if (const char* home = std::getenv("HOME"); home && *home) {
    EXPECT_EQ(default_digest_cache_file(), std::string(home) + "/.cache/hearth/model-digests.tsv");
  }
  if (old) setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else unsetenv("XDG_CACHE_HOME");
}

}  // namespace
}  // namespace hearth::engine
