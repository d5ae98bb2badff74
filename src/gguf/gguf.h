// GGUF reader: parses a GGUF v2/v3 file from a read-only memory mapping.
//
// Everything is bounds-checked; malformed input throws hearth::Error(ErrorKind::format) with a
// message naming the file, the field and the byte offset. Tensor data is never copied: a
// TensorInfo points into the mapping.
//
//   auto f = hearth::gguf::File::open("model.gguf");
//   std::string arch = f.get_string("general.architecture");
//   int64_t n_layer = f.get_int(arch + ".block_count");
//   const TensorInfo* wq = f.find_tensor("blk.0.attn_q.weight");
//   const uint8_t* bytes = f.tensor_data(*wq);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gguf/types.h"
#include "util/mmap.h"

namespace hearth::gguf {

struct Value;

struct Array {
  ValueType type = ValueType::UINT8;  // element type (may itself be ARRAY)
  std::vector<Value> items;
  bool operator==(const Array&) const;
};

// One metadata value. The variant's index equals the ValueType number.
struct Value {
  using Data = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                            std::string, Array, uint64_t, int64_t, double>;
  Data data;

  Value() = default;
  template <typename T>
  Value(T v) : data(std::move(v)) {}  // NOLINT: implicit on purpose, Value{uint32_t(5)}
  Value(const char* s) : data(std::string(s)) {}

  ValueType type() const { return static_cast<ValueType>(data.index()); }
  bool is_integer() const;
  bool is_float() const { return type() == ValueType::FLOAT32 || type() == ValueType::FLOAT64; }
  // Converting accessors; nullopt when the value has another kind (or does not fit).
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;  // also accepts integers
  const std::string* as_string() const { return std::get_if<std::string>(&data); }
  const Array* as_array() const { return std::get_if<Array>(&data); }
  bool operator==(const Value& o) const { return data == o.data; }
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first: ne[0] is the contiguous (row) dimension
  TensorType type = TensorType::F32;
  uint64_t offset = 0;      // relative to the start of the tensor data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;

  uint64_t ne(size_t i) const { return i < dims.size() ? dims[i] : 1; }
  std::string shape_string() const;  // "[64, 512]"
};

class File {
 public:
  // Maps and parses `path`. Throws hearth::Error.
  static File open(const std::string& path);
  // Parses a buffer the caller keeps alive (fuzzing, in-memory tests). `name` is used in errors.
  static File parse(std::span<const uint8_t> bytes, std::string name);

  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return bytes_.size(); }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of tensor data
  std::span<const uint8_t> bytes() const { return bytes_; }

  // Metadata, in file order.
  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters. The plain forms throw Error(not_found) if the key is missing and
  // Error(format) naming the key if the value has another type; find_* return nullopt
  // when missing and still throw on a wrong type.
  std::string get_string(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::optional<std::string> find_string(std::string_view key) const;
  std::optional<int64_t> find_int(std::string_view key) const;
  std::optional<double> find_float(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;
  const Array& get_array(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<float> get_float_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;

  // Tensors, in file order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const uint8_t* tensor_data(const TensorInfo& t) const { return bytes_.data() + data_offset_ + t.offset; }

 private:
  File() = default;
  void parse_all();

  std::shared_ptr<MappedFile> map_;  // null when parsing a caller's buffer
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Limits that keep a hostile file from asking for absurd allocations before the bounds checks
// catch it. They are far above anything a real model uses.
inline constexpr uint64_t kMaxTensors = 1u << 20;
inline constexpr uint64_t kMaxMetadata = 1u << 20;
inline constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
inline constexpr uint32_t kMaxArrayDepth = 8;

}  // namespace hearth::gguf
