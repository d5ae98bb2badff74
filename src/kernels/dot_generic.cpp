// Portable dot products: the path every machine has, and the reference the vector paths are
// tested against. Integer parts are summed exactly in int32 per block and scaled once, as the
// vector paths do, so all paths differ only in float summation order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/dispatch.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

float dot_f32(int64_t n, const void* wv, const void* av) {
  const float* w = static_cast<const float*>(wv);
  const float* a = static_cast<const float*>(av);
  // Eight independent partial sums: lets the compiler keep several adds in flight (and use
  // SSE) without reassociating floats behind our back.
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += w[i + k] * a[i + k];
  float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; ++i) sum += w[i] * a[i];
  return sum;
}

float dot_f16(int64_t n, const void* wv, const void* av) {
  const uint16_t* w = static_cast<const uint16_t*>(wv);
  const float* a = static_cast<const float*>(av);
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += fp16_to_fp32(w[i + k]) * a[i + k];
  float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; ++i) sum += fp16_to_fp32(w[i]) * a[i];
  return sum;
}

float dot_bf16(int64_t n, const void* wv, const void* av) {
  const uint16_t* w = static_cast<const uint16_t*>(wv);
  const float* a = static_cast<const float*>(av);
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += bf16_to_fp32(w[i + k]) * a[i + k];
  float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; ++i) sum += bf16_to_fp32(w[i]) * a[i];
  return sum;
}

// The 32-value formats against Q8A: Σ (dw q + c) · da qa = dw·da·Σ q qa + c·s, where c is
// the weight block's constant (-8 dw for Q4_0, -16 dw for Q5_0, the min m for Q4_1/Q5_1,
// 0 for Q8_0) and s = da·Σ qa comes with the activation block.
float dot_q4_0(int64_t n, const void* wv, const void* av) {
  const BlockQ4_0* w = static_cast<const BlockQ4_0*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK; ++i) {
    int isum = 0;
    for (int j = 0; j < QK / 2; ++j) {
      isum += (w[i].qs[j] & 0x0f) * a[i].qs[j];
      isum += (w[i].qs[j] >> 4) * a[i].qs[j + QK / 2];
    }
    const float d = fp16_to_fp32(w[i].d);
    sum += d * a[i].d * float(isum) - 8.0f * d * a[i].s;
  }
  return sum;
}

float dot_q4_1(int64_t n, const void* wv, const void* av) {
  const BlockQ4_1* w = static_cast<const BlockQ4_1*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK; ++i) {
    int isum = 0;
    for (int j = 0; j < QK / 2; ++j) {
      isum += (w[i].qs[j] & 0x0f) * a[i].qs[j];
      isum += (w[i].qs[j] >> 4) * a[i].qs[j + QK / 2];
    }
    sum += fp16_to_fp32(w[i].d) * a[i].d * float(isum) + fp16_to_fp32(w[i].m) * a[i].s;
  }
  return sum;
}

float dot_q5_0(int64_t n, const void* wv, const void* av) {
  const BlockQ5_0* w = static_cast<const BlockQ5_0*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK; ++i) {
    uint32_t qh;
    std::memcpy(&qh, w[i].qh, 4);
    int isum = 0;
    for (int j = 0; j < QK / 2; ++j) {
      const int q0 = (w[i].qs[j] & 0x0f) | int(((qh >> j) & 1) << 4);
      const int q1 = (w[i].qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
      isum += q0 * a[i].qs[j] + q1 * a[i].qs[j + QK / 2];
    }
    const float d = fp16_to_fp32(w[i].d);
    sum += d * a[i].d * float(isum) - 16.0f * d * a[i].s;
  }
  return sum;
}

float dot_q5_1(int64_t n, const void* wv, const void* av) {
  const BlockQ5_1* w = static_cast<const BlockQ5_1*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK; ++i) {
    uint32_t qh;
    std::memcpy(&qh, w[i].qh, 4);
    int isum = 0;
    for (int j = 0; j < QK / 2; ++j) {
      const int q0 = (w[i].qs[j] & 0x0f) | int(((qh >> j) & 1) << 4);
      const int q1 = (w[i].qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
      isum += q0 * a[i].qs[j] + q1 * a[i].qs[j + QK / 2];
    }
    sum += fp16_to_fp32(w[i].d) * a[i].d * float(isum) + fp16_to_fp32(w[i].m) * a[i].s;
  }
  return sum;
}

