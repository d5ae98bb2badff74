// ARM64 Advanced SIMD (NEON) kernels. NEON is part of the ARMv8-A base architecture, so this
// file needs no extra compiler flags and its table is always usable on ARM64. It uses only
// base instructions: the quantized types' dot products are neon_dot_kernels.h's with int8
// products widened by SMULL into int16 (|q| ≤ 128, so 128·128 fits) and pairwise-added into
// int32. CPUs with the dot-product extension (ARMv8.2+, nearly every ARM64 laptop, phone and
// server since 2018) get the same kernels built with SDOT (dot_neon_dotprod.cpp). Here also:
// F32 and F16 dots, the activation quantizers, attention over the fp16 cache, softmax and
// SwiGLU, and the fp16/bf16 row conversions; BF16 dots come from the generic table.
#include <algorithm>
#include <limits>
#include <type_traits>

#include "kernels/dispatch.h"
#include "kernels/fp16.h"
#include "kernels/neon_dot_kernels.h"
#include "kernels/quant.h"
#include "kernels/simd_neon.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

using neon::h2f;
using neon::load_f16x4;
using neon::load_f16x8;

float dot_f32(int64_t n, const void* wv, const void* av) {
  const float* w = static_cast<const float*>(wv);
  const float* a = static_cast<const float*>(av);
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0), acc2 = vdupq_n_f32(0), acc3 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), vld1q_f32(a + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(w + i + 4), vld1q_f32(a + i + 4));
    acc2 = vfmaq_f32(acc2, vld1q_f32(w + i + 8), vld1q_f32(a + i + 8));
    acc3 = vfmaq_f32(acc3, vld1q_f32(w + i + 12), vld1q_f32(a + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), vld1q_f32(a + i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) sum += w[i] * a[i];
  return sum;
}

float dot_f16(int64_t n, const void* wv, const void* av) {
  const uint16_t* w = static_cast<const uint16_t*>(wv);
  const float* a = static_cast<const float*>(av);
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0), acc2 = vdupq_n_f32(0), acc3 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = vfmaq_f32(acc0, load_f16x4(w + i), vld1q_f32(a + i));
    acc1 = vfmaq_f32(acc1, load_f16x4(w + i + 4), vld1q_f32(a + i + 4));
    acc2 = vfmaq_f32(acc2, load_f16x4(w + i + 8), vld1q_f32(a + i + 8));
    acc3 = vfmaq_f32(acc3, load_f16x4(w + i + 12), vld1q_f32(a + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, load_f16x4(w + i), vld1q_f32(a + i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) sum += h2f(w[i]) * a[i];
  return sum;
}

// ---- activation quantizers -------------------------------------------------------------------

// Round to nearest, ties to even (FCVTNS), as quant.cpp's round_nearest: the quantized values
// are the generic quantizer's to the bit, so every table's activations are the same.
HEARTH_INLINE int8x16_t quantize16(const float* x, float id) {
  const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), id));
  const int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id));
  const int32x4_t q2 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id));
  const int32x4_t q3 = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id));
  const int16x8_t lo = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
  const int16x8_t hi = vcombine_s16(vqmovn_s32(q2), vqmovn_s32(q3));
  return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
}

HEARTH_INLINE float amax16(const float* x) {
  const float32x4_t m = vmaxq_f32(vmaxq_f32(vabsq_f32(vld1q_f32(x)), vabsq_f32(vld1q_f32(x + 4))),
                                  vmaxq_f32(vabsq_f32(vld1q_f32(x + 8)), vabsq_f32(vld1q_f32(x + 12))));
  return vmaxvq_f32(m);
}

void quantize_q8a(const float* x, void* yv, int64_t n) {
  BlockQ8A* y = static_cast<BlockQ8A*>(yv);
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    const float amax = std::max(amax16(x), amax16(x + 16));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const int8x16_t q0 = quantize16(x, id), q1 = quantize16(x + 16, id);
    vst1q_s8(y[i].qs, q0);
    vst1q_s8(y[i].qs + 16, q1);
    y[i].d = d;
    y[i].s = d * float(vaddlvq_s8(q0) + vaddlvq_s8(q1));
  }
}

void quantize_q8_K(const float* x, void* yv, int64_t n) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(yv);
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float amax = 0;
    for (int g = 0; g < QK_K / 16; ++g) amax = std::max(amax, amax16(x + 16 * g));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = d;
    for (int g = 0; g < QK_K / 16; ++g) {
      const int8x16_t q = quantize16(x + 16 * g, id);
      vst1q_s8(y[i].qs + 16 * g, q);
      y[i].bsums[g] = int16_t(vaddlvq_s8(q));
    }
  }
}

// ---- softmax and SwiGLU ----------------------------------------------------------------------

using neon::exp_nonpositive;

