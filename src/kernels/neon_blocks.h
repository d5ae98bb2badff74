// Quantized blocks unpacked into NEON registers, shared by the ARM64 kernel files that work
// on whole blocks (dot_neon_dotprod.cpp with SDOT, dot_neon_i8mm.cpp with SMMLA). Base
// Advanced SIMD only. In an anonymous namespace, as simd_avx2.h, so that files compiled for
// different extensions never share (and the linker never picks) one copy of a helper.
#pragma once

#include <arm_neon.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/quant.h"
#include "kernels/simd_neon.h"

namespace hearth::kernels {
namespace {

using neon::h2f;

// The weights of one 32-value block as two int8 vectors (values 0-15 and 16-31), its scale d
// and, for Q4_1/Q5_1, its min m. The 4- and 5-bit values are kept unsigned ([0, 15], [0, 31])
// for SDOT; a block's constant c (Q4_0: -8·d, Q5_0: -16·d, Q4_1/Q5_1: m) is applied through
// the activation block's s = da·Σ qa (quant.h: Σ (d q + c) da qa = d·da·Σ q qa + c·s).
struct Block32 {
  int8x16_t lo, hi;
  float d, m;
};

// Adds the fifth bits (bit j of qh, read as a little-endian uint32, is bit 4 of value j).
HEARTH_INLINE void add_fifth_bits(const uint8_t* qh, uint8x16_t& lo, uint8x16_t& hi) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  const uint8x16_t bytes = vreinterpretq_u8_u32(vdupq_n_u32(h));
  // Byte j / 8 of qh under value j (j < 16), byte 2 + (j - 16) / 8 under value j ≥ 16, then
  // its bit j % 8 tested.
  constexpr uint8_t kLo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
  constexpr uint8_t kHi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
  constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(kBit), sixteen = vdupq_n_u8(0x10);
  lo = vorrq_u8(lo, vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(kLo)), bit), sixteen));
  hi = vorrq_u8(hi, vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(kHi)), bit), sixteen));
}

HEARTH_INLINE Block32 nibbles(const uint8_t* qs, float d, float m) {
  const uint8x16_t v = vld1q_u8(qs);
  return {vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), d, m};
}
HEARTH_INLINE Block32 load_block(const BlockQ4_0& b) { return nibbles(b.qs, h2f(b.d), 0.0f); }
HEARTH_INLINE Block32 load_block(const BlockQ4_1& b) { return nibbles(b.qs, h2f(b.d), h2f(b.m)); }
HEARTH_INLINE Block32 with_fifth_bits(const uint8_t* qs, const uint8_t* qh, float d, float m) {
  const uint8x16_t v = vld1q_u8(qs);
  uint8x16_t lo = vandq_u8(v, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(v, 4);
  add_fifth_bits(qh, lo, hi);
  return {vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi), d, m};
}
HEARTH_INLINE Block32 load_block(const BlockQ5_0& b) { return with_fifth_bits(b.qs, b.qh, h2f(b.d), 0.0f); }
HEARTH_INLINE Block32 load_block(const BlockQ5_1& b) { return with_fifth_bits(b.qs, b.qh, h2f(b.d), h2f(b.m)); }
HEARTH_INLINE Block32 load_block(const BlockQ8_0& b) { return {vld1q_s8(b.qs), vld1q_s8(b.qs + 16), h2f(b.d), 0.0f}; }

// c / d per lane of a block's four-lane sum, for the formats whose constant is a multiple of
// d (Q4_0: -8 / 4, Q5_0: -16 / 4); the formats with a min use it instead (has_min).
constexpr float offset_per_lane(const BlockQ4_0*) { return -2.0f; }
constexpr float offset_per_lane(const BlockQ5_0*) { return -4.0f; }
constexpr float offset_per_lane(const void*) { return 0.0f; }
constexpr bool has_min(const BlockQ4_1*) { return true; }
constexpr bool has_min(const BlockQ5_1*) { return true; }
constexpr bool has_min(const void*) { return false; }

