// AVX-512 VNNI kernels (Cascade Lake, Ice Lake, Zen 4 and later) for the formats that dominate
// real models: Q4_0, Q8_0, Q4_K and Q6_K. This file alone is compiled with -mavx512vnni on top of the
// AVX-512 flags; its table is the AVX-512 one with these kernels swapped in, and is only handed
// out when util/cpu.h reports avx512_vnni.
//
// Why a separate path: on a few cores token generation with 4-bit weights is bound by the
// instructions per weight byte, not by memory. VPDPBUSD multiplies 64 unsigned by 64 signed
// bytes and adds them into 16 int32 lanes in one instruction (the AVX-512 path needs three:
// maddubs, madd, add), and the activations come in Q8X (quant.h), laid out so that
//   - one register holds the same 16-value half of four consecutive blocks, which is exactly
//     what a Q4_0 register of 64 nibble bytes unpacks into (low nibbles = first halves), and
//   - the four int32 lanes VPDPBUSD gives each block line up with four copies of its scale,
// so four blocks cost one float multiply-add instead of four scalar scale computations.
//
// Both weight formats are used as unsigned bytes (VPDPBUSD's first operand): Q4_0's nibbles
// q in [0, 15] stand for q - 8, Q8_0's bytes w are flipped to w + 128 in [1, 255]; the offset
// is c·Σa per block (c = 8 or 128), which Q8X keeps as -Σa in the block's first lane and
// which seeds the integer sum: Σ (q - c)·a = c·(-Σa) + Σ q·a.
//
// Q4_K and Q6_K keep Q8_K activations: their sub-block scales are weight-side integers, so the
// products go through VPMADDUBSW (int16 pair sums) and VPDPWSSD multiplies them by the scales
// and accumulates in one instruction (Q6_K: the AVX-512 kernels of q6_k_avx512.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/packed_x8.h"
#include "kernels/q6_k_avx512.h"
#include "kernels/quant.h"
#include "kernels/simd_avx2.h"
#include "util/cpu.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

HEARTH_INLINE __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
HEARTH_INLINE __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Software prefetch in the two-row one-token kernels of CPUs that run 512-bit instructions at
// full width (avx512vnni_table(true)): each step's bytes of each row, kOneTokenPrefetch bytes
// ahead, into L1, about one prefetch per 64 bytes (the hardware prefetchers fill in the rest).
// Decoding is a stream of weights the kernels cannot keep up with by much, and the loads they
// issue themselves reach only as far ahead as the out-of-order window: on Cascade Lake (the
// fourteenth session's VM) this took the synthetic 1.1B models from 28.5 to 35-36 tokens/s
// (Q4_0, +20 %), Q4_K +17 %, Q8_0 +16-18 %, each with and without alternated every 8 tokens in
// one process (40-60 rounds); 2-4 KiB ahead did equally well, 1 KiB 3 % and 6-8 KiB 3-4 %
// worse. Q6_K's one-row kernel with it: 19.0-19.5 -> 24.6-24.7 tokens/s. Zen 4 (split width)
// keeps the kernels without: there an 8 KiB prefetch into L2 had made the one-token kernel 60 %
// slower (a near one into L1 was not measured).
constexpr int kOneTokenPrefetch = 4096;

template <int kDistance, int kStepBytes>
HEARTH_INLINE void prefetch_step(const uint8_t* step) {
  if constexpr (kDistance > 0) {
    constexpr int kCount = kStepBytes >= 128 ? kStepBytes / 64 : 1;
    for (int i = 0; i < kCount; ++i)
      _mm_prefetch(reinterpret_cast<const char*>(step) + kDistance + i * (kStepBytes / kCount), _MM_HINT_T0);
  }
}

// Word indices (for VPERMW / VPERMT2W) of 32 int16 lanes, built once per call.
struct WordIndex {
  alignas(64) int16_t v[32];
  __m512i get() const { return _mm512_load_si512(v); }
};

// ---- Q4_0 and Q8_0: four blocks per step --------------------------------------------------------

// One unpacked group of four weight blocks: the first and second 16-value halves of the four
// blocks as unsigned bytes (in Q8X's order), and the blocks' scales as floats in Q8X's lanes.
struct Group {
  __m512i lo, hi;
  __m512 d;
};

// Q4_0: 18-byte blocks, 72 bytes per group. The 64 nibble bytes come out of two loads,
// r0 = bytes 0..63 and r1 = bytes 56..71: block k's qs start at byte 18k + 2 (word 9k + 1 of
// r0) for k < 3, block 3's at byte 56 (word 0 of r1, index 32 in VPERMT2W's two-register
// numbering); block k's fp16 d is word 9k of r0.
constexpr WordIndex q4_0_qs_index() {
  WordIndex w{};
  for (int l = 0; l < 32; ++l) {
    const int k = l / 8, j = l % 8;
    w.v[l] = int16_t(k < 3 ? 9 * k + 1 + j : 32 + j);
  }
  return w;
}
constexpr WordIndex q4_0_d_index() {
  WordIndex w{};
  for (int l = 0; l < 32; ++l) w.v[l] = int16_t(9 * ((l % 16) / 4));
  return w;
}
constexpr WordIndex kQ4_0Qs = q4_0_qs_index();
constexpr WordIndex kQ4_0D = q4_0_d_index();

struct Q4_0Format {
  using Block = BlockQ4_0;
  static constexpr int kGroupBytes = 4 * sizeof(BlockQ4_0);
  static constexpr int kOffsetShift = 3;  // q - 8
  __m512i qs_index = kQ4_0Qs.get(), d_index = kQ4_0D.get();

  HEARTH_INLINE Group unpack(const uint8_t* p) const {
    // Bytes 0..63 and 56..71: block 3's qs are the second load's words 0..7. (A second
    // 64-byte load at byte 8 would do, but loads straddling cache lines cost when the weights
    // stream from memory.)
    __m512i r0 = load512(p);
    keep_in_register(r0);  // used twice
    const __m512i r1 = _mm512_castsi128_si512(load128(p + 56));
    const __m512i qs = _mm512_permutex2var_epi16(r0, qs_index, r1);
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    Group g;
    g.lo = _mm512_and_si512(qs, low4);
    g.hi = _mm512_and_si512(_mm512_srli_epi16(qs, 4), low4);
    g.d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(d_index, r0)));
    return g;
  }
};

// Q8_0: 34-byte blocks, 136 bytes per group. Bytes 16h .. 16h+15 of the four blocks' qs come
// from four 16-byte loads and three inserts (cheaper here than word permutes over three
// registers); the d's at bytes 0, 34, 68, 102 are words 0 and 17 of bytes 0..63 and words 2
// and 19 of bytes 64..127.
constexpr WordIndex q8_0_d_index() {
  WordIndex w{};
  const int16_t word[4] = {0, 17, 32 + 2, 32 + 19};
  for (int l = 0; l < 32; ++l) w.v[l] = word[(l % 16) / 4];
  return w;
}
constexpr WordIndex kQ8_0D = q8_0_d_index();

struct Q8_0Format {
  using Block = BlockQ8_0;
  static constexpr int kGroupBytes = 4 * sizeof(BlockQ8_0);
  static constexpr int kOffsetShift = 7;  // w + 128 as unsigned bytes
  __m512i d_index = kQ8_0D.get();

  static HEARTH_INLINE __m512i halves(const uint8_t* p, int h) {
    const uint8_t* q = p + 2 + 16 * h;
    __m512i v = _mm512_castsi128_si512(load128(q));
    v = _mm512_inserti32x4(v, load128(q + 34), 1);
    v = _mm512_inserti32x4(v, load128(q + 68), 2);
    return _mm512_inserti32x4(v, load128(q + 102), 3);
  }
  HEARTH_INLINE Group unpack(const uint8_t* p) const {
    const __m512i flip = _mm512_set1_epi8(char(0x80));
    Group g;
    g.lo = _mm512_xor_si512(halves(p, 0), flip);
    g.hi = _mm512_xor_si512(halves(p, 1), flip);
    g.d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(load512(p), d_index, load512(p + 64))));
    return g;
  }
};

// Q5_0: 22-byte blocks (d, qh, qs), 88 bytes per group. The nibbles come as Q8_0's bytes do,
// from four 16-byte loads; bit 4 of value j of a block is bit j of its qh, so the low halves'
// fifth bits are the four qh's low 16 bits side by side and the high halves' their high 16:
// two 64-bit masks for two masked adds of 16. The d's at bytes 0, 22, 44, 66 are words 0, 11,
// 22 of bytes 0..63 and word 1 of a 16-byte load at byte 64 (nothing past the group is read).
constexpr WordIndex q5_0_d_index() {
  WordIndex w{};
  const int16_t word[4] = {0, 11, 22, 32 + 1};
  for (int l = 0; l < 32; ++l) w.v[l] = word[(l % 16) / 4];
  return w;
}
constexpr WordIndex kQ5_0D = q5_0_d_index();

