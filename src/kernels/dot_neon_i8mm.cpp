// ARM64 kernels with the int8 matrix-multiply extension (SMMLA, FEAT_I8MM: Apple M2 and later,
// Neoverse V1/V2/N2, Graviton 3 and 4, Cortex-A510/A710/X2 and later). Compiled with
// -march=armv8.2-a+dotprod+i8mm and handed out only when the CPU reports both asimddp and i8mm
// (util/cpu.h); the table starts from the dotprod one, replaces the kernels of two weight rows
// against two or four tokens and adds packed kernels (eight rows against up to eight tokens),
// which prompt processing runs.
//
// SMMLA multiplies a 2×8 int8 matrix by the transpose of another 2×8 one into a 2×2 int32
// block, accumulating: 32 products per instruction against SDOT's 16. Two weight rows' eight
// values side by side in one register (r0 v0-7 | r1 v0-7) against two tokens' eight (t0 | t1)
// give the sums of all four (row, token) pairs at once, lanes [r0·t0, r0·t1, r1·t0, r1·t1];
// a 32-value block takes four SMMLA for the four pairs, where SDOT took eight. The scales
// are applied in that lane order too: one float FMA per block and token pair.
#include <algorithm>
#include <array>
#include <type_traits>

#include "kernels/dispatch.h"
#include "kernels/neon_blocks.h"
#include "kernels/quant.h"
#include "kernels/simd_neon.h"

#if !defined(__ARM_FEATURE_MATMUL_INT8)
#error "dot_neon_i8mm.cpp must be compiled with -march=armv8.2-a+dotprod+i8mm (see src/kernels/CMakeLists.txt)"
#endif

