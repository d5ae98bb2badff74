// Reference (portable, scalar) dequantization and quantization of the GGUF block formats.
// Dequantization must match ggml bit for bit, so files from the ecosystem decode to the same
// floats; quantization only has to produce valid blocks, and we spend a little search time on
// it to keep the error low (weights are quantized once, when a file is written).
#include "kernels/quant.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/fp16.h"
#include "util/error.h"

namespace hearth::kernels {

using gguf::TensorType;

namespace {

// Round to nearest, ties to even — the same rounding the SIMD paths get from cvtps2dq, so the
// generic and vector activation quantizers agree exactly. Valid for |x| < 2^22: adding
// 1.5 * 2^23 leaves the integer part in the low mantissa bits.
inline int round_nearest(float x) {
  const float t = x + 12582912.0f;
  return int(std::bit_cast<int32_t>(t) & 0x007fffff) - 0x00400000;
}

inline int clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ---- scale search --------------------------------------------------------------------------

// Symmetric fit x ≈ s * q, q in [-nmax, nmax - 1]. The signed value of largest magnitude is
// mapped near -nmax (the side with one extra level); we try a few scales around that and keep
// the one whose least-squares refit explains most of x (max (Σxq)² / Σq²). Returns s (may be
// negative) and the chosen levels in q.
float fit_symmetric(const float* x, int n, int nmax, int* q) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < 1e-30f) {
    for (int i = 0; i < n; ++i) q[i] = 0;
    return 0;
  }
  float best_score = -1, best_scale = 0;
  int cand[QK_K];
  for (int k = -10; k <= 10; ++k) {
    const float iscale = -(float(nmax) + 0.1f * float(k)) / max;
    float sxq = 0, sqq = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp(round_nearest(iscale * x[i]), -nmax, nmax - 1);
      cand[i] = l;
      sxq += x[i] * float(l);
      sqq += float(l * l);
    }
    if (sqq > 0 && sxq * sxq > best_score * sqq) {
      best_score = sxq * sxq / sqq;
      best_scale = sxq / sqq;
      for (int i = 0; i < n; ++i) q[i] = cand[i];
    }
  }
  return best_scale;
}

// Affine fit x ≈ s * q + b, q in [0, nmax]. Tries scales around (max - min) / nmax, refits s and
// b by least squares for each assignment of levels, then runs two rounds of reassign + refit.
// If !allow_positive_b, b is kept ≤ 0 (K-quants store the min as an unsigned magnitude that
// is subtracted). Returns the squared error.
struct Affine {
  float s = 0, b = 0;
};

Affine fit_affine(const float* x, int n, int nmax, bool allow_positive_b, int* q) {
  float xmin = x[0], xmax = x[0];
  for (int i = 1; i < n; ++i) {
    xmin = std::fmin(xmin, x[i]);
    xmax = std::fmax(xmax, x[i]);
  }
  if (!allow_positive_b && xmin > 0) xmin = 0;
  if (xmax - xmin < 1e-30f) {
    for (int i = 0; i < n; ++i) q[i] = 0;
    return {0, xmin};
  }

  // Least-squares s, b for fixed levels l; returns the error.
  auto refit = [&](const int* l, Affine* fit) {
    double sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      sq += l[i];
      sqq += double(l[i]) * l[i];
      sx += x[i];
      sqx += double(l[i]) * x[i];
    }
    const double det = n * sqq - sq * sq;
    double s = 0, b = sx / n;
    if (det > 0) {
      s = (n * sqx - sq * sx) / det;
      b = (sqq * sx - sq * sqx) / det;
    }
    if (!allow_positive_b && b > 0) {
      b = 0;
      s = sqq > 0 ? sqx / sqq : 0;
    }
    fit->s = float(s);
    fit->b = float(b);
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float d = fit->s * float(l[i]) + fit->b - x[i];
      err += d * d;
    }
    return err;
  };

  Affine best;
  float best_err = INFINITY;
  int cand[QK_K];
  for (int k = -10; k <= 10; ++k) {
    const float iscale = (float(nmax) + 0.1f * float(k)) / (xmax - xmin);
    for (int i = 0; i < n; ++i) cand[i] = clamp(round_nearest(iscale * (x[i] - xmin)), 0, nmax);
    Affine fit;
    const float err = refit(cand, &fit);
    if (err < best_err) {
      best_err = err;
      best = fit;
      for (int i = 0; i < n; ++i) q[i] = cand[i];
    }
  }
  for (int iter = 0; iter < 2 && best.s > 0; ++iter) {
    const float inv = 1.0f / best.s;
    for (int i = 0; i < n; ++i) cand[i] = clamp(round_nearest((x[i] - best.b) * inv), 0, nmax);
    Affine fit;
    const float err = refit(cand, &fit);
    if (!(err < best_err)) break;
    best_err = err;
    best = fit;
    for (int i = 0; i < n; ++i) q[i] = cand[i];
  }
  return best;
}