struct Q5_0Format {
  using Block = BlockQ5_0;
  static constexpr int kGroupBytes = 4 * sizeof(BlockQ5_0);
  static constexpr int kOffsetShift = 4;  // q - 16
  __m512i d_index = kQ5_0D.get();

  HEARTH_INLINE Group unpack(const uint8_t* p) const {
    __m512i q = _mm512_castsi128_si512(load128(p + 6));
    q = _mm512_inserti32x4(q, load128(p + 28), 1);
    q = _mm512_inserti32x4(q, load128(p + 50), 2);
    q = _mm512_inserti32x4(q, load128(p + 72), 3);
    uint64_t m_lo = 0, m_hi = 0;
    for (int k = 0; k < 4; ++k) {
      uint32_t qh;
      std::memcpy(&qh, p + 22 * k + 2, 4);
      m_lo |= uint64_t(qh & 0xffffu) << (16 * k);
      m_hi |= uint64_t(qh >> 16) << (16 * k);
    }
    const __m512i low4 = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
    const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
    Group g;
    g.lo = _mm512_mask_add_epi8(lo, __mmask64(m_lo), lo, sixteen);
    g.hi = _mm512_mask_add_epi8(hi, __mmask64(m_hi), hi, sixteen);
    g.d = _mm512_cvtph_ps(
        _mm512_castsi512_si256(_mm512_permutex2var_epi16(load512(p), d_index, _mm512_castsi128_si512(load128(p + 64)))));
    return g;
  }
};

// The integer part of one group against one activation group: Σ (q - c)·a per int32 lane,
// seeded with the offset -c·Σa (c = 2^kOffsetShift).
template <typename F>
HEARTH_INLINE __m512i group_isum(const Group& q, const BlockQ8X& a) {
  const __m512i s = _mm512_slli_epi32(load512(a.nsum), F::kOffsetShift);
  return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s, q.lo, load512(a.lo)), q.hi, load512(a.hi));
}
// acc += dw·da·isum, lane by lane.
HEARTH_INLINE __m512 scale_add(__m512i isum, __m512 dw, __m512 da, __m512 acc) {
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, da), acc);
}

// Blocks after the last full group of four, against the padded last Q8X group.
template <typename F>
float tail_dot(const uint8_t* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  return q8x_tail_dot(reinterpret_cast<const typename F::Block*>(w), first, nb, a);
}

template <typename F>
float dot_groups(int64_t n, const void* wv, const void* av) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  const F f;
  // Two accumulators: consecutive groups do not wait on each other's multiply-add.
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t g = 0;
  for (; g + 2 <= ng; g += 2) {
    const Group q0 = f.unpack(w + F::kGroupBytes * g), q1 = f.unpack(w + F::kGroupBytes * (g + 1));
    acc0 = scale_add(group_isum<F>(q0, a[g]), q0.d, _mm512_loadu_ps(a[g].d), acc0);
    acc1 = scale_add(group_isum<F>(q1, a[g + 1]), q1.d, _mm512_loadu_ps(a[g + 1].d), acc1);
  }
  if (g < ng) {
    const Group q = f.unpack(w + F::kGroupBytes * g);
    acc0 = scale_add(group_isum<F>(q, a[g]), q.d, _mm512_loadu_ps(a[g].d), acc0);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (4 * ng < nb) sum += tail_dot<F>(w, 4 * ng, nb, a[ng]);
  return sum;
}

// ---- Q4_0 and Q8_0, one token: 256-bit registers ------------------------------------------------

// For one token the 512-bit kernels lose to the same work in 256-bit halves. Zen 4, TSC cycles
// per group with the weights in L2: Q4_0 7.7 for dot_groups<Q4_0Format>, 8.0 for the AVX2
// kernel, 6.7 for this one; Q8_0 9.2 for dot_groups<Q8_0Format>, 7.9 (7.6 for 5632-value rows)
// for this one. The word permutes that gather four blocks into one register cost more than
// two 16-byte loads per pair of blocks. While the weights stream from memory the difference
// mostly disappears: decoding the synthetic 1.1B Q8_0 model, kernels alternated in one
// process, this one was 1-3 % faster. Half h of group g covers blocks 2h and 2h + 1, laid out
// as in the AVX2 kernel (dot_avx2.cpp); VPDPBUSD replaces its maddubs-madd-add chain.

// Half h of a group as VPDPBUSD operands: the first and second 16-value halves of the two
// blocks as unsigned bytes (block 2h in the low 128 bits), and the two scales as floats in
// Q8X's lanes. Each format's values() gives lo and hi; the scales are the fp16 d at the start
// of each block (half_scales).
struct Half {
  __m256i lo, hi;
  __m256 d;
};

HEARTH_INLINE __m256 half_scales(const uint8_t* b0, const uint8_t* b1) {
  uint16_t d0, d1;
  std::memcpy(&d0, b0, 2);
  std::memcpy(&d1, b1, 2);
  const __m128 d01 = _mm_cvtph_ps(_mm_cvtsi32_si128(int(uint32_t(d0) | uint32_t(d1) << 16)));
  return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d01), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
}

template <typename H>
HEARTH_INLINE Half unpack_half(const uint8_t* b) {
  Half q;
  H::values(b, &q.lo, &q.hi);
  q.d = half_scales(b, b + sizeof(typename H::Block));
  return q;
}

// Blocks 2h and 2h + 1 (b points at the first) of a 4-bit format: block 2h's 16 qs bytes and
// block 2h + 1's, whose low nibbles are the first halves.
template <typename Block>
HEARTH_INLINE void nibble_values_256(const uint8_t* b, __m256i* lo, __m256i* hi) {
  constexpr size_t qs = offsetof(Block, qs), next = sizeof(Block);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i q = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(b + next + qs), reinterpret_cast<const __m128i*>(b + qs));
  *lo = _mm256_and_si256(q, low4);
  *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
}
// The same for a 5-bit format: the nibbles plus the fifth bits (see Q5_0Format), added by
// masked byte adds: the low halves' are the two qh's low 16 bits, the high halves' their
// high 16.
template <typename Block>
HEARTH_INLINE void five_bit_values_256(const uint8_t* b, __m256i* lo, __m256i* hi) {
  constexpr size_t qh = offsetof(Block, qh), next = sizeof(Block);
  __m256i l, h;
  nibble_values_256<Block>(b, &l, &h);
  uint32_t h0, h1;
  std::memcpy(&h0, b + qh, 4);
  std::memcpy(&h1, b + next + qh, 4);
  const __m256i sixteen = _mm256_set1_epi8(16);
  *lo = _mm256_mask_add_epi8(l, __mmask32((h0 & 0xffffu) | h1 << 16), l, sixteen);
  *hi = _mm256_mask_add_epi8(h, __mmask32((h0 >> 16) | (h1 & 0xffff0000u)), h, sixteen);
}

struct Q4_0Half {
  using Block = BlockQ4_0;
  static constexpr int kOffsetShift = 3;
  static HEARTH_INLINE void values(const uint8_t* b, __m256i* lo, __m256i* hi) { nibble_values_256<Block>(b, lo, hi); }
};

struct Q8_0Half {
  using Block = BlockQ8_0;
  static constexpr int kOffsetShift = 7;
  // Bytes 0..15 and 16..31 of the two blocks' qs, flipped to unsigned.
  static HEARTH_INLINE void values(const uint8_t* b, __m256i* lo, __m256i* hi) {
    const __m256i flip = _mm256_set1_epi8(char(0x80));
    auto halves = [&](int off) {
      return _mm256_xor_si256(_mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(b + 34 + off),
                                                  reinterpret_cast<const __m128i*>(b + off)),
                              flip);
    };
    *lo = halves(2);
    *hi = halves(18);
  }
};

struct Q5_0Half {
  using Block = BlockQ5_0;
  static constexpr int kOffsetShift = 4;  // q - 16
  static HEARTH_INLINE void values(const uint8_t* b, __m256i* lo, __m256i* hi) { five_bit_values_256<Block>(b, lo, hi); }
};

