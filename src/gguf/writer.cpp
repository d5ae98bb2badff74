#include "gguf/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "util/error.h"

namespace hearth::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;

struct MemorySink {
  std::vector<uint8_t> out;
  void write(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
};

// Writes the file in whole 2 MiB chunks at 2 MiB offsets. On kernels whose page cache uses
// large folios (Linux 6.x: XFS, and ext4 from 6.16) such writes leave the file cached in 2 MiB
// folios, so the model that was just written maps with huge pages (util/mmap.cpp) instead of
// 4 KiB ones; with 64 KiB writes the same file stays in small folios until it is evicted.
// Elsewhere it is simply a large write buffer.
class FileSink {
 public:
  static constexpr size_t kChunk = size_t(2) << 20;
  FileSink(int fd, const std::string& path) : fd_(fd), path_(path), buf_(kChunk) {}
  void write(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    while (n > 0) {
      const size_t take = std::min(n, kChunk - used_);
      std::memcpy(buf_.data() + used_, b, take);
      used_ += take;
      b += take;
      n -= take;
      if (used_ == kChunk) flush();
    }
  }
  void flush() {
    size_t done = 0;
    while (done < used_) {
      const ssize_t w = ::write(fd_, buf_.data() + done, used_ - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw_error(ErrorKind::io, "{}: write failed: {}", path_, std::strerror(w < 0 ? errno : ENOSPC));
      done += static_cast<size_t>(w);
    }
    used_ = 0;
  }

 private:
  int fd_;
  const std::string& path_;
  std::vector<uint8_t> buf_;
  size_t used_ = 0;
};

template <typename Sink, typename T>
void put(Sink& s, T v) {
  s.write(&v, sizeof(T));
}

template <typename Sink>
void put_string(Sink& s, const std::string& str) {
  put<Sink, uint64_t>(s, str.size());
  s.write(str.data(), str.size());
}

template <typename Sink>
void put_value(Sink& s, const Value& v, const std::string& key);

template <typename Sink>
void put_array(Sink& s, const Array& a, const std::string& key) {
  put<Sink, uint32_t>(s, static_cast<uint32_t>(a.type));
  put<Sink, uint64_t>(s, a.items.size());
  for (const auto& item : a.items) {
    if (item.type() != a.type) {
      throw_error(ErrorKind::invalid_argument, "gguf writer: key '{}': array of {} holds a {}", key,
                  value_type_name(a.type), value_type_name(item.type()));
    }
    put_value(s, item, key);
  }
}

template <typename Sink>
void put_value(Sink& s, const Value& v, const std::string& key) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          put_string(s, x);
        } else if constexpr (std::is_same_v<T, Array>) {
          put_array(s, x, key);
        } else if constexpr (std::is_same_v<T, bool>) {
          put<Sink, uint8_t>(s, x ? 1 : 0);
        } else {
          put<Sink, T>(s, x);
        }
      },
      v.data);
}

template <typename Sink>
void pad_to(Sink& s, uint64_t& pos, uint64_t alignment) {
  static const uint8_t zeros[256] = {};
  uint64_t pad = (alignment - pos % alignment) % alignment;
  while (pad > 0) {
    uint64_t n = std::min<uint64_t>(pad, sizeof(zeros));
    s.write(zeros, n);
    pad -= n;
    pos += n;
  }
}

uint64_t encoded_size(const Value& v) {
  return std::visit(
      [](const auto& x) -> uint64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return 8 + x.size();
        } else if constexpr (std::is_same_v<T, Array>) {
          uint64_t n = 12;
          for (const auto& item : x.items) n += encoded_size(item);
          return n;
        } else if constexpr (std::is_same_v<T, bool>) {
          return 1;
        } else {
          return sizeof(T);
        }
      },
      v.data);
}

}  // namespace

