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
}  // namespace hearth_avx512_emulation
#define _mm512_cvtph_ps hearth_avx512_emulation::cvtph_ps
#define _mm512_cvtepu16_epi32 hearth_avx512_emulation::cvtepu16_epi32
#define _mm512_cvtepi32_ps hearth_avx512_emulation::cvtepi32_ps
#define _mm512_reduce_add_ps hearth_avx512_emulation::reduce_add_ps