// Levels for x given a fixed (already rounded) affine map x ≈ s * q + b.
inline int level_affine(float x, float s, float b, int nmax) {
  return s > 0 ? clamp(round_nearest((x - b) / s), 0, nmax) : 0;
}

void check_multiple(TensorType type, int64_t n, int64_t block) {
  if (n % block != 0)
    throw_error(ErrorKind::invalid_argument, "{}: row of {} values is not a multiple of the block size {}",
                gguf::tensor_type_name(type), n, block);
}

}  // namespace

void pack_scale_min_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t scales[12]) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    scales[j + 4] = uint8_t((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    scales[j + 8] = uint8_t((sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4));
  }
}

// ---- dequantize ----------------------------------------------------------------------------

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK / 2; ++j) {
      y[j] = float((x[i].qs[j] & 0x0f) - 8) * d;
      y[j + QK / 2] = float((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < QK / 2; ++j) {
      y[j] = float(x[i].qs[j] & 0x0f) * d + m;
      y[j + QK / 2] = float(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_fp32(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < QK / 2; ++j) {
      const int hi0 = int((qh >> j) & 1) << 4, hi1 = int((qh >> (j + 16)) & 1) << 4;
      y[j] = float(((x[i].qs[j] & 0x0f) | hi0) - 16) * d;
      y[j + QK / 2] = float(((x[i].qs[j] >> 4) | hi1) - 16) * d;
    }
  }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < QK / 2; ++j) {
      const int hi0 = int((qh >> j) & 1) << 4, hi1 = int((qh >> (j + 16)) & 1) << 4;
      y[j] = float((x[i].qs[j] & 0x0f) | hi0) * d + m;
      y[j + QK / 2] = float((x[i].qs[j] >> 4) | hi1) * d + m;
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK; ++j) y[j] = float(x[i].qs[j]) * d;
  }
}

void dequantize_row_q8_1(const BlockQ8_1* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK; ++j) y[j] = float(x[i].qs[j]) * d;
  }
}

void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), dmin = fp16_to_fp32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int j = 0; j < 8; j += 2, q += 32) {
      uint8_t sc, m;
      unpack_scale_min_k4(x[i].scales, j, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      unpack_scale_min_k4(x[i].scales, j + 1, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
    }
  }
}

void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), dmin = fp16_to_fp32(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    for (int j = 0; j < 8; j += 2, ql += 32) {
      uint8_t sc, m;
      unpack_scale_min_k4(x[i].scales, j, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      unpack_scale_min_k4(x[i].scales, j + 1, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * float((ql[l] & 0x0f) | (((qh[l] >> j) & 1) << 4)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float((ql[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4)) - m2;
    }
  }
}

void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[s]) * float(q1);
        y[l + 32] = d * float(sc[s + 2]) * float(q2);
        y[l + 64] = d * float(sc[s + 4]) * float(q3);
        y[l + 96] = d * float(sc[s + 6]) * float(q4);
      }
    }
  }
}

void dequantize_row_q8a(const BlockQ8A* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, y += QK)
    for (int j = 0; j < QK; ++j) y[j] = x[i].d * float(x[i].qs[j]);
}