namespace hearth::kernels {

using gguf::TensorType;

namespace {

// Eight values of two rows side by side: the low (first) or high (second) eight bytes of a and b.
HEARTH_INLINE int8x16_t pair_lo(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
HEARTH_INLINE int8x16_t pair_hi(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

// The 2×2 sums of 16 values of two rows (w0, w1) against 16 of two tokens (x, y).
HEARTH_INLINE int32x4_t mm16(int32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t x, int8x16_t y) {
  acc = vmmlaq_s32(acc, pair_lo(w0, w1), pair_lo(x, y));
  return vmmlaq_s32(acc, pair_hi(w0, w1), pair_hi(x, y));
}

// [r0, r0, r1, r1] and [t0, t1, t0, t1]: a per-row and a per-token value in the lane order of
// the 2×2 sums.
HEARTH_INLINE float32x4_t by_row(float r0, float r1) { return vcombine_f32(vdup_n_f32(r0), vdup_n_f32(r1)); }
HEARTH_INLINE float32x4_t by_token(float t0, float t1) {
  const float32x2_t v = vset_lane_f32(t1, vdup_n_f32(t0), 1);
  return vcombine_f32(v, v);
}

// Writes the 2×2 sums of token pair p: rows 0 and 1, tokens 2p and 2p+1, out[r·T + t].
template <int T>
HEARTH_INLINE void store_pair(float32x4_t acc, int p, float* out) {
  vst1_f32(out + 2 * p, vget_low_f32(acc));
  vst1_f32(out + T + 2 * p, vget_high_f32(acc));
}

// ---- 32-value blocks against Q8A --------------------------------------------------------------

// Two rows w0, w1 against T tokens (T = 2 or 4): out[r·T + t]. A block's constant c (quant.h)
// enters as c·s for each (row, token): Q4_0/Q5_0 c = (-8 or -16)·d, Q4_1/Q5_1 c = m.
template <typename Block, int T>
HEARTH_INLINE void mm_blocks32(int64_t n, const Block* w0, const Block* w1, const std::array<const BlockQ8A*, T>& a,
                               float* out) {
  constexpr int P = T / 2;
  constexpr float kOffset = 4.0f * offset_per_lane(static_cast<const Block*>(nullptr));  // c / d
  constexpr bool kMin = has_min(static_cast<const Block*>(nullptr));
  float32x4_t acc[P];
  for (int p = 0; p < P; ++p) acc[p] = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK; ++i) {
    const Block32 b0 = load_block(w0[i]), b1 = load_block(w1[i]);
    const float32x4_t d = by_row(b0.d, b1.d);
    for (int p = 0; p < P; ++p) {
      const BlockQ8A& x = a[2 * p][i];
      const BlockQ8A& y = a[2 * p + 1][i];
      int32x4_t s = mm16(vdupq_n_s32(0), b0.lo, b1.lo, vld1q_s8(x.qs), vld1q_s8(y.qs));
      s = mm16(s, b0.hi, b1.hi, vld1q_s8(x.qs + 16), vld1q_s8(y.qs + 16));
      acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(s), vmulq_f32(d, by_token(x.d, y.d)));
      if constexpr (kOffset != 0.0f || kMin) {
        const float32x4_t st = by_token(x.s, y.s);
        if constexpr (kOffset != 0.0f) acc[p] = vfmaq_f32(acc[p], vmulq_n_f32(d, kOffset), st);
        if constexpr (kMin) acc[p] = vfmaq_f32(acc[p], by_row(b0.m, b1.m), st);
      }
    }
  }
  for (int p = 0; p < P; ++p) store_pair<T>(acc[p], p, out);
}

// ---- K-quants against Q8_K --------------------------------------------------------------------

// Per-row integer scales of the sub-blocks in the 2×2 lane order: s(j) = [r0_j, r0_j, r1_j,
// r1_j] as int32, from the two rows' 16 scale bytes side by side in `both` (row 0 in bytes
// 0-7 or 0-15, row 1 after it) by table lookups, widened once per super-block.
template <int Subblocks>
struct RowScales {
  int16x8_t v[Subblocks / 2];  // sub-blocks 2m, 2m+1 in v[m]
  HEARTH_INLINE int32x4_t operator()(int j) const {
    return (j & 1) != 0 ? vmovl_high_s16(v[j >> 1]) : vmovl_s16(vget_low_s16(v[j >> 1]));
  }
};

// Q4_K/Q5_K: eight unsigned 6-bit scales per row.
HEARTH_INLINE RowScales<8> row_scales(uint8x8_t s0, uint8x8_t s1) {
  static constexpr uint8_t kIdx[2][16] = {{0, 0, 8, 8, 1, 1, 9, 9, 2, 2, 10, 10, 3, 3, 11, 11},
                                          {4, 4, 12, 12, 5, 5, 13, 13, 6, 6, 14, 14, 7, 7, 15, 15}};
  const uint8x16_t both = vcombine_u8(s0, s1);
  RowScales<8> r;
  for (int m = 0; m < 2; ++m) {
    const uint8x16_t t = vqtbl1q_u8(both, vld1q_u8(kIdx[m]));
    r.v[2 * m] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(t)));
    r.v[2 * m + 1] = vreinterpretq_s16_u16(vmovl_high_u8(t));
  }
  return r;
}

// Q6_K: sixteen signed scales per row; lookup m gives sub-blocks 4m .. 4m+3.
constexpr std::array<std::array<uint8_t, 16>, 4> kQ6ScaleIdx = [] {
  std::array<std::array<uint8_t, 16>, 4> idx{};
  for (int m = 0; m < 4; ++m)
    for (int j = 0; j < 4; ++j) {
      const auto sub = uint8_t(4 * m + j);
      idx[m][4 * j] = idx[m][4 * j + 1] = sub;
      idx[m][4 * j + 2] = idx[m][4 * j + 3] = uint8_t(16 + sub);
    }
  return idx;
}();
HEARTH_INLINE RowScales<16> row_scales(int8x16_t s0, int8x16_t s1) {
  const int8x16x2_t both = {{s0, s1}};
  RowScales<16> r;
  for (int m = 0; m < 4; ++m) {
    const int8x16_t t = vqtbl2q_s8(both, vld1q_u8(kQ6ScaleIdx[m].data()));
    r.v[2 * m] = vmovl_s8(vget_low_s8(t));
    r.v[2 * m + 1] = vmovl_high_s8(t);
  }
  return r;
}

// Σ_j c0_j·e_j over eight int16 pairs, for the four (row, token) pairs in 2×2 lane order:
// rows' c0, c1 and tokens' e, f.
HEARTH_INLINE int32x4_t cross_sums(int16x8_t c0, int16x8_t c1, int16x8_t e, int16x8_t f) {
  return vpaddq_s32(vpaddq_s32(dot_s16x8(c0, e), dot_s16x8(c0, f)), vpaddq_s32(dot_s16x8(c1, e), dot_s16x8(c1, f)));
}

