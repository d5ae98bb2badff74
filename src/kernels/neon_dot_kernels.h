// The ARM64 dot-product kernels of the quantized types, for one or two weight rows against one
// to four activation rows, written once over a 16-byte int8 dot product `dot16` and compiled
// twice: by dot_neon.cpp for ARMv8.0 (SMULL and SADALP: four instructions) and by
// dot_neon_dotprod.cpp with -march=armv8.2-a+dotprod (one SDOT). In an anonymous namespace
// (as neon_blocks.h), so the two builds never share a copy.
//
// Every kernel is one template over R weight rows and T activation rows; each (row, token)
// pair goes through the same instructions in the same order whatever R and T are, so the
// two-row kernel gives each row exactly the one-row kernel's result (VecDot2Fn's contract).
// The kernels only ever sum a dot16's four lanes together (every lane holds products of one
// block or sub-block), so the lanes may hold the products in any grouping.
#pragma once

#include <arm_neon.h>

#include <array>
#include <cstdint>

#include "kernels/dispatch.h"
#include "kernels/neon_blocks.h"
#include "kernels/quant.h"
#include "kernels/simd_neon.h"

namespace hearth::kernels {
namespace {

using gguf::TensorType;

// acc + the products of 16 int8 pairs, in four int32 lanes.
HEARTH_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  // |a·b| ≤ 128·128 fits an int16 lane; pairs of them are added into the int32 lanes.
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// ---- 32-value blocks against Q8A --------------------------------------------------------------

// out[r·T + t] = dot(row r, activation row t) for the 32-value formats. With one token, blocks
// go in pairs into two sets of accumulators so consecutive blocks' FMAs do not wait on each
// other; with several tokens the R·T accumulators already give that. Per block and output:
// v = da·Σ q qa + (c/d)·s/4 in each of four lanes, acc += d·v, and for a min acc += m·s/4.
template <typename Block, int R, int T>
HEARTH_INLINE void dot_blocks32(int64_t n, const std::array<const Block*, R>& w, const std::array<const BlockQ8A*, T>& a,
                                float* out) {
  constexpr float kOffset = offset_per_lane(static_cast<const Block*>(nullptr));
  constexpr bool kMin = has_min(static_cast<const Block*>(nullptr));
  constexpr int kSets = T == 1 ? 2 : 1;
  float32x4_t acc[kSets][R][T];
  for (int k = 0; k < kSets; ++k)
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[k][r][t] = vdupq_n_f32(0);
  const int64_t nb = n / QK;
  auto step = [&](int64_t i, int set) {
    Block32 b[R];
    for (int r = 0; r < R; ++r) b[r] = load_block(w[r][i]);
    for (int t = 0; t < T; ++t) {
      const int8x16_t a0 = vld1q_s8(a[t][i].qs), a1 = vld1q_s8(a[t][i].qs + 16);
      const float da = a[t][i].d;
      const float32x4_t offset = vdupq_n_f32(kOffset * a[t][i].s);
      const float32x4_t s_quarter = vdupq_n_f32(0.25f * a[t][i].s);
      for (int r = 0; r < R; ++r) {
        const int32x4_t p = dot16(dot16(vdupq_n_s32(0), b[r].lo, a0), b[r].hi, a1);
        const float32x4_t v = kOffset != 0.0f ? vfmaq_n_f32(offset, vcvtq_f32_s32(p), da) : vmulq_n_f32(vcvtq_f32_s32(p), da);
        acc[set][r][t] = vfmaq_n_f32(acc[set][r][t], v, b[r].d);
        if constexpr (kMin) acc[set][r][t] = vfmaq_n_f32(acc[set][r][t], s_quarter, b[r].m);
      }
    }
  };
  int64_t i = 0;
  if constexpr (kSets == 2) {
    for (; i + 2 <= nb; i += 2) {
      step(i, 0);
      step(i + 1, 1);
    }
  }
  for (; i < nb; ++i) step(i, 0);
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float32x4_t sum = acc[0][r][t];
      if constexpr (kSets == 2) sum = vaddq_f32(sum, acc[1][r][t]);
      out[r * T + t] = vaddvq_f32(sum);
    }
}

// ---- K-quants against Q8_K --------------------------------------------------------------------

// A super-block's eight 32-value sub-block scales, each twice, as two int16 vectors:
// [sc0 sc0 sc1 sc1 sc2 sc2 sc3 sc3], [sc4 sc4 ... sc7 sc7]. pair_scale(s, k) widens the four
// of sub-blocks 2k and 2k+1, the layout lane_pairs() below gives their sums in.
struct PairScales {
  int16x8_t v[2];
};
HEARTH_INLINE PairScales pair_scales(uint8x8_t s) {
  return {{vreinterpretq_s16_u16(vmovl_u8(vzip1_u8(s, s))), vreinterpretq_s16_u16(vmovl_u8(vzip2_u8(s, s)))}};
}
HEARTH_INLINE int32x4_t pair_scale(const PairScales& s, int k) {
  return (k & 1) != 0 ? vmovl_high_s16(s.v[k >> 1]) : vmovl_s16(vget_low_s16(s.v[k >> 1]));
}

// Two sub-blocks' SDOT partial sums (four lanes each) → [a0+a1, a2+a3, b0+b1, b2+b3]: each
// lane pair belongs to one sub-block, matching pair_scales().
HEARTH_INLINE int32x4_t lane_pairs(int32x4_t a, int32x4_t b) { return vpaddq_s32(a, b); }

// Σ m_j · (bsums[2j] + bsums[2j+1]) over the eight sub-blocks, as an int32 vector to be summed.
HEARTH_INLINE int32x4_t min_sums(const int16x8_t m, const BlockQ8_K& a) { return dot_s16x8(m, sums_of_32(a)); }

// Q4_K (High = false) or Q5_K (High = true): sub-blocks 2k and 2k+1 are the low and high
// nibbles of qs[32k .. 32k+32); Q5_K's fifth bit of value l of sub-block j is bit j of qh[l].
template <typename BlockK, bool High, int R, int T>
HEARTH_INLINE void dot_q45_K(int64_t n, const std::array<const BlockK*, R>& w, const std::array<const BlockQ8_K*, T>& a,
                             float* out) {
  float32x4_t acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    // The mins, d and dmin are only needed after the sums: they are read there, which keeps
    // the loop below within the 32 vector registers for two rows.
    PairScales sc[R];
    for (int r = 0; r < R; ++r) {
      uint8x8_t s8, m8;
      neon::scales_k4(w[r][i].scales, s8, m8);
      sc[r] = pair_scales(s8);
    }
    int32x4_t isum[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) isum[r][t] = vdupq_n_s32(0);
    for (int k = 0; k < 4; ++k) {
      int8x16_t q[R][4];  // sub-block 2k (values 0-15, 16-31), sub-block 2k+1 (the same)
      for (int r = 0; r < R; ++r) k_quant_values<High>(w[r][i], k, q[r]);
      for (int t = 0; t < T; ++t) {
        const int8_t* qa = a[t][i].qs + 64 * k;
        const int8x16_t a0 = vld1q_s8(qa), a1 = vld1q_s8(qa + 16), a2 = vld1q_s8(qa + 32), a3 = vld1q_s8(qa + 48);
        for (int r = 0; r < R; ++r) {
          const int32x4_t lo = dot16(dot16(vdupq_n_s32(0), q[r][0], a0), q[r][1], a1);
          const int32x4_t hi = dot16(dot16(vdupq_n_s32(0), q[r][2], a2), q[r][3], a3);
          isum[r][t] = vmlaq_s32(isum[r][t], lane_pairs(lo, hi), pair_scale(sc[r], k));
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      uint8x8_t s8, m8;
      neon::scales_k4(w[r][i].scales, s8, m8);
      const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(m8));
      const float d = h2f(w[r][i].d), dmin = h2f(w[r][i].dmin);
      for (int t = 0; t < T; ++t) {
        const float da = a[t][i].d;
        acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(isum[r][t]), d * da);
        acc[r][t] = vfmsq_n_f32(acc[r][t], vcvtq_f32_s32(min_sums(mins, a[t][i])), dmin * da);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = vaddvq_f32(acc[r][t]);
}

// Q6_K: 16 sub-blocks of 16 values, q in [0, 63] with offset -32 and int8 scales. Value
// l + 32k of a half (l < 32) has its low 4 bits in ql[l + 32·(k & 1)] (low nibble for k < 2)
// and its high 2 bits in bits 2k, 2k+1 of qh[l]; it belongs to sub-block 2k + l / 16 of the
// half. The offset is applied as -32·Σ sc_j·bsums_j (Q8_K's sums of 16 are exactly the
// sub-blocks), which keeps the values in [0, 63] for SDOT.
template <int R, int T>
HEARTH_INLINE void dot_q6_K(int64_t n, const std::array<const BlockQ6_K*, R>& w, const std::array<const BlockQ8_K*, T>& a,
                            float* out) {
  float32x4_t acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    // The 16 scales, each twice, as int16: pairs[r][m] holds sub-blocks 4m .. 4m+3.
    int16x8_t pairs[R][4];
    int32x4_t isum[R][T];
    for (int r = 0; r < R; ++r) {
      const int8x16_t sc = vld1q_s8(w[r][i].scales);
      const int8x16_t z0 = vzip1q_s8(sc, sc), z1 = vzip2q_s8(sc, sc);
      pairs[r][0] = vmovl_s8(vget_low_s8(z0));
      pairs[r][1] = vmovl_high_s8(z0);
      pairs[r][2] = vmovl_s8(vget_low_s8(z1));
      pairs[r][3] = vmovl_high_s8(z1);
      const int16x8_t sc0 = vmovl_s8(vget_low_s8(sc)), sc1 = vmovl_high_s8(sc);
      for (int t = 0; t < T; ++t) {
        // The offset: -32 · Σ_j sc_j · bsums_j.
        const int16x8_t b0 = vld1q_s16(a[t][i].bsums), b1 = vld1q_s16(a[t][i].bsums + 8);
        int32x4_t o = vmull_s16(vget_low_s16(sc0), vget_low_s16(b0));
        o = vmlal_high_s16(o, sc0, b0);
        o = vmlal_s16(o, vget_low_s16(sc1), vget_low_s16(b1));
        o = vmlal_high_s16(o, sc1, b1);
        isum[r][t] = vmulq_n_s32(o, -32);
      }
    }
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k) {
        int8x16_t q[R][2];  // values 32k + 16s .. +16 of this half, s = 0, 1
        for (int r = 0; r < R; ++r) q6_values(w[r][i], h, k, q[r]);
        for (int t = 0; t < T; ++t) {
          const int8_t* qa = a[t][i].qs + 128 * h + 32 * k;
          const int8x16_t a0 = vld1q_s8(qa), a1 = vld1q_s8(qa + 16);
          for (int r = 0; r < R; ++r) {
            const int32x4_t p0 = dot16(vdupq_n_s32(0), q[r][0], a0);
            const int32x4_t p1 = dot16(vdupq_n_s32(0), q[r][1], a1);
            // Sub-blocks 8h + 2k and 8h + 2k + 1: the pair's scales are lanes 0-3 or 4-7 of pairs[r][2h + k / 2].
            const int16x8_t sp = pairs[r][2 * h + k / 2];
            const int32x4_t scale = (k & 1) != 0 ? vmovl_high_s16(sp) : vmovl_s16(vget_low_s16(sp));
            isum[r][t] = vmlaq_s32(isum[r][t], lane_pairs(p0, p1), scale);
          }
        }
      }
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r)
        acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(isum[r][t]), h2f(w[r][i].d) * a[t][i].d);
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[r * T + t] = vaddvq_f32(acc[r][t]);
}