void dequantize_row_q8_K(const BlockQ8_K* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; ++i, y += QK_K)
    for (int j = 0; j < QK_K; ++j) y[j] = x[i].d * float(x[i].qs[j]);
}

// ---- quantize ------------------------------------------------------------------------------

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  int q[QK];
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    const float s = fit_symmetric(x, QK, 8, q);
    y[i].d = fp32_to_fp16(s);
    const float d = fp16_to_fp32(y[i].d);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; ++j) q[j] = clamp(round_nearest(x[j] * id), -8, 7) + 8;
    for (int j = 0; j < QK / 2; ++j) y[i].qs[j] = uint8_t(q[j] | (q[j + QK / 2] << 4));
  }
}

void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  int q[QK];
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    const float s = fit_symmetric(x, QK, 16, q);
    y[i].d = fp32_to_fp16(s);
    const float d = fp16_to_fp32(y[i].d);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    uint32_t qh = 0;
    for (int j = 0; j < QK; ++j) {
      q[j] = clamp(round_nearest(x[j] * id), -16, 15) + 16;
      qh |= uint32_t(q[j] >> 4) << j;
    }
    for (int j = 0; j < QK / 2; ++j) y[i].qs[j] = uint8_t((q[j] & 0x0f) | ((q[j + QK / 2] & 0x0f) << 4));
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
  int q[QK];
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    const Affine f = fit_affine(x, QK, 15, true, q);
    y[i].d = fp32_to_fp16(f.s);
    y[i].m = fp32_to_fp16(f.b);
    const float d = fp16_to_fp32(y[i].d), m = fp16_to_fp32(y[i].m);
    for (int j = 0; j < QK; ++j) q[j] = level_affine(x[j], d, m, 15);
    for (int j = 0; j < QK / 2; ++j) y[i].qs[j] = uint8_t(q[j] | (q[j + QK / 2] << 4));
  }
}

void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
  int q[QK];
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    const Affine f = fit_affine(x, QK, 31, true, q);
    y[i].d = fp32_to_fp16(f.s);
    y[i].m = fp32_to_fp16(f.b);
    const float d = fp16_to_fp32(y[i].d), m = fp16_to_fp32(y[i].m);
    uint32_t qh = 0;
    for (int j = 0; j < QK; ++j) {
      q[j] = level_affine(x[j], d, m, 31);
      qh |= uint32_t(q[j] >> 4) << j;
    }
    for (int j = 0; j < QK / 2; ++j) y[i].qs[j] = uint8_t((q[j] & 0x0f) | ((q[j + QK / 2] & 0x0f) << 4));
    std::memcpy(y[i].qh, &qh, 4);
  }
}

// Q8A and Q8_K are the on-the-fly activation formats: the vector paths must compute the very
// same d = amax / 127, id = 1 / d and q = round(x * id) so that all paths agree.
// One 32-value int8 block: d = amax / 127, q = round(x / d); returns d and sets *sum = Σ q.
static float quantize_int8_block(const float* x, int8_t* q, int* sum) {
  float amax = 0;
  for (int j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  int s = 0;
  for (int j = 0; j < QK; ++j) {
    q[j] = int8_t(round_nearest(x[j] * id));
    s += q[j];
  }
  *sum = s;
  return d;
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    int sum;
    y[i].d = fp32_to_fp16(quantize_int8_block(x, y[i].qs, &sum));
  }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    int sum;
    const float d = quantize_int8_block(x, y[i].qs, &sum);
    y[i].d = fp32_to_fp16(d);
    y[i].s = fp32_to_fp16(d * float(sum));
  }
}

void quantize_row_q8a(const float* x, BlockQ8A* y, int64_t n) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    int sum;
    const float d = quantize_int8_block(x, y[i].qs, &sum);
    y[i].d = d;
    y[i].s = d * float(sum);
  }
}

