// Generic implementations of kernels/ops.h. Loops are kept simple (unit stride, no branches
// in the body) so that -O2/-O3 vectorizes them for the baseline ISA; the only SIMD-dispatched
// calls are the dot products and fp16 row conversions of attention (vec.h, fp16.h).
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/fp16.h"
#include "kernels/vec.h"
#include "util/error.h"

namespace hearth::kernels {

// ---- normalization ----

void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  // Four double accumulators: independent chains the compiler can keep in one vector register.
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) acc[j] += double(x[i + j]) * double(x[i + j]);
  }
  for (; i < n; ++i) acc[0] += double(x[i]) * double(x[i]);
  const double mean = (acc[0] + acc[1] + acc[2] + acc[3]) / double(n > 0 ? n : 1);
  const float s = float(1.0 / std::sqrt(mean + double(eps)));
  if (weight != nullptr) {
    for (int64_t j = 0; j < n; ++j) out[j] = x[j] * s * weight[j];
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = x[j] * s;
  }
}

void layernorm(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* out) {
  if (n <= 0) return;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / double(n);
  double var = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - mean;
    var += d * d;
  }
  var /= double(n);
  const float m = float(mean);
  const float s = float(1.0 / std::sqrt(var + double(eps)));
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - m) * s;
    if (weight != nullptr) v *= weight[i];
    if (bias != nullptr) v += bias[i];
    out[i] = v;
  }
}

// ---- rotary position embedding ----

void validate_rope(const RopeParams& p, int64_t head_dim) {
  if (p.n_rot < 0 || p.n_rot % 2 != 0 || p.n_rot > head_dim) {
    throw_error(ErrorKind::format, "rope dimension count {} must be even and at most the head size {}", p.n_rot,
                head_dim);
  }
  if (!(p.freq_base > 0.0f) || !std::isfinite(p.freq_base)) {
    throw_error(ErrorKind::format, "rope frequency base {} must be a positive number", p.freq_base);
  }
  if (!(p.freq_scale > 0.0f) || !std::isfinite(p.freq_scale)) {
    throw_error(ErrorKind::format, "rope frequency scale {} must be a positive number (scaling factor 1/{})",
                p.freq_scale, p.freq_scale);
  }
  if (p.yarn && p.n_ctx_orig <= 0) {
    throw_error(ErrorKind::format, "YaRN rope scaling needs the original context length (got {})", p.n_ctx_orig);
  }
}

namespace {

// YaRN: the pair index at which a dimension completes `rotations` full turns over the original
// context; pairs below corr_low extrapolate, above corr_high interpolate.
double yarn_corr_dim(int n_rot, int n_ctx_orig, double rotations, double base) {
  constexpr double two_pi = 6.283185307179586;
  return n_rot * std::log(n_ctx_orig / (rotations * two_pi)) / (2.0 * std::log(base));
}

// Angle table for one position. Angles are computed in double from pos · base^(-2i/n_rot), so
// the table is as exact as float storage allows at any position.
struct RopeAngles {
  double corr_low = 0, corr_high = 0;
  double ext = 0;      // YaRN mix strength (0: plain / linear)
  float mscale = 1.0f; // multiplies cos and sin

  explicit RopeAngles(const RopeParams& p) {
    mscale = p.attn_factor;
    if (p.yarn && p.ext_factor != 0.0f && p.n_ctx_orig > 0) {
      ext = p.ext_factor;
      const double lo = std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base));
      const double hi = std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base));
      corr_low = std::max(0.0, lo);
      corr_high = std::min(double(p.n_rot - 1), hi);
      // Longer contexts flatten attention; YaRN compensates by sharpening the rotation.
      mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
  }

  // (cos, sin) of pair i at position pos.
  void at(const RopeParams& p, int64_t pos, int i, float* cs) const {
    const double theta_extrap = double(pos) * std::pow(double(p.freq_base), -2.0 * i / p.n_rot);
    const double theta_interp = double(p.freq_scale) * theta_extrap;
    double theta = theta_interp;
    if (ext != 0.0) {
      // Ramp from 1 (pure extrapolation) at corr_low to 0 (pure interpolation) at corr_high.
      const double y = (i - corr_low) / std::max(0.001, corr_high - corr_low);
      const double ramp = (1.0 - std::clamp(y, 0.0, 1.0)) * ext;
      theta = theta_interp * (1.0 - ramp) + theta_extrap * ramp;
    }
    cs[0] = float(std::cos(theta)) * mscale;
    cs[1] = float(std::sin(theta)) * mscale;
  }
};