// Row w's products before the final reduction: eight float lanes whose sum is the dot
// product of its whole groups (the tail, if n is not a multiple of 128, is left out).
template <typename H>
HEARTH_INLINE __m256 halves_256_sums(int64_t ng, const uint8_t* w, const BlockQ8X* a) {
  constexpr int kHalfBytes = 2 * sizeof(typename H::Block);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g)
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const Half q = unpack_half<H>(w + 2 * kHalfBytes * g + kHalfBytes * h);
      const __m256i seed =
          _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].nsum + 8 * h)), H::kOffsetShift);
      const __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].lo + 32 * h));
      const __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].hi + 32 * h));
      const __m256i isum = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(seed, q.lo, a_lo), q.hi, a_hi);
      acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(q.d, _mm256_loadu_ps(a[g].d + 8 * h)), acc[h]);
    }
  return _mm256_add_ps(acc[0], acc[1]);
}

template <typename H>
float dot_halves_256(int64_t n, const void* wv, const void* av) {
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  float sum = hsum_ps(halves_256_sums<H>(ng, static_cast<const uint8_t*>(wv), a));
  if (4 * ng < nb) sum += q8x_tail_dot(static_cast<const typename H::Block*>(wv), 4 * ng, nb, a[ng]);
  return sum;
}

// Two rows at once, each exactly as dot_halves_256 computes it: the same products, scales and
// accumulators per row, so the same floats (hsum_pair_ps). What the rows share is loaded or
// computed once per half: the activations and the seed; and the four fp16 scales of the two
// rows' halves go to float, and are multiplied by the activations' scales, in one 128-bit
// conversion and multiply (instead of two conversions and two 256-bit multiplies). The
// scale work was the dearest part of the one-row kernel (without it, 5.7 instead of 6.8 TSC
// cycles per 128 values). Zen 4, weights in L2, 2048-value Q4_0 rows: 6.8 TSC cycles per 128
// values and row for dot_halves_256, 6.4 for two dot_halves_256 loops in one call, 5.9 for
// this one with two multiplies, 5.7 with one. Each row's half still depends only on its own
// bytes: a variant converting a group's four scales of one row at once, from bytes up to 54
// further along, was as fast in L2 (6.4) but streamed from memory 20 % slower.
template <typename H, int kPrefetch>
HEARTH_INLINE void halves_256_sums2(int64_t ng, const uint8_t* w0, const uint8_t* w1, const BlockQ8X* a,
                                    __m256* s0, __m256* s1) {
  constexpr int kBlockBytes = sizeof(typename H::Block), kHalfBytes = 2 * kBlockBytes;
  __m256 acc0[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, acc1[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g) {
    prefetch_step<kPrefetch, 2 * kHalfBytes>(w0 + 2 * kHalfBytes * g);
    prefetch_step<kPrefetch, 2 * kHalfBytes>(w1 + 2 * kHalfBytes * g);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const uint8_t* b0 = w0 + 2 * kHalfBytes * g + kHalfBytes * h;
      const uint8_t* b1 = w1 + 2 * kHalfBytes * g + kHalfBytes * h;
      __m256i seed =
          _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].nsum + 8 * h)), H::kOffsetShift);
      __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].lo + 32 * h));
      __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].hi + 32 * h));
      keep_in_register(seed);
      keep_in_register(a_lo);
      keep_in_register(a_hi);
      // Q8X repeats each block's d four times, so d[8h + 2 .. 8h + 5] is (d0, d0, d1, d1).
      const __m256 scales = pair_block_scales(b0, b1, kBlockBytes, a[g].d + 8 * h + 2);
      const __m256 scale0 = row_block_scales(scales, 0), scale1 = row_block_scales(scales, 1);
      __m256i lo0, hi0, lo1, hi1;
      H::values(b0, &lo0, &hi0);
      H::values(b1, &lo1, &hi1);
      const __m256i isum0 = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(seed, lo0, a_lo), hi0, a_hi);
      const __m256i isum1 = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(seed, lo1, a_lo), hi1, a_hi);
      acc0[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum0), scale0, acc0[h]);
      acc1[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum1), scale1, acc1[h]);
    }
  }
  *s0 = _mm256_add_ps(acc0[0], acc0[1]);
  *s1 = _mm256_add_ps(acc1[0], acc1[1]);
}

template <typename H, int kPrefetch = 0>
void dot2_halves_256(int64_t n, const void* w0, const void* w1, const void* av, float* out) {
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  __m256 s0, s1;
  halves_256_sums2<H, kPrefetch>(ng, static_cast<const uint8_t*>(w0), static_cast<const uint8_t*>(w1), a, &s0, &s1);
  hsum_pair_ps(s0, s1, out);
  if (4 * ng < nb) {
    out[0] += q8x_tail_dot(static_cast<const typename H::Block*>(w0), 4 * ng, nb, a[ng]);
    out[1] += q8x_tail_dot(static_cast<const typename H::Block*>(w1), 4 * ng, nb, a[ng]);
  }
}

// Two Q4_0 rows against one token in 512-bit registers, for CPUs whose 512-bit instructions
// run at full width (Intel: util/cpu.h zmm_full_width); Zen 4, which splits them into 256-bit
// halves, keeps dot2_halves_256 (above: there the word permutes of a 512-bit group cost more
// than they save). A register holds a whole group of four blocks, Q8X's layout: the four 16-byte
// qs fields come by one load and three inserts, and the four fp16 scales by two conversions
// straight from memory (bytes 0..31 of the group hold d0 and d1 as halves 0 and 9, bytes
// 36..67 d2 and d3) and one two-source permute that spreads them over their four lanes each
// — instead of the 256-bit kernel's scalar loads, 128-bit conversion and permutes per half.
// The products, their order and the final sums are dot2_halves_256's, lane for lane (its
// two halves' accumulators are this register's two 256-bit halves), so both give the same
// floats to the bit and the choice between them changes no output.
//
// Cascade Lake (the fourteenth session's VM: 2 vCPUs of a Xeon at 2.5 GHz TSC), weights in
// L2, TSC cycles per 128 values and row: 2048-value rows 14.8 -> 11.7, 5632-value rows 13.3
// -> 9.9 (dot2_halves_256 -> this). Decoding the synthetic 1.1B Q4_0 model, the two alternated
// every 8 tokens in one process: +3.2 % (150 rounds, 26.7 -> 27.5 t/s), +2.8 % (80 rounds).
// Its pace is set by the two vector ports 512-bit instructions have (the shifts and
// conversions only one of them), not by the loads: a first variant (scales by a word permute)
// took 7.4 cycles instead of 10.3 without its inserts and nibble splits (a wrong kernel, for
// the measurement).
constexpr int32_t kQ4_0DLanes[16] = {0, 0, 0, 0, 9, 9, 9, 9, 16, 16, 16, 16, 25, 25, 25, 25};

HEARTH_INLINE __m512i q4_0_group_qs(const uint8_t* g) {
  __m512i v = _mm512_castsi128_si512(load128(g + 2));
  v = _mm512_inserti32x4(v, load128(g + 20), 1);
  v = _mm512_inserti32x4(v, load128(g + 38), 2);
  return _mm512_inserti32x4(v, load128(g + 56), 3);
}
// Block k's d in lanes 4k .. 4k + 3 (index: kQ4_0DLanes; the second source's lanes are 16..31).
HEARTH_INLINE __m512 q4_0_group_scales(const uint8_t* g, __m512i lanes) {
  const __m512 d01 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g)));
  const __m512 d23 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 36)));
  return _mm512_permutex2var_ps(d01, lanes, d23);
}

template <int kPrefetch>
void dot2_q4_0_512(int64_t n, const void* w0v, const void* w1v, const void* av, float* out) {
  const uint8_t* w[2] = {static_cast<const uint8_t*>(w0v), static_cast<const uint8_t*>(w1v)};
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  const __m512i lanes = _mm512_loadu_si512(kQ4_0DLanes), low4 = _mm512_set1_epi8(0x0f);
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g) {
    const __m512i seed = _mm512_slli_epi32(load512(a[g].nsum), Q4_0Half::kOffsetShift);
    __m512i a_lo = load512(a[g].lo), a_hi = load512(a[g].hi);
    keep_in_register(a_lo);  // one load for both rows
    keep_in_register(a_hi);
    const __m512 da = _mm512_loadu_ps(a[g].d);
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r) {
      const uint8_t* group = w[r] + 4 * sizeof(BlockQ4_0) * g;
      prefetch_step<kPrefetch, 4 * sizeof(BlockQ4_0)>(group);
      const __m512i q = q4_0_group_qs(group);
      const __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(seed, _mm512_and_si512(q, low4), a_lo),
                                               _mm512_and_si512(_mm512_srli_epi16(q, 4), low4), a_hi);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(q4_0_group_scales(group, lanes), da), acc[r]);
    }
  }
  // dot2_halves_256's acc[0] + acc[1] per row, then its reduction.
  auto halves_sum = [](__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  };
  hsum_pair_ps(halves_sum(acc[0]), halves_sum(acc[1]), out);
  if (4 * ng < nb) {
    out[0] += q8x_tail_dot(static_cast<const BlockQ4_0*>(w0v), 4 * ng, nb, a[ng]);
    out[1] += q8x_tail_dot(static_cast<const BlockQ4_0*>(w1v), 4 * ng, nb, a[ng]);
  }
}

