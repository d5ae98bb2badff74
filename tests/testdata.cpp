#include "testdata.h"

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

}  // namespace hearth::test
