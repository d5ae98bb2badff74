#include "kb/watch.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "util/error.h"

namespace fs = std::filesystem;

namespace hearth::kb {

namespace {

constexpr uint32_t kDirMask = IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;

bool is_under(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          (root == "/" || path[root.size()] == '/'));
}

class Watcher {
 public:
  Watcher(Store& store, const KbInfo& kb, const WatchOptions& o, const std::function<void(const std::string&)>& log)
      : store_(store), kb_(kb), o_(o), log_(log) {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) throw_error(ErrorKind::io, "cannot watch for changes: inotify_init1: {}", std::strerror(errno));
  }
  ~Watcher() { ::close(fd_); }

  void add_root(const std::string& arg) {
    std::string path = fs::absolute(arg).lexically_normal().string();
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw_error(ErrorKind::not_found, "{}: no such file or folder", arg);
    if (S_ISDIR(st.st_mode)) {
      dir_roots_.push_back(path);
      watch_tree(path, path, 0);
    } else {
      // A file named by itself: watch its folder for that name only.
      file_roots_.insert(path);
      watch_dir(fs::path(path).parent_path().string());
    }
  }

  void run(const std::atomic<bool>& stop) {
    using Clock = std::chrono::steady_clock;
    alignas(struct inotify_event) char buf[64 * 1024];
    Clock::time_point last{};
    while (!stop.load()) {
      struct pollfd pfd {fd_, POLLIN, 0};
      int r = ::poll(&pfd, 1, 100);
      if (r < 0 && errno != EINTR) throw_error(ErrorKind::io, "watching for changes: poll: {}", std::strerror(errno));
      if (r > 0) {
        for (;;) {
          ssize_t n = ::read(fd_, buf, sizeof buf);
          if (n <= 0) break;
          for (char* p = buf; p < buf + n;) {
            auto* ev = reinterpret_cast<struct inotify_event*>(p);
            handle(*ev);
            p += sizeof(struct inotify_event) + ev->len;
          }
          last = Clock::now();
        }
      }
      if (!pending_.empty() && Clock::now() - last >= o_.debounce) flush();
    }
  }

 private:
  void watch_dir(const std::string& dir) {
    int wd = inotify_add_watch(fd_, dir.c_str(), kDirMask | IN_ONLYDIR);
    if (wd < 0) {
      log_(fmt::format("cannot watch {}: {}{}", dir, std::strerror(errno),
                       errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : ""));
      return;
    }
    dirs_[wd] = dir;
  }

  void watch_tree(const std::string& dir, const std::string& root, int depth) {
    if (depth > 64) return;
    watch_dir(dir);
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code e2;
      if (!it->is_directory(e2) || it->is_symlink(e2)) continue;
      std::string sub = it->path().string();
      if (wanted_below(o_.ingest, root, sub, true)) watch_tree(sub, root, depth + 1);
    }
  }

  // The root a path belongs to ("" if none wants it).
  std::string root_of(const std::string& path) const {
    if (file_roots_.count(path)) return path;
    std::string best;
    for (const auto& r : dir_roots_)
      if (is_under(path, r) && r.size() > best.size()) best = r;
    return best;
  }

  void handle(const struct inotify_event& ev) {
    if (ev.mask & IN_Q_OVERFLOW) {
      // Events were lost: look at every root again.
      for (const auto& r : dir_roots_) pending_.insert(r);
      for (const auto& f : file_roots_) pending_.insert(f);
      return;
    }
    auto it = dirs_.find(ev.wd);
    if (it == dirs_.end()) return;
    if (ev.mask & IN_IGNORED) {
      dirs_.erase(it);
      return;
    }
    if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
      pending_.insert(it->second);
      return;
    }
    if (ev.len == 0) return;
    std::string path = it->second + "/" + ev.name;
    std::string root = root_of(path);
    if (root.empty()) return;
    const bool dir = ev.mask & IN_ISDIR;
    if (root != path && !wanted_below(o_.ingest, root, path, dir)) return;
    if (dir && (ev.mask & (IN_CREATE | IN_MOVED_TO))) watch_tree(path, root, 0);
    pending_.insert(path);
  }

  void flush() {
    std::set<std::string> batch;
    batch.swap(pending_);
    std::string covered;  // a folder ingested whole in this batch covers the paths below it
    for (const std::string& path : batch) {
      if (!covered.empty() && is_under(path, covered)) continue;
      try {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
          remove_under(path);
          continue;
        }
        IngestOptions io = o_.ingest;
        io.progress = false;
        if (S_ISDIR(st.st_mode)) {
          io.remove_missing = true;
          covered = path;
        } else {
          io.remove_missing = false;
        }
        IngestReport r = ingest_paths(store_, kb_, {path}, io);
        report(path, S_ISDIR(st.st_mode), r);
      } catch (const Error& e) {
        log_(fmt::format("error {}: {}", path, e.what()));
      }
    }
  }

  void remove_under(const std::string& path) {
    for (const DocRow& d : store_.documents(kb_.id)) {
      if (!is_under(d.path, path)) continue;
      store_.remove_document(d.id);
      log_(fmt::format("removed {}", d.path));
    }
  }

  void report(const std::string& path, bool dir, const IngestReport& r) {
    if (!dir) {
      if (r.added) log_(fmt::format("added {} ({} chunks)", path, r.chunks));
      else if (r.updated) log_(fmt::format("updated {} ({} chunks)", path, r.chunks));
      else if (r.failed || r.skipped) log_(fmt::format("{} {} (see: hearth kb docs {} --errors)", r.failed ? "failed" : "skipped", path, kb_.name));
      return;
    }
    if (r.added + r.updated + r.removed + r.failed + r.skipped == 0) return;
    log_(fmt::format("{}/: {} added, {} updated, {} removed, {} failed, {} skipped ({} chunks)", path, r.added, r.updated,
                     r.removed, r.failed, r.skipped, r.chunks));
  }

  Store& store_;
  const KbInfo& kb_;
  const WatchOptions& o_;
  const std::function<void(const std::string&)>& log_;
  int fd_ = -1;
  std::map<int, std::string> dirs_;  // watch descriptor → folder
  std::vector<std::string> dir_roots_;
  std::set<std::string> file_roots_;
  std::set<std::string> pending_;
};

}  // namespace

void watch_paths(Store& store, const KbInfo& kb, const std::vector<std::string>& roots, const WatchOptions& options,
                 const std::atomic<bool>& stop, const std::function<void(const std::string&)>& log) {
  Watcher w(store, kb, options, log);
  for (const auto& r : roots) w.add_root(r);
  w.run(stop);
}

}  // namespace hearth::kb
