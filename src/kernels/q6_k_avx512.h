// Q6_K dot products in 512-bit registers, for the AVX-512 table (dot_avx512.cpp) and the VNNI
// one (dot_avx512vnni.cpp); each file includes this header and compiles it with its own
// instruction set. Vnni = true accumulates with VPDPWSSD instead of VPMADDWD + VPADDD: the
// same integer sums in one instruction fewer per 64 values, so both tables give the same
// results to the bit.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/quant.h"
#include "kernels/simd_avx2.h"

namespace hearth::kernels::q6_k_512 {
namespace {

// acc + Σ pairs of p·s per int32 lane.
template <bool Vnni>
HEARTH_INLINE __m512i add_products(__m512i acc, __m512i p, __m512i s) {
  if constexpr (Vnni) {
    return _mm512_dpwssd_epi32(acc, p, s);
  } else {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p, s));
  }
}

// Index vectors that spread 16 int16 scales so that int16 lanes 8j..8j+7 of a 512-bit
// register get scale b + j (j = 0..3): one maddubs lane group per 16-value Q6_K sub-block.
HEARTH_INLINE __m512i scale_index(int b) {
  const __m256i lo = _mm256_set_m128i(_mm_set1_epi16(int16_t(b + 1)), _mm_set1_epi16(int16_t(b)));
  const __m256i hi = _mm256_set_m128i(_mm_set1_epi16(int16_t(b + 3)), _mm_set1_epi16(int16_t(b + 2)));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Q6_K: Σ sc (q-32) a = Σ sc q a - 32 Σ sc bsum, as in the AVX2 kernel, 64 values at a time.
template <bool Vnni>
HEARTH_INLINE __m512i sumi(const BlockQ6_K& w, const int8_t* qa, __m512i sc_all) {
  __m512i sumi = _mm512_setzero_si512();
  for (int h = 0; h < 2; ++h) {
    __m256i q[4];
    unpack_q6_half(w.ql + 64 * h, w.qh + 32 * h, q);
    for (int g = 0; g < 2; ++g) {
      const __m512i qq = _mm512_inserti64x4(_mm512_castsi256_si512(q[2 * g]), q[2 * g + 1], 1);
      const __m512i p = _mm512_maddubs_epi16(qq, _mm512_loadu_si512(qa + 128 * h + 64 * g));
      const __m512i s = _mm512_permutexvar_epi16(scale_index(8 * h + 4 * g), sc_all);
      sumi = add_products<Vnni>(sumi, p, s);
    }
  }
  return sumi;
}

// sumi - 32 Σ_j sc_j·bsum_j, the offset subtracted from the low eight lanes in the integer
// domain (exact; converting the two sums apart and subtracting floats loses low bits of both
// when they nearly cancel).
HEARTH_INLINE __m512i minus_offset(__m512i sumi, __m256i sc16, const int16_t* bsums) {
  const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load256(bsums)), 5);
  return _mm512_sub_epi32(sumi, _mm512_inserti64x4(_mm512_setzero_si512(), offset, 0));
}

template <bool Vnni>
float dot(int64_t n, const void* wv, const void* av) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].scales)));
    const float d = a[i].d * h2f(w[i].d);
    const __m512i sumi = q6_k_512::sumi<Vnni>(w[i], a[i].qs, _mm512_castsi256_si512(sc16));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(minus_offset(sumi, sc16, a[i].bsums)), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

template <bool Vnni>
void dot4(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8_K* a[4] = {reinterpret_cast<const BlockQ8_K*>(ab), reinterpret_cast<const BlockQ8_K*>(ab + stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 2 * stride),
                           reinterpret_cast<const BlockQ8_K*>(ab + 3 * stride)};
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].scales)));
    const __m512i sc_all = _mm512_castsi256_si512(sc16);
    const float dw = h2f(w[i].d);
    __m512i sumi[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                       _mm512_setzero_si512()};
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      unpack_q6_half(w[i].ql + 64 * h, w[i].qh + 32 * h, q);
      for (int g = 0; g < 2; ++g) {
        const __m512i qq = _mm512_inserti64x4(_mm512_castsi256_si512(q[2 * g]), q[2 * g + 1], 1);
        const __m512i s = _mm512_permutexvar_epi16(scale_index(8 * h + 4 * g), sc_all);
        for (int t = 0; t < 4; ++t) {
          const __m512i p = _mm512_maddubs_epi16(qq, _mm512_loadu_si512(a[t][i].qs + 128 * h + 64 * g));
          sumi[t] = add_products<Vnni>(sumi[t], p, s);
        }
      }
    }
    for (int t = 0; t < 4; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(a[t][i].d * dw),
                               _mm512_cvtepi32_ps(minus_offset(sumi[t], sc16, a[t][i].bsums)), acc[t]);
  }
  for (int t = 0; t < 4; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
}

}  // namespace
}  // namespace hearth::kernels::q6_k_512