// Q4_K (High = false) or Q5_K (High = true), two rows against T tokens.
template <typename BlockK, bool High, int T>
HEARTH_INLINE void mm_q45_K(int64_t n, const BlockK* w0, const BlockK* w1, const std::array<const BlockQ8_K*, T>& a,
                            float* out) {
  constexpr int P = T / 2;
  float32x4_t acc[P];
  for (int p = 0; p < P; ++p) acc[p] = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8x8_t s0, m0, s1, m1;
    neon::scales_k4(w0[i].scales, s0, m0);
    neon::scales_k4(w1[i].scales, s1, m1);
    const RowScales<8> sc = row_scales(s0, s1);
    int32x4_t isum[P];
    for (int p = 0; p < P; ++p) isum[p] = vdupq_n_s32(0);
    for (int k = 0; k < 4; ++k) {
      int8x16_t q0[4], q1[4];  // sub-block 2k: [0], [1]; sub-block 2k+1: [2], [3]
      k_quant_values<High>(w0[i], k, q0);
      k_quant_values<High>(w1[i], k, q1);
      for (int p = 0; p < P; ++p) {
        const int8_t* x = a[2 * p][i].qs + 64 * k;
        const int8_t* y = a[2 * p + 1][i].qs + 64 * k;
        int32x4_t lo = mm16(vdupq_n_s32(0), q0[0], q1[0], vld1q_s8(x), vld1q_s8(y));
        lo = mm16(lo, q0[1], q1[1], vld1q_s8(x + 16), vld1q_s8(y + 16));
        int32x4_t hi = mm16(vdupq_n_s32(0), q0[2], q1[2], vld1q_s8(x + 32), vld1q_s8(y + 32));
        hi = mm16(hi, q0[3], q1[3], vld1q_s8(x + 48), vld1q_s8(y + 48));
        isum[p] = vmlaq_s32(isum[p], lo, sc(2 * k));
        isum[p] = vmlaq_s32(isum[p], hi, sc(2 * k + 1));
      }
    }
    const float32x4_t d = by_row(h2f(w0[i].d), h2f(w1[i].d)), dmin = by_row(h2f(w0[i].dmin), h2f(w1[i].dmin));
    const int16x8_t mins0 = vreinterpretq_s16_u16(vmovl_u8(m0)), mins1 = vreinterpretq_s16_u16(vmovl_u8(m1));
    for (int p = 0; p < P; ++p) {
      const BlockQ8_K& x = a[2 * p][i];
      const BlockQ8_K& y = a[2 * p + 1][i];
      const int16x8_t bx = sums_of_32(x), by = sums_of_32(y);
      const float32x4_t da = by_token(x.d, y.d);
      acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(isum[p]), vmulq_f32(d, da));
      acc[p] = vfmsq_f32(acc[p], vcvtq_f32_s32(cross_sums(mins0, mins1, bx, by)), vmulq_f32(dmin, da));
    }
  }
  for (int p = 0; p < P; ++p) store_pair<T>(acc[p], p, out);
}

