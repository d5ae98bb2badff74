// IEEE half (F16) and bfloat16 (BF16) conversions. Both are stored as uint16_t bit patterns,
// as in GGUF. The scalar functions are exact (round to nearest even, NaN/Inf/subnormals kept),
// so the generic kernels and the F16C hardware path produce the same bits.
// The helpers are `static inline` (one private copy per translation unit) so that a copy
// compiled inside an AVX-512 kernel file can never be the one the linker keeps for generic
// code.
#pragma once

#include <bit>
#include <cstdint>

namespace hearth::kernels {

static inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // Inf/NaN
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float v = float(mant) * 5.9604644775390625e-8f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign);
  }
  // Normal: rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

static inline uint16_t fp32_to_fp16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  uint32_t abs = bits & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf stays Inf; NaN stays a (quiet) NaN
    return uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? (0x200u | ((abs >> 13) & 0x3ffu)) : 0u));
  }
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // ≥ 65520 rounds to Inf
  if (abs < 0x38800000u) {
    // Below the smallest normal half (2^-14): adding 0.5 puts the value where a float ulp is
    // 2^-24, the half subnormal step, so the FPU does the round-to-nearest-even for us.
    const float t = std::bit_cast<float>(abs) + 0.5f;
    return uint16_t(sign | (std::bit_cast<uint32_t>(t) - 0x3f000000u));
  }
  // Normal: round the 23-bit mantissa to 10 bits, nearest even; a carry correctly bumps the
  // exponent.
  abs += 0xfffu + ((abs >> 13) & 1u);
  return uint16_t(sign | ((abs - 0x38000000u) >> 13));
}

static inline float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

static inline uint16_t fp32_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40u);  // quiet NaN
  return uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);               // nearest even
}

// Row conversions; these use F16C / NEON where the CPU has it (same results as the scalar
// functions above).
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
void bf16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
void fp32_to_bf16_row(const float* x, uint16_t* y, int64_t n);

}  // namespace hearth::kernels