// ---- Q4_1 and Q5_1, one token: 256-bit registers, Q8X activations ----------------------------

// Values x = d·q + m with q unsigned (Q4_1: 0..15, Q5_1: 0..31), so the integer sums need no
// offset, and each block adds m·da·Σqa, Σqa being -nsum (Q8X keeps it in the block's first
// lane, the other three 0). Per half (blocks 2h and 2h + 1) and row: the two VPDPBUSD of
// Q4_0's kernel, unseeded, and a multiply-add by d·da; the mins of both rows take one
// negative multiply-add of the converted nsum, moved beside the m lanes, by the scales. Each
// block starts with its fp16 d and m, so one 32-bit load per block and row and one conversion
// give all eight scales of a half; one multiply by Q8X's d[8h .. 8h + 7] (block 2h's da four
// times, then block 2h + 1's) scales them. Zen 4, weights in L2, 2048-value rows, TSC cycles
// per 128 values and row: Q4_1 13.1 -> 8.1, Q5_1 18.5 -> 10.6 against the AVX2 kernels
// (VPMADDUBSW against Q8A) they replace for one token (9.0 and 11.4 with a multiply-add per
// row for the mins). Decoding the synthetic 1.1B models, old and new alternated in one
// process with the memory slow: Q4_1 36.4 -> 47.4 t/s (+32 %, 216 rounds), Q5_1 28.7 -> 37.0
// (+29 %, 238 rounds). Only one token uses them (KernelTable::vec_dot_one_token): prompts
// keep Q8A.
struct Q4_1Half {
  using Block = BlockQ4_1;
  static HEARTH_INLINE void values(const uint8_t* b, __m256i* lo, __m256i* hi) { nibble_values_256<Block>(b, lo, hi); }
};

struct Q5_1Half {
  using Block = BlockQ5_1;
  static HEARTH_INLINE void values(const uint8_t* b, __m256i* lo, __m256i* hi) { five_bit_values_256<Block>(b, lo, hi); }
};

// R = 1 or 2 rows (w[0], w[1]) over ng whole Q8X groups: per row, eight float lanes whose sum
// is the row's d·da·Σq·qa over those groups, and in `mins` lanes 2r + 1 and 5 + 2r, whose sum
// is its -m·da·nsum (affine_row_sum adds them up). One row goes through the same instructions
// as two, with its scales gathered as row 0's and row 1's both, so a row gets the same floats
// whichever kernel computes it.
template <typename H, int R, int kPrefetch = 0>
HEARTH_INLINE void affine_256_sums(int64_t ng, const uint8_t* const w[2], const BlockQ8X* a, __m256 out[R],
                                   __m256* mins) {
  constexpr int kBlockBytes = sizeof(typename H::Block), kHalfBytes = 2 * kBlockBytes;
  __m256 acc[R][2], acc_m[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t g = 0; g < ng; ++g) {
    for (int r = 0; r < R; ++r) prefetch_step<kPrefetch, 2 * kHalfBytes>(w[r] + 2 * kHalfBytes * g);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const uint8_t* b[2] = {w[0] + 2 * kHalfBytes * g + kHalfBytes * h, w[1] + 2 * kHalfBytes * g + kHalfBytes * h};
      __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].lo + 32 * h));
      __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].hi + 32 * h));
      keep_in_register(a_lo);
      keep_in_register(a_hi);
      // (d, m)·da of row 0, row 1 for block 2h, then for block 2h + 1.
      uint32_t dm[4];
      std::memcpy(&dm[0], b[0], 4);
      std::memcpy(&dm[1], b[1], 4);
      std::memcpy(&dm[2], b[0] + kBlockBytes, 4);
      std::memcpy(&dm[3], b[1] + kBlockBytes, 4);
      const __m128i packed = _mm_set_epi64x(int64_t(uint64_t(dm[2]) | uint64_t(dm[3]) << 32),
                                            int64_t(uint64_t(dm[0]) | uint64_t(dm[1]) << 32));
      const __m256 scales = _mm256_mul_ps(_mm256_cvtph_ps(packed), _mm256_loadu_ps(a[g].d + 8 * h));
      // -Σqa of block 2h (nsum lane 0) beside each m of block 2h, of block 2h + 1 (lane 4)
      // beside each of its m: one multiply-add for both rows' mins.
      const __m256 nsum = _mm256_permutevar8x32_ps(
          _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[g].nsum + 8 * h))),
          _mm256_setr_epi32(1, 0, 1, 0, 5, 4, 5, 4));
      acc_m[h] = _mm256_fnmadd_ps(nsum, scales, acc_m[h]);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        __m256i lo, hi;
        H::values(b[r], &lo, &hi);
        const __m256i isum = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, a_lo), hi, a_hi);
        const __m256 d = _mm256_permutevar8x32_ps(scales, _mm256_setr_epi32(2 * r, 2 * r, 2 * r, 2 * r, 4 + 2 * r, 4 + 2 * r,
                                                                            4 + 2 * r, 4 + 2 * r));
        acc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[r][h]);
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm256_add_ps(acc[r][0], acc[r][1]);
  *mins = _mm256_add_ps(acc_m[0], acc_m[1]);
}

// Row r's min term out of affine_256_sums's `mins`.
HEARTH_INLINE float affine_row_min(__m256 mins, int r) {
  alignas(32) float lane[8];
  _mm256_store_ps(lane, mins);
  return lane[2 * r + 1] + lane[5 + 2 * r];
}

template <typename H>
float dot_affine_256(int64_t n, const void* wv, const void* av) {
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  const uint8_t* w[2] = {static_cast<const uint8_t*>(wv), static_cast<const uint8_t*>(wv)};
  __m256 s[1], mins;
  affine_256_sums<H, 1>(ng, w, a, s, &mins);
  float sum = hsum_ps(s[0]) + affine_row_min(mins, 0);
  if (4 * ng < nb) sum += q8x_tail_dot(static_cast<const typename H::Block*>(wv), 4 * ng, nb, a[ng]);
  return sum;
}

template <typename H, int kPrefetch = 0>
void dot2_affine_256(int64_t n, const void* w0, const void* w1, const void* av, float* out) {
  const BlockQ8X* a = static_cast<const BlockQ8X*>(av);
  const int64_t nb = n / QK, ng = nb / 4;
  const uint8_t* w[2] = {static_cast<const uint8_t*>(w0), static_cast<const uint8_t*>(w1)};
  __m256 s[2], mins;
  affine_256_sums<H, 2, kPrefetch>(ng, w, a, s, &mins);
  hsum_pair_ps(s[0], s[1], out);
  out[0] += affine_row_min(mins, 0);
  out[1] += affine_row_min(mins, 1);
  if (4 * ng < nb) {
    out[0] += q8x_tail_dot(static_cast<const typename H::Block*>(w0), 4 * ng, nb, a[ng]);
    out[1] += q8x_tail_dot(static_cast<const typename H::Block*>(w1), 4 * ng, nb, a[ng]);
  }
}

// With four tokens, the scaling is done for all four at once. Each token's integer sums have
// four lanes per block; one transpose-and-add turns four tokens' sums into one vector whose
// lanes 4k + t hold token t's whole sum for block k, so a group costs one float multiply-add
// for four tokens instead of four (float work is the dearer part of these kernels).
HEARTH_INLINE __m512i sums_by_block(__m512i s0, __m512i s1, __m512i s2, __m512i s3) {
  // Per 128-bit lane (one block): a = [s0.0+s0.2, s1.0+s1.2, s0.1+s0.3, s1.1+s1.3], b alike
  // for s2, s3; then lane t of the result = token t's four lanes added.
  const __m512i a = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1), _mm512_unpackhi_epi32(s0, s1));
  const __m512i b = _mm512_add_epi32(_mm512_unpacklo_epi32(s2, s3), _mm512_unpackhi_epi32(s2, s3));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}
