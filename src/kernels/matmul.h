// Matrix products of a quantized weight matrix with float activations: the hot loop of every
// forward pass. The weight stays in its GGUF block format (mmapped); activations are quantized
// on the fly, once per call (to Q8A for the 32-value formats, Q8_K for the K-quants; float
// weights use them as they are). The kernels are picked at run time from the CPU's features
// (docs/kernels.md); HEARTH_ISA=generic|avx2|avx512|neon forces a path.
#pragma once

#include <cstdint>
#include <span>

#include "gguf/types.h"
#include "util/thread_pool.h"

namespace hearth::kernels {

// A 2-D weight as stored in GGUF: `rows` rows (ne[1]) of `cols` elements (ne[0]).
struct Weight {
  gguf::TensorType type = gguf::TensorType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

// y[t * w.rows + r] = dot(row r of w, x[t * w.cols ...]) for t in [0, n_tokens).
// Throws hearth::Error(unsupported) naming the type if there is no kernel for w.type, and
// Error(format) if w.cols is not a multiple of its block size. x and y must not overlap.
// Once warm (largest n_tokens seen on this thread) it does not allocate. Results do not depend
// on the pool's size. Not reentrant on one pool (one forward pass per pool at a time).
void matmul(const Weight& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Several products of the same activations, each into its own output: y_k = matmul(*w_k, x)
// (a layer's q, k and v; gate and up). The results are those of matmul() to the bit. For
// one token, where a product of a 1.1B model takes microseconds, up to four weights of one
// activation format and width share one conversion of x and one dispatch to the pool, and a
// thread moves on to the next product without waiting for the others.
struct MatmulOut {
  const Weight* w = nullptr;
  float* y = nullptr;
};
void matmul_group(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens, ThreadPool& pool);

// Row r of w converted to float (embedding lookup). out has w.cols elements.
void dequantize_row(const Weight& w, int64_t r, float* out);

// True if matmul/dequantize support this weight type.
bool is_supported(gguf::TensorType type);

// Name of the kernel path chosen at run time: "generic", "avx2", "avxvnni", "avx512",
// "avx512vnni", "neon", "neon-dotprod", "neon-i8mm". Throws hearth::Error if HEARTH_ISA names an unknown path or one this CPU
// cannot run.
const char* isa_name();

}  // namespace hearth::kernels