float dot_q8_0(int64_t n, const void* wv, const void* av) {
  const BlockQ8_0* w = static_cast<const BlockQ8_0*>(wv);
  const BlockQ8A* a = static_cast<const BlockQ8A*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK; ++i) {
    int isum = 0;
    for (int j = 0; j < QK; ++j) isum += w[i].qs[j] * a[i].qs[j];
    sum += fp16_to_fp32(w[i].d) * a[i].d * float(isum);
  }
  return sum;
}

// Q4_K/Q5_K: Σ (d sc q - dmin m) · da qa over a sub-block = da (d sc Σ q qa - dmin m Σ qa),
// and Σ qa over a 32-value sub-block is two of Q8_K's 16-value bsums.
float dot_q4_K(int64_t n, const void* wv, const void* av) {
  const BlockQ4_K* w = static_cast<const BlockQ4_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0, summ = 0;
    const uint8_t* q = w[i].qs;
    const int8_t* qa = a[i].qs;
    for (int j = 0; j < 8; j += 2, q += 32, qa += 64) {
      uint8_t sc0, m0, sc1, m1;
      unpack_scale_min_k4(w[i].scales, j, &sc0, &m0);
      unpack_scale_min_k4(w[i].scales, j + 1, &sc1, &m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += (q[l] & 0x0f) * qa[l];
        s1 += (q[l] >> 4) * qa[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]) + m1 * (a[i].bsums[2 * j + 2] + a[i].bsums[2 * j + 3]);
    }
    sum += a[i].d * (fp16_to_fp32(w[i].d) * float(sumi) - fp16_to_fp32(w[i].dmin) * float(summ));
  }
  return sum;
}

float dot_q5_K(int64_t n, const void* wv, const void* av) {
  const BlockQ5_K* w = static_cast<const BlockQ5_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0, summ = 0;
    const uint8_t* q = w[i].qs;
    const uint8_t* qh = w[i].qh;
    const int8_t* qa = a[i].qs;
    for (int j = 0; j < 8; j += 2, q += 32, qa += 64) {
      uint8_t sc0, m0, sc1, m1;
      unpack_scale_min_k4(w[i].scales, j, &sc0, &m0);
      unpack_scale_min_k4(w[i].scales, j + 1, &sc1, &m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += ((q[l] & 0x0f) | (((qh[l] >> j) & 1) << 4)) * qa[l];
        s1 += ((q[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4)) * qa[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]) + m1 * (a[i].bsums[2 * j + 2] + a[i].bsums[2 * j + 3]);
    }
    sum += a[i].d * (fp16_to_fp32(w[i].d) * float(sumi) - fp16_to_fp32(w[i].dmin) * float(summ));
  }
  return sum;
}

