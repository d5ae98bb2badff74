// Writer::write to a real file: the bytes equal write_to_memory's across the 2 MiB write chunks,
// and a write that fails part way (the file-size limit standing in for a full disk) is an io
// error that leaves neither the target nor a temporary file behind.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace hearth;
using namespace hearth::gguf;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("hearth-writer-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// A writer holding `mib` MiB of F32 tensor data plus some metadata.
Writer make_writer(std::vector<float>& data, size_t mib) {
  data.resize(mib * (size_t(1) << 20) / sizeof(float) + 37);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i % 1000) * 0.25f;
  Writer w;
  w.set("general.name", "chunked");
  w.add_tensor("a", TensorType::F32, {data.size()},
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size() * sizeof(float)));
  return w;
}

TEST(GgufWriterFile, FileBytesEqualTheMemoryImageAcrossChunks) {
  TempDir dir;
  std::vector<float> data;
  Writer w = make_writer(data, 5);  // more than two 2 MiB chunks, and a partial last one
  const std::string path = (dir.path / "out.gguf").string();
  w.write(path);
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file, w.write_to_memory());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(GgufWriterFile, AFailedWriteLeavesNothingBehind) {
  TempDir dir;
  const std::string path = (dir.path / "out.gguf").string();
  // In a child: limit files to 1 MiB, so the 3 MiB write fails with EFBIG part way through.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{size_t(1) << 20, size_t(1) << 20};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(10);
    std::vector<float> data;
    Writer w = make_writer(data, 3);
    try {
      w.write(path);
    } catch (const Error& e) {
      const std::string msg = e.what();
      ::_exit(e.kind() == ErrorKind::io && msg.find(path) != std::string::npos &&
                      msg.find("write failed") != std::string::npos
                  ? 0
                  : 11);
    }
    ::_exit(12);  // no error
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: setrlimit failed, 11: wrong error, 12: no error";
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 0);
}

}  // namespace
