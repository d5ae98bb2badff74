// Single-vector helpers on the run-time selected kernels, for code outside matmul (attention
// over an fp16 KV cache, similarity scores). n may be any length.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hearth::kernels {

float dot_f32(const float* a, const float* b, int64_t n);
// a is an fp16 row (uint16_t bit patterns), b float.
float dot_f16_f32(const uint16_t* a, const float* b, int64_t n);

// n fp16 rows of d values, `stride` elements apart: scores[t] = row_t · q, and
// out = Σ_t w[t]·row_t (out overwritten). The two halves of attention over an fp16 cache.
void f16_rows_dot(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d, float* scores);
void f16_rows_weighted_sum(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d, float* out);
// f16_rows_dot for g queries q[g][d] against the same rows: scores[h·n + t] = row_t · q_h.
void f16_rows_dot_heads(const uint16_t* rows, size_t stride, int64_t n, const float* q, int g, int64_t d,
                        float* scores);
// f16_rows_weighted_sum for g weight vectors w[g][n]: out[h] = Σ_t w[h][t]·row_t, out [g][d].
void f16_rows_weighted_sum_heads(const uint16_t* rows, size_t stride, int64_t n, const float* w, int g, int64_t d,
                                 float* out);

}  // namespace hearth::kernels
