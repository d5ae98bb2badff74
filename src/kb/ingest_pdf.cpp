// PDF: `pdftotext` (poppler-utils) runs as a subprocess — the PDF parser stays out of our
// process and our licence. Pages are separated by form feeds in its output; paragraphs by
// blank lines.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "kb/extract.h"
#include "kb/text_builder.h"
#include "util/error.h"

namespace hearth::kb {

namespace {

struct TempFile {
  std::string path;
  explicit TempFile(std::string_view bytes) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hearth-pdf-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw_error(ErrorKind::io, "cannot create a temporary file: {}", std::strerror(errno));
    path = tmpl;
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) { ::close(fd); throw_error(ErrorKind::io, "cannot write a temporary file: {}", std::strerror(errno)); }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

// Runs argv, returns (exit status, stdout, stderr); kills it after `timeout_s`.
struct RunResult { int status = -1; bool timed_out = false; std::string out, err; };

RunResult run_capture(const std::vector<std::string>& argv, int timeout_s) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw_error(ErrorKind::io, "pipe failed: {}", std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) throw_error(ErrorKind::io, "fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    const char msg[] = "exec failed\n";
    [[maybe_unused]] auto w = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  RunResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[1 << 16];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) { r.timed_out = true; ::kill(pid, SIGKILL); break; }
    int n = ::poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
      else { ::close(fds[i].fd); fds[i].fd = -1; --open_fds; }
    }
  }
  for (auto& f : fds) if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string first_line(const std::string& s) {
  std::string t = s.substr(0, s.find('\n'));
  return t.size() > 200 ? t.substr(0, 200) : t;
}

}  // namespace

Extracted extract_pdf(std::string_view bytes, const std::string& name, const ExtractOptions& options) {
  if (bytes.substr(0, 5) != "%PDF-" && bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos)
    throw_error(ErrorKind::format, "{}: not a PDF file (no %PDF- header)", name);
  TempFile tmp(bytes);
  RunResult r = run_capture({options.pdftotext, "-q", "-enc", "UTF-8", tmp.path, "-"}, 300);
  if (r.timed_out) throw_error(ErrorKind::limit, "{}: pdftotext took more than 300 s", name);
  if (r.status == 127) throw_error(ErrorKind::unsupported, "{}: '{}' not found: install poppler-utils", name, options.pdftotext);
  if (r.status != 0) {
    // pdftotext -q suppresses messages; ask again without it for the reason.
    RunResult why = run_capture({options.pdftotext, "-enc", "UTF-8", tmp.path, "/dev/null"}, 60);
    std::string msg = first_line(why.err);
    if (r.status == 3 || msg.find("password") != std::string::npos || msg.find("ncrypt") != std::string::npos)
      throw_error(ErrorKind::unsupported, "{}: encrypted PDF ({})", name, msg.empty() ? "copying text not permitted" : msg);
    throw_error(ErrorKind::format, "{}: corrupt PDF: pdftotext exit {}{}{}", name, r.status, msg.empty() ? "" : ": ", msg);
  }
  if (!is_valid_utf8(r.out)) throw_error(ErrorKind::format, "{}: pdftotext produced invalid UTF-8", name);
  TextBuilder tb("pdf");
  int page = 1;
  size_t pos = 0;
  while (pos <= r.out.size()) {
    size_t ff = r.out.find('\f', pos);
    if (ff == std::string::npos) ff = r.out.size();
    std::string_view pg = std::string_view(r.out).substr(pos, ff - pos);
    if (ff < r.out.size() || pg.find_first_not_of(" \n\r\t") != std::string_view::npos) {
      tb.set_page(page);
      size_t p = 0;
      while (p < pg.size()) {
        size_t blank = pg.find("\n\n", p);
        if (blank == std::string_view::npos) blank = pg.size();
        tb.block(pg.substr(p, blank - p));
        p = blank + 2;
      }
      ++page;
    }
    pos = ff + 1;
  }
  Extracted e = tb.finish();
  if (e.blocks.empty()) throw_error(ErrorKind::format, "{}: PDF has no text layer (scanned images?) or no pages", name);
  e.pages = page - 1;
  return e;
}

}  // namespace hearth::kb