// The activation scales in the same order: lane 4k + t = d of token t's block k.
HEARTH_INLINE __m512 scales_by_block(const BlockQ8X* const a[4], int64_t g) {
  __m512 d = _mm512_loadu_ps(a[0][g].d);
  d = _mm512_mask_blend_ps(__mmask16(0x2222), d, _mm512_loadu_ps(a[1][g].d));
  d = _mm512_mask_blend_ps(__mmask16(0x4444), d, _mm512_loadu_ps(a[2][g].d));
  return _mm512_mask_blend_ps(__mmask16(0x8888), d, _mm512_loadu_ps(a[3][g].d));
}
// Lanes 4k + t summed over k: the four tokens' dots.
HEARTH_INLINE __m128 sum_blocks(__m512 acc) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc), hi);
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// Four activation rows against one weight row: each group of weight blocks is unpacked once.
template <typename F>
void dot4_groups(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8X* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const BlockQ8X*>(ab + t * stride);
  const int64_t nb = n / QK, ng = nb / 4;
  const F f;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g) {
    const Group q = f.unpack(w + F::kGroupBytes * g);
    for (int t = 0; t < 4; ++t) acc[t] = scale_add(group_isum<F>(q, a[t][g]), q.d, _mm512_loadu_ps(a[t][g].d), acc[t]);
  }
  for (int t = 0; t < 4; ++t) {
    out[t] = _mm512_reduce_add_ps(acc[t]);
    if (4 * ng < nb) out[t] += tail_dot<F>(w, 4 * ng, nb, a[t][ng]);
  }
}

// Two weight rows against T = 4 or 2 activation rows (out[T·r + t]): every activation group
// is loaded once for both rows (the offset seeds and scales too), which halves the activation
// traffic that limits dot4 when the weights stream past.
//
// With two tokens, one unpack-and-add step of the transpose leaves lanes 4k + {0, 2} holding
// halves of token 0's sum for block k and 4k + {1, 3} token 1's; the scales are laid out the
// same way and the halves meet again in the final sum.
template <typename F, int T>
void dot_rows2_groups(int64_t n, const void* wv, size_t w_stride, const void* av, size_t stride, float* out) {
  static_assert(T == 4 || T == 2);
  const uint8_t* w[2] = {static_cast<const uint8_t*>(wv), static_cast<const uint8_t*>(wv) + w_stride};
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8X* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const BlockQ8X*>(ab + (t % T) * stride);
  const int64_t nb = n / QK, ng = nb / 4;
  const F f;
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t g = 0; g < ng; ++g) {
    // The hardware prefetcher alone leaves this loop waiting on memory (it streams two rows
    // at once, and the four tokens' work between loads is long). Two software prefetches per
    // row: one 5760 bytes ahead (80 Q4_0 groups) into L1, and one 8 KiB ahead (two pages: the
    // page walk and the DRAM fetch start early) into L2. On the 1.1B Q4_0 model, four tokens'
    // matmuls took 57 ms with neither, 37-38 ms with the near one (then 40 groups ahead) and
    // 32 ms with both (2 threads, Zen 4; 4-16 KiB all did about as well for the far one).
    // Moving the near one from 40 to 80 groups made the whole four-token step 3-4 % faster
    // (alternated in one process); 120 groups, past the far one, was slower. The same far
    // prefetch made the one-token kernel 60 % slower, so it is only here. Prefetches past the
    // end of the matrix are harmless.
    constexpr int kNear = 5760, kFar = 8192;
    for (int r = 0; r < 2; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w[r] + F::kGroupBytes * g + kNear), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w[r] + F::kGroupBytes * g + kFar), _MM_HINT_T1);
    }
    const Group q[2] = {f.unpack(w[0] + F::kGroupBytes * g), f.unpack(w[1] + F::kGroupBytes * g)};
    __m512i s[2][T];
    for (int t = 0; t < T; ++t) {
      const BlockQ8X& ag = a[t][g];
      const __m512i seed = _mm512_slli_epi32(load512(ag.nsum), F::kOffsetShift);
      __m512i alo = load512(ag.lo), ahi = load512(ag.hi);
      keep_in_register(alo);  // one load for both rows
      keep_in_register(ahi);
      for (int r = 0; r < 2; ++r) s[r][t] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(seed, q[r].lo, alo), q[r].hi, ahi);
    }
    // (With T = 2, a[2] and a[3] are a[0] and a[1] again: the lanes the halves are in.)
    const __m512 da = scales_by_block(a, g);
    for (int r = 0; r < 2; ++r) {
      __m512i sums;
      if constexpr (T == 4) {
        sums = sums_by_block(s[r][0], s[r][1], s[r][2], s[r][3]);
      } else {
        sums = _mm512_add_epi32(_mm512_unpacklo_epi32(s[r][0], s[r][1]), _mm512_unpackhi_epi32(s[r][0], s[r][1]));
      }
      acc[r] = scale_add(sums, q[r].d, da, acc[r]);
    }
  }
  for (int r = 0; r < 2; ++r) {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, sum_blocks(acc[r]));
    for (int t = 0; t < T; ++t) {
      float v = T == 4 ? lanes[t] : lanes[t] + lanes[t + 2];
      if (4 * ng < nb) v += tail_dot<F>(w[r], 4 * ng, nb, a[t][ng]);
      out[T * r + t] = v;
    }
  }
}

// ---- Q4_K: one 256-value super-block (144 bytes) per step, in 256-bit registers -------------

// The eight 6-bit sub-block scales and mins of Q4_K scales[12] fields (layout in quant.h), by
// vector operations on both 128-bit halves at once: each half of v holds the 16 bytes at one
// block's scales (the 12 scale bytes and the first 4 of qs); each half of the result holds its
// block's scales 0..7 in bytes 0..7 and mins 0..7 in bytes 8..15. With dwords u0, u1, u2 of
// scales[12]: scales 0-3 = u0 & 0x3f.., mins 0-3 = u1 & 0x3f.., scales 4-7 = the low nibbles
// of u2 with the top two bits of u0's bytes above them, mins 4-7 = the high nibbles of u2 with
// the top two bits of u1's. (As scalar code, 25 instructions per block, which with the rest of
// the per-super-block work made 180 instructions per super-block of the two-row kernel; 136
// this way. The kernel's speed is set by its shuffles, not by its instruction count, so this
// alone gained 2 % in L2.)
HEARTH_INLINE __m256i q4_K_scale_min_bytes(__m256i v) {
  // Dwords u2 and u2 >> 4 (its high nibbles brought down) next to u0 and u1.
  const __m256i u2 = _mm256_srlv_epi32(_mm256_shuffle_epi32(v, _MM_SHUFFLE(2, 2, 2, 2)), _mm256_setr_epi32(0, 4, 0, 0, 0, 4, 0, 0));
  // Bits 6-7 of u0's and u1's bytes at bits 4-5 (bits 6-7 of each byte are cleared below).
  const __m256i top = _mm256_srli_epi32(v, 2);
  // Bitwise select (0xE4: c ? a : b): the low nibbles from u2, the rest from top.
  const __m256i high = _mm256_ternarylogic_epi32(u2, top, _mm256_set1_epi8(0x0f), 0xE4);
  // Dwords u0, scales 4-7, u1, mins 4-7 in each half; 6 bits each.
  return _mm256_and_si256(_mm256_unpacklo_epi32(v, high), _mm256_set1_epi8(0x3f));
}

// A super-block's scales for the 256-bit kernels: d and dmin as floats (lanes 0 and 1; the
// two fp16s are adjacent, so one instruction converts both), the sub-block scales and mins as
// bytes in both 128-bit halves (q4_K_scale_min_bytes), from which q4_K_scale_256 and
// q4_K_scale_pair_256 take int16 scales by one byte shuffle each, and the eight mins each
// twice as int16, to meet Q8_K's sixteen sums of 16 directly (no horizontal add of the sums).
struct Q4KScales256 {
  __m128 d_dmin;
  __m256i bytes, m16;
};

// The mins of q4_K_scale_min_bytes (one block in both halves) as int16, each twice: words
// 0..7 (low half) m0, m0, .., m3, m3, words 8..15 m4, m4, .., m7, m7.
HEARTH_INLINE __m256i q4_K_mins_twice(__m256i bytes) {
  return _mm256_shuffle_epi8(bytes, _mm256_setr_epi8(8, -1, 8, -1, 9, -1, 9, -1, 10, -1, 10, -1, 11, -1, 11, -1, 12, -1, 12,
                                                     -1, 13, -1, 13, -1, 14, -1, 14, -1, 15, -1, 15, -1));
}

