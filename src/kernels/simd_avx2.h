// AVX2 building blocks shared by the x86 kernel files (dot_avx2.cpp, dot_avx512.cpp). Only
// include this from a file compiled with at least -mavx2 -mfma -mf16c. Everything is in an
// anonymous namespace on purpose: each ISA file gets its own private copy compiled with its
// own flags, so the linker can never merge an AVX-512 copy into code that runs on AVX2 CPUs.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace hearth::kernels {
namespace {

#define HEARTH_INLINE inline __attribute__((always_inline))

// f(std::integral_constant<int, k>{}) for a run-time k in [K, Max]: kernels templated on a
// count (tokens, heads) called with the count in hand.
template <int Max, int K = 1, typename F>
HEARTH_INLINE void with_count(int k, F&& f) {
  if constexpr (K <= Max) {
    if (k == K) {
      f(std::integral_constant<int, K>{});
    } else {
      with_count<Max, K + 1>(k, f);
    }
  }
}

HEARTH_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Keeps v in a register. GCC folds a load into every instruction that uses a value, so a value
// used twice is loaded twice: in the two-row VNNI kernels those repeated loads were the
// bottleneck (on Zen 4 a 64-byte load takes the L1's whole cycle: 35 -> 29 cycles per group),
// and in the grouped-query attention scores a query vector shared by K rows was loaded K times.
// (Nothing for types wider than a 256-bit register without AVX-512: the tests compile the
// AVX-512 files a second time against an emulation, where those are structs.)
template <typename V>
HEARTH_INLINE void keep_in_register([[maybe_unused]] V& v) {
#if defined(__AVX512F__)
  __asm__("" : "+v"(v));
#elif defined(__AVX__)
  if constexpr (sizeof(V) <= 32) __asm__("" : "+x"(v));
#endif
}

HEARTH_INLINE __m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

HEARTH_INLINE float hsum_ps(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

HEARTH_INLINE float hsum_ps(__m256 v) {
  return hsum_ps(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

// hsum_ps of v0 into out[0] and of v1 into out[1], the same additions in the same order (so
// the same floats) with one instruction sequence for both.
HEARTH_INLINE void hsum_pair_ps(__m256 v0, __m256 v1, float* out) {
  // Per 128-bit half (one row each): t = low half + high half of the row's register, then
  // (t0 + t2) + (t1 + t3) as hsum_ps adds them.
  const __m256 t = _mm256_add_ps(_mm256_permute2f128_ps(v0, v1, 0x20), _mm256_permute2f128_ps(v0, v1, 0x31));
  const __m256 s = _mm256_add_ps(t, _mm256_permute_ps(t, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m256 r = _mm256_add_ps(s, _mm256_movehdup_ps(s));
  out[0] = _mm256_cvtss_f32(r);
  out[1] = _mm_cvtss_f32(_mm256_extractf128_ps(r, 1));
}

// For the two-row one-token kernels of the 32-value formats, whose blocks start with an fp16
// d: the weight scales of blocks k and k + 1 of rows b0 and b1 (pointers to block k), times
// the activation scales ad[0] = ad[1] (block k) and ad[2] = ad[3] (block k + 1), as the
// lanes (row 0 k, row 1 k, row 0 k + 1, row 1 k + 1). The four fp16s are gathered in a general
// register, so one conversion and one multiply serve both rows; each row's scales are then
// _mm256_permutevar8x32_ps(scales, (r, r, r, r, 2 + r, 2 + r, 2 + r, 2 + r)).
HEARTH_INLINE __m256 pair_block_scales(const uint8_t* b0, const uint8_t* b1, size_t block_bytes, const float* ad) {
  uint16_t d[4];
  std::memcpy(&d[0], b0, 2);
  std::memcpy(&d[1], b1, 2);
  std::memcpy(&d[2], b0 + block_bytes, 2);
  std::memcpy(&d[3], b1 + block_bytes, 2);
  const uint64_t d4 = uint64_t(d[0]) | uint64_t(d[1]) << 16 | uint64_t(d[2]) << 32 | uint64_t(d[3]) << 48;
  return _mm256_castps128_ps256(_mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(d4))), _mm_loadu_ps(ad)));
}
HEARTH_INLINE __m256 row_block_scales(__m256 pair_scales, int r) {
  return _mm256_permutevar8x32_ps(pair_scales, _mm256_setr_epi32(r, r, r, r, 2 + r, 2 + r, 2 + r, 2 + r));
}

HEARTH_INLINE int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

HEARTH_INLINE __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 16 bytes of nibble pairs → 32 bytes: low nibbles (values 0..15) then high nibbles (16..31).
HEARTH_INLINE __m256i unpack_nibbles(const uint8_t* p) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

// 32 bits → 32 bytes, 0xff where bit k of `bits` is set (byte k).
HEARTH_INLINE __m256i expand_bits(uint32_t bits) {
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(bits)),
                                        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                          0x0101010101010101, 0x0000000000000000));
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// A Q5_0/Q5_1 block's values (0..31) as 32 bytes in value order: the nibbles of qs, with bit
// 4 of value k from bit k of qh (little-endian).
HEARTH_INLINE __m256i unpack_five_bits(const uint8_t* qs, const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return _mm256_or_si256(unpack_nibbles(qs), _mm256_and_si256(expand_bits(bits), _mm256_set1_epi8(0x10)));
}

// Σ u·s over 32 bytes (u unsigned ≤ 127·2 safe, s signed) as 8 int32 partial sums.
HEARTH_INLINE __m256i dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// Σ w·a for signed bytes w, a (a ≠ -128, which our activation quantizers never produce).
HEARTH_INLINE __m256i dot_i8_i8(__m256i w, __m256i a) {
  return dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// Unpacks the 12-byte 6-bit scales/mins field of Q4_K/Q5_K into sc[8] and m[8] bytes, four
// at a time with 32-bit masks (same layout as quant.h's unpack_scale_min_k4).
HEARTH_INLINE void unpack_scales_k4(const uint8_t* scales, uint8_t sc[8], uint8_t m[8]) {
  uint32_t u[3];
  std::memcpy(u, scales, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  std::memcpy(sc, &sc_lo, 4);
  std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(m, &m_lo, 4);
  std::memcpy(m + 4, &m_hi, 4);
}

// Σ_j m[j] · (bsums[2j] + bsums[2j+1]) as 8 int32 lanes: each min is duplicated into the two
// int16 lanes of its 32-value sub-block so one madd does products and pair sums.
HEARTH_INLINE __m256i mins_dot_bsums(const uint8_t m[8], const int16_t* bsums) {
  const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
  const __m256i mdup = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
  return _mm256_madd_epi16(mdup, load256(bsums));
}

// The four 32-byte groups of unsigned 6-bit values (0..63) of one 128-value half of a Q6_K
// block, in value order.
HEARTH_INLINE void unpack_q6_half(const uint8_t* ql, const uint8_t* qh, __m256i q[4]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(3);
  const __m256i l0 = load256(ql), l1 = load256(ql + 32), h = load256(qh);
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(h, two), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), two), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), two), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), two), 4));
}

// Eight 8-bit scales widened to int16, the same eight in both 128-bit lanes.
HEARTH_INLINE __m256i scales16_u8(const uint8_t* s8) {
  return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s8))));
}
HEARTH_INLINE __m256i scales16_i8(const int8_t* s8) {
  return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s8))));
}

// From such a vector: int16 element `lo` in every slot of the low lane and `hi` in every
// slot of the high lane (one shuffle instead of two broadcasts from memory). A maddubs result
// over 32 values has one 16-value sub-block per lane, a pair of 32-value sub-blocks has one
// scale for both lanes (lo == hi).
HEARTH_INLINE __m256i pick16(__m256i s, int lo, int hi) {
  const __m256i ctrl = _mm256_set_m128i(_mm_set1_epi16(int16_t(((2 * hi + 1) << 8) | (2 * hi))),
                                        _mm_set1_epi16(int16_t(((2 * lo + 1) << 8) | (2 * lo))));
  return _mm256_shuffle_epi8(s, ctrl);
}

}  // namespace
}  // namespace hearth::kernels
