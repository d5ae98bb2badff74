#include "kb/ingest.h"

#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include "kb/chunk.h"
#include "kb/token_counter.h"
#include "util/error.h"
#include "util/sha256.h"

namespace fs = std::filesystem;

namespace hearth::kb {

namespace {

// Files that are never documents: parts of web pages, media, programs. They are passed over
// silently (not recorded), unlike unknown files, which are sniffed.
bool ignored_extension(const std::string& name) {
  static const char* exts[] = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".bmp", ".tif", ".tiff",
                               ".css", ".js", ".map", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4",
                               ".ogg", ".wav", ".flac", ".mkv", ".avi", ".mov", ".webm", ".o", ".a", ".so", ".exe",
                               ".dll", ".class", ".pyc", ".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".db", ".lock"};
  std::string lower = name;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* e : exts) {
    size_t n = std::strlen(e);
    if (lower.size() > n && lower.compare(lower.size() - n, n, e) == 0) return true;
  }
  return false;
}

struct Candidate {
  std::string path;   // absolute, lexically normal
  std::string error;  // set when the file cannot be used (symlink loop, permission denied)
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

struct Walker {
  const IngestOptions& o;
  std::vector<Candidate> out;
  std::set<std::pair<dev_t, ino_t>> visited;

  bool matches(const std::vector<std::string>& globs, const std::string& rel, const std::string& name) const {
    for (const auto& g : globs)
      if (fnmatch(g.c_str(), name.c_str(), 0) == 0 || fnmatch(g.c_str(), rel.c_str(), FNM_PATHNAME) == 0 ||
          fnmatch(g.c_str(), rel.c_str(), 0) == 0)
        return true;
    return false;
  }

  void add_file(const std::string& path, const struct stat& st) {
    Candidate c;
    c.path = path;
    c.size = st.st_size;
    c.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    out.push_back(std::move(c));
  }

  void add_error(const std::string& path, std::string error) {
    Candidate c;
    c.path = path;
    c.error = std::move(error);
    out.push_back(std::move(c));
  }

  void walk_dir(const std::string& dir, const std::string& root, int depth) {
    if (depth > 64) { add_error(dir, "folder nesting deeper than 64 levels"); return; }
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::none, ec);
    if (ec) {
      add_error(dir, fmt::format("cannot read folder: {}", ec.message()));
      return;
    }
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) { add_error(dir, fmt::format("cannot read folder: {}", ec.message())); break; }
      names.push_back(it->path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (!o.include_hidden && name[0] == '.') continue;
      std::string path = dir + "/" + name;
      std::string rel = path.substr(root.size() + 1);
      if (matches(o.exclude, rel, name)) continue;
      struct stat lst {}, st {};
      if (::lstat(path.c_str(), &lst) != 0) { add_error(path, std::strerror(errno)); continue; }
      bool link = S_ISLNK(lst.st_mode);
      if (link) {
        if (::stat(path.c_str(), &st) != 0) {
          add_error(path, errno == ELOOP ? "symbolic link loop" : fmt::format("broken symbolic link: {}", std::strerror(errno)));
          continue;
        }
      } else {
        st = lst;
      }
      if (S_ISDIR(st.st_mode)) {
        if (!visited.insert({st.st_dev, st.st_ino}).second) {
          if (link) add_error(path, "symbolic link loop (folder already visited)");
          continue;
        }
        walk_dir(path, root, depth + 1);
      } else if (S_ISREG(st.st_mode)) {
        if (ignored_extension(name)) continue;
        if (!o.include.empty() && !matches(o.include, rel, name)) continue;
        add_file(path, st);
      }
    }
  }

  void add_root(const std::string& arg) {
    std::string path = fs::absolute(arg).lexically_normal().string();
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) throw_error(ErrorKind::not_found, "{}: no such file or folder", arg);
      add_error(path, errno == ELOOP ? "symbolic link loop" : std::strerror(errno));
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      visited.insert({st.st_dev, st.st_ino});
      walk_dir(path, path, 0);
    } else if (S_ISREG(st.st_mode)) {
      add_file(path, st);  // named explicitly: no extension filter
    } else {
      add_error(path, "not a regular file or folder");
    }
  }
};

std::string human_mb(double bytes) { return fmt::format("{:.1f}", bytes / 1e6); }

class Progress {
 public:
  Progress(bool on, int64_t files, int64_t bytes) : on_(on && ::isatty(2)), files_(files), bytes_(bytes) {}
  void update(int64_t files_done, int64_t bytes_done, bool force = false) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(bytes_done) / secs : 0;
    std::string eta = "--:--";
    if (rate > 0 && bytes_done > 0) {
      int left = static_cast<int>(static_cast<double>(bytes_ - bytes_done) / rate);
      eta = fmt::format("{}:{:02}", left / 60, left % 60);
    }
    fmt::print(stderr, "\r{} / {} files  {} / {} MB  {:.1f} MB/s  ETA {}   ", files_done, files_,
               human_mb(static_cast<double>(bytes_done)), human_mb(static_cast<double>(bytes_)), rate / 1e6, eta);
    std::fflush(stderr);
  }
  void done() {
    if (on_) fmt::print(stderr, "\n");
  }

 private:
  bool on_;
  int64_t files_, bytes_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
};

bool under(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          (root == "/" || path[root.size()] == '/'));
}

}  // namespace