void Writer::set(std::string key, Value value) {
  for (auto& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kv_.push_back({std::move(key), std::move(value)});
}

void Writer::add_tensor(std::string name, TensorType type, std::vector<uint64_t> dims,
                        std::span<const uint8_t> data) {
  auto info = tensor_type_info(static_cast<uint32_t>(type));
  if (!info) throw_error(ErrorKind::invalid_argument, "gguf writer: tensor '{}': unknown type", name);
  if (dims.empty() || dims.size() > kMaxDims) {
    throw_error(ErrorKind::invalid_argument, "gguf writer: tensor '{}': {} dimensions", name, dims.size());
  }
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  if (dims[0] % info->block_size != 0 || n / info->block_size * info->type_size != data.size()) {
    throw_error(ErrorKind::invalid_argument,
                "gguf writer: tensor '{}': {} bytes do not match {} elements of {}", name, data.size(),
                n, info->name);
  }
  for (const auto& t : tensors_) {
    if (t.name == name) throw_error(ErrorKind::invalid_argument, "gguf writer: duplicate tensor '{}'", name);
  }
  tensors_.push_back({std::move(name), type, std::move(dims), data, {}});
}

void Writer::add_tensor_owned(std::string name, TensorType type, std::vector<uint64_t> dims,
                              std::vector<uint8_t> data) {
  add_tensor(std::move(name), type, std::move(dims), std::span<const uint8_t>(data));
  tensors_.back().owned = std::move(data);  // a moved vector keeps its buffer: the span stays valid
  tensors_.back().data = std::span<const uint8_t>(tensors_.back().owned);
}

void Writer::copy_from(const File& f) {
  for (const auto& kv : f.metadata()) set(kv.key, kv.value);
  for (const auto& t : f.tensors()) {
    add_tensor(t.name, t.type, t.dims, std::span<const uint8_t>(f.tensor_data(t), t.n_bytes));
  }
}

uint64_t Writer::alignment() const {
  for (const auto& kv : kv_) {
    if (kv.key == "general.alignment") {
      auto a = kv.value.as_int();
      if (kv.value.type() != ValueType::UINT32 || !a || *a == 0 || (*a & (*a - 1)) != 0) {
        throw_error(ErrorKind::invalid_argument, "gguf writer: general.alignment must be a power-of-two u32");
      }
      return static_cast<uint64_t>(*a);
    }
  }
  return 32;
}

template <typename Sink>
void Writer::emit(Sink& sink) const {
  const uint64_t align = alignment();
  uint64_t pos = 0;
  put<Sink, uint32_t>(sink, kMagic);
  put<Sink, uint32_t>(sink, version_);
  put<Sink, uint64_t>(sink, tensors_.size());
  put<Sink, uint64_t>(sink, kv_.size());
  pos += 24;
  for (const auto& kv : kv_) {
    put_string(sink, kv.key);
    put<Sink, uint32_t>(sink, static_cast<uint32_t>(kv.value.type()));
    put_value(sink, kv.value, kv.key);
    pos += 8 + kv.key.size() + 4 + encoded_size(kv.value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(sink, t.name);
    put<Sink, uint32_t>(sink, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) put<Sink, uint64_t>(sink, d);
    put<Sink, uint32_t>(sink, static_cast<uint32_t>(t.type));
    put<Sink, uint64_t>(sink, offset);
    pos += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
    offset += (t.data.size() + align - 1) / align * align;
  }
  if (tensors_.empty()) return;
  pad_to(sink, pos, align);
  for (const auto& t : tensors_) {
    sink.write(t.data.data(), t.data.size());
    pos += t.data.size();
    pad_to(sink, pos, align);
  }
}

std::vector<uint8_t> Writer::write_to_memory() const {
  MemorySink s;
  emit(s);
  return std::move(s.out);
}

void Writer::write(const std::string& path) const {
  namespace fs = std::filesystem;
  // Write beside the target and rename: a failure never leaves a partial file under `path`.
  std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_error(ErrorKind::io, "{}: cannot create: {}", tmp, std::strerror(errno));
  try {
    FileSink s(fd, path);
    emit(s);
    s.flush();
    if (::fsync(fd) != 0) throw_error(ErrorKind::io, "{}: write failed: {}", path, std::strerror(errno));
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) throw_error(ErrorKind::io, "{}: write failed: {}", path, std::strerror(errno));
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw_error(ErrorKind::io, "{}: cannot rename into place: {}", path, ec.message());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace hearth::gguf