float dot_q6_K(int64_t n, const void* wv, const void* av) {
  const BlockQ6_K* w = static_cast<const BlockQ6_K*>(wv);
  const BlockQ8_K* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    // Unpack the 6-bit values to int8 in value order, then 16 scaled sub-block sums.
    int8_t q[QK_K];
    const uint8_t* ql = w[i].ql;
    const uint8_t* qh = w[i].qh;
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32) {
      int8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        qq[l] = int8_t(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
        qq[l + 32] = int8_t(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
        qq[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        qq[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += q[16 * j + l] * a[i].qs[16 * j + l];
      sumi += w[i].scales[j] * s;
    }
    sum += a[i].d * fp16_to_fp32(w[i].d) * float(sumi);
  }
  return sum;
}

void quantize_q8a(const float* x, void* y, int64_t n) { quantize_row_q8a(x, static_cast<BlockQ8A*>(y), n); }
void quantize_q8_K(const float* x, void* y, int64_t n) { quantize_row_q8_K(x, static_cast<BlockQ8_K*>(y), n); }

void fp16_to_fp32_generic(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}
void fp32_to_fp16_generic(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}
void bf16_to_fp32_generic(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}
void fp32_to_bf16_generic(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

double exp_sum_generic(float* x, int64_t n, float scale) {
  if (n <= 0) return 0.0;
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  if (mx == -std::numeric_limits<float>::infinity()) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return 0.0;
  }
  // Subtracting the maximum keeps every exp() in (0, 1]: no overflow for large logits.
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp((x[i] - mx) * scale);
    sum += x[i];
  }
  return sum;
}

void softmax_generic(float* x, int64_t n) {
  const double sum = exp_sum_generic(x, n, 1.0f);
  if (sum == 0.0) return;
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu_generic(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void f16_rows_dot_generic(const uint16_t* rows, size_t stride, int64_t n, const float* q, int64_t d, float* scores) {
  for (int64_t t = 0; t < n; ++t) scores[t] = dot_f16(d, rows + size_t(t) * stride, q);
}
void f16_rows_dot_heads_generic(const uint16_t* rows, size_t stride, int64_t n, const float* q, int g, int64_t d,
                                float* scores) {
  for (int h = 0; h < g; ++h) f16_rows_dot_generic(rows, stride, n, q + h * d, d, scores + h * n);
}
void f16_rows_weighted_sum_generic(const uint16_t* rows, size_t stride, int64_t n, const float* w, int64_t d,
                                   float* out) {
  for (int64_t i = 0; i < d; ++i) out[i] = 0.0f;
  for (int64_t t = 0; t < n; ++t) {
    const uint16_t* r = rows + size_t(t) * stride;
    for (int64_t i = 0; i < d; ++i) out[i] += w[t] * fp16_to_fp32(r[i]);
  }
}
void f16_rows_weighted_sum_heads_generic(const uint16_t* rows, size_t stride, int64_t n, const float* w, int g,
                                         int64_t d, float* out) {
  for (int h = 0; h < g; ++h) f16_rows_weighted_sum_generic(rows, stride, n, w + h * n, d, out + h * d);
}

constexpr KernelTable make_generic_table() {
  KernelTable t;
  t.isa = Isa::generic;
  default_activations(t);
  t.vec_dot[int(TensorType::F32)] = dot_f32;
  t.vec_dot[int(TensorType::F16)] = dot_f16;
  t.vec_dot[int(TensorType::BF16)] = dot_bf16;
  t.vec_dot[int(TensorType::Q4_0)] = dot_q4_0;
  t.vec_dot[int(TensorType::Q4_1)] = dot_q4_1;
  t.vec_dot[int(TensorType::Q5_0)] = dot_q5_0;
  t.vec_dot[int(TensorType::Q5_1)] = dot_q5_1;
  t.vec_dot[int(TensorType::Q8_0)] = dot_q8_0;
  t.vec_dot[int(TensorType::Q4_K)] = dot_q4_K;
  t.vec_dot[int(TensorType::Q5_K)] = dot_q5_K;
  t.vec_dot[int(TensorType::Q6_K)] = dot_q6_K;
  t.quantize_q8a = quantize_q8a;
  t.quantize_q8x = quantize_q8x_via<quantize_q8a>;
  t.quantize_q8_K = quantize_q8_K;
  t.f16_rows_dot = f16_rows_dot_generic;
  t.f16_rows_weighted_sum = f16_rows_weighted_sum_generic;
  t.softmax = softmax_generic;
  t.exp_sum = exp_sum_generic;
  t.swiglu = swiglu_generic;
  t.f16_rows_dot_heads = f16_rows_dot_heads_generic;
  t.f16_rows_weighted_sum_heads = f16_rows_weighted_sum_heads_generic;
  t.fp16_to_fp32 = fp16_to_fp32_generic;
  t.fp32_to_fp16 = fp32_to_fp16_generic;
  t.bf16_to_fp32 = bf16_to_fp32_generic;
  t.fp32_to_bf16 = fp32_to_bf16_generic;
  return t;
}

constexpr KernelTable kGeneric = make_generic_table();

}  // namespace

const KernelTable& generic_table() { return kGeneric; }

}  // namespace hearth::kernels
