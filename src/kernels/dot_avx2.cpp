// AVX2 + FMA + F16C kernels (x86-64 CPUs from Haswell / Zen on). This file alone is compiled
// with -mavx2 -mfma -mf16c; nothing here runs unless util/cpu.h reported those features.
// Everything is in an anonymous namespace and uses no header inline functions, so no
// AVX2-compiled copy of a shared inline function can end up used by generic code.
//
// The integer dot products use the usual AVX2 idiom: _mm256_maddubs_epi16 multiplies unsigned
// by signed bytes and adds pairs into int16, _mm256_madd_epi16 adds pairs of those into int32.
// Signed × signed products go through the sign trick: |w| · (a · sign(w)) = w · a.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/attention_f16.h"
#include "kernels/dispatch.h"
#include "kernels/packed_x8.h"
#include "kernels/quant.h"
#include "kernels/simd_avx2.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

// ---- float weights -------------------------------------------------------------------------

float dot_f32(int64_t n, const void* wv, const void* av) {
  const float* w = static_cast<const float*>(wv);
  const float* a = static_cast<const float*>(av);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(a + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(a + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
  float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += w[i] * a[i];
  return sum;
}

HEARTH_INLINE __m256 load_bf16x8(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

template <__m256 (*Load)(const uint16_t*), float (*Scalar)(uint16_t)>
float dot_half(int64_t n, const void* wv, const void* av) {
  const uint16_t* w = static_cast<const uint16_t*>(wv);
  const float* a = static_cast<const float*>(av);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(Load(w + i), _mm256_loadu_ps(a + i), acc0);
    acc1 = _mm256_fmadd_ps(Load(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(Load(w + i + 16), _mm256_loadu_ps(a + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(Load(w + i + 24), _mm256_loadu_ps(a + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Load(w + i), _mm256_loadu_ps(a + i), acc0);
  float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += Scalar(w[i]) * a[i];
  return sum;
}

float bf16_scalar(uint16_t h) {
  uint32_t b = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// ---- 32-value blocks (Q4_1, Q5_0, Q5_1, Q8_0) against Q8A ---------------------------------
// (Q4_0 has its own kernels against Q8X below.)

// Weight blocks as 32 bytes in value order. Q5_0 is unpacked unsigned (0..31) and its -16 is
// applied through the activation block's sum s, which avoids the sign trick; only Q8_0 is
// signed.
HEARTH_INLINE __m256i unpack_q4_1(const BlockQ4_1& b) { return unpack_nibbles(b.qs); }
HEARTH_INLINE __m256i unpack_q5_0(const BlockQ5_0& b) { return unpack_five_bits(b.qs, b.qh); }
HEARTH_INLINE __m256i unpack_q5_1(const BlockQ5_1& b) { return unpack_five_bits(b.qs, b.qh); }
HEARTH_INLINE __m256i unpack_q8_0(const BlockQ8_0& b) { return load256(b.qs); }

// The per-block constant c of Σ (dw q + c) · da qa = dw·da·Σ q qa + c·s.
float offset_q5_0(const BlockQ5_0&, float dw) { return -16.0f * dw; }
float offset_q4_1(const BlockQ4_1& b, float) { return h2f(b.m); }
float offset_q5_1(const BlockQ5_1& b, float) { return h2f(b.m); }

// One weight row of 32-value blocks against one activation row. Four blocks per iteration
// into four accumulators: with one, every block would wait for the previous block's FMA
// (4-5 cycles of latency), which is longer than the block's own work. kSigned: the weight
// bytes are signed (Q8_0; sign trick); Offset: the block constant, if any.
template <typename W, bool kSigned, __m256i (*Unpack)(const W&), float (*Offset)(const W&, float)>
float dot_blocks(int64_t n, const void* wv, const void* av) {
  const W* w = static_cast<const W*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  const int64_t nb = n / QK;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  float summ[4] = {0, 0, 0, 0};
  auto block = [&](int64_t i, int u) {
    const __m256i q = Unpack(w[i]);
    __m256i y = load256(a[i].qs);
    __m256i uq = q;
    if constexpr (kSigned) {
      uq = _mm256_sign_epi8(q, q);
      y = _mm256_sign_epi8(y, q);
    }
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(uq, y), ones);
    const float dw = h2f(w[i].d);
    acc[u] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[i].d), _mm256_cvtepi32_ps(p), acc[u]);
    if constexpr (Offset != nullptr) summ[u] += Offset(w[i], dw) * a[i].s;
  };
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    block(i, 0);
    block(i + 1, 1);
    block(i + 2, 2);
    block(i + 3, 3);
  }
  for (; i < nb; ++i) block(i, 0);
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  return hsum_ps(sum) + ((summ[0] + summ[1]) + (summ[2] + summ[3]));
}

// One weight row of 32-value blocks against four activation rows (a, a + stride, …): each
// weight block is unpacked once and used four times.
template <typename W, bool kSigned, __m256i (*Unpack)(const W&), float (*Offset)(const W&, float)>
void dot4_blocks(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const W* w = static_cast<const W*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8A* a[4] = {reinterpret_cast<const BlockQ8A*>(ab), reinterpret_cast<const BlockQ8A*>(ab + stride),
                          reinterpret_cast<const BlockQ8A*>(ab + 2 * stride),
                          reinterpret_cast<const BlockQ8A*>(ab + 3 * stride)};
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  float summ[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < n / QK; ++i) {
    const __m256i q = Unpack(w[i]);
    const __m256i uq = kSigned ? _mm256_sign_epi8(q, q) : q;
    const float dw = h2f(w[i].d);
    float c = 0;
    if constexpr (Offset != nullptr) c = Offset(w[i], dw);
    for (int t = 0; t < 4; ++t) {
      __m256i y = load256(a[t][i].qs);
      if constexpr (kSigned) y = _mm256_sign_epi8(y, q);
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(uq, y), ones);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a[t][i].d), _mm256_cvtepi32_ps(p), acc[t]);
      if constexpr (Offset != nullptr) summ[t] += c * a[t][i].s;
    }
  }
  for (int t = 0; t < 4; ++t) out[t] = hsum_ps(acc[t]) + summ[t];
}

// Float weights: one row against four float activation rows; each weight vector is loaded
// (and converted) once per four FMAs.
template <typename W, __m256 (*Load)(const W*), float (*Scalar)(W)>
void dot4_float(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const W* w = static_cast<const W*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const float* a[4] = {reinterpret_cast<const float*>(ab), reinterpret_cast<const float*>(ab + stride),
                       reinterpret_cast<const float*>(ab + 2 * stride), reinterpret_cast<const float*>(ab + 3 * stride)};
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = Load(w + i);
    for (int t = 0; t < 4; ++t) acc[t] = _mm256_fmadd_ps(x, _mm256_loadu_ps(a[t] + i), acc[t]);
  }
  for (int t = 0; t < 4; ++t) {
    out[t] = hsum_ps(acc[t]);
    for (int64_t j = i; j < n; ++j) out[t] += Scalar(w[j]) * a[t][j];
  }
}

HEARTH_INLINE __m256 load_f32x8(const float* p) { return _mm256_loadu_ps(p); }
float f32_scalar(float v) { return v; }

// ---- K-quants ------------------------------------------------------------------------------

float dot_q4_K(int64_t n, const void* wv, const void* av) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w[i].scales, sc, m);
    const __m256i scales = scales16_u8(sc);
    const float d = a[i].d * h2f(w[i].d), dmin = a[i].d * h2f(w[i].dmin);
    acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mins_dot_bsums(m, a[i].bsums)), acc_m);

    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* q = w[i].qs;
    const int8_t* qa = a[i].qs;
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k, q += 32, qa += 64) {
      const __m256i bytes = load256(q);
      const __m256i lo = _mm256_and_si256(bytes, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(qa)), pick16(scales, 2 * k, 2 * k));
      const __m256i p1 =
          _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(qa + 32)), pick16(scales, 2 * k + 1, 2 * k + 1));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_ps(acc) - hsum_ps(acc_m);
}

