#include "gguf/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "util/error.h"

namespace hearth::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian uint32

// Bounds-checked little-endian reads over the file bytes. Every failure names the file, what
// was being read and where, so a user can tell a truncated download from a bad converter.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  T read(const char* what) {
    if (remaining() < sizeof(T)) truncated(what, sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    uint64_t at = pos_;
    uint64_t len = read<uint64_t>(what);
    if (len > remaining()) {
      throw_error(ErrorKind::format,
                  "{}: {} at offset {} has length {} but only {} bytes remain in the file", name_,
                  what, at, len, remaining());
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

  [[noreturn]] void truncated(const char* what, uint64_t need) const {
    throw_error(ErrorKind::format, "{}: file is truncated: {} at offset {} needs {} bytes, {} remain",
                name_, what, pos_, need, remaining());
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

// Smallest encoded size of one value of type t (used to reject absurd counts before
// allocating anything: a count that cannot fit in the remaining bytes is an error).
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

Value read_value(Cursor& c, ValueType type, const std::string& name, const std::string& key,
                 uint32_t depth);

Array read_array(Cursor& c, const std::string& name, const std::string& key, uint32_t depth) {
  if (depth >= kMaxArrayDepth) {
    throw_error(ErrorKind::format, "{}: metadata key '{}': arrays nested deeper than {} at offset {}",
                name, key, kMaxArrayDepth, c.pos());
  }
  uint64_t at = c.pos();
  uint32_t raw_type = c.read<uint32_t>("array element type");
  if (!is_valid_value_type(raw_type)) {
    throw_error(ErrorKind::format, "{}: metadata key '{}': unknown array element type {} at offset {}",
                name, key, raw_type, at);
  }
  Array a;
  a.type = static_cast<ValueType>(raw_type);
  uint64_t count_at = c.pos();
  uint64_t count = c.read<uint64_t>("array length");
  if (count > c.remaining() / min_encoded_size(a.type)) {
    throw_error(ErrorKind::format,
                "{}: metadata key '{}': array length {} at offset {} cannot fit in the {} bytes "
                "that remain",
                name, key, count, count_at, c.remaining());
  }
  a.items.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) a.items.push_back(read_value(c, a.type, name, key, depth + 1));
  return a;
}

Value read_value(Cursor& c, ValueType type, const std::string& name, const std::string& key,
                 uint32_t depth) {
  switch (type) {
    case ValueType::UINT8: return Value(c.read<uint8_t>("u8 value"));
    case ValueType::INT8: return Value(c.read<int8_t>("i8 value"));
    case ValueType::UINT16: return Value(c.read<uint16_t>("u16 value"));
    case ValueType::INT16: return Value(c.read<int16_t>("i16 value"));
    case ValueType::UINT32: return Value(c.read<uint32_t>("u32 value"));
    case ValueType::INT32: return Value(c.read<int32_t>("i32 value"));
    case ValueType::FLOAT32: return Value(c.read<float>("f32 value"));
    case ValueType::UINT64: return Value(c.read<uint64_t>("u64 value"));
    case ValueType::INT64: return Value(c.read<int64_t>("i64 value"));
    case ValueType::FLOAT64: return Value(c.read<double>("f64 value"));
    case ValueType::BOOL: {
      uint64_t at = c.pos();
      uint8_t b = c.read<uint8_t>("bool value");
      if (b > 1) {
        throw_error(ErrorKind::format, "{}: metadata key '{}': bool at offset {} has value {}", name,
                    key, at, b);
      }
      return Value(b != 0);
    }
    case ValueType::STRING: return Value(c.read_string("string value"));
    case ValueType::ARRAY: return Value(read_array(c, name, key, depth));
  }
  throw_error(ErrorKind::internal, "{}: unhandled value type", name);
}

const char* kind_for_error(const Value& v) {
  switch (v.type()) {
    case ValueType::STRING: return "a string";
    case ValueType::ARRAY: return "an array";
    case ValueType::BOOL: return "a bool";
    case ValueType::FLOAT32: case ValueType::FLOAT64: return "a float";
    default: return "an integer";
  }
}

}  // namespace

bool Array::operator==(const Array& o) const { return type == o.type && items == o.items; }

bool Value::is_integer() const {
  switch (type()) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default: return false;
  }
}

std::optional<int64_t> Value::as_int() const {
  return std::visit(
      [](const auto& v) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, uint64_t>) {
          if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
          return static_cast<int64_t>(v);
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<int64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      data);
}