// Q6_K, two rows against T tokens; the -32 offset through Q8_K's sums of 16 (one per
// sub-block), as in the SDOT kernel.
template <int T>
HEARTH_INLINE void mm_q6_K(int64_t n, const BlockQ6_K* w0, const BlockQ6_K* w1, const std::array<const BlockQ8_K*, T>& a,
                           float* out) {
  constexpr int P = T / 2;
  float32x4_t acc[P];
  for (int p = 0; p < P; ++p) acc[p] = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const int8x16_t s0 = vld1q_s8(w0[i].scales), s1 = vld1q_s8(w1[i].scales);
    const RowScales<16> sc = row_scales(s0, s1);
    int32x4_t isum[P];
    for (int p = 0; p < P; ++p) {
      const BlockQ8_K& x = a[2 * p][i];
      const BlockQ8_K& y = a[2 * p + 1][i];
      const int16x8_t x0 = vld1q_s16(x.bsums), x1 = vld1q_s16(x.bsums + 8);
      const int16x8_t y0 = vld1q_s16(y.bsums), y1 = vld1q_s16(y.bsums + 8);
      const int32x4_t o = vaddq_s32(cross_sums(vmovl_s8(vget_low_s8(s0)), vmovl_s8(vget_low_s8(s1)), x0, y0),
                                    cross_sums(vmovl_high_s8(s0), vmovl_high_s8(s1), x1, y1));
      isum[p] = vmulq_n_s32(o, -32);
    }
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k) {
        int8x16_t q0[2], q1[2];  // sub-blocks 8h + 2k (q[0]) and 8h + 2k + 1 (q[1])
        q6_values(w0[i], h, k, q0);
        q6_values(w1[i], h, k, q1);
        for (int p = 0; p < P; ++p) {
          const int8_t* x = a[2 * p][i].qs + 128 * h + 32 * k;
          const int8_t* y = a[2 * p + 1][i].qs + 128 * h + 32 * k;
          const int32x4_t lo = mm16(vdupq_n_s32(0), q0[0], q1[0], vld1q_s8(x), vld1q_s8(y));
          const int32x4_t hi = mm16(vdupq_n_s32(0), q0[1], q1[1], vld1q_s8(x + 16), vld1q_s8(y + 16));
          isum[p] = vmlaq_s32(isum[p], lo, sc(8 * h + 2 * k));
          isum[p] = vmlaq_s32(isum[p], hi, sc(8 * h + 2 * k + 1));
        }
      }
    const float32x4_t d = by_row(h2f(w0[i].d), h2f(w1[i].d));
    for (int p = 0; p < P; ++p)
      acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(isum[p]), vmulq_f32(d, by_token(a[2 * p][i].d, a[2 * p + 1][i].d)));
  }
  for (int p = 0; p < P; ++p) store_pair<T>(acc[p], p, out);
}

// ---- packed groups of eight rows (prompt processing) -------------------------------------------

// PackRowsFn / PackedDotFn (dispatch.h): a group of kPackRows = 8 rows is unpacked once into
// SMMLA's layout, rows side by side in pairs, with each block's scales already in the 2×2 lane
// order, and then multiplied with every token of a token block, two tokens at a time. Against
// the two-row four-token kernel this unpacks and pairs each weight block once per token block
// instead of once per four tokens, and pairs each activation block once per eight rows instead
// of once per two.
constexpr int kRowPairs = kPackRows / 2;

// Writes the 2×2 sums of row pair q and token pair p to y[t·y_stride + r] (token 2p+1 only if
// it exists: an odd token count pairs the last token with itself).
HEARTH_INLINE void store_packed(float32x4_t acc, int q, int p, int n_tokens, float* y, size_t y_stride) {
  float v[4];
  vst1q_f32(v, acc);
  float* y0 = y + size_t(2 * p) * y_stride + 2 * q;
  y0[0] = v[0];
  y0[1] = v[2];
  if (2 * p + 1 < n_tokens) {
    y0[y_stride] = v[1];
    y0[y_stride + 1] = v[3];
  }
}

// Calls kernel(integral_constant<int, P>) for the number of token pairs P = ceil(n_tokens / 2).
template <typename Kernel>
HEARTH_INLINE void by_token_pairs(int n_tokens, Kernel&& kernel) {
  switch ((n_tokens + 1) / 2) {
    case 1: kernel(std::integral_constant<int, 1>{}); break;
    case 2: kernel(std::integral_constant<int, 2>{}); break;
    case 3: kernel(std::integral_constant<int, 3>{}); break;
    default: kernel(std::integral_constant<int, 4>{}); break;
  }
}

// Block i of token pair p: tokens 2p and 2p+1, or 2p twice where the count is odd.
template <typename Act>
struct TokenPair {
  const Act& x;
  const Act& z;
};
template <typename Act>
HEARTH_INLINE TokenPair<Act> token_pair(const void* a, size_t a_stride, int p, int n_tokens, int64_t i) {
  auto row = [&](int t) { return reinterpret_cast<const Act*>(static_cast<const uint8_t*>(a) + size_t(t) * a_stride); };
  return {row(2 * p)[i], row(std::min(2 * p + 1, n_tokens - 1))[i]};
}

// The 2×2 accumulators of the four row pairs and P token pairs of a packed kernel.
template <int P>
struct PackedSums {
  float32x4_t v[kRowPairs][P];
  PackedSums() {
    for (int q = 0; q < kRowPairs; ++q)
      for (int p = 0; p < P; ++p) v[q][p] = vdupq_n_f32(0);
  }
  HEARTH_INLINE void store(int n_tokens, float* y, size_t y_stride) const {
    for (int q = 0; q < kRowPairs; ++q)
      for (int p = 0; p < P; ++p) store_packed(v[q][p], q, p, n_tokens, y, y_stride);
  }
};