template <typename Block>  // BlockQ4_K or BlockQ5_K: the same d, dmin and scales
HEARTH_INLINE Q4KScales256 q4_K_scales_256(const Block& b) {
  static_assert(offsetof(Block, dmin) == offsetof(Block, d) + 2 && offsetof(Block, scales) + 16 <= sizeof(Block));
  uint32_t d_dmin;
  std::memcpy(&d_dmin, &b.d, 4);
  const __m256i bytes = q4_K_scale_min_bytes(_mm256_broadcastsi128_si256(load128(b.scales)));
  return {_mm_cvtph_ps(_mm_cvtsi32_si128(int(d_dmin))), bytes, q4_K_mins_twice(bytes)};
}

// Byte-shuffle control that makes int16 j | 0x8000 the word of scale byte j: its low byte
// picks byte j, its high byte (bit 7 set) gives zero.
constexpr int16_t scale_word(int j) { return int16_t(j | 0x8000); }

// Sub-block scale j in all sixteen int16 lanes.
HEARTH_INLINE __m256i q4_K_scale_256(__m256i bytes, int j) {
  return _mm256_shuffle_epi8(bytes, _mm256_set1_epi16(scale_word(j)));
}

// Scales 2k and 2k + 1 in the word order VPACKSSDW gives two registers of int32 lanes: in each
// 128-bit half, four words of sub-block 2k, then four of 2k + 1.
HEARTH_INLINE __m256i q4_K_scale_pair_256(__m256i bytes, int k) {
  const int16_t s0 = scale_word(2 * k), s1 = scale_word(2 * k + 1);
  return _mm256_shuffle_epi8(bytes, _mm256_setr_epi16(s0, s0, s0, s0, s1, s1, s1, s1, s0, s0, s0, s0, s1, s1, s1, s1));
}

// qs bytes 32k .. 32k + 31: sub-block 2k in the low nibbles, 2k + 1 in the high ones.
HEARTH_INLINE void q4_K_nibbles_256(const BlockQ4_K& b, int k, __m256i* lo, __m256i* hi) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * k));
  *lo = _mm256_and_si256(q, low4);
  *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
}
// Q5_K: the same, plus bit 4 of value l of sub-block j, which is bit j of qh[l]: a byte-mask
// test per sub-block and a masked add of 16 (AVX-512BW) in place of AVX2's shift-and-or.
HEARTH_INLINE void q5_K_values_256(const BlockQ5_K& b, __m256i qh, int k, __m256i* lo, __m256i* hi) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), sixteen = _mm256_set1_epi8(16);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * k));
  const __m256i l = _mm256_and_si256(q, low4), h = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
  *lo = _mm256_mask_add_epi8(l, _mm256_test_epi8_mask(qh, _mm256_set1_epi8(char(1 << (2 * k)))), l, sixteen);
  *hi = _mm256_mask_add_epi8(h, _mm256_test_epi8_mask(qh, _mm256_set1_epi8(char(2 << (2 * k)))), h, sixteen);
}

// Σ_j m_j · (Σ a over sub-block j) for one token, as eight float lanes.
HEARTH_INLINE __m256 q4_K_min_sums_256(const Q4KScales256& u, const BlockQ8_K& x) {
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(u.m16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums))));
}

// One token. As for Q4_0, a 512-bit kernel (this file had one until the sixth session) loses
// for one token on Zen 4 to the same work in 256-bit halves: each 32-byte qs group gives
// sub-block 2k (low nibbles) and 2k + 1 (high nibbles) in registers of their own, and their
// scales come by a byte shuffle instead of a word permute (since the eighth session both
// scales of a pair by one shuffle, see the loop). Zen 4,
// weights in L2: 7.6 against 8.2 TSC cycles per 128 values (7.1 against 7.4 for 5632-value
// rows); decoding the synthetic 1.1B Q4_K model,
// kernels alternated in one process while the memory was fast, 60.1-60.6 against 57.0-58.2
// tokens/s.
//
// The per-super-block work around the products is kept small, as it is a fifth of the
// instructions (Q4KScales256). That took the kernel from 7.6 to 7.1 cycles per 128 values in
// L2 (6.9 to 6.5 for 5632-value rows) and decoding from 57.7 to 60.5 tokens/s while the
// memory was fast (122 rounds alternated in one process; no change while slow).
//
// Q5_K goes through the same loop with its fifth bits added (q5_K_values_256). Weights in L2:
// 8.6 TSC cycles per 128 values against 12.5 for the AVX2 kernel it replaced (eighth
// session); decoding the synthetic 1.1B Q5_K model, alternated, 35.7-38.6 -> 39.8-44.2 t/s
// with the memory slow.
//
// k4_256_sums is one row's work up to the final reduction; dot_k4_256 reduces it.
template <typename Block>
HEARTH_INLINE __m256 k4_256_sums(int64_t n, const void* wv, const void* av) {
  const Block* w = static_cast<const Block*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const BlockQ8_K& x = a[i];
    const Q4KScales256 u = q4_K_scales_256(w[i]);
    alignas(16) float factor[4];  // d·x.d, dmin·x.d (broadcast loads, not permutes: dot2_k4_256)
    _mm_store_ps(factor, _mm_mul_ps(u.d_dmin, _mm_set1_ps(x.d)));
    acc_m = _mm256_fmadd_ps(_mm256_broadcast_ss(&factor[1]), q4_K_min_sums_256(u, x), acc_m);
    __m256i qh = {};
    if constexpr (std::is_same_v<Block, BlockQ5_K>) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].qh));
    // Two accumulators: the four sub-block pairs do not wait on one chain of VPDPWSSD.
    __m256i isum0 = _mm256_setzero_si256(), isum1 = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      __m256i lo, hi;
      if constexpr (std::is_same_v<Block, BlockQ5_K>) {
        q5_K_values_256(w[i], qh, k, &lo, &hi);
      } else {
        q4_K_nibbles_256(w[i], k, &lo, &hi);
      }
      const __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * k));
      const __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * k + 32));
      // Each sub-block's integer dot in int32 lanes (at most 4 · 31 · 127, so it fits in
      // int16), the two sub-blocks packed into one register of words, and one VPDPWSSD
      // applies both scales: one instruction fewer per 64 values than VPMADDUBSW with a
      // VPDPWSSD per sub-block (in L2 7.29 -> 7.09 TSC cycles per 128 values for Q4_K, 9.0
      // -> 8.5 for Q5_K; 1.1B decode 60.8 -> 62.3 and 45.5 -> 48.1 t/s, alternated).
      const __m256i pair = _mm256_packs_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, a_lo),
                                              _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, a_hi));
      if (k % 2 == 0) {
        isum0 = _mm256_dpwssd_epi32(isum0, pair, q4_K_scale_pair_256(u.bytes, k));
      } else {
        isum1 = _mm256_dpwssd_epi32(isum1, pair, q4_K_scale_pair_256(u.bytes, k));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&factor[0]), _mm256_cvtepi32_ps(_mm256_add_epi32(isum0, isum1)), acc);
  }
  return _mm256_sub_ps(acc, acc_m);
}

template <typename Block>
float dot_k4_256(int64_t n, const void* wv, const void* av) {
  return hsum_ps(k4_256_sums<Block>(n, wv, av));
}