// T activation rows against one Q4_K row: each super-block is unpacked once for the T tokens.
template <int T>
void dot_tokens_q4_K(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8_K* a[T];
  for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(ab + t * stride);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc[T];
  for (__m256& v : acc) v = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w[i].scales, sc, m);
    const __m256i scales = scales16_u8(sc);
    const float dw = h2f(w[i].d), dminw = h2f(w[i].dmin);
    __m256i sumi[T];
    for (__m256i& v : sumi) v = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256i bytes = load256(w[i].qs + 32 * k);
      const __m256i lo = _mm256_and_si256(bytes, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
      const __m256i s0 = pick16(scales, 2 * k, 2 * k), s1 = pick16(scales, 2 * k + 1, 2 * k + 1);
      for (int t = 0; t < T; ++t) {
        const int8_t* qa = a[t][i].qs + 64 * k;
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(qa)), s0);
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(qa + 32)), s1);
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p0, p1));
      }
    }
    for (int t = 0; t < T; ++t) {
      // Fold the min term into the same accumulator: d·sumi − dmin·summ, both scaled by a.d.
      const __m256 mins = _mm256_cvtepi32_ps(mins_dot_bsums(m, a[t][i].bsums));
      const __m256 dv = _mm256_set1_ps(a[t][i].d * dw), dm = _mm256_set1_ps(a[t][i].d * dminw);
      acc[t] = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(sumi[t]), acc[t]);
      acc[t] = _mm256_fnmadd_ps(dm, mins, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = hsum_ps(acc[t]);
}

