// Read-only memory mapping of a whole file. Model weights are used straight from the mapping,
// never copied, so resident memory stays close to what is actually touched. Files of 2 MiB and
// more are mapped at a 2 MiB boundary with transparent huge pages requested, so a kernel that
// caches the file in 2 MiB folios maps it with one TLB entry per 2 MiB (see mmap.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth {

class MappedFile {
 public:
  MappedFile() = default;
  // Maps `path` read-only. Throws hearth::Error (not_found / io) naming the file.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Zero-filled anonymous memory of `bytes` at a 2 MiB boundary, with transparent huge pages
// asked for as for model files: the bandwidth probes (util/bandwidth.h) read from it, so that
// they compare with the weights like for like. Throws std::bad_alloc if it cannot be mapped.
class HugePageBuffer {
 public:
  explicit HugePageBuffer(size_t bytes);
  ~HugePageBuffer();
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// How many bytes of the mappings overlapping [addr, addr + len) the kernel maps with huge
// pages (FilePmdMapped + AnonHugePages in /proc/self/smaps), capped at len; nullopt where smaps
// cannot be read (not Linux, /proc not mounted).
std::optional<size_t> huge_page_bytes(const void* addr, size_t len);
// The same count on smaps text, for the address range [begin, end).
size_t huge_page_bytes_in_smaps(std::string_view smaps, uintptr_t begin, uintptr_t end);

}  // namespace hearth