void q8a_to_q8x(const BlockQ8A* a, int nb, BlockQ8X* y) {
  std::memset(y, 0, sizeof(BlockQ8X));
  for (int k = 0; k < nb; ++k) {
    std::memcpy(y->lo + 16 * k, a[k].qs, 16);
    std::memcpy(y->hi + 16 * k, a[k].qs + 16, 16);
    int sum = 0;
    for (int j = 0; j < QK; ++j) sum += a[k].qs[j];
    for (int l = 0; l < 4; ++l) y->d[4 * k + l] = a[k].d;
    y->nsum[4 * k] = -sum;
  }
}

namespace {

// Σ (q - c)·qa over block k of Q8X group a for a 32-value block stored as 16 nibble bytes
// (low nibbles: values 0..15, high: 16..31) and, for the 5-bit formats, qh: bit 4 of value j
// is bit j of qh (read as a little-endian uint32).
int q8x_block_isum(const uint8_t* qs, const uint8_t* qh, int c, const BlockQ8X& a, int k) {
  uint32_t h = 0;
  if (qh != nullptr) std::memcpy(&h, qh, 4);
  int isum = 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0x0f) | int((h >> j) & 1) << 4;
    const int hi = (qs[j] >> 4) | int((h >> (16 + j)) & 1) << 4;
    isum += (lo - c) * a.lo[16 * k + j] + (hi - c) * a.hi[16 * k + j];
  }
  return isum;
}

}  // namespace

float q8x_tail_dot(const BlockQ4_0* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  float sum = 0;
  for (int64_t b = first; b < nb; ++b) {
    const int k = int(b % 4);
    sum += fp16_to_fp32(w[b].d) * a.d[4 * k] * float(q8x_block_isum(w[b].qs, nullptr, 8, a, k));
  }
  return sum;
}

float q8x_tail_dot(const BlockQ5_0* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  float sum = 0;
  for (int64_t b = first; b < nb; ++b) {
    const int k = int(b % 4);
    sum += fp16_to_fp32(w[b].d) * a.d[4 * k] * float(q8x_block_isum(w[b].qs, w[b].qh, 16, a, k));
  }
  return sum;
}

float q8x_tail_dot(const BlockQ8_0* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  float sum = 0;
  for (int64_t b = first; b < nb; ++b) {
    const int k = int(b % 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j) isum += w[b].qs[j] * a.lo[16 * k + j] + w[b].qs[16 + j] * a.hi[16 * k + j];
    sum += fp16_to_fp32(w[b].d) * a.d[4 * k] * float(isum);
  }
  return sum;
}

namespace {

// Q4_1 and Q5_1: x = d·q + m, so a block adds d·da·Σ q·qa + m·da·Σ qa, with Σ qa = -nsum.
template <typename Block>
float q8x_tail_dot_affine(const Block* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  float sum = 0;
  for (int64_t b = first; b < nb; ++b) {
    const int k = int(b % 4);
    const uint8_t* qh = nullptr;
    if constexpr (std::is_same_v<Block, BlockQ5_1>) qh = w[b].qh;
    const int isum = q8x_block_isum(w[b].qs, qh, 0, a, k);
    sum += fp16_to_fp32(w[b].d) * a.d[4 * k] * float(isum) - fp16_to_fp32(w[b].m) * a.d[4 * k] * float(a.nsum[4 * k]);
  }
  return sum;
}

}  // namespace

float q8x_tail_dot(const BlockQ4_1* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  return q8x_tail_dot_affine(w, first, nb, a);
}

float q8x_tail_dot(const BlockQ5_1* w, int64_t first, int64_t nb, const BlockQ8X& a) {
  return q8x_tail_dot_affine(w, first, nb, a);
}

void dequantize_row_q8x(const BlockQ8X* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; ++b) {
    const BlockQ8X& g = x[b / 4];
    const int k = int(b % 4);
    for (int j = 0; j < 16; ++j) {
      y[QK * b + j] = g.d[4 * k] * float(g.lo[16 * k + j]);
      y[QK * b + 16 + j] = g.d[4 * k] * float(g.hi[16 * k + j]);
    }
  }
}

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float amax = 0;
    for (int j = 0; j < QK_K; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = d;
    for (int j = 0; j < QK_K; ++j) y[i].qs[j] = int8_t(round_nearest(x[j] * id));
    for (int g = 0; g < QK_K / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * g + l];
      y[i].bsums[g] = int16_t(sum);
    }
  }
}