// Two rows at once, each as k4_256_sums computes it (the same floats): the activation loads
// and sums of 16 are shared, and both rows' d and dmin go to float and are multiplied by the
// activations' d in one conversion and one multiply. Q4_K, weights in L2, 2048-value rows:
// 6.6 TSC cycles per 128 values and row for two dot_k4_256 calls, 6.4 for the two rows one
// after the other in one call, 6.3 for this (ninth session; the integer work per value is
// most of the kernel and is not shared).
//
// Its pace is set by the shuffle-type instructions (byte shuffles, packs, shifts, permutes):
// taking the 8 scale shuffles of a super-block out (a wrong kernel, for the measurement) made
// it 10 % faster, while 44 fewer other instructions gained 2 %. So since the eleventh session
// the per-super-block work avoids them: both rows' scale bytes come from one
// q4_K_scale_min_bytes (one 128-bit half each) and one lane-crossing copy per row; the
// sub-block scales are shuffled straight from those bytes; and the four float factors (d and
// dmin of each row times the activations' d) go through memory, whose broadcast loads replace
// four permutes. Weights in L2: 6.3 -> 6.0 TSC cycles per 128 values (2048-value rows), 5.9 ->
// 5.5 (5632), the same floats. Decoding the synthetic 1.1B Q4_K model, the two kernels
// alternated in one process over 1500 rounds: +3.0 ± 0.6 % while the memory was fast (64.0 ->
// 65.5 t/s), +0.9 ± 0.2 % while slow. Q5_K goes through the same loop with its fifth bits
// (until now it ran its two rows one after the other, 8.1 cycles against 8.3 interleaved):
// 10.9 -> 11.6 bytes per TSC cycle in L2, decoding +4.8 ± 0.4 % fast (60.5 -> 63.1 t/s, 1000
// rounds), unchanged slow.
template <typename Block, int kPrefetch = 0>
void dot2_k4_256(int64_t n, const void* w0, const void* w1, const void* av, float* out) {
  const Block* w[2] = {static_cast<const Block*>(w0), static_cast<const Block*>(w1)};
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, acc_m[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / QK_K; ++i) {
    for (int r = 0; r < 2; ++r) prefetch_step<kPrefetch, sizeof(Block)>(reinterpret_cast<const uint8_t*>(w[r] + i));
    const BlockQ8_K& x = a[i];
    // d·x.d and dmin·x.d of row 0, then of row 1.
    uint32_t dm[2];
    static_assert(offsetof(Block, dmin) == offsetof(Block, d) + 2);
    std::memcpy(&dm[0], &w[0][i].d, 4);
    std::memcpy(&dm[1], &w[1][i].d, 4);
    alignas(16) float factor[4];
    _mm_store_ps(factor, _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(uint64_t(dm[0]) | uint64_t(dm[1]) << 32))),
                                    _mm_set1_ps(x.d)));
    __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
    keep_in_register(bsums);
    const __m256i both = q4_K_scale_min_bytes(_mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(w[1][i].scales),
                                                                  reinterpret_cast<const __m128i*>(w[0][i].scales)));
    // Row r's half of `both` in both halves.
    const __m256i bytes[2] = {_mm256_permute4x64_epi64(both, 0x44), _mm256_permute4x64_epi64(both, 0xee)};
    __m256i isum[2][2], qh[2] = {};
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r) {
      if constexpr (std::is_same_v<Block, BlockQ5_K>) qh[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][i].qh));
      acc_m[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&factor[2 * r + 1]),
                                 _mm256_cvtepi32_ps(_mm256_madd_epi16(q4_K_mins_twice(bytes[r]), bsums)), acc_m[r]);
      isum[r][0] = isum[r][1] = _mm256_setzero_si256();
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * k));
      __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * k + 32));
      keep_in_register(a_lo);
      keep_in_register(a_hi);
#pragma GCC unroll 2
      for (int r = 0; r < 2; ++r) {
        __m256i lo, hi;
        if constexpr (std::is_same_v<Block, BlockQ5_K>) {
          q5_K_values_256(w[r][i], qh[r], k, &lo, &hi);
        } else {
          q4_K_nibbles_256(w[r][i], k, &lo, &hi);
        }
        const __m256i pair = _mm256_packs_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, a_lo),
                                                _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, a_hi));
        isum[r][k % 2] = _mm256_dpwssd_epi32(isum[r][k % 2], pair, q4_K_scale_pair_256(bytes[r], k));
      }
    }
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&factor[2 * r]),
                               _mm256_cvtepi32_ps(_mm256_add_epi32(isum[r][0], isum[r][1])), acc[r]);
  }
  hsum_pair_ps(_mm256_sub_ps(acc[0], acc_m[0]), _mm256_sub_ps(acc[1], acc_m[1]), out);
}

// ---- Q6_K, one token: 256-bit registers ----------------------------------------------------------

// Half h (128 values) of a Q6_K block as unsigned bytes q in [0, 63]: q[k] holds values
// 32k .. 32k + 31 of the half, so its low 128 bits are sub-block 8h + 2k and its high 128 bits
// sub-block 8h + 2k + 1. Each byte is (4 bits of ql) | (2 bits of qh) << 4, made by a bitwise
// select (one VPTERNLOGD) from a shifted ql and a qh whose other pair of bits was cleared.
HEARTH_INLINE void q6_K_values_256(const uint8_t* ql, const uint8_t* qh, __m256i q[4]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), pairs = _mm256_set1_epi8(0x33);
  const __m256i l0 = load256(ql), l1 = load256(ql + 32), h = load256(qh);
  const __m256i h_a = _mm256_and_si256(h, pairs);                        // qh bits 0-1 and 4-5
  const __m256i h_b = _mm256_and_si256(_mm256_srli_epi16(h, 2), pairs);  // qh bits 2-3 and 6-7
  auto select = [&](__m256i low_bits, __m256i high_bits) {
    return _mm256_or_si256(_mm256_and_si256(low4, low_bits), _mm256_andnot_si256(low4, high_bits));
  };
  q[0] = select(l0, _mm256_slli_epi16(h_a, 4));
  q[1] = select(l1, _mm256_slli_epi16(h_b, 4));
  q[2] = select(_mm256_srli_epi16(l0, 4), h_a);
  q[3] = select(_mm256_srli_epi16(l1, 4), h_b);
}

// One token. Σ_j sc_j Σ (q - 32)·a over the 16 sub-blocks j = Σ_j sc_j Σ q·a - 32 Σ_j sc_j·bsum_j.
// Each 32-value register of q gives two sub-blocks' integer sums by VPDPBUSD (at most
// 4·63·128 per lane, so they fit in int16), two registers are packed into one of words and
// one VPDPWSSD applies their four scales: Q4_K's scheme (k4_256_sums). The offset is
// subtracted in the integer domain, so one conversion and one multiply-add per super-block
// finish it. Zen 4, weights in L2, 2048-value rows: 10.7 TSC cycles per 128 values for the
// 512-bit kernel (q6_k_512::dot: VPMADDUBSW + VPDPWSSD with word-permuted scales, which the
// four-token kernel still uses), 7.7 for this one. Its shuffle-type instructions set its pace
// as they do Q4_K's (dot2_k4_256): since the eleventh session each half's scales come from the
// int16 scales already widened for the offset, by one lane-crossing copy instead of a load,
// a widening and a broadcast: 13.7 -> 14.2 bytes per TSC cycle in L2, and decoding the
// synthetic 1.1B Q6_K model +2.8 ± 0.3 % with fast memory (59.4 -> 60.8 t/s, 968 rounds
// alternated in one process).
template <int kPrefetch>
HEARTH_INLINE __m256 q6_K_256_sums(int64_t n, const void* wv, const void* av) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    prefetch_step<kPrefetch, sizeof(BlockQ6_K)>(reinterpret_cast<const uint8_t*>(w + i));
    const BlockQ8_K& x = a[i];
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].scales)));
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load256(x.bsums)), 5);
    __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    // Each half's eight scales as int16, in both 128-bit lanes.
    const __m256i half_scales[2] = {_mm256_permute4x64_epi64(sc16, 0x44), _mm256_permute4x64_epi64(sc16, 0xee)};
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      q6_K_values_256(w[i].ql + 64 * h, w[i].qh + 32 * h, q);
      const __m256i sc = half_scales[h];
#pragma GCC unroll 2
      for (int p = 0; p < 2; ++p) {
        const int8_t* qa = x.qs + 128 * h + 64 * p;
        // Low lane: four words of sub-block 4p, four of 4p + 2 (of the half); high lane: 4p + 1
        // and 4p + 3. The scales in the same order, by one byte shuffle.
        const __m256i pair = _mm256_packs_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q[2 * p], load256(qa)),
                                                _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[2 * p + 1], load256(qa + 32)));
        const int16_t s0 = int16_t((8 * p) | (8 * p + 1) << 8), s2 = int16_t((8 * p + 4) | (8 * p + 5) << 8);
        const int16_t s1 = int16_t((8 * p + 2) | (8 * p + 3) << 8), s3 = int16_t((8 * p + 6) | (8 * p + 7) << 8);
        const __m256i scale = _mm256_shuffle_epi8(
            sc, _mm256_setr_epi16(s0, s0, s0, s0, s2, s2, s2, s2, s1, s1, s1, s1, s3, s3, s3, s3));
        isum[p] = _mm256_dpwssd_epi32(isum[p], pair, scale);
      }
    }
    const __m256i total = _mm256_sub_epi32(_mm256_add_epi32(isum[0], isum[1]), offset);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(x.d * h2f(w[i].d)), _mm256_cvtepi32_ps(total), acc);
  }
  return acc;
}

template <int kPrefetch = 0>
float dot_q6_K_256(int64_t n, const void* wv, const void* av) {
  return hsum_ps(q6_K_256_sums<kPrefetch>(n, wv, av));
}

