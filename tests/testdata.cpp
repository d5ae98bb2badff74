#include "testdata.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace fs = std::filesystem;

namespace hearth::test {

std::string testdata_dir() {
  const char* env = std::getenv("HEARTH_TESTDATA");
  std::string dir = env != nullptr && *env != '\0' ? env : HEARTH_TESTDATA_DEFAULT;
  if (!fs::is_directory(dir)) {
    throw std::runtime_error("test data directory '" + dir +
                             "' does not exist: check out ../shared/testdata beside the "
                             "repository or set HEARTH_TESTDATA");
  }
  return fs::canonical(dir).string();
}

std::string testdata_file(const std::string& relative) {
  std::string path = testdata_dir() + "/" + relative;
  if (!fs::exists(path)) throw std::runtime_error("test data file '" + path + "' is missing");
  return path;
}

std::string source_dir() { return HEARTH_SOURCE_DIR; }
std::string hearth_binary() { return HEARTH_BINARY; }

namespace {
struct TempDirs {
  std::vector<fs::path> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (auto& d : dirs) fs::remove_all(d, ec);
  }
};
TempDirs& temp_dirs() {
  static TempDirs t;
  return t;
}
}  // namespace

std::string temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "hearth-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  temp_dirs().dirs.emplace_back(buf.data());
  return buf.data();
}

CommandResult run_command(const std::string& command_line) {
  CommandResult r;
  FILE* p = popen(command_line.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace hearth::test
