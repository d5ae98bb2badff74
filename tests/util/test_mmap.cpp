// MappedFile and HugePageBuffer: contents, 2 MiB placement, no address space left behind; and
// the smaps reading that `hearth bench` uses to report huge pages.
#include "util/mmap.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "util/error.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

struct TempFile {
  std::string path;
  explicit TempFile(size_t size) {
    path = (fs::temp_directory_path() / ("hearth-mmap-" + std::to_string(::getpid()) + "-" + std::to_string(size)))
               .string();
    std::vector<char> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
  }
  ~TempFile() { fs::remove(path); }
};

bool same_bytes(const MappedFile& m) {
  for (size_t i = 0; i < m.size(); ++i)
    if (m.data()[i] != static_cast<uint8_t>((i * 131 + i / 4096) & 0xff)) return false;
  return true;
}

size_t mapping_count() {
  std::ifstream in("/proc/self/maps");
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST(MappedFile, LargeFilesStartAtA2MiBBoundary) {
  constexpr size_t kHuge = size_t(2) << 20;
  for (size_t size : {kHuge, 3 * kHuge + 12345}) {
    TempFile f(size);
    MappedFile m(f.path);
    ASSERT_EQ(m.size(), size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % kHuge, 0u) << size;
    EXPECT_TRUE(same_bytes(m)) << size;
  }
  TempFile small(5000);
  MappedFile m(small.path);
  EXPECT_EQ(m.size(), 5000u);
  EXPECT_TRUE(same_bytes(m));
}

TEST(MappedFile, MappingAndUnmappingLeavesNoReservationBehind) {
  TempFile f((size_t(5) << 20) + 7);
  { MappedFile warm(f.path); }
  const size_t before = mapping_count();
  for (int i = 0; i < 20; ++i) {
    MappedFile m(f.path);
    MappedFile moved = std::move(m);
    EXPECT_EQ(moved.size(), (size_t(5) << 20) + 7);
  }
  EXPECT_EQ(mapping_count(), before);
}

TEST(HugePageBuffer, ZeroFilledWritableAndAlignedLikeModelMappings) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t before = mapping_count();
  for (size_t size : {size_t(4096), 3 * kHuge + 100}) {
    HugePageBuffer b(size);
    ASSERT_EQ(b.size(), size);
    if (size >= kHuge) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHuge, 0u);
    }
    bool zero = true;
    for (size_t i = 0; i < size; ++i) zero = zero && b.data()[i] == 0;
    EXPECT_TRUE(zero) << size;
    b.data()[0] = 1;
    b.data()[size - 1] = 2;
    EXPECT_EQ(b.data()[0] + b.data()[size - 1], 3);
  }
  EXPECT_EQ(mapping_count(), before);
}

TEST(MappedFile, MissingFileIsNotFound) {
  try {
    MappedFile m("/nonexistent/hearth-model.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/hearth-model.gguf"), std::string::npos);
  }
}

// An excerpt of a real /proc/self/smaps (Linux 6.18, a 591 MiB GGUF cached in 2 MiB folios),
// with an anonymous mapping before it and the heap after.
constexpr const char* kSmaps =
    "7fe43c000000-7fe43c600000 rw-p 00000000 00:00 0 \n"
    "Size:               6144 kB\n"
    "AnonHugePages:      4096 kB\n"
    "FilePmdMapped:         0 kB\n"
    "VmFlags: rd wr mr mw me ac sd \n"
    "7fe43ce00000-7fe461d54000 r--s 00000000 fe:00 10977689                   /tmp/p6/s40-x.gguf\n"
    "Size:             605520 kB\n"
    "KernelPageSize:        4 kB\n"
    "Rss:              605520 kB\n"
    "AnonHugePages:         0 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FilePmdMapped:    604160 kB\n"
    "THPeligible:           0\n"
    "VmFlags: rd mr me ms hg \n"
    "55d0a0000000-55d0a0021000 rw-p 00000000 00:00 0                          [heap]\n"
    "Size:                132 kB\n"
    "AnonHugePages:         0 kB\n"
    "FilePmdMapped:         0 kB";

TEST(HugePages, CountsOnlyTheMappingsThatOverlapTheRange) {
  const uintptr_t file_lo = 0x7fe43ce00000, file_hi = 0x7fe461d54000;
  EXPECT_EQ(huge_page_bytes_in_smaps(kSmaps, file_lo, file_hi), size_t(604160) * 1024);
  // A range inside the anonymous mapping sees its AnonHugePages, capped at the range.
  EXPECT_EQ(huge_page_bytes_in_smaps(kSmaps, 0x7fe43c000000, 0x7fe43c600000), size_t(4096) * 1024);
  EXPECT_EQ(huge_page_bytes_in_smaps(kSmaps, 0x7fe43c000000, 0x7fe43c001000), size_t(4096));
  // Both mappings at once; and a range between them, or the heap, has none.
  EXPECT_EQ(huge_page_bytes_in_smaps(kSmaps, 0x7fe43c000000, file_hi), size_t(604160 + 4096) * 1024);
  EXPECT_EQ(huge_page_bytes_in_smaps(kSmaps, 0x7fe43c600000, 0x7fe43ce00000), 0u);
  EXPECT_EQ(huge_page_bytes_in_smaps(kSmaps, 0x55d0a0000000, 0x55d0a0021000), 0u);
  EXPECT_EQ(huge_page_bytes_in_smaps("", file_lo, file_hi), 0u);
  EXPECT_EQ(huge_page_bytes_in_smaps("garbage-line\nFilePmdMapped: 12 kB\n", file_lo, file_hi), 0u);
}

TEST(HugePages, ReadsThisProcessesOwnMapping) {
  TempFile f(size_t(3) << 20);
  MappedFile m(f.path);
  ASSERT_TRUE(same_bytes(m));
  const auto huge = huge_page_bytes(m.data(), m.size());
  if (!fs::exists("/proc/self/smaps")) GTEST_SKIP() << "no /proc/self/smaps";
  ASSERT_TRUE(huge.has_value());
  // Whether the kernel uses huge pages here depends on it and on the file system; the count
  // must still be a whole number of 2 MiB pages within the file.
  EXPECT_LE(*huge, m.size());
  EXPECT_EQ(*huge % (size_t(2) << 20), 0u);
}

}  // namespace
}  // namespace hearth
