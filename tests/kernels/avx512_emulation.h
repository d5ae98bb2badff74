// SIMDe (libsimde-dev) standing in for AVX-512 on an AVX2 machine, shared by the tests that
// compile an AVX-512 kernel file a second time against it (test_avx512_emulated.cpp,
// test_avx512vnni_emulated.cpp). Include it only where <simde/x86/avx512.h> exists, right
// before including the kernel file; it opens `#pragma GCC push_options`, which the including
// file closes after the kernel file.
#pragma once

// Only this block is compiled for AVX2 (SIMDe builds its AVX-512 emulation from AVX2), and the
// test below only calls into it after checking that the CPU has AVX2.
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
// 512-bit SIMDe types passed by value draw GCC's "ABI changed in GCC 4.6" note.
#pragma GCC diagnostic ignored "-Wpsabi"
#include <immintrin.h>
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
// SIMDe 0.7.4 maps this alias to the masked variant; four others have no alias there.
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
#define _mm512_shuffle_i64x2(a, b, imm) simde_mm512_shuffle_i64x2(a, b, imm)
namespace hearth_avx512_emulation {
inline simde__m512 cvtph_ps(__m256i h) {
  alignas(32) float f[16];
  _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
  _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
  return simde_mm512_loadu_ps(f);
}
inline simde__m512i cvtepu16_epi32(__m256i h) {
  alignas(32) int32_t v[16];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(v), _mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + 8), _mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)));
  return simde_mm512_loadu_si512(v);
}
inline simde__m512 cvtepi32_ps(simde__m512i x) {
  int32_t t[16];
  float f[16];
  simde_mm512_storeu_si512(t, x);
  for (int i = 0; i < 16; ++i) f[i] = float(t[i]);
  return simde_mm512_loadu_ps(f);
}
inline float reduce_add_ps(simde__m512 x) {
  float f[16];
  simde_mm512_storeu_ps(f, x);
  float s = 0;
  for (float v : f) s += v;
  return s;
}
// 256-bit byte masks (AVX-512BW + VL): SIMDe's aliases take its own vector type, not GCC's
// __m256i, so these two are written out with AVX2.
inline uint32_t test_epi8_mask_256(__m256i a, __m256i b) {
  const __m256i zero = _mm256_cmpeq_epi8(_mm256_and_si256(a, b), _mm256_setzero_si256());
  return ~uint32_t(_mm256_movemask_epi8(zero));
}
inline __m256i mask_add_epi8_256(__m256i src, uint32_t k, __m256i a, __m256i b) {
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(int(k)),
                                             _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                               0x0101010101010101, 0x0000000000000000));
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
  const __m256i take = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_blendv_epi8(src, _mm256_add_epi8(a, b), take);
}
}  // namespace hearth_avx512_emulation
#undef _mm256_test_epi8_mask
#define _mm256_test_epi8_mask hearth_avx512_emulation::test_epi8_mask_256
#undef _mm256_mask_add_epi8
#define _mm256_mask_add_epi8 hearth_avx512_emulation::mask_add_epi8_256
#define _mm512_cvtph_ps hearth_avx512_emulation::cvtph_ps
#define _mm512_cvtepu16_epi32 hearth_avx512_emulation::cvtepu16_epi32
#define _mm512_cvtepi32_ps hearth_avx512_emulation::cvtepi32_ps
#define _mm512_reduce_add_ps hearth_avx512_emulation::reduce_add_ps