// The 32-value formats: per block, each row pair's four 8-value chunks side by side, its d
// and its constant c (quant.h; 0 for Q8_0) in lane order.
struct Packed32 {
  int8x16_t v[kRowPairs][4];
  float32x4_t d[kRowPairs];
  float32x4_t c[kRowPairs];
};

template <typename Block>
void pack_blocks32(int64_t n, const void* w, size_t w_stride, void* packed) {
  constexpr float kOffset = 4.0f * offset_per_lane(static_cast<const Block*>(nullptr));
  constexpr bool kMin = has_min(static_cast<const Block*>(nullptr));
  auto* out = static_cast<Packed32*>(packed);
  for (int64_t i = 0; i < n / QK; ++i)
    for (int q = 0; q < kRowPairs; ++q) {
      const Block32 b0 = load_block(reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + 2 * q * w_stride)[i]);
      const Block32 b1 = load_block(reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + (2 * q + 1) * w_stride)[i]);
      out[i].v[q][0] = pair_lo(b0.lo, b1.lo);
      out[i].v[q][1] = pair_hi(b0.lo, b1.lo);
      out[i].v[q][2] = pair_lo(b0.hi, b1.hi);
      out[i].v[q][3] = pair_hi(b0.hi, b1.hi);
      out[i].d[q] = by_row(b0.d, b1.d);
      out[i].c[q] = kMin ? by_row(b0.m, b1.m) : vmulq_n_f32(by_row(b0.d, b1.d), kOffset);
    }
}

template <bool HasConstant, int P>
HEARTH_INLINE void packed_blocks32(int64_t n, const Packed32* w, const void* a, size_t a_stride, int n_tokens, float* y,
                                   size_t y_stride) {
  PackedSums<P> acc;
  for (int64_t i = 0; i < n / QK; ++i) {
    for (int p = 0; p < P; ++p) {
      const auto [x, z] = token_pair<BlockQ8A>(a, a_stride, p, n_tokens, i);
      const int8x16_t x0 = vld1q_s8(x.qs), x1 = vld1q_s8(x.qs + 16), z0 = vld1q_s8(z.qs), z1 = vld1q_s8(z.qs + 16);
      const int8x16_t b[4] = {pair_lo(x0, z0), pair_hi(x0, z0), pair_lo(x1, z1), pair_hi(x1, z1)};
      const float32x4_t da = by_token(x.d, z.d), s = by_token(x.s, z.s);
      for (int q = 0; q < kRowPairs; ++q) {
        int32x4_t sum = vmmlaq_s32(vdupq_n_s32(0), w[i].v[q][0], b[0]);
        sum = vmmlaq_s32(sum, w[i].v[q][1], b[1]);
        sum = vmmlaq_s32(sum, w[i].v[q][2], b[2]);
        sum = vmmlaq_s32(sum, w[i].v[q][3], b[3]);
        acc.v[q][p] = vfmaq_f32(acc.v[q][p], vcvtq_f32_s32(sum), vmulq_f32(w[i].d[q], da));
        if constexpr (HasConstant) acc.v[q][p] = vfmaq_f32(acc.v[q][p], w[i].c[q], s);
      }
    }
  }
  acc.store(n_tokens, y, y_stride);
}

template <bool HasConstant>
void packed_dot_blocks32(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y,
                         size_t y_stride) {
  by_token_pairs(n_tokens, [&](auto P) {
    packed_blocks32<HasConstant, P()>(n, static_cast<const Packed32*>(packed), a, a_stride, n_tokens, y, y_stride);
  });
}

// Q4_K/Q5_K: per super-block, each sub-block's values of the row pairs, the sub-blocks'
// integer scales in lane order, the mins, and d and dmin in lane order.
struct PackedK {
  int8x16_t v[8][kRowPairs][4];  // [sub-block][row pair][8-value chunk]
  int32x4_t sc[8][kRowPairs];
  int16x8_t m[kRowPairs][2];
  float32x4_t d[kRowPairs], dmin[kRowPairs];
};