// T activation rows against one Q4_K row, as the one-token kernel: each 32-byte qs group is
// split and its two scales broadcast once, then meets the T tokens. It replaced a 512-bit
// kernel whose word-permuted scales and unpacked super-block did not fit in the registers
// with four tokens' accumulators (the compiler spilled them). Synthetic 1.1B Q4_K model, 2
// threads, Zen 4, the two alternated: pp512 100-103 -> 112-113 t/s (T = 4), two-token
// decode step 23.6-25.7 -> 21.5-22.4 ms (T = 2).
template <int T>
void dot_tokens_q4_K_256(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const uint8_t* ab = static_cast<const uint8_t*>(av);
  const BlockQ8_K* a[T];
  for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(ab + t * stride);
  __m256 acc[T], acc_m[T];
  for (int t = 0; t < T; ++t) acc[t] = acc_m[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK_K; ++i) {
    // One prefetch near (into L1) and one 4 KiB ahead (into L2), as in dot_rows2_groups. For
    // the 512-bit kernel this one replaced (1.1B Q4_K four-token step, alternated in one
    // process) 2-4 KiB ahead took it from 58-63 to 53-57 ms, while 2880 bytes and 6-8 KiB made
    // it slower (68-73 ms); for this kernel, pp512 without them was the same or 1-3 % slower.
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + 20 * sizeof(BlockQ4_K), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + 4096, _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + 4096 + 64, _MM_HINT_T1);
    const Q4KScales256 u = q4_K_scales_256(w[i]);
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      __m256i lo, hi;
      q4_K_nibbles_256(w[i], k, &lo, &hi);
      const __m256i s_lo = q4_K_scale_256(u.bytes, 2 * k), s_hi = q4_K_scale_256(u.bytes, 2 * k + 1);
      for (int t = 0; t < T; ++t) {
        const int8_t* x = a[t][i].qs + 64 * k;
        isum[t] = _mm256_dpwssd_epi32(isum[t], _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))), s_lo);
        isum[t] = _mm256_dpwssd_epi32(isum[t], _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32))), s_hi);
      }
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& x = a[t][i];
      const __m128 scale = _mm_mul_ps(u.d_dmin, _mm_set1_ps(x.d));
      acc_m[t] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(scale), _mm256_set1_epi32(1)),
                                 q4_K_min_sums_256(u, x), acc_m[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_broadcastss_ps(scale), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) out[t] = hsum_ps(_mm256_sub_ps(acc[t], acc_m[t]));
}

void dot4_q4_K(int64_t n, const void* wv, const void* av, size_t stride, float* out) {
  dot_tokens_q4_K_256<4>(n, wv, av, stride, out);
}

// The two-row, two-token slot filled row by row: two rows of Q4_K and their accumulators did
// not fit in the registers (see docs/kernels.md), but one row unpacked once for both tokens
// already halves the unpacking of a two-token decode step.
void dot2x2_q4_K(int64_t n, const void* wv, size_t w_stride, const void* av, size_t stride, float* out) {
  dot_tokens_q4_K_256<2>(n, wv, av, stride, out);
  dot_tokens_q4_K_256<2>(n, static_cast<const uint8_t*>(wv) + w_stride, av, stride, out + 2);
}

// The AVX-512 table with the VNNI kernels, and their activation format, swapped in; for CPUs
// whose 512-bit instructions run at full width, the one-token kernels that suit them.
KernelTable make_avx512vnni_table(bool zmm_full_width) {
  KernelTable t = avx512_table();
  t.isa = Isa::avx512vnni;
  t.vec_dot[int(TensorType::Q4_0)] = dot_halves_256<Q4_0Half>;
  t.vec_dot4[int(TensorType::Q4_0)] = dot4_groups<Q4_0Format>;
  t.vec_dot4x2[int(TensorType::Q4_0)] = dot_rows2_groups<Q4_0Format, 4>;
  t.vec_dot2x2[int(TensorType::Q4_0)] = dot_rows2_groups<Q4_0Format, 2>;
  t.act[int(TensorType::Q4_0)] = Act::Q8X;
  t.vec_dot[int(TensorType::Q8_0)] = dot_halves_256<Q8_0Half>;
  t.vec_dot4[int(TensorType::Q8_0)] = dot4_groups<Q8_0Format>;
  t.vec_dot4x2[int(TensorType::Q8_0)] = dot_rows2_groups<Q8_0Format, 4>;
  // No two-token Q8_0 kernel: its unpacking (16-byte loads and inserts) is too dear for two
  // tokens; the one-token kernel twice took a 1.1B two-token step in 46-48 ms against 66-68.
  t.act[int(TensorType::Q8_0)] = Act::Q8X;
  // Q5_0 as Q4_0 plus the fifth bits (Q4_K_M files of models whose rows are not a multiple
  // of 256 values keep those tensors in Q5_0); its packed kernel is set to the Q8X one by
  // add_to_table below.
  t.vec_dot[int(TensorType::Q5_0)] = dot_halves_256<Q5_0Half>;
  t.vec_dot4[int(TensorType::Q5_0)] = dot4_groups<Q5_0Format>;
  t.vec_dot4x2[int(TensorType::Q5_0)] = dot_rows2_groups<Q5_0Format, 4>;
  t.vec_dot2x2[int(TensorType::Q5_0)] = dot_rows2_groups<Q5_0Format, 2>;
  t.act[int(TensorType::Q5_0)] = Act::Q8X;
  // Q4_1 and Q5_1: one token against Q8X (eleventh session); their other kernels keep Q8A,
  // whose thinner rows suit the packed prompt kernels (see KernelTable::vec_dot_one_token).
  t.act_one_token[int(TensorType::Q4_1)] = Act::Q8X;
  t.vec_dot_one_token[int(TensorType::Q4_1)] = dot_affine_256<Q4_1Half>;
  // Full width: the prefetching forms (kOneTokenPrefetch), and Q4_0 in 512-bit registers.
  constexpr int kPrefetch = kOneTokenPrefetch;
  t.vec_dot2[int(TensorType::Q4_1)] = zmm_full_width ? dot2_affine_256<Q4_1Half, kPrefetch> : dot2_affine_256<Q4_1Half>;
  t.act_one_token[int(TensorType::Q5_1)] = Act::Q8X;
  t.vec_dot_one_token[int(TensorType::Q5_1)] = dot_affine_256<Q5_1Half>;
  t.vec_dot2[int(TensorType::Q5_1)] = zmm_full_width ? dot2_affine_256<Q5_1Half, kPrefetch> : dot2_affine_256<Q5_1Half>;
  t.vec_dot[int(TensorType::Q4_K)] = dot_k4_256<BlockQ4_K>;
  t.vec_dot[int(TensorType::Q5_K)] = dot_k4_256<BlockQ5_K>;
  t.vec_dot2[int(TensorType::Q4_0)] = zmm_full_width ? dot2_q4_0_512<kPrefetch> : dot2_halves_256<Q4_0Half>;
  t.vec_dot2[int(TensorType::Q8_0)] = zmm_full_width ? dot2_halves_256<Q8_0Half, kPrefetch> : dot2_halves_256<Q8_0Half>;
  t.vec_dot2[int(TensorType::Q5_0)] = zmm_full_width ? dot2_halves_256<Q5_0Half, kPrefetch> : dot2_halves_256<Q5_0Half>;
  t.vec_dot2[int(TensorType::Q4_K)] = zmm_full_width ? dot2_k4_256<BlockQ4_K, kPrefetch> : dot2_k4_256<BlockQ4_K>;
  t.vec_dot2[int(TensorType::Q5_K)] = zmm_full_width ? dot2_k4_256<BlockQ5_K, kPrefetch> : dot2_k4_256<BlockQ5_K>;
  t.vec_dot4[int(TensorType::Q4_K)] = dot4_q4_K;
  t.vec_dot2x2[int(TensorType::Q4_K)] = dot2x2_q4_K;
  t.vec_dot[int(TensorType::Q6_K)] = dot_q6_K_256<>;
  // Q6_K has no two-row kernel (docs/kernels.md); one token goes through the one-row kernel,
  // which prefetches where the others do.
  if (zmm_full_width) {
    t.act_one_token[int(TensorType::Q6_K)] = Act::Q8_K;
    t.vec_dot_one_token[int(TensorType::Q6_K)] = dot_q6_K_256<kPrefetch>;
  }
  t.vec_dot4[int(TensorType::Q6_K)] = q6_k_512::dot4<true>;
  packed_x8::add_to_table<true>(t);
  return t;
}

}  // namespace

// Built on first use (only ever after the CPU check).
const KernelTable& avx512vnni_table(bool zmm_full_width) {
  if (zmm_full_width) {
    static const KernelTable full = make_avx512vnni_table(true);
    return full;
  }
  static const KernelTable split = make_avx512vnni_table(false);
  return split;
}

const KernelTable& avx512vnni_table() { return avx512vnni_table(cpu_features().zmm_full_width); }

}  // namespace hearth::kernels
