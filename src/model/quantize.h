// Converting a model file to another weight type (`hearth quantize IN OUT TYPE`).
//
// Matrices (tensors of two or more dimensions whose name ends in ".weight", except the norms)
// are converted from F32, F16 or BF16 to the target type; everything else — norms, biases,
// metadata — is copied unchanged. A matrix whose rows do not divide into the target's blocks
// falls back to Q8_0 (32-value blocks) or F16, and the report says so. The output is written
// to a temporary file and renamed into place (gguf::Writer), so a failure never leaves a
// half-written model under OUT.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf/types.h"

namespace hearth::model {

struct QuantizeReport {
  struct Tensor {
    std::string name;
    gguf::TensorType from, to;
    uint64_t bytes_in = 0, bytes_out = 0;
    std::string note;  // why `to` differs from the requested type, if it does
  };
  std::vector<Tensor> tensors;
  uint64_t bytes_in = 0, bytes_out = 0;  // of all tensors
};

// Called after each tensor: index (0-based), count, and the tensor just done.
using QuantizeProgress = std::function<void(size_t i, size_t n, const QuantizeReport::Tensor&)>;

// The types `quantize` can produce.
bool is_quantize_target(gguf::TensorType t);

// `general.file_type` for a model whose matrices are mostly `t`, numbered as the ecosystem
// numbers its "mostly X" file types, so other tools describe our files correctly.
uint32_t gguf_file_type(gguf::TensorType t);

// Throws hearth::Error: invalid_argument for a target type it cannot produce or in == out,
// unsupported for a matrix stored in a type it cannot convert from, and the reader's and
// writer's errors for bad input files or a failed write.
QuantizeReport quantize_file(const std::string& in_path, const std::string& out_path, gguf::TensorType target,
                             int n_threads, const QuantizeProgress& progress = {});

}  // namespace hearth::model