inline void rotate_pair(float& a, float& b, float c, float s) {
  const float x0 = a, x1 = b;
  a = x0 * c - x1 * s;
  b = x0 * s + x1 * c;
}

}  // namespace

void rope_cache(const RopeParams& p, int64_t pos, float* cache) {
  const RopeAngles angles(p);
  for (int i = 0; i < p.n_rot / 2; ++i) angles.at(p, pos, i, cache + 2 * i);
}

void rope_apply(float* x, int64_t n_head, int64_t head_dim, const float* cache, const RopeParams& p) {
  const int half = p.n_rot / 2;
  for (int64_t h = 0; h < n_head; ++h) {
    float* v = x + h * head_dim;
    if (p.neox) {
      for (int i = 0; i < half; ++i) rotate_pair(v[i], v[i + half], cache[2 * i], cache[2 * i + 1]);
    } else {
      for (int i = 0; i < half; ++i) rotate_pair(v[2 * i], v[2 * i + 1], cache[2 * i], cache[2 * i + 1]);
    }
  }
}

void rope(float* x, int64_t n_head, int64_t head_dim, int64_t pos, const RopeParams& p) {
  constexpr int kStackRot = 1024;
  if (p.n_rot <= kStackRot) {
    float cache[kStackRot];
    rope_cache(p, pos, cache);
    rope_apply(x, n_head, head_dim, cache, p);
    return;
  }
  // Very wide heads: one pair's angle at a time, applied to every head.
  const RopeAngles angles(p);
  const int half = p.n_rot / 2;
  for (int i = 0; i < half; ++i) {
    float cs[2];
    angles.at(p, pos, i, cs);
    for (int64_t h = 0; h < n_head; ++h) {
      float* v = x + h * head_dim;
      if (p.neox) {
        rotate_pair(v[i], v[i + half], cs[0], cs[1]);
      } else {
        rotate_pair(v[2 * i], v[2 * i + 1], cs[0], cs[1]);
      }
    }
  }
}

// ---- softmax and activations ----

// softmax() and swiglu() are in matmul.cpp: they take the best table's kernels (dot_*.cpp).