void dot4_q4_K(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  dot_tokens_q4_K<4>(n, wv, av, stride, out);
}

// The two-row, two-token slot, row by row: each row unpacked once for both tokens.
void dot2x2_q4_K(int64_t n, const void* wv, size_t w_stride, const void* av, size_t stride, float* out) {
  dot_tokens_q4_K<2>(n, wv, av, stride, out);
  dot_tokens_q4_K<2>(n, static_cast<const uint8_t*>(wv) + w_stride, av, stride, out + 2);
}

float dot_q5_K(int64_t n, const void* wv, const void* av) {
  const BlockQ5_K* w = static_cast<const BlockQ5_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  const __m256i low4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w[i].scales, sc, m);
    const __m256i scales = scales16_u8(sc);
    const float d = a[i].d * h2f(w[i].d), dmin = a[i].d * h2f(w[i].dmin);
    acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mins_dot_bsums(m, a[i].bsums)), acc_m);

    __m256i sumi = _mm256_setzero_si256();
    __m256i hbits = load256(w[i].qh);  // shifted right by 2 per 64-value chunk
    const uint8_t* q = w[i].qs;
    const int8_t* qa = a[i].qs;
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k, q += 32, qa += 64) {
      const __m256i bytes = load256(q);
      // Bit 0 (bit 1) of each byte of hbits is bit 4 of the low (high) nibble's value. The
      // 16-bit shifts pull in bits from the neighbour byte, which the masks drop.
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4);
      hbits = _mm256_srli_epi16(hbits, 2);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(bytes, low4), h0);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4), h1);
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(qa)), pick16(scales, 2 * k, 2 * k));
      const __m256i p1 =
          _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(qa + 32)), pick16(scales, 2 * k + 1, 2 * k + 1));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_ps(acc) - hsum_ps(acc_m);
}

void dot4_q5_K(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const BlockQ5_K* w = static_cast<const BlockQ5_K*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8_K* a[4] = {reinterpret_cast<const BlockQ8_K*>(ab), reinterpret_cast<const BlockQ8_K*>(ab + stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 2 * stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 3 * stride)};
  const __m256i low4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w[i].scales, sc, m);
    const __m256i scales = scales16_u8(sc);
    const float dw = h2f(w[i].d), dminw = h2f(w[i].dmin);
    __m256i sumi[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                       _mm256_setzero_si256()};
    __m256i hbits = load256(w[i].qh);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256i bytes = load256(w[i].qs + 32 * k);
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4);
      hbits = _mm256_srli_epi16(hbits, 2);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(bytes, low4), h0);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4), h1);
      const __m256i s0 = pick16(scales, 2 * k, 2 * k), s1 = pick16(scales, 2 * k + 1, 2 * k + 1);
      for (int t = 0; t < 4; ++t) {
        const int8_t* qa = a[t][i].qs + 64 * k;
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(qa)), s0);
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(qa + 32)), s1);
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p0, p1));
      }
    }
    for (int t = 0; t < 4; ++t) {
      const __m256 mins = _mm256_cvtepi32_ps(mins_dot_bsums(m, a[t][i].bsums));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(a[t][i].d * dw), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(a[t][i].d * dminw), mins, acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) out[t] = hsum_ps(acc[t]);
}

// Q6_K: values are q - 32 with q unsigned; Σ sc (q-32) a = Σ sc q a - 32 Σ sc bsum.
float dot_q6_K(int64_t n, const void* wv, const void* av) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].scales)));
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load256(a[i].bsums)), 5);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      unpack_q6_half(w[i].ql + 64 * h, w[i].qh + 32 * h, q);
      const __m256i scales = scales16_i8(w[i].scales + 8 * h);
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(q[k], load256(a[i].qs + 128 * h + 32 * k));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pick16(scales, 2 * k, 2 * k + 1)));
      }
    }
    sumi = _mm256_sub_epi32(sumi, offset);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * h2f(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_ps(acc);
}