template <typename BlockK, bool High>
void pack_q45_K(int64_t n, const void* w, size_t w_stride, void* packed) {
  auto* out = static_cast<PackedK*>(packed);
  auto row = [&](int r) { return reinterpret_cast<const BlockK*>(static_cast<const uint8_t*>(w) + r * w_stride); };
  for (int64_t i = 0; i < n / QK_K; ++i)
    for (int q = 0; q < kRowPairs; ++q) {
      const BlockK& b0 = row(2 * q)[i];
      const BlockK& b1 = row(2 * q + 1)[i];
      uint8x8_t s0, m0, s1, m1;
      neon::scales_k4(b0.scales, s0, m0);
      neon::scales_k4(b1.scales, s1, m1);
      const RowScales<8> sc = row_scales(s0, s1);
      for (int k = 0; k < 4; ++k) {
        int8x16_t q0[4], q1[4];
        k_quant_values<High>(b0, k, q0);
        k_quant_values<High>(b1, k, q1);
        for (int half = 0; half < 2; ++half) {  // sub-block 2k + half: q[2·half], q[2·half + 1]
          int8x16_t* v = out[i].v[2 * k + half][q];
          v[0] = pair_lo(q0[2 * half], q1[2 * half]);
          v[1] = pair_hi(q0[2 * half], q1[2 * half]);
          v[2] = pair_lo(q0[2 * half + 1], q1[2 * half + 1]);
          v[3] = pair_hi(q0[2 * half + 1], q1[2 * half + 1]);
          out[i].sc[2 * k + half][q] = sc(2 * k + half);
        }
      }
      out[i].m[q][0] = vreinterpretq_s16_u16(vmovl_u8(m0));
      out[i].m[q][1] = vreinterpretq_s16_u16(vmovl_u8(m1));
      out[i].d[q] = by_row(h2f(b0.d), h2f(b1.d));
      out[i].dmin[q] = by_row(h2f(b0.dmin), h2f(b1.dmin));
    }
}

template <int P>
HEARTH_INLINE void packed_k(int64_t n, const PackedK* w, const void* a, size_t a_stride, int n_tokens, float* y,
                            size_t y_stride) {
  PackedSums<P> acc;
  for (int64_t i = 0; i < n / QK_K; ++i)
    for (int p = 0; p < P; ++p) {
      const auto [x, z] = token_pair<BlockQ8_K>(a, a_stride, p, n_tokens, i);
      int32x4_t isum[kRowPairs];
      for (int q = 0; q < kRowPairs; ++q) isum[q] = vdupq_n_s32(0);
      for (int j = 0; j < 8; ++j) {
        const int8x16_t x0 = vld1q_s8(x.qs + 32 * j), x1 = vld1q_s8(x.qs + 32 * j + 16);
        const int8x16_t z0 = vld1q_s8(z.qs + 32 * j), z1 = vld1q_s8(z.qs + 32 * j + 16);
        const int8x16_t b[4] = {pair_lo(x0, z0), pair_hi(x0, z0), pair_lo(x1, z1), pair_hi(x1, z1)};
        for (int q = 0; q < kRowPairs; ++q) {
          int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), w[i].v[j][q][0], b[0]);
          s = vmmlaq_s32(s, w[i].v[j][q][1], b[1]);
          s = vmmlaq_s32(s, w[i].v[j][q][2], b[2]);
          s = vmmlaq_s32(s, w[i].v[j][q][3], b[3]);
          isum[q] = vmlaq_s32(isum[q], s, w[i].sc[j][q]);
        }
      }
      const int16x8_t bx = sums_of_32(x), bz = sums_of_32(z);
      const float32x4_t da = by_token(x.d, z.d);
      for (int q = 0; q < kRowPairs; ++q) {
        acc.v[q][p] = vfmaq_f32(acc.v[q][p], vcvtq_f32_s32(isum[q]), vmulq_f32(w[i].d[q], da));
        const int32x4_t mins = cross_sums(w[i].m[q][0], w[i].m[q][1], bx, bz);
        acc.v[q][p] = vfmsq_f32(acc.v[q][p], vcvtq_f32_s32(mins), vmulq_f32(w[i].dmin[q], da));
      }
    }
  acc.store(n_tokens, y, y_stride);
}

