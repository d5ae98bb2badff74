// Every GGUF in the test data: read → write → re-read must give the same metadata and tensor
// bytes, and the written file must equal the original byte for byte (our writer lays files out
// exactly as the reference writer does).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "testdata.h"

namespace fs = std::filesystem;
using namespace hearth::gguf;

namespace {

std::vector<std::string> all_gguf_files() {
  std::vector<std::string> out;
  std::string dir;
  try {
    dir = hearth::test::testdata_dir();
  } catch (const std::exception& e) {
    out.push_back(std::string("MISSING: ") + e.what());
    return out;
  }
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".gguf") out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class GgufRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufRoundTrip, ReadWriteReread) {
  ASSERT_EQ(GetParam().rfind("MISSING: ", 0), std::string::npos) << GetParam();
  std::string path = hearth::test::testdata_file(GetParam());
  File original = File::open(path);
  Writer w(original.version());
  w.copy_from(original);
  std::string out = hearth::test::temp_dir() + "/copy.gguf";
  w.write(out);
  File copy = File::open(out);

  ASSERT_EQ(copy.metadata().size(), original.metadata().size());
  for (size_t i = 0; i < original.metadata().size(); ++i) {
    EXPECT_EQ(copy.metadata()[i].key, original.metadata()[i].key);
    EXPECT_TRUE(copy.metadata()[i].value == original.metadata()[i].value) << original.metadata()[i].key;
  }
  ASSERT_EQ(copy.tensors().size(), original.tensors().size());
  for (size_t i = 0; i < original.tensors().size(); ++i) {
    const auto& a = original.tensors()[i];
    const auto& b = copy.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.dims, b.dims);
    EXPECT_EQ(a.type, b.type);
    ASSERT_EQ(a.n_bytes, b.n_bytes);
    EXPECT_EQ(0, std::memcmp(original.tensor_data(a), copy.tensor_data(b), a.n_bytes)) << a.name;
  }
  // Byte-identical file. One allowance: a tensor-less (vocab-only) file may end with zero
  // padding up to the alignment (the Python writer adds it, the C++ one does not; both are valid).
  ASSERT_LE(copy.file_size(), original.file_size());
  EXPECT_EQ(0, std::memcmp(copy.bytes().data(), original.bytes().data(), copy.file_size()));
  if (copy.file_size() != original.file_size()) {
    EXPECT_TRUE(original.tensors().empty());
    EXPECT_LT(original.file_size() - copy.file_size(), original.alignment());
    EXPECT_EQ(original.file_size() % original.alignment(), 0u);
    for (uint64_t i = copy.file_size(); i < original.file_size(); ++i) EXPECT_EQ(original.bytes()[i], 0) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(TestData, GgufRoundTrip, ::testing::ValuesIn(all_gguf_files()),
                         [](const auto& info) {
                           std::string n = fs::path(info.param).stem().string();
                           for (auto& ch : n) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