void dot4_q6_K(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8_K* a[4] = {reinterpret_cast<const BlockQ8_K*>(ab), reinterpret_cast<const BlockQ8_K*>(ab + stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 2 * stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 3 * stride)};
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].scales)));
    __m256i sumi[4];
    for (int t = 0; t < 4; ++t)
      sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                 _mm256_slli_epi32(_mm256_madd_epi16(sc16, load256(a[t][i].bsums)), 5));
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      unpack_q6_half(w[i].ql + 64 * h, w[i].qh + 32 * h, q);
      const __m256i scales = scales16_i8(w[i].scales + 8 * h);
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const __m256i s = pick16(scales, 2 * k, 2 * k + 1);
        for (int t = 0; t < 4; ++t) {
          const __m256i p = _mm256_maddubs_epi16(q[k], load256(a[t][i].qs + 128 * h + 32 * k));
          sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(p, s));
        }
      }
    }
    const float dw = h2f(w[i].d);
    for (int t = 0; t < 4; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(a[t][i].d * dw), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
  }
  for (int t = 0; t < 4; ++t) out[t] = hsum_ps(acc[t]);
}

// ---- activation quantizers (bit-identical to quant.cpp's) ----------------------------------

HEARTH_INLINE float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

HEARTH_INLINE __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// Quantizes 32 floats with multiplier id into 32 int8 (in order); returns their int32 sums in
// 8 lanes via *sum when asked.
HEARTH_INLINE __m256i quantize32(const float* x, __m256 id, __m256i* sum) {
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
  if (sum) *sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
  // packs work within 128-bit lanes; the permute restores element order.
  const __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
  const __m256i p = _mm256_packs_epi16(p01, p23);
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

HEARTH_INLINE float amax32(const float* x) {
  const __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(_mm256_loadu_ps(x)), abs_ps(_mm256_loadu_ps(x + 8))),
                                 _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + 16)), abs_ps(_mm256_loadu_ps(x + 24))));
  return hmax_ps(m);
}

// One 32-value block as Q8A and Q8X hold it: the scale d = max|x| / 127, the values (in
// order) and their sum.
struct Q8Block {
  float d;
  __m256i q;
  int sum;
};

HEARTH_INLINE Q8Block quantize_block_q8(const float* x) {
  Q8Block b;
  b.d = amax32(x) / 127.0f;
  const float id = b.d != 0 ? 1.0f / b.d : 0.0f;
  __m256i sum;
  b.q = quantize32(x, _mm256_set1_ps(id), &sum);
  b.sum = hsum_epi32(sum);
  return b;
}

void quantize_q8a(const float* x, void* yv, int64_t n) {
  BlockQ8A* y = static_cast<BlockQ8A*>(yv);
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    const Q8Block b = quantize_block_q8(x);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), b.q);
    y[i].d = b.d;
    y[i].s = b.d * float(b.sum);
  }
}

// Q8X straight from floats, block by block as quantize_q8a, so the values are Q8A's to the
// bit (quantize_q8x_via did Q8A and then regrouped it: 0.76 µs for 2048 values against 0.45
// for Q8A alone, and every one-token matmul of a decode step pays it before the threads start).
void quantize_q8x(const float* x, void* yv, int64_t n) {
  BlockQ8X* y = static_cast<BlockQ8X*>(yv);
  for (int64_t i = 0; i < n; i += QK8X, ++y) {
    const int nb = int((n - i < QK8X ? n - i : QK8X) / QK);
    if (nb < 4) std::memset(y, 0, sizeof(BlockQ8X));  // padding blocks: d = 0, q = 0
    for (int k = 0; k < nb; ++k) {
      const Q8Block b = quantize_block_q8(x + i + QK * k);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y->lo + 16 * k), _mm256_castsi256_si128(b.q));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y->hi + 16 * k), _mm256_extracti128_si256(b.q, 1));
      _mm_storeu_ps(y->d + 4 * k, _mm_set1_ps(b.d));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y->nsum + 4 * k), _mm_setr_epi32(-b.sum, 0, 0, 0));
    }
  }
}

void quantize_q8_K(const float* x, void* yv, int64_t n) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(yv);
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float amax = 0;
    for (int g = 0; g < QK_K / 32; ++g) {
      const float m = amax32(x + 32 * g);
      amax = m > amax ? m : amax;
    }
    const float d = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(d != 0 ? 1.0f / d : 0.0f);
    y[i].d = d;
    for (int g = 0; g < QK_K / 32; ++g) {
      const __m256i q = quantize32(x + 32 * g, id, nullptr);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * g), q);
      // The two 16-value sums: widen to int16, add pairs down to one per 128-bit lane.
      const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);  // 16 × int16, 8 per lane
      const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));  // 8 × int32, 4 per lane
      __m128i lo = _mm256_castsi256_si128(s32), hi = _mm256_extracti128_si256(s32, 1);
      lo = _mm_add_epi32(lo, _mm_unpackhi_epi64(lo, lo));
      lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 1));
      hi = _mm_add_epi32(hi, _mm_unpackhi_epi64(hi, hi));
      hi = _mm_add_epi32(hi, _mm_shuffle_epi32(hi, 1));
      y[i].bsums[2 * g] = int16_t(_mm_cvtsi128_si32(lo));
      y[i].bsums[2 * g + 1] = int16_t(_mm_cvtsi128_si32(hi));
    }
  }
}