// Q4_K (High = false) or Q5_K (High = true) values of sub-blocks 2k and 2k+1 (k < 4), in [0, 15]
// or [0, 31]: q[0], q[1] = sub-block 2k's values 0-15 and 16-31 (the low nibbles of
// qs[32k .. 32k+32)), q[2], q[3] = sub-block 2k+1's (the high nibbles). Q5_K's fifth bit of
// value l of sub-block j is bit j of qh[l].
template <bool High, typename BlockK>
HEARTH_INLINE void k_quant_values(const BlockK& b, int k, int8x16_t q[4]) {
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  const uint8x16_t v0 = vld1q_u8(b.qs + 32 * k), v1 = vld1q_u8(b.qs + 32 * k + 16);
  uint8x16_t lo0 = vandq_u8(v0, low4), lo1 = vandq_u8(v1, low4);
  uint8x16_t hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
  if constexpr (High) {
    // Bits 2k and 2k+1 of qh moved to bit 4 (a negative count shifts right).
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    const uint8x16_t h0 = vld1q_u8(b.qh), h1 = vld1q_u8(b.qh + 16);
    const int8x16_t to_lo = vdupq_n_s8(int8_t(4 - 2 * k)), to_hi = vdupq_n_s8(int8_t(3 - 2 * k));
    lo0 = vorrq_u8(lo0, vandq_u8(vshlq_u8(h0, to_lo), bit4));
    lo1 = vorrq_u8(lo1, vandq_u8(vshlq_u8(h1, to_lo), bit4));
    hi0 = vorrq_u8(hi0, vandq_u8(vshlq_u8(h0, to_hi), bit4));
    hi1 = vorrq_u8(hi1, vandq_u8(vshlq_u8(h1, to_hi), bit4));
  }
  q[0] = vreinterpretq_s8_u8(lo0);
  q[1] = vreinterpretq_s8_u8(lo1);
  q[2] = vreinterpretq_s8_u8(hi0);
  q[3] = vreinterpretq_s8_u8(hi1);
}

// Q6_K values 32k + 16s .. +16 (s = 0, 1) of half h, in [0, 63] (the -32 offset is left to
// the caller). Value l + 32k of a half (l < 32) has its low 4 bits in ql[l + 32·(k & 1)] (low
// nibble for k < 2) and its high 2 bits in bits 2k, 2k+1 of qh[l].
HEARTH_INLINE void q6_values(const BlockQ6_K& b, int h, int k, int8x16_t q[2]) {
  const uint8x16_t low4 = vdupq_n_u8(0x0f), two = vdupq_n_u8(0x30);
  for (int s = 0; s < 2; ++s) {
    const uint8x16_t l = vld1q_u8(b.ql + 64 * h + 32 * (k & 1) + 16 * s);
    const uint8x16_t hh = vld1q_u8(b.qh + 32 * h + 16 * s);
    const uint8x16_t low = (k & 2) != 0 ? vshrq_n_u8(l, 4) : vandq_u8(l, low4);
    // Bits 2k, 2k+1 of qh to bits 4, 5 (a negative count shifts right).
    const uint8x16_t high = vandq_u8(vshlq_u8(hh, vdupq_n_s8(int8_t(4 - 2 * k))), two);
    q[s] = vreinterpretq_s8_u8(vorrq_u8(low, high));
  }
}

// Q8_K's sums of 32 activations, one per 32-value sub-block of the K-quants (it keeps sums
// of 16), as eight int16 lanes (|sum| ≤ 32·127 fits).
HEARTH_INLINE int16x8_t sums_of_32(const BlockQ8_K& a) { return vpaddq_s16(vld1q_s16(a.bsums), vld1q_s16(a.bsums + 8)); }

// Products of eight int16 pairs in four int32 lanes, to be summed.
HEARTH_INLINE int32x4_t dot_s16x8(int16x8_t u, int16x8_t v) {
  return vmlal_high_s16(vmull_s16(vget_low_s16(u), vget_low_s16(v)), u, v);
}

// N rows of blocks p, p + stride, ... (bytes): weight rows or activation rows.
template <typename Block, int N>
HEARTH_INLINE std::array<const Block*, N> strided(const void* p, size_t stride) {
  std::array<const Block*, N> rows;
  for (int k = 0; k < N; ++k) rows[k] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(p) + k * stride);
  return rows;
}

}  // namespace
}  // namespace hearth::kernels
