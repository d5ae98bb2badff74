// Helpers shared by the ARM64 kernel files (dot_neon.cpp, dot_neon_dotprod.cpp): fp16
// conversions, the K-quant scale unpacking, and the vectorized exp of the softmax and SwiGLU.
// Base ARMv8-A Advanced SIMD only, so both files can include it.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#ifndef HEARTH_INLINE
#define HEARTH_INLINE inline __attribute__((always_inline))
#endif

namespace hearth::kernels::neon {

HEARTH_INLINE float h2f(uint16_t h) {
  __fp16 f;
  std::memcpy(&f, &h, 2);
  return float(f);
}

HEARTH_INLINE float32x4_t load_f16x4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

// Eight fp16 values as two float vectors (lo: values 0-3, hi: 4-7).
HEARTH_INLINE void load_f16x8(const uint16_t* p, float32x4_t& lo, float32x4_t& hi) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
  lo = vcvt_f32_f16(vget_low_f16(h));
  hi = vcvt_high_f32_f16(h);
}

// Q4_K/Q5_K 12-byte scales (layout in quant.h) → the eight 6-bit scales and the eight mins
// as two 8-byte vectors.
HEARTH_INLINE void scales_k4(const uint8_t* scales, uint8x8_t& sc, uint8x8_t& m) {
  uint32_t u[3];
  std::memcpy(u, scales, 12);
  const uint64_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
  const uint64_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint64_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  sc = vcreate_u8(sc_lo | (sc_hi << 32));
  m = vcreate_u8(m_lo | (m_hi << 32));
}

// exp(x) for x ≤ 0 (softmax scores minus their maximum, SwiGLU's -|g|): x = k·ln2 + r with
// |r| ≤ ln2/2, exp(r) by its Taylor polynomial to r^7 and 2^k written into the exponent bits;
// below -87.33 (2^-126) the result is 0, so masked (-inf) scores give exactly 0, as std::exp
// does. The same method as the AVX2 kernel (dot_avx2.cpp).
HEARTH_INLINE float32x4_t exp_nonpositive(float32x4_t x) {
  const float32x4_t lowest = vdupq_n_f32(-87.33f);
  const uint32x4_t keep = vcgeq_f32(x, lowest);
  x = vmaxq_f32(x, lowest);
  const float32x4_t k = vrndnq_f32(vmulq_n_f32(x, 1.44269504f));
  // ln2 in two parts (the first exact in 9 bits), so k·ln2 is subtracted without rounding.
  float32x4_t r = vfmsq_n_f32(x, k, 0.693359375f);
  r = vfmsq_n_f32(r, k, -2.12194440e-4f);
  float32x4_t p = vdupq_n_f32(1.0f / 5040);
  for (float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = vfmaq_f32(vdupq_n_f32(c), p, r);
  const int32x4_t two_k = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
  const float32x4_t e = vmulq_f32(p, vreinterpretq_f32_s32(two_k));
  return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(e), keep));
}

}  // namespace hearth::kernels::neon