void silu(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void gelu(const float* x, int64_t n, float* out) {
  constexpr float sqrt_2_over_pi = 0.7978845608028654f;
  constexpr float coef = 0.044715f;
  for (int64_t i = 0; i < n; ++i) {
    // 0.5·v·(1 + tanh(u)) == v·sigmoid(2u); the sigmoid form avoids the cancellation in
    // 1 + tanh(u) for large negative v, where the tanh form loses all relative precision.
    const float v = x[i];
    const float u = sqrt_2_over_pi * v * (1.0f + coef * v * v);
    out[i] = v / (1.0f + std::exp(-2.0f * u));
  }
}

// ---- vector arithmetic ----

void add(float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}
void add(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
void mul(float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] *= b[i];
}
void mul(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
void scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

// ---- attention ----

void validate_attention(const AttentionParams& p) {
  if (p.n_head <= 0 || p.n_head_kv <= 0 || p.head_dim <= 0) {
    throw_error(ErrorKind::format, "attention needs positive head counts and head size (got {} heads, {} KV heads, "
                "head size {})", p.n_head, p.n_head_kv, p.head_dim);
  }
  if (p.n_head % p.n_head_kv != 0) {
    throw_error(ErrorKind::format, "attention head count {} is not a multiple of the KV head count {}", p.n_head,
                p.n_head_kv);
  }
  if (p.sliding_window < 0) {
    throw_error(ErrorKind::format, "attention sliding window {} must not be negative", p.sliding_window);
  }
}

namespace {

// The scores are exp_sum's unnormalized weights: one division of the d outputs instead of n
// of the weights (and no pass of its own over them). A query that sees nothing (every score
// -inf; not possible in causal attention, where a query always sees its own key) gets zeros.
void normalize_attention(double sum, int64_t d, float* out) {
  const float inv = sum > 0.0 ? float(1.0 / sum) : 0.0f;
  for (int64_t i = 0; i < d; ++i) out[i] *= inv;
}

// Query heads per exp_sum batch in attention_kv_group (their sums wait on the stack).
constexpr int kMaxHeadsPerKvHead = 64;

}  // namespace

void attention_head_rows(const float* q, const uint16_t* k_rows, const uint16_t* v_rows, size_t stride,
                         int64_t pos, const AttentionParams& p, float* scores, float* out) {
  const int64_t hd = p.head_dim;
  const int64_t first = attention_first_pos(p, pos);
  const int64_t n = pos - first + 1;
  // One kernel call over all cached rows for each half: the query and then the output stay
  // in registers instead of going through memory once per row.
  f16_rows_dot(k_rows + size_t(first) * stride, stride, n, q, hd, scores);
  const double sum = exp_sum(scores, n, p.scale);
  f16_rows_weighted_sum(v_rows + size_t(first) * stride, stride, n, scores, hd, out);
  normalize_attention(sum, hd, out);
}

void attention_kv_group_rows(const float* q, const uint16_t* k_rows, const uint16_t* v_rows, size_t stride,
                             int64_t pos, const AttentionParams& p, float* scores, float* out) {
  const int64_t hd = p.head_dim;
  const int g = p.n_head / p.n_head_kv;
  const int64_t first = attention_first_pos(p, pos);
  const int64_t n = pos - first + 1;
  f16_rows_dot_heads(k_rows + size_t(first) * stride, stride, n, q, g, hd, scores);
  double sums[kMaxHeadsPerKvHead];
  for (int h0 = 0; h0 < g; h0 += kMaxHeadsPerKvHead) {
    const int heads = std::min(g - h0, kMaxHeadsPerKvHead);
    for (int h = 0; h < heads; ++h) sums[h] = exp_sum(scores + (h0 + h) * n, n, p.scale);
    f16_rows_weighted_sum_heads(v_rows + size_t(first) * stride, stride, n, scores + h0 * n, heads, hd,
                                out + h0 * hd);
    for (int h = 0; h < heads; ++h) normalize_attention(sums[h], hd, out + (h0 + h) * hd);
  }
}

void attention_head(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t pos, int64_t h,
                    const AttentionParams& p, float* scores, float* out) {
  const int64_t hd = p.head_dim;
  const int64_t row = int64_t(p.n_head_kv) * hd;    // cache row stride (one position)
  const int64_t kvh = h / (p.n_head / p.n_head_kv);  // GQA: heads share KV in groups
  attention_head_rows(q, k_cache + kvh * hd, v_cache + kvh * hd, size_t(row), pos, p, scores, out);
}

void attention_kv_group(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t pos, int64_t kvh,
                        const AttentionParams& p, float* scores, float* out) {
  const int64_t hd = p.head_dim;
  attention_kv_group_rows(q, k_cache + kvh * hd, v_cache + kvh * hd, size_t(p.n_head_kv) * size_t(hd), pos, p,
                          scores, out);
}

void attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t pos,
               const AttentionParams& p, float* scores, float* out) {
  for (int64_t h = 0; h < p.n_head; ++h) {
    attention_head(q + h * p.head_dim, k_cache, v_cache, pos, h, p, scores, out + h * p.head_dim);
  }
}

}  // namespace hearth::kernels