double exp_sum(float* x, int64_t n, float scale) {
  if (n <= 0) return 0.0;
  const int64_t whole = n & ~int64_t(7);
  const float inf = std::numeric_limits<float>::infinity();
  // Two running maxima, so the loop is not one chain of dependent FMAX.
  float32x4_t vmax = vdupq_n_f32(-inf), vmax2 = vmax;
  for (int64_t i = 0; i < whole; i += 8) {
    vmax = vmaxq_f32(vmax, vld1q_f32(x + i));
    vmax2 = vmaxq_f32(vmax2, vld1q_f32(x + i + 4));
  }
  float mx = vmaxvq_f32(vmaxq_f32(vmax, vmax2));
  for (int64_t i = whole; i < n; ++i) mx = std::max(mx, x[i]);
  if (mx == -inf) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return 0.0;
  }
  // The sum in doubles, as the generic kernel; pairs of vectors added in floats first.
  const float32x4_t m = vdupq_n_f32(mx);
  float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
  auto exp_at = [&](float* p) {
    const float32x4_t e = exp_nonpositive(vmulq_n_f32(vsubq_f32(vld1q_f32(p), m), scale));
    vst1q_f32(p, e);
    return e;
  };
  for (int64_t i = 0; i < whole; i += 8) {
    const float32x4_t e = vaddq_f32(exp_at(x + i), exp_at(x + i + 4));
    s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
    s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
  }
  // The tail through a padded copy: -inf pads give 0.
  for (int64_t i = whole; i < n; i += 4) {
    float pad[4] = {-inf, -inf, -inf, -inf};
    const int64_t k = std::min<int64_t>(4, n - i);
    std::memcpy(pad, x + i, size_t(k) * sizeof(float));
    const float32x4_t e = exp_at(pad);
    std::memcpy(x + i, pad, size_t(k) * sizeof(float));
    s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
    s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
  }
  return vaddvq_f64(vaddq_f64(s0, s1));
}

void softmax(float* x, int64_t n) {
  const double sum = exp_sum(x, n, 1.0f);
  if (sum == 0.0) return;
  const float inv = float(1.0 / sum);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
  for (; i < n; ++i) x[i] *= inv;
}

// SiLU(g)·u with the exponential of a non-positive argument only: e = exp(-|g|), and
// sigmoid(g) is 1/(1 + e) for g ≥ 0 and e/(1 + e) for g < 0, which cannot overflow.
HEARTH_INLINE float32x4_t swiglu4(float32x4_t g, float32x4_t u) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  const float32x4_t e = exp_nonpositive(vnegq_f32(vabsq_f32(g)));
  const float32x4_t num = vbslq_f32(vcltq_f32(g, vdupq_n_f32(0.0f)), e, one);
  return vmulq_f32(vdivq_f32(vmulq_f32(g, num), vaddq_f32(one, e)), u);
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, swiglu4(vld1q_f32(gate + i), vld1q_f32(up + i)));
  if (i < n) {
    float g[4] = {0, 0, 0, 0}, u[4] = {0, 0, 0, 0}, o[4];
    std::memcpy(g, gate + i, size_t(n - i) * sizeof(float));
    std::memcpy(u, up + i, size_t(n - i) * sizeof(float));
    vst1q_f32(o, swiglu4(vld1q_f32(g), vld1q_f32(u)));
    std::memcpy(out + i, o, size_t(n - i) * sizeof(float));
  }
}

// ---- attention over the fp16 cache -----------------------------------------------------------

// Scores of G heads against each cache row: the row is converted from fp16 once, eight
// values at a time, for all G heads; one accumulator per head (G ≤ 8: 8 of the 32 registers,
// with the converted values and the query vectors beside them). Columns past the last
// multiple of 8 (head sizes such as 100) are added one by one.
template <int G>
void rows_dot_heads(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d, float* scores) {
  const int64_t d8 = d & ~int64_t(7);
  for (int64_t t = 0; t < n; ++t) {
    const uint16_t* r = rows + size_t(t) * stride;
    float32x4_t acc[G];
    for (int h = 0; h < G; ++h) acc[h] = vdupq_n_f32(0);
    for (int64_t i = 0; i < d8; i += 8) {
      float32x4_t lo, hi;
      load_f16x8(r + i, lo, hi);
      for (int h = 0; h < G; ++h) {
        acc[h] = vfmaq_f32(acc[h], lo, vld1q_f32(q + h * d + i));
        acc[h] = vfmaq_f32(acc[h], hi, vld1q_f32(q + h * d + i + 4));
      }
    }
    for (int h = 0; h < G; ++h) {
      float s = vaddvq_f32(acc[h]);
      for (int64_t i = d8; i < d; ++i) s += h2f(r[i]) * q[h * d + i];
      scores[h * n + t] = s;
    }
  }
}