// ---- the kernel shapes the table asks for -----------------------------------------------------

// Each family: its block types and run<R, T>(n, rows, activation rows, out).
template <typename Block>
struct Blocks32Dot {
  using W = Block;
  using A = BlockQ8A;
  template <int R, int T>
  static void run(int64_t n, const std::array<const W*, R>& w, const std::array<const A*, T>& a, float* out) {
    dot_blocks32<W, R, T>(n, w, a, out);
  }
};
template <typename Block, bool High>
struct Q45_KDot {
  using W = Block;
  using A = BlockQ8_K;
  template <int R, int T>
  static void run(int64_t n, const std::array<const W*, R>& w, const std::array<const A*, T>& a, float* out) {
    dot_q45_K<W, High, R, T>(n, w, a, out);
  }
};
struct Q6_KDot {
  using W = BlockQ6_K;
  using A = BlockQ8_K;
  template <int R, int T>
  static void run(int64_t n, const std::array<const W*, R>& w, const std::array<const A*, T>& a, float* out) {
    dot_q6_K<R, T>(n, w, a, out);
  }
};

template <typename K>
float one_row(int64_t n, const void* w, const void* a) {
  float out;
  K::template run<1, 1>(n, strided<typename K::W, 1>(w, 0), strided<typename K::A, 1>(a, 0), &out);
  return out;
}
template <typename K>
void two_rows(int64_t n, const void* w0, const void* w1, const void* a, float* out) {
  const std::array<const typename K::W*, 2> w = {static_cast<const typename K::W*>(w0),
                                                  static_cast<const typename K::W*>(w1)};
  K::template run<2, 1>(n, w, strided<typename K::A, 1>(a, 0), out);
}
template <typename K>
void four_tokens(int64_t n, const void* w, const void* a, size_t a_stride, float* out) {
  K::template run<1, 4>(n, strided<typename K::W, 1>(w, 0), strided<typename K::A, 4>(a, a_stride), out);
}
template <typename K, int T>
void two_rows_by_tokens(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, float* out) {
  K::template run<2, T>(n, strided<typename K::W, 2>(w, w_stride), strided<typename K::A, T>(a, a_stride), out);
}