namespace {

// Shared by Q4_K and Q5_K: fits the eight 32-value sub-blocks, quantizes their scales and mins
// to 6 bits against the super-block's d and dmin, then picks the final levels with the
// quantized scales. Fills d, dmin, scales and the levels q[256] in [0, nmax].
void quantize_k_affine(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out, uint8_t scales[12],
                       int* q) {
  float s[8], m[8];
  float max_s = 0, max_m = 0;
  for (int j = 0; j < 8; ++j) {
    const Affine f = fit_affine(x + 32 * j, 32, nmax, false, q + 32 * j);
    s[j] = f.s;
    m[j] = -f.b;
    max_s = std::fmax(max_s, s[j]);
    max_m = std::fmax(max_m, m[j]);
  }
  *d_out = fp32_to_fp16(max_s / 63.0f);
  *dmin_out = fp32_to_fp16(max_m / 63.0f);
  const float d = fp16_to_fp32(*d_out), dmin = fp16_to_fp32(*dmin_out);
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = uint8_t(d > 0 ? clamp(round_nearest(s[j] / d), 0, 63) : 0);
    mn[j] = uint8_t(dmin > 0 ? clamp(round_nearest(m[j] / dmin), 0, 63) : 0);
    const float ds = d * float(sc[j]), dm = dmin * float(mn[j]);
    for (int l = 0; l < 32; ++l) q[32 * j + l] = level_affine(x[32 * j + l], ds, -dm, nmax);
  }
  pack_scale_min_k4(sc, mn, scales);
}

}  // namespace

void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n) {
  int q[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    quantize_k_affine(x, 15, &y[i].d, &y[i].dmin, y[i].scales, q);
    for (int g = 0; g < 4; ++g)
      for (int l = 0; l < 32; ++l) y[i].qs[32 * g + l] = uint8_t(q[64 * g + l] | (q[64 * g + 32 + l] << 4));
  }
}

void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n) {
  int q[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    quantize_k_affine(x, 31, &y[i].d, &y[i].dmin, y[i].scales, q);
    std::memset(y[i].qh, 0, sizeof y[i].qh);
    for (int g = 0; g < 4; ++g) {
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * g + l], hi = q[64 * g + 32 + l];
        y[i].qs[32 * g + l] = uint8_t((lo & 0x0f) | ((hi & 0x0f) << 4));
        y[i].qh[l] |= uint8_t(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
      }
    }
  }
}

