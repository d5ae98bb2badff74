// ARM64 Advanced SIMD (NEON) kernels. NEON is part of the ARMv8-A base architecture, so this
// file needs no extra compiler flags and its table is always usable on ARM64. It uses only
// base instructions (no SDOT/UDOT, which would need -march=armv8.2-a+dotprod and a CPU check):
// int8 products widen with SMULL into int16 (|q| ≤ 128, so 128·128 fits) and pairwise-add
// into int32. Types without a NEON kernel here (Q4_1, Q5_0, Q5_1, Q5_K) and the activation
// quantizers come from the generic table.
#include <arm_neon.h>

#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/quant.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

inline float h2f(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

// Σ a·b over 16 signed bytes, as 4 int32 partial sums.
inline int32x4_t dot16(int8x16_t a, int8x16_t b) {
  const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t p1 = vmull_high_s8(a, b);
  return vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1));
}

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

inline float32x4_t load_f16x4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

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

float dot_q4_0(int64_t n, const void* wv, const void* av) {
  const BlockQ4_0* w = static_cast<const BlockQ4_0*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  float32x4_t acc = vdupq_n_f32(0);
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  const int8x16_t eight = vdupq_n_s8(8);
  for (int64_t i = 0; i < n / QK; ++i) {
    const uint8x16_t v = vld1q_u8(w[i].qs);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, low4)), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
    const int32x4_t p = vaddq_s32(dot16(lo, vld1q_s8(a[i].qs)), dot16(hi, vld1q_s8(a[i].qs + 16)));
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), h2f(w[i].d) * a[i].d);
  }
  return vaddvq_f32(acc);
}

float dot_q8_0(int64_t n, const void* wv, const void* av) {
  const BlockQ8_0* w = static_cast<const BlockQ8_0*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK; ++i) {
    const int32x4_t p = vaddq_s32(dot16(vld1q_s8(w[i].qs), vld1q_s8(a[i].qs)),
                                  dot16(vld1q_s8(w[i].qs + 16), vld1q_s8(a[i].qs + 16)));
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(p), h2f(w[i].d) * a[i].d);
  }
  return vaddvq_f32(acc);
}

// Q4_K/Q5_K 12-byte scales → sc[8], m[8] (layout in quant.h).
inline void unpack_scales_k4(const uint8_t* scales, uint8_t sc[8], uint8_t m[8]) {
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

float dot_q4_K(int64_t n, const void* wv, const void* av) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(w[i].scales, sc, m);
    int summ = 0;
    for (int j = 0; j < 8; ++j) summ += m[j] * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
    int sumi = 0;
    for (int k = 0; k < 4; ++k) {
      const uint8x16_t q0 = vld1q_u8(w[i].qs + 32 * k), q1 = vld1q_u8(w[i].qs + 32 * k + 16);
      const int8_t* qa = a[i].qs + 64 * k;
      const int32x4_t lo = vaddq_s32(dot16(vreinterpretq_s8_u8(vandq_u8(q0, low4)), vld1q_s8(qa)),
                                     dot16(vreinterpretq_s8_u8(vandq_u8(q1, low4)), vld1q_s8(qa + 16)));
      const int32x4_t hi = vaddq_s32(dot16(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(qa + 32)),
                                     dot16(vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(qa + 48)));
      sumi += sc[2 * k] * vaddvq_s32(lo) + sc[2 * k + 1] * vaddvq_s32(hi);
    }
    sum += a[i].d * (h2f(w[i].d) * float(sumi) - h2f(w[i].dmin) * float(summ));
  }
  return sum;
}

float dot_q6_K(int64_t n, const void* wv, const void* av) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  const uint8x16_t low4 = vdupq_n_u8(0x0f), two = vdupq_n_u8(3);
  const int8x16_t off = vdupq_n_s8(32);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = w[i].ql + 64 * h;
      const uint8_t* qh = w[i].qh + 32 * h;
      const int8_t* qa = a[i].qs + 128 * h;
      const int8_t* sc = w[i].scales + 8 * h;
      // Value l + 32k of this half (l in [16s, 16s+16)) belongs to sub-block 2k + s.
      for (int s = 0; s < 2; ++s) {
        const uint8x16_t l0 = vld1q_u8(ql + 16 * s), l1 = vld1q_u8(ql + 32 + 16 * s), hh = vld1q_u8(qh + 16 * s);
        uint8x16_t q[4];
        q[0] = vorrq_u8(vandq_u8(l0, low4), vshlq_n_u8(vandq_u8(hh, two), 4));
        q[1] = vorrq_u8(vandq_u8(l1, low4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 2), two), 4));
        q[2] = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 4), two), 4));
        q[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hh, 6), 4));
        for (int k = 0; k < 4; ++k) {
          const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(q[k]), off);
          sumi += sc[2 * k + s] * vaddvq_s32(dot16(v, vld1q_s8(qa + 32 * k + 16 * s)));
        }
      }
    }
    sum += a[i].d * h2f(w[i].d) * float(sumi);
  }
  return sum;
}

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, load_f16x4(x + i));
  for (; i < n; ++i) y[i] = h2f(x[i]);
}

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  for (; i < n; ++i) {
    float tail[4] = {x[i], 0, 0, 0};
    y[i] = vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(tail))), 0);
  }
}

}  // namespace

const KernelTable& neon_table() {
  static const KernelTable table = [] {
    KernelTable t = generic_table();
    t.isa = Isa::neon;
    t.vec_dot[int(TensorType::F32)] = dot_f32;
    t.vec_dot[int(TensorType::F16)] = dot_f16;
    t.vec_dot[int(TensorType::Q4_0)] = dot_q4_0;
    t.vec_dot[int(TensorType::Q8_0)] = dot_q8_0;
    t.vec_dot[int(TensorType::Q4_K)] = dot_q4_K;
    t.vec_dot[int(TensorType::Q6_K)] = dot_q6_K;
    t.fp16_to_fp32 = fp16_to_fp32_row;
    t.fp32_to_fp16 = fp32_to_fp16_row;
    return t;
  }();
  return table;
}

}  // namespace hearth::kernels