// ---- Q4_0 against Q8X: four blocks per step ----------------------------------------------------

// The same activation layout as the VNNI path (quant.h, BlockQ8X), in 256-bit halves: half h
// of a group covers blocks 2h and 2h + 1, whose 16-value halves sit in lo/hi bytes 32h..32h+31
// and whose scales fill d lanes 8h..8h+7. So one register of nibbles (two blocks' qs) unpacks
// into exactly the activation bytes it meets, two blocks share one float multiply-add, and the
// -8 is seeded from nsum instead of computed per block.
struct Q4Half {
  __m256i lo, hi;  // first / second 16 values of blocks 2h, 2h + 1
  __m256 d;        // their scales, four lanes each
};

HEARTH_INLINE Q4Half unpack_q4_0_half(const uint8_t* p, int h) {
  const uint8_t* b = p + 36 * h;  // block 2h
  const __m256i q = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(b + 20), reinterpret_cast<const __m128i*>(b + 2));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  uint16_t d0, d1;
  std::memcpy(&d0, b, 2);
  std::memcpy(&d1, b + 18, 2);
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(int(uint32_t(d0) | uint32_t(d1) << 16)));
  Q4Half u;
  u.lo = _mm256_and_si256(q, low4);
  u.hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
  u.d = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(f), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
  return u;
}

// Σ (q - 8)·a of the half against activation group a, four int32 lanes per block. The int16
// pair sums of both 16-value halves fit (≤ 2·2·15·127), so they are added before widening.
HEARTH_INLINE __m256i q4_0_half_isum(const Q4Half& u, const BlockQ8X& a, int h) {
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u.lo, load256(a.lo + 32 * h)),
                                     _mm256_maddubs_epi16(u.hi, load256(a.hi + 32 * h)));
  const __m256i seed = _mm256_slli_epi32(load256(a.nsum + 8 * h), 3);
  return _mm256_add_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), seed);
}

float dot_q4_0_x(int64_t n, const void* wv, const void* av) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g)
    for (int h = 0; h < 2; ++h) {
      const Q4Half u = unpack_q4_0_half(w + 72 * g, h);
      const __m256 scale = _mm256_mul_ps(u.d, _mm256_loadu_ps(a[g].d + 8 * h));
      acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4_0_half_isum(u, a[g], h)), scale, acc[h]);
    }
  float sum = hsum_ps(_mm256_add_ps(acc[0], acc[1]));
  if (4 * ng < nb) sum += q8x_tail_dot(static_cast<const BlockQ4_0*>(wv), 4 * ng, nb, a[ng]);
  return sum;
}

// Two rows, each exactly as dot_q4_0_x computes it (the same floats), sharing what a half
// group of both rows has in common: the activation loads, and one fp16 conversion and one
// multiply for the four scales (2048-value rows in L2, Zen 4 with HEARTH_ISA=avx2: see
// docs/kernels.md).
void dot2_q4_0_x(int64_t n, const void* w0, const void* w1, const void* av, float* out) {
  const uint8_t* w[2] = {static_cast<const uint8_t*>(w0), static_cast<const uint8_t*>(w1)};
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc[2][2] = {{_mm256_setzero_ps(), _mm256_setzero_ps()}, {_mm256_setzero_ps(), _mm256_setzero_ps()}};
  for (int64_t g = 0; g < ng; ++g)
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      // Q8X repeats each block's d four times, so d[8h + 2 .. 8h + 5] is (d0, d0, d1, d1).
      const __m256 scales = pair_block_scales(w[0] + 72 * g + 36 * h, w[1] + 72 * g + 36 * h, 18, a[g].d + 8 * h + 2);
#pragma GCC unroll 2
      for (int r = 0; r < 2; ++r) {
        const uint8_t* b = w[r] + 72 * g + 36 * h;
        const __m256i q =
            _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(b + 20), reinterpret_cast<const __m128i*>(b + 2));
        Q4Half u;
        u.lo = _mm256_and_si256(q, low4);
        u.hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        acc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4_0_half_isum(u, a[g], h)), row_block_scales(scales, r), acc[r][h]);
      }
    }
  hsum_pair_ps(_mm256_add_ps(acc[0][0], acc[0][1]), _mm256_add_ps(acc[1][0], acc[1][1]), out);
  if (4 * ng < nb)
    for (int r = 0; r < 2; ++r) out[r] += q8x_tail_dot(reinterpret_cast<const BlockQ4_0*>(w[r]), 4 * ng, nb, a[ng]);
}

