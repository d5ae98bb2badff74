#include "util/mmap.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <utility>

#include "util/error.h"

namespace hearth {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// Maps `size` bytes at a 2 MiB boundary (the file fd, or anonymous memory for fd = -1) and asks
// for transparent huge pages. Where the kernel keeps a file's page cache in 2 MiB folios (Linux
// 6.x with large-folio file systems such as ext4 from 6.16 or XFS), the mapping then uses one
// TLB entry per 2 MiB instead of 512: token generation walks hundreds of megabytes of weights
// per token, and with 4 KiB pages every 4 KiB costs a page walk (docs/engine.md has the
// measurement). Elsewhere the advice is a no-op and the mapping behaves as a plain one.
void* map_aligned(int fd, size_t size, int prot, int flags) {
  if (size < kHugePage) return ::mmap(nullptr, size, prot, flags, fd, 0);
  // Reserve enough address space to find a boundary, map over it, give back the rest.
  void* reserved = ::mmap(nullptr, size + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return ::mmap(nullptr, size, prot, flags, fd, 0);
  const uintptr_t base = reinterpret_cast<uintptr_t>(reserved);
  const uintptr_t start = (base + kHugePage - 1) & ~uintptr_t(kHugePage - 1);
  void* p = ::mmap(reinterpret_cast<void*>(start), size, prot, flags | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::munmap(reserved, size + kHugePage);
    errno = err;
    return MAP_FAILED;
  }
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t end = start + ((size + page - 1) & ~(page - 1));
  if (start > base) ::munmap(reserved, start - base);
  if (base + size + kHugePage > end) ::munmap(reinterpret_cast<void*>(end), base + size + kHugePage - end);
#if defined(MADV_HUGEPAGE)
  ::madvise(p, size, MADV_HUGEPAGE);  // advice only: failure (no THP in this kernel) is fine
#endif
  return p;
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw_error(err == ENOENT ? ErrorKind::not_found : ErrorKind::io, "{}: cannot open: {}", path,
                std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw_error(ErrorKind::io, "{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_error(ErrorKind::invalid_argument, "{}: not a regular file", path);
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = map_aligned(fd, size_, PROT_READ, MAP_SHARED);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw_error(ErrorKind::io, "{}: cannot mmap {} bytes: {}", path, size_, std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
}

MappedFile::~MappedFile() { release(); }

HugePageBuffer::HugePageBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = map_aligned(-1, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(p);
}

HugePageBuffer::~HugePageBuffer() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

size_t huge_page_bytes_in_smaps(std::string_view smaps, uintptr_t begin, uintptr_t end) {
  // Each mapping starts with a line "start-end perms offset dev inode [path]" (hex addresses);
  // its fields follow as "Name:   value kB".
  size_t total = 0;
  bool inside = false;
  while (!smaps.empty()) {
    const size_t eol = smaps.find('\n');
    const std::string_view line = smaps.substr(0, eol);
    smaps.remove_prefix(eol == std::string_view::npos ? smaps.size() : eol + 1);
    const size_t dash = line.find('-');
    const size_t colon = line.find(':');
    if (dash != std::string_view::npos && (colon == std::string_view::npos || dash < colon)) {
      uintptr_t lo = 0, hi = 0;
      const auto r1 = std::from_chars(line.data(), line.data() + dash, lo, 16);
      const auto r2 = std::from_chars(line.data() + dash + 1, line.data() + line.size(), hi, 16);
      if (r1.ec == std::errc() && r2.ec == std::errc() && r1.ptr == line.data() + dash &&
          r2.ptr < line.data() + line.size() && *r2.ptr == ' ') {
        inside = lo < end && begin < hi;
        continue;
      }
    }
    if (!inside || colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    if (name != "FilePmdMapped" && name != "AnonHugePages") continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    size_t kib = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), kib).ec == std::errc()) total += kib * 1024;
  }
  return std::min<size_t>(total, end - begin);
}

std::optional<size_t> huge_page_bytes(const void* addr, size_t len) {
  std::ifstream in("/proc/self/smaps");
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  const auto begin = reinterpret_cast<uintptr_t>(addr);
  return huge_page_bytes_in_smaps(text.str(), begin, begin + len);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::release() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace hearth