bool wanted_below(const IngestOptions& o, const std::string& root, const std::string& path, bool is_dir) {
  if (!under(path, root) || path == root) return path == root;
  const std::string rel = path.substr(root == "/" ? 1 : root.size() + 1);
  auto matches = [&](const std::vector<std::string>& globs, const std::string& r, const std::string& name) {
    for (const auto& g : globs)
      if (fnmatch(g.c_str(), name.c_str(), 0) == 0 || fnmatch(g.c_str(), r.c_str(), FNM_PATHNAME) == 0 ||
          fnmatch(g.c_str(), r.c_str(), 0) == 0)
        return true;
    return false;
  };
  size_t start = 0;
  for (;;) {
    const size_t slash = rel.find('/', start);
    const std::string name = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    const std::string prefix = rel.substr(0, slash);
    if (name.empty() || (!o.include_hidden && name[0] == '.')) return false;
    if (matches(o.exclude, prefix, name)) return false;
    if (slash == std::string::npos) {
      if (is_dir) return true;
      return !ignored_extension(name) && (o.include.empty() || matches(o.include, rel, name));
    }
    start = slash + 1;
  }
}

IngestReport ingest_paths(Store& store, const KbInfo& kb, const std::vector<std::string>& paths, const IngestOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  // The counter first: a missing or broken tokenizer file stops the ingest before any document.
  const TokenCounter count_tokens = o.count_tokens ? o.count_tokens : make_token_counter(kb.tokenizer);
  Walker w{o, {}, {}};
  std::vector<std::string> roots;
  for (const auto& p : paths) {
    w.add_root(p);
    std::string r = fs::absolute(p).lexically_normal().string();
    while (r.size() > 1 && r.back() == '/') r.pop_back();
    roots.push_back(r);
  }
  IngestReport rep;
  int64_t total_bytes = 0;
  for (const auto& c : w.out) total_bytes += c.size;
  Progress progress(o.progress, static_cast<int64_t>(w.out.size()), total_bytes);
  std::set<std::string> seen;
  int64_t done_bytes = 0, done_files = 0;
  for (const auto& c : w.out) {
    if (!seen.insert(c.path).second) continue;
    ++rep.files;
    std::optional<DocRow> old = store.find_document(kb.id, c.path);
    DocRow doc;
    doc.kb_id = kb.id;
    doc.path = c.path;
    doc.size = c.size;
    doc.mtime_ns = c.mtime_ns;
    auto record_failure = [&](DocStatus status, std::string why) {
      if (why.rfind(c.path + ": ", 0) == 0) why = why.substr(c.path.size() + 2);  // the row names the file
      doc.status = status;
      doc.error = why;
      store.put_document(doc, {});
      ++(status == DocStatus::skipped ? rep.skipped : rep.failed);
    };
    if (!c.error.empty()) {
      if (!(old && old->status != DocStatus::ok && old->error == c.error)) record_failure(DocStatus::error, c.error);
      else ++rep.unchanged;
    } else if (old && old->size == c.size && old->mtime_ns == c.mtime_ns && !old->content_hash.empty()) {
      ++rep.unchanged;
    } else if (static_cast<uint64_t>(c.size) > o.extract.max_file_bytes) {
      record_failure(DocStatus::skipped, fmt::format("file is {} bytes, more than the limit of {} bytes (--max-file-size)",
                                                     c.size, o.extract.max_file_bytes));
    } else {
      std::string bytes;
      try {
        bytes = read_file(c.path, o.extract.max_file_bytes);
      } catch (const Error& e) {
        record_failure(DocStatus::error, e.what());
        goto next;
      }
      rep.bytes += static_cast<int64_t>(bytes.size());
      doc.content_hash = sha256_hex_of(bytes);
      if (old && old->content_hash == doc.content_hash) {
        store.set_mtime(old->id, c.mtime_ns);  // touched but not changed
        ++rep.unchanged;
        goto next;
      }
      try {
        std::string format = format_for_path(c.path);
        Extracted ex = extract_bytes(bytes, format, c.path, o.extract);
        std::vector<Chunk> chunks = chunk_document(ex, kb.chunking, count_tokens);
        std::vector<ChunkRow> rows;
        rows.reserve(chunks.size());
        for (size_t i = 0; i < chunks.size(); ++i) {
          ChunkRow r;
          r.ordinal = static_cast<int>(i);
          r.section = chunks[i].section;
          r.page = chunks[i].page;
          r.page_end = chunks[i].page_end;
          r.char_start = static_cast<int64_t>(chunks[i].start);
          r.char_end = static_cast<int64_t>(chunks[i].end);
          r.tokens = chunks[i].tokens;
          r.text = ex.text.substr(chunks[i].start, chunks[i].end - chunks[i].start);
          rows.push_back(std::move(r));
        }
        doc.format = ex.format;
        doc.text_length = static_cast<int64_t>(ex.text.size());
        doc.pages = ex.pages;
        doc.status = DocStatus::ok;
        store.put_document(doc, rows);
        rep.chunks += static_cast<int64_t>(rows.size());
        ++(old ? rep.updated : rep.added);
      } catch (const Error& e) {
        record_failure(e.kind() == ErrorKind::unsupported || e.kind() == ErrorKind::limit ? DocStatus::skipped
                                                                                          : DocStatus::error,
                       e.what());
      }
    }
  next:
    ++done_files;
    done_bytes += c.size;
    progress.update(done_files, done_bytes);
  }
  progress.update(done_files, done_bytes, true);
  progress.done();
  if (o.remove_missing) {
    for (const auto& d : store.documents(kb.id)) {
      if (seen.count(d.path)) continue;
      bool in_roots = false;
      for (const auto& r : roots) in_roots |= under(d.path, r);
      if (in_roots) {
        store.remove_document(d.id);
        ++rep.removed;
      }
    }
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace hearth::kb