void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n) {
  int q[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float s[16], amax = 0;
    for (int j = 0; j < 16; ++j) {
      s[j] = fit_symmetric(x + 16 * j, 16, 32, q + 16 * j);
      amax = std::fmax(amax, std::fabs(s[j]));
    }
    y[i].d = fp32_to_fp16(amax / 127.0f);
    const float d = fp16_to_fp32(y[i].d);
    for (int j = 0; j < 16; ++j) {
      const int sc = d > 0 ? clamp(round_nearest(s[j] / d), -128, 127) : 0;
      y[i].scales[j] = int8_t(sc);
      const float ds = d * float(sc);
      const float id = ds != 0 ? 1.0f / ds : 0.0f;
      for (int l = 0; l < 16; ++l) q[16 * j + l] = clamp(round_nearest(x[16 * j + l] * id), -32, 31) + 32;
    }
    for (int h = 0; h < 2; ++h) {
      const int* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q1 = qq[l], q2 = qq[l + 32], q3 = qq[l + 64], q4 = qq[l + 96];
        y[i].ql[64 * h + l] = uint8_t((q1 & 0x0f) | ((q3 & 0x0f) << 4));
        y[i].ql[64 * h + l + 32] = uint8_t((q2 & 0x0f) | ((q4 & 0x0f) << 4));
        y[i].qh[32 * h + l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

// ---- by type -------------------------------------------------------------------------------

bool can_dequantize(TensorType type) {
  switch (type) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16:
    case TensorType::Q4_0: case TensorType::Q4_1: case TensorType::Q5_0: case TensorType::Q5_1:
    case TensorType::Q8_0: case TensorType::Q8_1:
    case TensorType::Q4_K: case TensorType::Q5_K: case TensorType::Q6_K: case TensorType::Q8_K:
      return true;
    default:
      return false;
  }
}

bool can_quantize(TensorType type) { return can_dequantize(type); }

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  if (!can_dequantize(type))
    throw_error(ErrorKind::unsupported, "tensor type {} is not supported (no dequantize kernel)",
                gguf::tensor_type_name(type));
  check_multiple(type, n, gguf::block_size(type));
  switch (type) {
    case TensorType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case TensorType::F16: fp16_to_fp32_row(static_cast<const uint16_t*>(src), dst, n); return;
    case TensorType::BF16: bf16_to_fp32_row(static_cast<const uint16_t*>(src), dst, n); return;
    case TensorType::Q4_0: dequantize_row_q4_0(static_cast<const BlockQ4_0*>(src), dst, n); return;
    case TensorType::Q4_1: dequantize_row_q4_1(static_cast<const BlockQ4_1*>(src), dst, n); return;
    case TensorType::Q5_0: dequantize_row_q5_0(static_cast<const BlockQ5_0*>(src), dst, n); return;
    case TensorType::Q5_1: dequantize_row_q5_1(static_cast<const BlockQ5_1*>(src), dst, n); return;
    case TensorType::Q8_0: dequantize_row_q8_0(static_cast<const BlockQ8_0*>(src), dst, n); return;
    case TensorType::Q8_1: dequantize_row_q8_1(static_cast<const BlockQ8_1*>(src), dst, n); return;
    case TensorType::Q4_K: dequantize_row_q4_K(static_cast<const BlockQ4_K*>(src), dst, n); return;
    case TensorType::Q5_K: dequantize_row_q5_K(static_cast<const BlockQ5_K*>(src), dst, n); return;
    case TensorType::Q6_K: dequantize_row_q6_K(static_cast<const BlockQ6_K*>(src), dst, n); return;
    case TensorType::Q8_K: dequantize_row_q8_K(static_cast<const BlockQ8_K*>(src), dst, n); return;
    default: return;
  }
}

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
  if (!can_quantize(type))
    throw_error(ErrorKind::unsupported, "tensor type {} is not supported (no quantize kernel)",
                gguf::tensor_type_name(type));
  check_multiple(type, n, gguf::block_size(type));
  switch (type) {
    case TensorType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case TensorType::F16: fp32_to_fp16_row(src, static_cast<uint16_t*>(dst), n); return;
    case TensorType::BF16: fp32_to_bf16_row(src, static_cast<uint16_t*>(dst), n); return;
    case TensorType::Q4_0: quantize_row_q4_0(src, static_cast<BlockQ4_0*>(dst), n); return;
    case TensorType::Q4_1: quantize_row_q4_1(src, static_cast<BlockQ4_1*>(dst), n); return;
    case TensorType::Q5_0: quantize_row_q5_0(src, static_cast<BlockQ5_0*>(dst), n); return;
    case TensorType::Q5_1: quantize_row_q5_1(src, static_cast<BlockQ5_1*>(dst), n); return;
    case TensorType::Q8_0: quantize_row_q8_0(src, static_cast<BlockQ8_0*>(dst), n); return;
    case TensorType::Q8_1: quantize_row_q8_1(src, static_cast<BlockQ8_1*>(dst), n); return;
    case TensorType::Q4_K: quantize_row_q4_K(src, static_cast<BlockQ4_K*>(dst), n); return;
    case TensorType::Q5_K: quantize_row_q5_K(src, static_cast<BlockQ5_K*>(dst), n); return;
    case TensorType::Q6_K: quantize_row_q6_K(src, static_cast<BlockQ6_K*>(dst), n); return;
    case TensorType::Q8_K: quantize_row_q8_K(src, static_cast<BlockQ8_K*>(dst), n); return;
    default: return;
  }
}

}  // namespace hearth::kernels
