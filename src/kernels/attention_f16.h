// Attention over the fp16 KV cache for the x86 kernel files: f16_rows_dot, f16_rows_weighted_sum
// and their grouped-query versions (the KernelTable entries of the same names, dispatch.h).
// Like simd_avx2.h this is private to each file that includes it (dot_avx2.cpp, dot_avx512.cpp),
// compiled with that file's flags. The grouped-query kernels are templates on how many cache
// rows and output columns one step covers: the AVX2 table takes what fits in 16 vector
// registers, the AVX-512 table what fits in 32 (its own 256-bit registers ymm16-31 included).
//
// Whatever the step, each query head's score against a row is summed over the row in the same
// order and reduced by the same additions, and each output column sums the rows in order, so a
// query's attention comes out the same whichever rows share its steps.
#pragma once

#include <algorithm>

#include "kernels/simd_avx2.h"

namespace hearth::kernels {
namespace {

// A head reads its d fp16 values of every cache row, `stride` apart. In a position-major cache
// (each row all heads', as attention() and the tests lay it out, and the model's cache until
// the twelfth session) the rest of each row is other heads', which the hardware prefetcher does
// not follow well, and the loops below do little work per row, so each asks for the slice
// kPrefetchRows rows further on. (The model's cache now keeps each head's rows together, where
// the prefetch neither helped nor hurt measurably.) Decoding the synthetic 1.1B model (4 KV heads of 64, rows of 512 bytes) at
// position 4000, alternated in one process: 23.0 t/s without, 32.7 with 32 rows ahead (31-33
// for 8-96 rows); at position 1024, 43.2 against 48.5. The prefetch goes into L1: asked into
// L2 only, which a one-thread loop over such rows liked best (154 -> 47 TSC cycles per row),
// the model ran no faster than without (22 t/s).
constexpr int64_t kPrefetchRows = 32;

HEARTH_INLINE void prefetch_row_slice(const uint16_t* rows, size_t stride, int64_t n, int64_t t, int64_t c,
                                      int64_t m) {
  if (t + kPrefetchRows >= n) return;
  const char* p = reinterpret_cast<const char*>(rows + size_t(t + kPrefetchRows) * stride + c);
  for (int64_t b = 0; b < 2 * m; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

// Query (or output) columns are taken 64 at a time, eight registers, so each cache row is
// read once per 64 columns and nothing but the row goes through memory.
inline void f16_rows_dot(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d, float* scores) {
  for (int64_t t = 0; t < n; ++t) scores[t] = 0.0f;
  for (int64_t c = 0; c < d; c += 64) {
    const int64_t m = d - c < 64 ? d - c : 64;
    if (m < 64) {
      for (int64_t t = 0; t < n; ++t) {
        const uint16_t* r = rows + size_t(t) * stride + c;
        for (int64_t i = 0; i < m; ++i) scores[t] += _cvtsh_ss(r[i]) * q[c + i];
      }
      continue;
    }
    __m256 qv[8];
    for (int k = 0; k < 8; ++k) qv[k] = _mm256_loadu_ps(q + c + 8 * k);
    for (int64_t t = 0; t < n; ++t) {
      prefetch_row_slice(rows, stride, n, t, c, 64);
      const uint16_t* r = rows + size_t(t) * stride + c;
      __m256 a0 = _mm256_mul_ps(load_f16x8(r), qv[0]), a1 = _mm256_mul_ps(load_f16x8(r + 8), qv[1]);
      a0 = _mm256_fmadd_ps(load_f16x8(r + 16), qv[2], a0);
      a1 = _mm256_fmadd_ps(load_f16x8(r + 24), qv[3], a1);
      a0 = _mm256_fmadd_ps(load_f16x8(r + 32), qv[4], a0);
      a1 = _mm256_fmadd_ps(load_f16x8(r + 40), qv[5], a1);
      a0 = _mm256_fmadd_ps(load_f16x8(r + 48), qv[6], a0);
      a1 = _mm256_fmadd_ps(load_f16x8(r + 56), qv[7], a1);
      scores[t] += hsum_ps(_mm256_add_ps(a0, a1));
    }
  }
}

inline void f16_rows_weighted_sum(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d,
                                  float* out) {
  for (int64_t c = 0; c < d; c += 64) {
    const int64_t m = d - c < 64 ? d - c : 64;
    if (m < 64) {
      for (int64_t i = 0; i < m; ++i) out[c + i] = 0.0f;
      for (int64_t t = 0; t < n; ++t) {
        const uint16_t* r = rows + size_t(t) * stride + c;
        for (int64_t i = 0; i < m; ++i) out[c + i] += w[t] * _cvtsh_ss(r[i]);
      }
      continue;
    }
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int64_t t = 0; t < n; ++t) {
      prefetch_row_slice(rows, stride, n, t, c, 64);
      const uint16_t* r = rows + size_t(t) * stride + c;
      const __m256 wt = _mm256_set1_ps(w[t]);
      for (int k = 0; k < 8; ++k) acc[k] = _mm256_fmadd_ps(wt, load_f16x8(r + 8 * k), acc[k]);
    }
    for (int k = 0; k < 8; ++k) _mm256_storeu_ps(out + c + 8 * k, acc[k]);
  }
}

// The largest power of two not above x (x ≥ 1). Rows per step are powers of two for
// store_scores, column groups per pass so that they divide the head sizes (multiples of 8).
constexpr int power_of_two_floor(int x) { return x >= 2 ? 2 * power_of_two_floor(x / 2) : 1; }

// Lane h of the result = Σ of the eight lanes of a[h]: pairs of registers by unpacks, then
// quadruples by shuffles, then the two 128-bit halves; 14 shuffles and 7 additions. (Three
// rounds of VHADDPS need 6 and 1, but VHADDPS takes two cycles per instruction on Zen 4; with
// it, a grouped-query score kernel of 8 heads of 64 took 42.5 TSC cycles per row, with this
// 39.5.)
HEARTH_INLINE __m256 sum_lanes_8(const __m256 a[8]) {
  const __m256 t0 = _mm256_add_ps(_mm256_unpacklo_ps(a[0], a[1]), _mm256_unpackhi_ps(a[0], a[1]));
  const __m256 t1 = _mm256_add_ps(_mm256_unpacklo_ps(a[2], a[3]), _mm256_unpackhi_ps(a[2], a[3]));
  const __m256 t2 = _mm256_add_ps(_mm256_unpacklo_ps(a[4], a[5]), _mm256_unpackhi_ps(a[4], a[5]));
  const __m256 t3 = _mm256_add_ps(_mm256_unpacklo_ps(a[6], a[7]), _mm256_unpackhi_ps(a[6], a[7]));
  // Per 128-bit half: the partial sums of a[0..3] (u0) and a[4..7] (u1).
  const __m256 u0 = _mm256_add_ps(_mm256_shuffle_ps(t0, t1, 0x44), _mm256_shuffle_ps(t0, t1, 0xee));
  const __m256 u1 = _mm256_add_ps(_mm256_shuffle_ps(t2, t3, 0x44), _mm256_shuffle_ps(t2, t3, 0xee));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// scores[h·n + t + j] = lane h of sums[j], for h < G and j < K (1, 2 or 4): the K scores of a
// head are adjacent, so two or four rows' scores are transposed into one 8- or 16-byte store
// per head instead of a lane extraction and a store per score.
template <int G, int K>
HEARTH_INLINE void store_scores(const __m256 sums[K], int64_t n, int64_t t, float* scores) {
  static_assert(K == 1 || K == 2 || K == 4);
  if constexpr (K == 1) {
    alignas(32) float s[8];
    _mm256_store_ps(s, sums[0]);
    for (int h = 0; h < G; ++h) scores[h * n + t] = s[h];
  } else if constexpr (K == 2) {
    // Heads (0, 1 | 4, 5) and (2, 3 | 6, 7), each head's two scores side by side.
    const __m256 lo = _mm256_unpacklo_ps(sums[0], sums[1]), hi = _mm256_unpackhi_ps(sums[0], sums[1]);
    const __m128 pairs[4] = {_mm256_castps256_ps128(lo), _mm256_castps256_ps128(hi), _mm256_extractf128_ps(lo, 1),
                             _mm256_extractf128_ps(hi, 1)};
    for (int h = 0; h < G; ++h) {
      float* p = scores + h * n + t;
      if (h % 2 == 0) {
        _mm_storel_pi(reinterpret_cast<__m64*>(p), pairs[h / 2]);
      } else {
        _mm_storeh_pi(reinterpret_cast<__m64*>(p), pairs[h / 2]);
      }
    }
  } else {
    // A 4x4 transpose in each 128-bit half: quads[h % 4] holds head h's four scores in the
    // half h / 4.
    const __m256 a = _mm256_unpacklo_ps(sums[0], sums[1]), b = _mm256_unpackhi_ps(sums[0], sums[1]);
    const __m256 c = _mm256_unpacklo_ps(sums[2], sums[3]), d = _mm256_unpackhi_ps(sums[2], sums[3]);
    const __m256 quads[4] = {_mm256_shuffle_ps(a, c, 0x44), _mm256_shuffle_ps(a, c, 0xee), _mm256_shuffle_ps(b, d, 0x44),
                             _mm256_shuffle_ps(b, d, 0xee)};
    for (int h = 0; h < G; ++h) {
      const __m128 v = h < 4 ? _mm256_castps256_ps128(quads[h]) : _mm256_extractf128_ps(quads[h - 4], 1);
      _mm_storeu_ps(scores + h * n + t, v);
    }
  }
}

// G ≤ 8 heads against the K cache rows t .. t + K - 1: each row is converted from fp16 once
// for all heads, each query vector is loaded once for all K rows, and each row's G sums come
// out of one sum_lanes_8. The queries are interleaved by rows_dot_heads: qi[8·(G·s + h) + i] =
// q[h·d + 8·s + i], so the G vectors of a step of eight columns are one run of memory. (With
// q as [G][d] each head needs an address register of its own: GCC ran out of them and kept
// addresses in vector registers, 43 TSC cycles per row for 8 heads of 64 and two rows per
// step, against 31 this way.)
template <int G, int K>
HEARTH_INLINE void dot_heads_step(const uint16_t* rows, size_t stride, int64_t n, int64_t t, const float* qi,
                                  int64_t d, float* scores) {
  __m256 acc[K][8];
  for (auto& a : acc)
    for (auto& b : a) b = _mm256_setzero_ps();
  const uint16_t* r = rows + size_t(t) * stride;
#pragma GCC unroll 8
  for (int64_t c = 0; c < d; c += 8, qi += 8 * G) {
    __m256 k[K];
    for (int j = 0; j < K; ++j) k[j] = load_f16x8(r + size_t(j) * stride + c);
    for (int h = 0; h < G; ++h) {
      __m256 qv = _mm256_load_ps(qi + 8 * h);
      if constexpr (K > 1) keep_in_register(qv);
      for (int j = 0; j < K; ++j) acc[j][h] = _mm256_fmadd_ps(k[j], qv, acc[j][h]);
    }
  }
  __m256 sums[K];
  for (int j = 0; j < K; ++j) sums[j] = sum_lanes_8(acc[j]);
  store_scores<G, K>(sums, n, t, scores);
}

// The head size up to which rows_dot_heads interleaves the queries on the stack (8 KiB).
constexpr int64_t kMaxInterleavedHeadSize = 256;

template <int G, int K>
void rows_dot_heads(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d, float* scores) {
  alignas(32) float qi[8 * kMaxInterleavedHeadSize];
  for (int64_t s = 0; s < d / 8; ++s)
    for (int h = 0; h < G; ++h) std::memcpy(qi + 8 * (G * s + h), q + h * d + 8 * s, 8 * sizeof(float));
  int64_t t = 0;
  for (; t + K <= n; t += K) {
    for (int j = 0; j < K; ++j) prefetch_row_slice(rows, stride, n, t + j, 0, d);
    dot_heads_step<G, K>(rows, stride, n, t, qi, d, scores);
  }
  for (; t < n; ++t) {
    prefetch_row_slice(rows, stride, n, t, 0, d);
    dot_heads_step<G, 1>(rows, stride, n, t, qi, d, scores);
  }
}

// f16_rows_dot_heads with up to kAccumulators accumulators: G heads take kAccumulators / G rows
// per step (a power of two, at most 4). Loads set the pace of one row per step: every query
// vector once per row and head. Zen 4, 8 heads of 64, TSC cycles per cache row (the FMAs alone
// need 23): 42.5 before this kernel (VHADDPS, queries as [G][d]), 33 with 8 accumulators (one row
// per step, the AVX2 table), 31 with 16 (two rows, AVX-512); 4 heads of 128: 44 -> 29 and 26.
template <int kAccumulators>
void f16_rows_dot_heads_x86(const uint16_t* rows, size_t stride, int64_t n, const float* q, int g, int64_t d,
                            float* scores) {
  if (d % 8 != 0 || d > kMaxInterleavedHeadSize) {
    for (int h = 0; h < g; ++h) f16_rows_dot(rows, stride, n, q + h * d, d, scores + h * n);
    return;
  }
  for (int h0 = 0; h0 < g; h0 += 8) {
    // A lone head: the one-head kernel's two chains per row beat one (d = 64, TSC cycles
    // per key: 9.4 against 13.9).
    if (g - h0 == 1) {
      f16_rows_dot(rows, stride, n, q + h0 * d, d, scores + h0 * n);
      break;
    }
    with_count<8>(std::min(g - h0, 8), [&](auto heads) {
      constexpr int G = heads(), K = std::min(power_of_two_floor(std::max(1, kAccumulators / G)), 4);
      rows_dot_heads<G, K>(rows, stride, n, q + h0 * d, d, scores + h0 * n);
    });
  }
}

// G ≤ 8 heads' weighted sums over columns [c, end), C groups of eight columns per pass: each
// row's values are converted once and meet every head's weight.
template <int G, int C>
int64_t sum_heads_columns(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d, int64_t c,
                          int64_t end, float* out) {
  for (; c + 8 * C <= end; c += 8 * C) {
    __m256 acc[G][C];
    for (auto& a : acc)
      for (auto& b : a) b = _mm256_setzero_ps();
    for (int64_t t = 0; t < n; ++t) {
      prefetch_row_slice(rows, stride, n, t, c, 8 * C);
      __m256 v[C];
      for (int j = 0; j < C; ++j) v[j] = load_f16x8(rows + size_t(t) * stride + c + 8 * j);
      for (int h = 0; h < G; ++h) {
        const __m256 wt = _mm256_set1_ps(w[h * n + t]);
        for (int j = 0; j < C; ++j) acc[h][j] = _mm256_fmadd_ps(wt, v[j], acc[h][j]);
      }
    }
    for (int h = 0; h < G; ++h)
      for (int j = 0; j < C; ++j) _mm256_storeu_ps(out + h * d + c + 8 * j, acc[h][j]);
  }
  return c;
}

// C ≈ kAccumulators / G column groups per pass (a power of two, at most 8), so about
// kAccumulators independent accumulators; the groups left over when d is not a multiple of 8·C
// go one per pass. Each weight is loaded once per pass, so fewer passes load fewer. Zen 4, TSC
// cycles per cache row: 8 heads of 64, 30 with 8 accumulators (one group per pass, the AVX2
// table) and 23 with 16 (two groups, AVX-512), which is what the FMAs alone need; 4 heads of
// 128, 32 and 23. (With one group per pass, four heads ran at 15.5 TSC cycles per key and head
// against 13.9 for the one-head kernel, d = 128.)
template <int G, int kAccumulators>
void rows_sum_heads(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d, float* out) {
  constexpr int C = std::min(power_of_two_floor(std::max(1, kAccumulators / G)), 8);
  const int64_t c = sum_heads_columns<G, C>(rows, stride, n, w, d, 0, d, out);
  sum_heads_columns<G, 1>(rows, stride, n, w, d, c, d, out);
}

template <int kAccumulators>
void f16_rows_weighted_sum_heads_x86(const uint16_t* rows, size_t stride, int64_t n, const float* w, int g,
                                     int64_t d, float* out) {
  if (d % 8 != 0) {
    for (int h = 0; h < g; ++h) f16_rows_weighted_sum(rows, stride, n, w + h * n, d, out + h * d);
    return;
  }
  for (int h0 = 0; h0 < g; h0 += 8) {
    with_count<8>(std::min(g - h0, 8), [&](auto heads) {
      rows_sum_heads<heads(), kAccumulators>(rows, stride, n, w + h0 * n, d, out + h0 * d);
    });
  }
}

}  // namespace
}  // namespace hearth::kernels
