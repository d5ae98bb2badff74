#include "engine/model_digests.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/sha256.h"

namespace fs = std::filesystem;

namespace hearth::engine {

namespace {

constexpr uint64_t kMaxCacheFileBytes = 16 << 20;  // a larger cache file is not ours: ignored

struct FileState {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

bool state_of(const std::string& path, FileState& out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.size = static_cast<uint64_t>(st.st_size);
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return true;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

template <typename T>
bool parse_int(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string default_digest_cache_file() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/')
    return std::string(x) + "/hearth/model-digests.tsv";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/hearth/model-digests.tsv";
  return "";
}

ModelDigests::ModelDigests(std::string cache_file, uint64_t sync_limit)
    : cache_file_(std::move(cache_file)), sync_limit_(sync_limit) {
  load();
}

ModelDigests::~ModelDigests() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ModelDigests::load() {
  if (cache_file_.empty()) return;
  std::error_code ec;
  const auto size = fs::file_size(cache_file_, ec);
  if (ec || size > kMaxCacheFileBytes) return;
  std::ifstream in(cache_file_, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // sha256 TAB size TAB mtime_ns TAB path (the path is the rest of the line: it may hold tabs)
    std::string_view rest = line;
    std::string_view fields[3];
    bool ok = true;
    for (auto& f : fields) {
      const size_t tab = rest.find('\t');
      if (tab == std::string_view::npos) {
        ok = false;
        break;
      }
      f = rest.substr(0, tab);
      rest.remove_prefix(tab + 1);
    }
    Entry e;
    if (!ok || rest.empty() || !is_sha256_hex(fields[0]) || !parse_int(fields[1], e.size) ||
        !parse_int(fields[2], e.mtime_ns))
      continue;
    e.sha256 = std::string(fields[0]);
    // Only entries that still describe their file are kept, so the cache does not grow with
    // files long gone or replaced.
    const std::string path(rest);
    FileState now;
    if (!state_of(path, now) || now.size != e.size || now.mtime_ns != e.mtime_ns) continue;
    entries_[path] = std::move(e);
  }
}

void ModelDigests::save_locked() {
  if (cache_file_.empty()) return;
  std::error_code ec;
  const fs::path file(cache_file_);
  if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
  // Unique per process and instance: two servers (or two instances) never share a temporary.
  const std::string tmp = fmt::format("{}.tmp.{}.{}", cache_file_, ::getpid(), static_cast<const void*>(this));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;  // not writable: digests stay in memory
    out << "# hearth model digests: sha256 <TAB> size <TAB> mtime (ns since the epoch) <TAB> path\n";
    for (const auto& [path, e] : entries_) {
      if (path.find('\n') != std::string::npos || path.find('\r') != std::string::npos) continue;
      out << e.sha256 << '\t' << e.size << '\t' << e.mtime_ns << '\t' << path << '\n';
    }
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, file, ec);  // atomic: readers see the old file or the new one
  if (ec) fs::remove(tmp, ec);
}

std::string ModelDigests::hash_if_unchanged(const std::string& path, uint64_t size, int64_t mtime_ns) {
  FileState before, after;
  if (!state_of(path, before) || before.size != size || before.mtime_ns != mtime_ns) return "";
  std::optional<std::string> d;
  try {
    d = sha256_file_hex(path, [this] { return !stop_.load(); });
  } catch (const Error&) {
    return "";  // unreadable now: not listed as known; tried again next time
  }
  // A file rewritten while it was read has no single digest: try again next time.
  if (!d || !state_of(path, after) || after.size != size || after.mtime_ns != mtime_ns) return "";
  return *d;
}

std::string ModelDigests::digest(const std::string& path, uint64_t* sync_budget) {
  std::error_code ec;
  const std::string key = fs::canonical(path, ec).string();
  FileState st;
  if (ec || !state_of(key, st)) return "";
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end() && it->second.size == st.size &&
                                      it->second.mtime_ns == st.mtime_ns)
      return it->second.sha256;
    const bool now = st.size <= sync_limit_ && (sync_budget == nullptr || st.size <= *sync_budget);
    if (!now) {
      auto queued = std::find_if(queue_.begin(), queue_.end(), [&](const Job& j) { return j.path == key; });
      if (queued != queue_.end()) {
        queued->size = st.size;  // changed again while waiting
        queued->mtime_ns = st.mtime_ns;
      } else if (running_ != key) {
        queue_.push_back({key, st.size, st.mtime_ns});
        if (!thread_.joinable()) thread_ = std::thread([this] { worker(); });
        cv_.notify_all();
      }
      return "";
    }
    if (sync_budget != nullptr) *sync_budget -= st.size;
  }
  std::string d = hash_if_unchanged(key, st.size, st.mtime_ns);
  if (d.empty()) return "";
  std::lock_guard<std::mutex> lock(mu_);
  entries_[key] = Entry{st.size, st.mtime_ns, d};
  save_locked();
  return d;
}

void ModelDigests::worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_.load() || !queue_.empty(); });
      if (stop_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      running_ = job.path;
    }
    const std::string d = hash_if_unchanged(job.path, job.size, job.mtime_ns);
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.clear();
      if (!d.empty()) {
        entries_[job.path] = Entry{job.size, job.mtime_ns, d};
        save_locked();
      }
    }
    cv_.notify_all();
  }
}

void ModelDigests::wait_idle() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stop_.load() || (queue_.empty() && running_.empty()); });
}

}  // namespace hearth::engine