// Puts the kernels above into table t for every quantized type.
inline void set_block_kernels(KernelTable& t) {
  // Instructions executed per 32 values and (row, token) with SDOT, counted under qemu
  // (docs/kernels.md): the two-row one-token kernels pay for the 32-value formats (Q4_0 20.0
  // -> 16.1, Q8_0 16.2 -> 13.5) but not for the K-quants (Q4_K 16.4 -> 17.7: two rows' scales
  // and values crowd the registers), which decode one row per call.
  auto set = [&]<typename K>(TensorType type, K) {
    t.vec_dot[int(type)] = one_row<K>;
    t.vec_dot4[int(type)] = four_tokens<K>;
    t.vec_dot2x2[int(type)] = two_rows_by_tokens<K, 2>;
  };
  set(TensorType::Q4_0, Blocks32Dot<BlockQ4_0>{});
  set(TensorType::Q4_1, Blocks32Dot<BlockQ4_1>{});
  set(TensorType::Q5_0, Blocks32Dot<BlockQ5_0>{});
  set(TensorType::Q5_1, Blocks32Dot<BlockQ5_1>{});
  set(TensorType::Q8_0, Blocks32Dot<BlockQ8_0>{});
  set(TensorType::Q4_K, Q45_KDot<BlockQ4_K, false>{});
  set(TensorType::Q5_K, Q45_KDot<BlockQ5_K, true>{});
  set(TensorType::Q6_K, Q6_KDot{});
  // The 32-value formats also decode two rows per call, and take two rows of four tokens
  // (their accumulators fit the 32 registers; the K-quants' would spill).
  auto set32 = [&]<typename Block>(TensorType type, Block*) {
    t.vec_dot2[int(type)] = two_rows<Blocks32Dot<Block>>;
    t.vec_dot4x2[int(type)] = two_rows_by_tokens<Blocks32Dot<Block>, 4>;
  };
  set32(TensorType::Q4_0, static_cast<BlockQ4_0*>(nullptr));
  set32(TensorType::Q4_1, static_cast<BlockQ4_1*>(nullptr));
  set32(TensorType::Q5_0, static_cast<BlockQ5_0*>(nullptr));
  set32(TensorType::Q5_1, static_cast<BlockQ5_1*>(nullptr));
  set32(TensorType::Q8_0, static_cast<BlockQ8_0*>(nullptr));
}

}  // namespace
}  // namespace hearth::kernels