// Four tokens' sums (four lanes per block, two blocks per register) → lane 4k + t = token t's
// whole sum for block k of the register: one float multiply-add then scales all four tokens.
HEARTH_INLINE __m256i sums_by_block(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
  const __m256i a = _mm256_add_epi32(_mm256_unpacklo_epi32(s0, s1), _mm256_unpackhi_epi32(s0, s1));
  const __m256i b = _mm256_add_epi32(_mm256_unpacklo_epi32(s2, s3), _mm256_unpackhi_epi32(s2, s3));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

// R weight rows (w, w + w_stride, …) against T = 4 or 2 activation rows: out[T·r + t]. Each
// half group of a row is unpacked once for the T tokens; with two rows the second reads the
// activation group while it is still in L1. With two tokens the transpose stops after its
// first step: lanes 4k + {0, 2} hold halves of token 0's sum, 4k + {1, 3} token 1's, the
// scales are laid out alike, and the halves are added at the end.
template <int R, int T>
void dot_rows_q4_0_x(int64_t n, const void* wv, size_t w_stride, const void* av, size_t stride, float* out) {
  static_assert(T == 4 || T == 2);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8X* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const BlockQ8X*>(ab + (t % T) * stride);
  const int64_t nb = n / QK, ng = nb / 4;
  __m256 acc[R];
  for (__m256& v : acc) v = _mm256_setzero_ps();
  for (int64_t g = 0; g < ng; ++g) {
    for (int h = 0; h < 2; ++h) {
      // Lane 4k + t: token t's scale for block k of this half.
      __m256 da = _mm256_loadu_ps(a[0][g].d + 8 * h);
      da = _mm256_blend_ps(da, _mm256_loadu_ps(a[1][g].d + 8 * h), 0x22);
      da = _mm256_blend_ps(da, _mm256_loadu_ps(a[2][g].d + 8 * h), 0x44);
      da = _mm256_blend_ps(da, _mm256_loadu_ps(a[3][g].d + 8 * h), 0x88);
      for (int r = 0; r < R; ++r) {
        const uint8_t* w = static_cast<const uint8_t*>(wv) + r * w_stride;
        if (h == 0) {
          // Near into L1 and far (two pages) into L2, as in the VNNI two-row kernel.
          _mm_prefetch(reinterpret_cast<const char*>(w + 72 * (g + 40)), _MM_HINT_T0);
          if (R > 1) _mm_prefetch(reinterpret_cast<const char*>(w + 72 * g + 8192), _MM_HINT_T1);
        }
        const Q4Half u = unpack_q4_0_half(w + 72 * g, h);
        __m256i s;
        if constexpr (T == 4) {
          s = sums_by_block(q4_0_half_isum(u, a[0][g], h), q4_0_half_isum(u, a[1][g], h),
                            q4_0_half_isum(u, a[2][g], h), q4_0_half_isum(u, a[3][g], h));
        } else {
          const __m256i s0 = q4_0_half_isum(u, a[0][g], h), s1 = q4_0_half_isum(u, a[1][g], h);
          s = _mm256_add_epi32(_mm256_unpacklo_epi32(s0, s1), _mm256_unpackhi_epi32(s0, s1));
        }
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(u.d, da), acc[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1)));
    const auto* w = reinterpret_cast<const BlockQ4_0*>(static_cast<const uint8_t*>(wv) + r * w_stride);
    for (int t = 0; t < T; ++t) {
      float v = T == 4 ? lanes[t] : lanes[t] + lanes[t + 2];
      if (4 * ng < nb) v += q8x_tail_dot(w, 4 * ng, nb, a[t][ng]);
      out[T * r + t] = v;
    }
  }
}

void dot4_q4_0_x(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  dot_rows_q4_0_x<1, 4>(n, wv, 0, av, stride, out);
}

// ---- attention over an fp16 cache ------------------------------------------------------------

// f16_rows_dot, f16_rows_weighted_sum and the grouped-query versions: attention_f16.h, shared
// with the AVX-512 table, which runs them with more rows and columns per step.

// ---- softmax ------------------------------------------------------------------------------

// exp(x) for the x ≤ 0 of a softmax (scores minus their maximum): x = k·ln2 + r with |r| ≤
// ln2/2, exp(r) by its Taylor polynomial to r^7 (the next term is below 5e-9 relative) and 2^k
// written into the exponent bits. Below -87.33 (2^-126) it returns 0, so masked (-inf) scores
// give exactly 0, as std::exp does. libm's scalar expf was 7 % of a 512-token prompt.
HEARTH_INLINE __m256 exp_nonpositive(__m256 x) {
  const __m256 lowest = _mm256_set1_ps(-87.33f);
  const __m256 keep = _mm256_cmp_ps(x, lowest, _CMP_GE_OQ);
  x = _mm256_max_ps(x, lowest);
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln2 in two parts (the first exact in 9 bits), so k·ln2 is subtracted without rounding.
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  for (float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
  const __m256i two_k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(two_k)), keep);
}