void packed_dot_k(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y,
                  size_t y_stride) {
  by_token_pairs(n_tokens, [&](auto P) {
    packed_k<P()>(n, static_cast<const PackedK*>(packed), a, a_stride, n_tokens, y, y_stride);
  });
}

// Q6_K: per super-block, the sixteen 16-value sub-blocks' values of the row pairs, their
// scales in lane order, and the scales as int16 for the -32 offset.
struct PackedQ6 {
  int8x16_t v[16][kRowPairs][2];
  int32x4_t sc[16][kRowPairs];
  int16x8_t sc16[kRowPairs][2][2];  // [row pair][row][sub-blocks 0-7, 8-15]
  float32x4_t d[kRowPairs];
};

void pack_q6_K(int64_t n, const void* w, size_t w_stride, void* packed) {
  auto* out = static_cast<PackedQ6*>(packed);
  auto row = [&](int r) { return reinterpret_cast<const BlockQ6_K*>(static_cast<const uint8_t*>(w) + r * w_stride); };
  for (int64_t i = 0; i < n / QK_K; ++i)
    for (int q = 0; q < kRowPairs; ++q) {
      const BlockQ6_K& b0 = row(2 * q)[i];
      const BlockQ6_K& b1 = row(2 * q + 1)[i];
      const int8x16_t s0 = vld1q_s8(b0.scales), s1 = vld1q_s8(b1.scales);
      const RowScales<16> sc = row_scales(s0, s1);
      for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 4; ++k) {
          int8x16_t q0[2], q1[2];
          q6_values(b0, h, k, q0);
          q6_values(b1, h, k, q1);
          for (int s = 0; s < 2; ++s) {  // sub-block 8h + 2k + s
            const int j = 8 * h + 2 * k + s;
            out[i].v[j][q][0] = pair_lo(q0[s], q1[s]);
            out[i].v[j][q][1] = pair_hi(q0[s], q1[s]);
            out[i].sc[j][q] = sc(j);
          }
        }
      out[i].sc16[q][0][0] = vmovl_s8(vget_low_s8(s0));
      out[i].sc16[q][0][1] = vmovl_high_s8(s0);
      out[i].sc16[q][1][0] = vmovl_s8(vget_low_s8(s1));
      out[i].sc16[q][1][1] = vmovl_high_s8(s1);
      out[i].d[q] = by_row(h2f(b0.d), h2f(b1.d));
    }
}

template <int P>
HEARTH_INLINE void packed_q6(int64_t n, const PackedQ6* w, const void* a, size_t a_stride, int n_tokens, float* y,
                             size_t y_stride) {
  PackedSums<P> acc;
  for (int64_t i = 0; i < n / QK_K; ++i)
    for (int p = 0; p < P; ++p) {
      const auto [x, z] = token_pair<BlockQ8_K>(a, a_stride, p, n_tokens, i);
      const int16x8_t x0 = vld1q_s16(x.bsums), x1 = vld1q_s16(x.bsums + 8);
      const int16x8_t z0 = vld1q_s16(z.bsums), z1 = vld1q_s16(z.bsums + 8);
      int32x4_t isum[kRowPairs];
      for (int q = 0; q < kRowPairs; ++q) {
        const int32x4_t o = vaddq_s32(cross_sums(w[i].sc16[q][0][0], w[i].sc16[q][1][0], x0, z0),
                                      cross_sums(w[i].sc16[q][0][1], w[i].sc16[q][1][1], x1, z1));
        isum[q] = vmulq_n_s32(o, -32);
      }
      for (int j = 0; j < 16; ++j) {
        const int8x16_t xj = vld1q_s8(x.qs + 16 * j), zj = vld1q_s8(z.qs + 16 * j);
        const int8x16_t b0 = pair_lo(xj, zj), b1 = pair_hi(xj, zj);
        for (int q = 0; q < kRowPairs; ++q) {
          const int32x4_t s = vmmlaq_s32(vmmlaq_s32(vdupq_n_s32(0), w[i].v[j][q][0], b0), w[i].v[j][q][1], b1);
          isum[q] = vmlaq_s32(isum[q], s, w[i].sc[j][q]);
        }
      }
      const float32x4_t da = by_token(x.d, z.d);
      for (int q = 0; q < kRowPairs; ++q)
        acc.v[q][p] = vfmaq_f32(acc.v[q][p], vcvtq_f32_s32(isum[q]), vmulq_f32(w[i].d[q], da));
    }
  acc.store(n_tokens, y, y_stride);
}

