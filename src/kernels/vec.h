// Single-vector helpers on the run-time selected kernels, for code outside matmul (attention
// over an fp16 KV cache, similarity scores). n may be any length.
#pragma once

#include <cstdint>

namespace hearth::kernels {

float dot_f32(const float* a, const float* b, int64_t n);
// a is an fp16 row (uint16_t bit patterns), b float.
float dot_f16_f32(const uint16_t* a, const float* b, int64_t n);

}  // namespace hearth::kernels
