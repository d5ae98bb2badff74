// GGUF writer: metadata (in insertion order) and tensors, with `general.alignment` padding.
// Used by tests (synthetic models, round-trips) and by `hearth quantize`.
// write() goes to a temporary file in the same directory and renames it into place, so a full
// disk or a crash never leaves a half-written model under the final name.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace hearth::gguf {

class Writer {
 public:
  explicit Writer(uint32_t version = 3) : version_(version) {}

  // Sets (or replaces, keeping its position) a metadata key. Setting "general.alignment"
  // changes the alignment used for tensor data.
  void set(std::string key, Value value);
  // Adds a tensor whose bytes the caller keeps alive until write() returns.
  void add_tensor(std::string name, TensorType type, std::vector<uint64_t> dims,
                  std::span<const uint8_t> data);
  // Adds a tensor whose bytes the writer owns.
  void add_tensor_owned(std::string name, TensorType type, std::vector<uint64_t> dims,
                        std::vector<uint8_t> data);
  // Copies every key and tensor of `f` (tensor bytes borrowed from f's mapping).
  void copy_from(const File& f);

  void write(const std::string& path) const;
  std::vector<uint8_t> write_to_memory() const;

 private:
  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<uint64_t> dims;
    std::span<const uint8_t> data;
    std::vector<uint8_t> owned;
  };
  template <typename Sink>
  void emit(Sink& sink) const;
  uint64_t alignment() const;

  uint32_t version_;
  std::vector<KeyValue> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace hearth::gguf
