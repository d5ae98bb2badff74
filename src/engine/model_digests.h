// SHA-256 digests of model files, as Ollama reports them ("digest" in /api/tags and /api/ps),
// computed once per version of a file and remembered across restarts.
//
// A file's digest is keyed by its canonical path, size and modification time: a file that is
// replaced or touched is hashed again. Hashing a multi-gigabyte model takes seconds, so only
// small files (up to `sync_limit` bytes, and within the caller's budget) are hashed while the
// caller waits; larger ones are hashed on a background thread and reported as "" until done.
// The digests are kept in a small text file (default $XDG_CACHE_HOME/hearth/model-digests.tsv,
// else ~/.cache/hearth/model-digests.tsv), one line per file:
//   <64 hex digits> TAB <size> TAB <mtime in ns since the epoch> TAB <path>
// Lines that do not parse are ignored; if the file cannot be written, digests live in memory.
//
//   ModelDigests digests(default_digest_cache_file());
//   uint64_t budget = 256 << 20;
//   std::string d = digests.digest("models/stories260K.gguf", &budget);   // "" while pending
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace hearth::engine {

// $XDG_CACHE_HOME/hearth/model-digests.tsv, else ~/.cache/hearth/model-digests.tsv, else ""
// (no HOME: digests are not persisted).
std::string default_digest_cache_file();

class ModelDigests {
 public:
  // cache_file "": memory only. Files up to sync_limit bytes are hashed on the caller's thread.
  explicit ModelDigests(std::string cache_file, uint64_t sync_limit = uint64_t{64} << 20);
  ~ModelDigests();  // abandons a background hash in progress
  ModelDigests(const ModelDigests&) = delete;
  ModelDigests& operator=(const ModelDigests&) = delete;

  // The SHA-256 (64 lowercase hex digits) of the file at `path` as it is now, or "" when it is
  // not known yet (a background hash has been started, or is running) or the file cannot be
  // read. `sync_budget` (optional) bounds the bytes hashed synchronously over several calls: a
  // file hashed here is subtracted from it, and a file larger than what is left goes to the
  // background thread.
  std::string digest(const std::string& path, uint64_t* sync_budget = nullptr);

  // Blocks until no background hash is queued or running (tests, shutdown paths).
  void wait_idle();

 private:
  struct Entry {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string sha256;
  };
  struct Job {
    std::string path;
    uint64_t size;
    int64_t mtime_ns;
  };
  void load();
  void save_locked();  // writes entries_ to cache_file_ (temporary file + rename)
  void worker();
  // Hashes `path` if it still has this size and mtime before and after; "" otherwise.
  std::string hash_if_unchanged(const std::string& path, uint64_t size, int64_t mtime_ns);

  std::string cache_file_;
  uint64_t sync_limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> entries_;  // by canonical path
  std::deque<Job> queue_;
  std::string running_;                   // path being hashed in the background
  std::atomic<bool> stop_{false};
  std::thread thread_;                    // started with the first background job
};

}  // namespace hearth::engine