// Weighted sums of the rows for G heads, eight columns at a time: 2·G accumulators, each
// row's eight values converted once for all heads.
template <int G>
void rows_weighted_sum_heads(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d, float* out) {
  const int64_t d8 = d & ~int64_t(7);
  for (int64_t i = 0; i < d8; i += 8) {
    float32x4_t acc[G][2];
    for (int h = 0; h < G; ++h) acc[h][0] = acc[h][1] = vdupq_n_f32(0);
    for (int64_t t = 0; t < n; ++t) {
      float32x4_t lo, hi;
      load_f16x8(rows + size_t(t) * stride + i, lo, hi);
      for (int h = 0; h < G; ++h) {
        const float wt = w[h * n + t];
        acc[h][0] = vfmaq_n_f32(acc[h][0], lo, wt);
        acc[h][1] = vfmaq_n_f32(acc[h][1], hi, wt);
      }
    }
    for (int h = 0; h < G; ++h) {
      vst1q_f32(out + h * d + i, acc[h][0]);
      vst1q_f32(out + h * d + i + 4, acc[h][1]);
    }
  }
  for (int64_t i = d8; i < d; ++i)
    for (int h = 0; h < G; ++h) {
      float s = 0;
      for (int64_t t = 0; t < n; ++t) s += w[h * n + t] * h2f(rows[size_t(t) * stride + i]);
      out[h * d + i] = s;
    }
}

// Up to 8 heads per pass; a larger group goes 8 heads at a time.
template <typename Kernel>
void by_head_groups(int g, Kernel&& kernel) {
  int h = 0;
  for (; h + 8 <= g; h += 8) kernel(std::integral_constant<int, 8>{}, h);
  switch (g - h) {
    case 1: kernel(std::integral_constant<int, 1>{}, h); break;
    case 2: kernel(std::integral_constant<int, 2>{}, h); break;
    case 3: kernel(std::integral_constant<int, 3>{}, h); break;
    case 4: kernel(std::integral_constant<int, 4>{}, h); break;
    case 5: kernel(std::integral_constant<int, 5>{}, h); break;
    case 6: kernel(std::integral_constant<int, 6>{}, h); break;
    case 7: kernel(std::integral_constant<int, 7>{}, h); break;
    default: break;
  }
}

void f16_rows_dot_heads(const uint16_t* rows, size_t stride, int64_t n, const float* q, int g, int64_t d,
                        float* scores) {
  by_head_groups(g, [&](auto G, int h) { rows_dot_heads<G()>(rows, stride, n, q + h * d, d, scores + h * n); });
}

void f16_rows_weighted_sum_heads(const uint16_t* rows, size_t stride, int64_t n, const float* w, int g, int64_t d,
                                 float* out) {
  by_head_groups(g, [&](auto G, int h) { rows_weighted_sum_heads<G()>(rows, stride, n, w + h * n, d, out + h * d); });
}

void f16_rows_dot(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d, float* scores) {
  rows_dot_heads<1>(rows, stride, n, q, d, scores);
}

void f16_rows_weighted_sum(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d, float* out) {
  rows_weighted_sum_heads<1>(rows, stride, n, w, d, out);
}

// ---- fp16 / bf16 rows --------------------------------------------------------------------------

void fp16_to_fp32_neon(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, load_f16x4(x + i));
  for (; i < n; ++i) y[i] = h2f(x[i]);
}

void fp32_to_fp16_neon(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  for (; i < n; ++i) {
    float tail[4] = {x[i], 0, 0, 0};
    y[i] = vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(tail))), 0);
  }
}

void bf16_to_fp32_neon(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(x + i), 16)));
  for (; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

// Round to nearest even on the upper 16 bits; NaNs stay quiet NaNs (fp16.h's fp32_to_bf16).
void fp32_to_bf16_neon(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  const uint32x4_t abs_mask = vdupq_n_u32(0x7fffffffu), inf = vdupq_n_u32(0x7f800000u);
  for (; i + 4 <= n; i += 4) {
    const uint32x4_t b = vreinterpretq_u32_f32(vld1q_f32(x + i));
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
    const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_u32(b, vdupq_n_u32(0x7fffu)), odd), 16);
    const uint32x4_t nan = vorrq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(0x40u));
    const uint32x4_t is_nan = vcgtq_u32(vandq_u32(b, abs_mask), inf);
    vst1_u16(y + i, vmovn_u32(vbslq_u32(is_nan, nan, rounded)));
  }
  for (; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

}  // namespace

const KernelTable& neon_table() {
  static const KernelTable table = [] {
    KernelTable t = generic_table();
    t.isa = Isa::neon;
    t.vec_dot[int(TensorType::F32)] = dot_f32;
    t.vec_dot[int(TensorType::F16)] = dot_f16;
    set_block_kernels(t);
    t.quantize_q8a = quantize_q8a;
    t.quantize_q8x = quantize_q8x_via<quantize_q8a>;
    t.quantize_q8_K = quantize_q8_K;
    t.f16_rows_dot = f16_rows_dot;
    t.f16_rows_weighted_sum = f16_rows_weighted_sum;
    t.f16_rows_dot_heads = f16_rows_dot_heads;
    t.f16_rows_weighted_sum_heads = f16_rows_weighted_sum_heads;
    t.softmax = softmax;
    t.exp_sum = exp_sum;
    t.swiglu = swiglu;
    t.fp16_to_fp32 = fp16_to_fp32_neon;
    t.fp32_to_fp16 = fp32_to_fp16_neon;
    t.bf16_to_fp32 = bf16_to_fp32_neon;
    t.fp32_to_bf16 = fp32_to_bf16_neon;
    return t;
  }();
  return table;
}

}  // namespace hearth::kernels