void packed_dot_q6_K(int64_t n, const void* packed, const void* a, size_t a_stride, int n_tokens, float* y,
                     size_t y_stride) {
  by_token_pairs(n_tokens, [&](auto P) {
    packed_q6<P()>(n, static_cast<const PackedQ6*>(packed), a, a_stride, n_tokens, y, y_stride);
  });
}

// ---- the table's shapes (VecDot2x2Fn, VecDot4x2Fn) ---------------------------------------------

template <typename Block, int T>
void blocks32(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* out) {
  const auto rows = strided<Block, 2>(w, w_stride);
  mm_blocks32<Block, T>(n, rows[0], rows[1], strided<BlockQ8A, T>(a, a_stride), out);
}

template <typename Block, bool High, int T>
void q45_K(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* out) {
  const auto rows = strided<Block, 2>(w, w_stride);
  mm_q45_K<Block, High, T>(n, rows[0], rows[1], strided<BlockQ8_K, T>(a, a_stride), out);
}

template <int T>
void q6_K(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* out) {
  const auto rows = strided<BlockQ6_K, 2>(w, w_stride);
  mm_q6_K<T>(n, rows[0], rows[1], strided<BlockQ8_K, T>(a, a_stride), out);
}

}  // namespace

const KernelTable& neon_i8mm_table() {
  static const KernelTable table = [] {
    KernelTable t = neon_dotprod_table();
    t.isa = Isa::neon_i8mm;
    auto set = [&](TensorType type, VecDot2x2Fn two, VecDot4x2Fn four) {
      t.vec_dot2x2[int(type)] = two;
      t.vec_dot4x2[int(type)] = four;
    };
    set(TensorType::Q4_0, blocks32<BlockQ4_0, 2>, blocks32<BlockQ4_0, 4>);
    set(TensorType::Q4_1, blocks32<BlockQ4_1, 2>, blocks32<BlockQ4_1, 4>);
    set(TensorType::Q5_0, blocks32<BlockQ5_0, 2>, blocks32<BlockQ5_0, 4>);
    set(TensorType::Q5_1, blocks32<BlockQ5_1, 2>, blocks32<BlockQ5_1, 4>);
    set(TensorType::Q8_0, blocks32<BlockQ8_0, 2>, blocks32<BlockQ8_0, 4>);
    set(TensorType::Q4_K, q45_K<BlockQ4_K, false, 2>, q45_K<BlockQ4_K, false, 4>);
    set(TensorType::Q5_K, q45_K<BlockQ5_K, true, 2>, q45_K<BlockQ5_K, true, 4>);
    set(TensorType::Q6_K, q6_K<2>, q6_K<4>);
    auto set_packed = [&](TensorType type, PackRowsFn pack, PackedDotFn dot, size_t bytes_per_block) {
      t.pack_rows[int(type)] = pack;
      t.packed_dot[int(type)] = dot;
      t.packed_block_bytes[int(type)] = bytes_per_block;
    };
    set_packed(TensorType::Q4_0, pack_blocks32<BlockQ4_0>, packed_dot_blocks32<true>, sizeof(Packed32));
    set_packed(TensorType::Q4_1, pack_blocks32<BlockQ4_1>, packed_dot_blocks32<true>, sizeof(Packed32));
    set_packed(TensorType::Q5_0, pack_blocks32<BlockQ5_0>, packed_dot_blocks32<true>, sizeof(Packed32));
    set_packed(TensorType::Q5_1, pack_blocks32<BlockQ5_1>, packed_dot_blocks32<true>, sizeof(Packed32));
    set_packed(TensorType::Q8_0, pack_blocks32<BlockQ8_0>, packed_dot_blocks32<false>, sizeof(Packed32));
    set_packed(TensorType::Q4_K, pack_q45_K<BlockQ4_K, false>, packed_dot_k, sizeof(PackedK));
    set_packed(TensorType::Q5_K, pack_q45_K<BlockQ5_K, true>, packed_dot_k, sizeof(PackedK));
    set_packed(TensorType::Q6_K, pack_q6_K, packed_dot_q6_K, sizeof(PackedQ6));
    return t;
  }();
  return table;
}

}  // namespace hearth::kernels