std::optional<double> Value::as_float() const {
  if (auto* f = std::get_if<float>(&data)) return *f;
  if (auto* d = std::get_if<double>(&data)) return *d;
  if (auto i = as_int()) return static_cast<double>(*i);
  return std::nullopt;
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

File File::open(const std::string& path) {
  File f;
  f.map_ = std::make_shared<MappedFile>(path);
  f.bytes_ = std::span<const uint8_t>(f.map_->data(), f.map_->size());
  f.name_ = path;
  f.parse_all();
  return f;
}

File File::parse(std::span<const uint8_t> bytes, std::string name) {
  File f;
  f.bytes_ = bytes;
  f.name_ = std::move(name);
  f.parse_all();
  return f;
}

void File::parse_all() {
  Cursor c(bytes_, name_);
  if (bytes_.size() < 4) {
    throw_error(ErrorKind::format, "{}: not a GGUF file: only {} bytes", name_, bytes_.size());
  }
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    throw_error(ErrorKind::format, "{}: not a GGUF file: bad magic {:#010x} at offset 0 (expected \"GGUF\")",
                name_, magic);
  }
  version_ = c.read<uint32_t>("version");
  if (version_ == 1) {
    throw_error(ErrorKind::unsupported, "{}: GGUF version 1 is not supported (re-convert the model to v3)",
                name_);
  }
  if (version_ != 2 && version_ != 3) {
    uint32_t swapped = __builtin_bswap32(version_);
    if (swapped >= 1 && swapped <= 3) {
      throw_error(ErrorKind::unsupported, "{}: big-endian GGUF (version {}) is not supported", name_,
                  swapped);
    }
    throw_error(ErrorKind::unsupported, "{}: unknown GGUF version {} at offset 4 (supported: 2, 3)",
                name_, version_);
  }
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("metadata count");
  if (n_tensors > kMaxTensors) {
    throw_error(ErrorKind::format, "{}: absurd tensor count {} at offset 8", name_, n_tensors);
  }
  if (n_kv > kMaxMetadata) {
    throw_error(ErrorKind::format, "{}: absurd metadata count {} at offset 16", name_, n_kv);
  }

  kv_.reserve(static_cast<size_t>(std::min<uint64_t>(n_kv, c.remaining() / 12)));
  for (uint64_t i = 0; i < n_kv; ++i) {
    uint64_t at = c.pos();
    std::string key = c.read_string("metadata key");
    uint64_t type_at = c.pos();
    uint32_t raw_type = c.read<uint32_t>("metadata value type");
    if (!is_valid_value_type(raw_type)) {
      throw_error(ErrorKind::format, "{}: metadata key '{}': unknown value type {} at offset {}", name_,
                  key, raw_type, type_at);
    }
    Value v = read_value(c, static_cast<ValueType>(raw_type), name_, key, 0);
    if (!kv_index_.emplace(key, kv_.size()).second) {
      throw_error(ErrorKind::format, "{}: duplicate metadata key '{}' at offset {}", name_, key, at);
    }
    kv_.push_back({std::move(key), std::move(v)});
  }

  if (const Value* a = find("general.alignment")) {
    auto al = a->as_int();
    if (a->type() != ValueType::UINT32 || !al || *al == 0 || (*al & (*al - 1)) != 0) {
      throw_error(ErrorKind::format, "{}: general.alignment must be a power-of-two u32, got {} {}",
                  name_, value_type_name(a->type()), al ? std::to_string(*al) : "?");
    }
    alignment_ = static_cast<uint64_t>(*al);
  }

  tensors_.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors, c.remaining() / 24)));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    uint64_t at = c.pos();
    TensorInfo t;
    t.name = c.read_string("tensor name");
    uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      throw_error(ErrorKind::format, "{}: tensor '{}' at offset {} has {} dimensions (1..{} allowed)",
                  name_, t.name, at, n_dims, kMaxDims);
    }
    t.n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = c.read<uint64_t>("tensor dimension");
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (ne != 0 && t.n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne)) {
        throw_error(ErrorKind::format, "{}: tensor '{}' at offset {}: dimensions overflow", name_,
                    t.name, at);
      }
      t.n_elements *= ne;
      t.dims.push_back(ne);
    }
    uint32_t raw_type = c.read<uint32_t>("tensor type");
    auto info = tensor_type_info(raw_type);
    if (!info) {
      throw_error(ErrorKind::format, "{}: tensor '{}' at offset {} has unknown type {}", name_, t.name,
                  at, raw_type);
    }
    t.type = static_cast<TensorType>(raw_type);
    if (t.dims[0] % info->block_size != 0) {
      throw_error(ErrorKind::format,
                  "{}: tensor '{}': row length {} is not a multiple of the {} block size {}", name_,
                  t.name, t.dims[0], info->name, info->block_size);
    }
    t.n_bytes = t.n_elements / info->block_size * info->type_size;
    t.offset = c.read<uint64_t>("tensor data offset");
    if (t.offset % alignment_ != 0) {
      throw_error(ErrorKind::format, "{}: tensor '{}': data offset {} is not a multiple of the alignment {}",
                  name_, t.name, t.offset, alignment_);
    }
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
      throw_error(ErrorKind::format, "{}: duplicate tensor name '{}' at offset {}", name_, t.name, at);
    }
    tensors_.push_back(std::move(t));
  }

  // Tensor data starts at the next multiple of the alignment.
  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (tensors_.empty()) return;
  if (data_offset_ > bytes_.size()) {
    throw_error(ErrorKind::format, "{}: file is truncated: tensor data would start at offset {} but the file has {} bytes",
                name_, data_offset_, bytes_.size());
  }
  const uint64_t data_size = bytes_.size() - data_offset_;
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const auto& t : tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      throw_error(ErrorKind::format,
                  "{}: tensor '{}' ({} bytes at data offset {}) extends past the end of the file "
                  "(data section is {} bytes)",
                  name_, t.name, t.n_bytes, t.offset, data_size);
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* prev = by_offset[i - 1];
    if (prev->offset + prev->n_bytes > by_offset[i]->offset) {
      throw_error(ErrorKind::format, "{}: tensors '{}' and '{}' overlap (data offsets {} and {})", name_,
                  prev->name, by_offset[i]->name, prev->offset, by_offset[i]->offset);
    }
  }
}