// The first m of eight lanes (m < 8).
HEARTH_INLINE __m256i first_lanes(int64_t m) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(m)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

double exp_sum(float* x, int64_t n, float scale) {
  if (n <= 0) return 0.0;
  const int64_t whole = n & ~int64_t(7);
  const __m256i tail = first_lanes(n - whole);
  const __m256 minus_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  // Two running maxima, so the loop is not one chain of dependent VMAXPS.
  __m256 vmax = minus_inf, vmax2 = minus_inf;
  int64_t i = 0;
  for (; i + 16 <= whole; i += 16) {
    vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    vmax2 = _mm256_max_ps(vmax2, _mm256_loadu_ps(x + i + 8));
  }
  if (i < whole) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  vmax = _mm256_max_ps(vmax, vmax2);
  if (whole < n) vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(minus_inf, _mm256_maskload_ps(x + whole, tail),
                                                             _mm256_castsi256_ps(tail)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float mx = _mm_cvtss_f32(m4);
  if (mx == -std::numeric_limits<float>::infinity()) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return 0.0;
  }
  // The sum in doubles, as the generic kernel: thousands of terms lose nothing. Two vectors
  // of exponentials are added in floats before each conversion (one rounding of a pair, 2^-24
  // relative), which halves the conversions and double additions (with the two maxima above,
  // TSC cycles per 8 values of 1000-value rows, the old loop run alongside: 14.1 -> 13.0).
  const __m256 m = _mm256_set1_ps(mx), s = _mm256_set1_ps(scale);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  auto add = [&](__m256 e) {
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  };
  auto exp_at = [&](int64_t j) {
    const __m256 e = exp_nonpositive(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), m), s));
    _mm256_storeu_ps(x + j, e);
    return e;
  };
  for (i = 0; i + 16 <= whole; i += 16) add(_mm256_add_ps(exp_at(i), exp_at(i + 8)));
  if (i < whole) add(exp_at(i));
  if (whole < n) {
    const __m256 e = _mm256_and_ps(exp_nonpositive(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + whole, tail), m), s)),
                                   _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(x + whole, tail, e);
    add(e);
  }
  const __m256d sd = _mm256_add_pd(s0, s1);
  __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(sd), _mm256_extractf128_pd(sd, 1));
  s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
  return _mm_cvtsd_f64(s2);
}

void softmax(float* x, int64_t n) {
  const double sum = exp_sum(x, n, 1.0f);
  if (sum == 0.0) return;
  const int64_t whole = n & ~int64_t(7);
  const __m256i tail = first_lanes(n - whole);
  const __m256 inv = _mm256_set1_ps(float(1.0 / sum));
  for (int64_t i = 0; i < whole; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  if (whole < n) _mm256_maskstore_ps(x + whole, tail, _mm256_mul_ps(_mm256_maskload_ps(x + whole, tail), inv));
}

// SiLU(g)·u with the exponential of a non-positive argument only: e = exp(-|g|), and
// sigmoid(g) is 1/(1 + e) for g ≥ 0 and e/(1 + e) for g < 0 (exp(g)/(1 + exp(g)), which cannot
// overflow). With libm's scalar expf the SwiGLU of a 1.1B decode step (22 × 5632 values, on
// one thread while the other waits) took 410 µs of its 18 ms; with this, 65-90 µs.
HEARTH_INLINE __m256 swiglu8(__m256 g, __m256 u) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_nonpositive(_mm256_or_ps(g, _mm256_set1_ps(-0.0f)));  // -|g|
  const __m256 num = _mm256_blendv_ps(one, e, g);                              // by g's sign bit
  return _mm256_mul_ps(_mm256_div_ps(_mm256_mul_ps(g, num), _mm256_add_ps(one, e)), u);
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {
    const __m256i tail = first_lanes(n - i);
    _mm256_maskstore_ps(out + i, tail, swiglu8(_mm256_maskload_ps(gate + i, tail), _mm256_maskload_ps(up + i, tail)));
  }
}

// ---- fp16 / bf16 rows ----------------------------------------------------------------------

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_f16x8(x + i));
  for (; i < n; ++i) y[i] = _cvtsh_ss(x[i]);
}

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

void bf16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_bf16x8(x + i));
  for (; i < n; ++i) y[i] = bf16_scalar(x[i]);
}

uint16_t fp32_to_bf16_scalar(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t((b >> 16) | 0x40u);
  return uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

void fp32_to_bf16_row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  for (; i + 8 <= n; i += 8) {
    const __m256i b = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    // Round to nearest even; NaNs are made quiet instead (rounding could turn them into Inf).
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs_mask), inf);
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) y[i] = fp32_to_bf16_scalar(x[i]);
}

constexpr KernelTable make_table() {
  KernelTable t;
  t.isa = Isa::avx2;
  default_activations(t);
  t.vec_dot[int(TensorType::F32)] = dot_f32;
  t.vec_dot[int(TensorType::F16)] = dot_half<load_f16x8, h2f>;
  t.vec_dot[int(TensorType::BF16)] = dot_half<load_bf16x8, bf16_scalar>;
  t.vec_dot[int(TensorType::Q4_0)] = dot_q4_0_x;
  t.vec_dot2[int(TensorType::Q4_0)] = dot2_q4_0_x;
  t.act[int(TensorType::Q4_0)] = Act::Q8X;
  t.vec_dot[int(TensorType::Q4_1)] = dot_blocks<BlockQ4_1, false, unpack_q4_1, offset_q4_1>;
  t.vec_dot[int(TensorType::Q5_0)] = dot_blocks<BlockQ5_0, false, unpack_q5_0, offset_q5_0>;
  t.vec_dot[int(TensorType::Q5_1)] = dot_blocks<BlockQ5_1, false, unpack_q5_1, offset_q5_1>;
  t.vec_dot[int(TensorType::Q8_0)] = dot_blocks<BlockQ8_0, true, unpack_q8_0, nullptr>;
  t.vec_dot[int(TensorType::Q4_K)] = dot_q4_K;
  t.vec_dot[int(TensorType::Q5_K)] = dot_q5_K;
  t.vec_dot[int(TensorType::Q6_K)] = dot_q6_K;
  t.vec_dot4[int(TensorType::F32)] = dot4_float<float, load_f32x8, f32_scalar>;
  t.vec_dot4[int(TensorType::F16)] = dot4_float<uint16_t, load_f16x8, h2f>;
  t.vec_dot4[int(TensorType::BF16)] = dot4_float<uint16_t, load_bf16x8, bf16_scalar>;
  t.vec_dot4[int(TensorType::Q4_0)] = dot4_q4_0_x;
  t.vec_dot4x2[int(TensorType::Q4_0)] = dot_rows_q4_0_x<2, 4>;
  t.vec_dot2x2[int(TensorType::Q4_0)] = dot_rows_q4_0_x<2, 2>;
  t.vec_dot4[int(TensorType::Q4_1)] = dot4_blocks<BlockQ4_1, false, unpack_q4_1, offset_q4_1>;
  t.vec_dot4[int(TensorType::Q5_0)] = dot4_blocks<BlockQ5_0, false, unpack_q5_0, offset_q5_0>;
  t.vec_dot4[int(TensorType::Q5_1)] = dot4_blocks<BlockQ5_1, false, unpack_q5_1, offset_q5_1>;
  t.vec_dot4[int(TensorType::Q8_0)] = dot4_blocks<BlockQ8_0, true, unpack_q8_0, nullptr>;
  t.vec_dot4[int(TensorType::Q4_K)] = dot4_q4_K;
  t.vec_dot2x2[int(TensorType::Q4_K)] = dot2x2_q4_K;
  t.vec_dot4[int(TensorType::Q5_K)] = dot4_q5_K;
  t.vec_dot4[int(TensorType::Q6_K)] = dot4_q6_K;
  packed_x8::add_to_table<false>(t);
  t.quantize_q8a = quantize_q8a;
  t.quantize_q8x = quantize_q8x;
  t.quantize_q8_K = quantize_q8_K;
  t.f16_rows_dot = f16_rows_dot;
  t.f16_rows_weighted_sum = f16_rows_weighted_sum;
  t.softmax = softmax;
  t.exp_sum = exp_sum;
  t.swiglu = swiglu;
  t.f16_rows_dot_heads = f16_rows_dot_heads_x86<8>;
  t.f16_rows_weighted_sum_heads = f16_rows_weighted_sum_heads_x86<8>;
  t.fp16_to_fp32 = fp16_to_fp32_row;
  t.fp32_to_fp16 = fp32_to_fp16_row;
  t.bf16_to_fp32 = bf16_to_fp32_row;
  t.fp32_to_bf16 = fp32_to_bf16_row;
  return t;
}

constexpr KernelTable kTable = make_table();

}  // namespace

const KernelTable& avx2_table() { return kTable; }

}  // namespace hearth::kernels