const Value* File::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
[[noreturn]] void wrong_type(const std::string& file, std::string_view key, const Value& v,
                             const char* expected) {
  throw_error(ErrorKind::format, "{}: metadata key '{}' is {} ({}), expected {}", file, key,
              kind_for_error(v), value_type_name(v.type()), expected);
}
}  // namespace

std::optional<std::string> File::find_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (const std::string* s = v->as_string()) return *s;
  wrong_type(name_, key, *v, "a string");
}

std::optional<int64_t> File::find_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (auto i = v->as_int()) return i;
  wrong_type(name_, key, *v, "an integer");
}

std::optional<double> File::find_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (auto d = v->as_float()) return d;
  wrong_type(name_, key, *v, "a number");
}

std::optional<bool> File::find_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (const bool* b = std::get_if<bool>(&v->data)) return *b;
  wrong_type(name_, key, *v, "a bool");
}

namespace {
template <typename T>
T require(const std::optional<T>& v, const std::string& file, std::string_view key) {
  if (!v) throw_error(ErrorKind::not_found, "{}: metadata key '{}' is missing", file, key);
  return *v;
}
}  // namespace

std::string File::get_string(std::string_view key) const { return require(find_string(key), name_, key); }
int64_t File::get_int(std::string_view key) const { return require(find_int(key), name_, key); }
double File::get_float(std::string_view key) const { return require(find_float(key), name_, key); }
bool File::get_bool(std::string_view key) const { return require(find_bool(key), name_, key); }

const Array& File::get_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) throw_error(ErrorKind::not_found, "{}: metadata key '{}' is missing", name_, key);
  if (const Array* a = v->as_array()) return *a;
  wrong_type(name_, key, *v, "an array");
}

std::vector<std::string> File::get_string_array(std::string_view key) const {
  const Array& a = get_array(key);
  if (a.type != ValueType::STRING) {
    throw_error(ErrorKind::format, "{}: metadata key '{}' is an array of {}, expected strings", name_,
                key, value_type_name(a.type));
  }
  std::vector<std::string> out;
  out.reserve(a.items.size());
  for (const auto& v : a.items) out.push_back(*v.as_string());
  return out;
}

std::vector<float> File::get_float_array(std::string_view key) const {
  const Array& a = get_array(key);
  std::vector<float> out;
  out.reserve(a.items.size());
  for (const auto& v : a.items) {
    auto d = v.as_float();
    if (!d) {
      throw_error(ErrorKind::format, "{}: metadata key '{}' is an array of {}, expected numbers", name_,
                  key, value_type_name(a.type));
    }
    out.push_back(static_cast<float>(*d));
  }
  return out;
}

std::vector<int64_t> File::get_int_array(std::string_view key) const {
  const Array& a = get_array(key);
  std::vector<int64_t> out;
  out.reserve(a.items.size());
  for (const auto& v : a.items) {
    auto i = v.as_int();
    if (!i) {
      throw_error(ErrorKind::format, "{}: metadata key '{}' is an array of {}, expected integers", name_,
                  key, value_type_name(a.type));
    }
    out.push_back(*i);
  }
  return out;
}

}  // namespace hearth::gguf
