// kernels/ops.h against straightforward double-precision computations of the same formulas,
// plus properties that must hold independently of any implementation: rotary embeddings are
// rotations whose q·k depends only on the distance between positions, softmax survives huge
// logits, attention with grouped KV heads reads the right head, a sliding window hides exactly
// the positions it should.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/ops.h"
#include "util/error.h"

namespace hearth::kernels {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// |a - b| ≤ rel · max(|b|, floor): relative error with an absolute floor near zero.
void expect_close(const float* a, const std::vector<double>& b, double rel, double floor = 1e-6) {
  for (size_t i = 0; i < b.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], rel * std::max(std::abs(b[i]), floor)) << "index " << i;
  }
}

// ---- norms ----

TEST(Ops, RmsnormMatchesDouble) {
  for (int64_t n : {1, 7, 64, 4096, 5120}) {
    auto x = randn(size_t(n), 1 + uint32_t(n), 3.0f);
    auto w = randn(size_t(n), 2 + uint32_t(n));
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double s = 1.0 / std::sqrt(ss / double(n) + 1e-5);
    std::vector<double> ref(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ref[size_t(i)] = double(x[size_t(i)]) * s * w[size_t(i)];
    std::vector<float> out(static_cast<size_t>(n));
    rmsnorm(x.data(), w.data(), n, 1e-5f, out.data());
    expect_close(out.data(), ref, 1e-5);
    // In place (out aliases x), as the forward pass uses it for per-head q/k norms.
    rmsnorm(x.data(), w.data(), n, 1e-5f, x.data());
    expect_close(x.data(), ref, 1e-5);
  }
}

TEST(Ops, RmsnormWithoutWeightHasUnitRms) {
  auto x = randn(1000, 5, 7.0f);
  std::vector<float> out(x.size());
  rmsnorm(x.data(), nullptr, int64_t(x.size()), 0.0f, out.data());
  double ss = 0;
  for (float v : out) ss += double(v) * v;
  EXPECT_NEAR(ss / double(out.size()), 1.0, 1e-5);
}

TEST(Ops, RmsnormEpsDominatesZeroInput) {
  std::vector<float> x(16, 0.0f), out(16, 123.0f);
  rmsnorm(x.data(), nullptr, 16, 1e-6f, out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);  // no NaN from 0/0
}

TEST(Ops, LayernormMatchesDouble) {
  const int64_t n = 384;
  auto x = randn(size_t(n), 11, 2.0f);
  for (auto& v : x) v += 5.0f;  // a large mean, which layernorm must remove
  auto w = randn(size_t(n), 12);
  auto b = randn(size_t(n), 13);
  double mean = 0;
  for (float v : x) mean += v;
  mean /= double(n);
  double var = 0;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= double(n);
  std::vector<double> ref(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    ref[size_t(i)] = (x[size_t(i)] - mean) / std::sqrt(var + 1e-5) * w[size_t(i)] + b[size_t(i)];
  }
  std::vector<float> out(static_cast<size_t>(n));
  layernorm(x.data(), w.data(), b.data(), n, 1e-5f, out.data());
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(out[size_t(i)], ref[size_t(i)], 2e-5) << i;

  layernorm(x.data(), nullptr, nullptr, n, 1e-5f, out.data());
  double m2 = 0, v2 = 0;
  for (float v : out) m2 += v;
  m2 /= double(n);
  for (float v : out) v2 += (v - m2) * (v - m2);
  EXPECT_NEAR(m2, 0.0, 1e-5);
  EXPECT_NEAR(v2 / double(n), 1.0, 1e-4);
}

// ---- rope ----

// Independent formula: pair (a, b) as the complex number a + ib, multiplied by e^{iθ}.
std::vector<double> rope_reference(const std::vector<float>& x, int n_head, int head_dim, int n_rot, bool neox,
                                   double pos, double base) {
  std::vector<double> y(x.begin(), x.end());
  for (int h = 0; h < n_head; ++h) {
    for (int i = 0; i < n_rot / 2; ++i) {
      const double theta = pos * std::pow(base, -2.0 * i / n_rot);
      const int a = h * head_dim + (neox ? i : 2 * i);
      const int b = h * head_dim + (neox ? i + n_rot / 2 : 2 * i + 1);
      const std::complex<double> z = std::complex<double>(x[size_t(a)], x[size_t(b)]) * std::polar(1.0, theta);
      y[size_t(a)] = z.real();
      y[size_t(b)] = z.imag();
    }
  }
  return y;
}

TEST(Ops, RopeNormalAndNeoxMatchComplexRotation) {
  for (bool neox : {false, true}) {
    for (int64_t pos : {0, 1, 17, 4095, 100000}) {
      const int n_head = 3, head_dim = 16;
      auto x = randn(size_t(n_head * head_dim), 21 + uint32_t(pos));
      RopeParams p{.n_rot = head_dim, .neox = neox, .freq_base = 10000.0f};
      auto ref = rope_reference(x, n_head, head_dim, head_dim, neox, double(pos), 10000.0);
      rope(x.data(), n_head, head_dim, pos, p);
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_NEAR(x[i], ref[i], 2e-6 * (1.0 + std::abs(ref[i]))) << "neox " << neox << " pos " << pos << " i " << i;
      }
    }
  }
}

TEST(Ops, RopePartialRotationLeavesTailAlone) {
  // rope.dimension_count < head size (e.g. models rotating a quarter of each head).
  const int n_head = 2, head_dim = 32, n_rot = 8;
  for (bool neox : {false, true}) {
    auto x = randn(size_t(n_head * head_dim), 31);
    const auto orig = x;
    RopeParams p{.n_rot = n_rot, .neox = neox, .freq_base = 500000.0f};
    auto ref = rope_reference(x, n_head, head_dim, n_rot, neox, 123.0, 500000.0);
    rope(x.data(), n_head, head_dim, 123, p);
    for (int h = 0; h < n_head; ++h) {
      for (int d = 0; d < head_dim; ++d) {
        const size_t i = size_t(h * head_dim + d);
        if (d >= n_rot) {
          EXPECT_EQ(x[i], orig[i]) << "dimension " << d << " beyond n_rot changed";
        } else {
          EXPECT_NEAR(x[i], ref[i], 2e-6 * (1.0 + std::abs(ref[i])));
        }
      }
    }
  }
}

TEST(Ops, RopeScoresDependOnlyOnRelativePosition) {
  // The point of RoPE: q(m)·k(n) is a function of m - n.
  const int head_dim = 64;
  auto q = randn(head_dim, 41), k = randn(head_dim, 42);
  for (bool neox : {false, true}) {
    RopeParams p{.n_rot = head_dim, .neox = neox};
    auto score = [&](int64_t m, int64_t n) {
      auto a = q, b = k;
      rope(a.data(), 1, head_dim, m, p);
      rope(b.data(), 1, head_dim, n, p);
      double s = 0;
      for (int i = 0; i < head_dim; ++i) s += double(a[size_t(i)]) * b[size_t(i)];
      return s;
    };
    EXPECT_NEAR(score(10, 3), score(107, 100), 1e-4);
    EXPECT_NEAR(score(5, 5), score(0, 0), 1e-4);
    EXPECT_NEAR(score(0, 0), [&] {
      double s = 0;
      for (int i = 0; i < head_dim; ++i) s += double(q[size_t(i)]) * k[size_t(i)];
      return s;
    }(), 1e-4);
  }
}

TEST(Ops, RopeLinearScalingIsScaledPosition) {
  const int head_dim = 16;
  auto x = randn(head_dim, 51);
  auto y = x;
  RopeParams scaled{.n_rot = head_dim, .freq_scale = 0.25f};
  RopeParams plain{.n_rot = head_dim};
  rope(x.data(), 1, head_dim, 40, scaled);  // 40 · 0.25 = 10
  rope(y.data(), 1, head_dim, 10, plain);
  for (int i = 0; i < head_dim; ++i) EXPECT_NEAR(x[size_t(i)], y[size_t(i)], 1e-6);
}

TEST(Ops, RopeYarnFollowsRamp) {
  // YaRN on a 128-dim head, 4× extension of a 4096 context. Check every pair's angle and
  // magnitude against the definition: pairs below corr_low keep the unscaled angle, pairs above
  // corr_high the interpolated one, a linear ramp between; magnitude 1 + 0.1 ln(4).
  const int head_dim = 128;
  const double base = 10000.0, s = 0.25;
  RopeParams p{.n_rot = head_dim, .freq_base = float(base), .freq_scale = float(s), .yarn = true,
               .n_ctx_orig = 4096, .beta_fast = 32.0f, .beta_slow = 1.0f};
  const int64_t pos = 3001;
  std::vector<float> cache(size_t(rope_cache_size(p)));
  rope_cache(p, pos, cache.data());
  auto corr = [&](double rot) { return head_dim * std::log(4096 / (rot * 2 * M_PI)) / (2 * std::log(base)); };
  const double lo = std::floor(corr(32)), hi = std::ceil(corr(1));
  ASSERT_GT(lo, 0);
  ASSERT_LT(hi, head_dim / 2);
  const double mscale = 1.0 + 0.1 * std::log(1.0 / s);
  int n_extrap = 0, n_interp = 0, n_ramp = 0;
  for (int i = 0; i < head_dim / 2; ++i) {
    const double extrap = pos * std::pow(base, -2.0 * i / head_dim);
    double mix;
    if (i <= lo) {
      mix = 1.0, ++n_extrap;
    } else if (i >= hi) {
      mix = 0.0, ++n_interp;
    } else {
      mix = 1.0 - (i - lo) / (hi - lo), ++n_ramp;
    }
    const double theta = extrap * s * (1 - mix) + extrap * mix;
    EXPECT_NEAR(cache[size_t(2 * i)], std::cos(theta) * mscale, 2e-6) << i;
    EXPECT_NEAR(cache[size_t(2 * i + 1)], std::sin(theta) * mscale, 2e-6) << i;
  }
  EXPECT_GT(n_extrap, 0);
  EXPECT_GT(n_interp, 0);
  EXPECT_GT(n_ramp, 0);

  // ext_factor 0 switches the ramp off: plain linear interpolation times attn_factor only.
  RopeParams off = p;
  off.ext_factor = 0.0f;
  off.attn_factor = 2.0f;
  rope_cache(off, pos, cache.data());
  for (int i = 0; i < head_dim / 2; ++i) {
    const double theta = pos * s * std::pow(base, -2.0 * i / head_dim);
    EXPECT_NEAR(cache[size_t(2 * i)], 2.0 * std::cos(theta), 4e-6) << i;
  }
}

TEST(Ops, RopeCacheReusedEqualsDirect) {
  const int n_head = 4, head_dim = 64;
  for (bool neox : {false, true}) {
    RopeParams p{.n_rot = 48, .neox = neox, .freq_base = 1e6f, .freq_scale = 0.5f};
    std::vector<float> cache(size_t(rope_cache_size(p)));
    rope_cache(p, 777, cache.data());
    auto a = randn(size_t(n_head * head_dim), 61), b = a;
    rope_apply(a.data(), n_head, head_dim, cache.data(), p);
    rope(b.data(), n_head, head_dim, 777, p);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  }
}

TEST(Ops, ValidateRopeNamesTheProblem) {
  EXPECT_NO_THROW(validate_rope({.n_rot = 64}, 64));
  try {
    validate_rope({.n_rot = 65}, 64);
    FAIL() << "odd n_rot accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::format);
    EXPECT_NE(std::string(e.what()).find("65"), std::string::npos) << e.what();
  }
  EXPECT_THROW(validate_rope({.n_rot = 128}, 64), Error);
  EXPECT_THROW(validate_rope({.n_rot = 64, .freq_base = 0.0f}, 64), Error);
  EXPECT_THROW(validate_rope({.n_rot = 64, .freq_scale = std::numeric_limits<float>::quiet_NaN()}, 64), Error);
  EXPECT_THROW(validate_rope({.n_rot = 64, .yarn = true, .n_ctx_orig = 0}, 64), Error);
}

// ---- softmax and activations ----

TEST(Ops, SoftmaxMatchesDouble) {
  auto x = randn(1000, 71, 4.0f);
  std::vector<double> ref(x.size());
  double mx = -1e300, sum = 0;
  for (float v : x) mx = std::max(mx, double(v));
  for (size_t i = 0; i < x.size(); ++i) sum += ref[i] = std::exp(double(x[i]) - mx);
  for (auto& r : ref) r /= sum;
  softmax(x.data(), int64_t(x.size()));
  expect_close(x.data(), ref, 1e-5, 1e-12);
}

TEST(Ops, SoftmaxIsStableAndHandlesMasking) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {1000.0f, 1001.0f, -inf, 999.0f};
  softmax(x.data(), 4);
  const double e = std::exp(1.0), z = 1 + e + 1 / e;
  EXPECT_NEAR(x[0], 1 / z, 1e-6);
  EXPECT_NEAR(x[1], e / z, 1e-6);
  EXPECT_EQ(x[2], 0.0f);
  EXPECT_NEAR(x[3], 1 / e / z, 1e-6);
  std::vector<float> none = {-inf, -inf};
  softmax(none.data(), 2);
  EXPECT_EQ(none[0], 0.0f);
  EXPECT_EQ(none[1], 0.0f);
}

TEST(Ops, ActivationsMatchFormulas) {
  auto x = randn(513, 81, 3.0f);
  x.push_back(0.0f);
  x.push_back(-30.0f);
  x.push_back(30.0f);
  auto up = randn(x.size(), 82);
  const int64_t n = int64_t(x.size());
  std::vector<float> out(x.size());
  std::vector<double> ref(x.size());

  silu(x.data(), n, out.data());
  for (size_t i = 0; i < x.size(); ++i) ref[i] = x[i] / (1.0 + std::exp(-double(x[i])));
  expect_close(out.data(), ref, 1e-6, 1e-6);

  gelu(x.data(), n, out.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    ref[i] = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  }
  expect_close(out.data(), ref, 1e-5, 1e-6);

  swiglu(x.data(), up.data(), n, out.data());
  for (size_t i = 0; i < x.size(); ++i) ref[i] = x[i] / (1.0 + std::exp(-double(x[i]))) * up[i];
  expect_close(out.data(), ref, 1e-6, 1e-6);
  // In place over gate, as the forward pass calls it.
  auto g = x;
  swiglu(g.data(), up.data(), n, g.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(g[i], out[i]);
}

TEST(Ops, GeluKnownValues) {
  // Values of the tanh approximation (not the erf form: gelu_erf(1) = 0.841345).
  const float x[3] = {1.0f, -1.0f, 2.0f};
  float y[3];
  gelu(x, 3, y);
  EXPECT_NEAR(y[0], 0.8411920, 1e-6);
  EXPECT_NEAR(y[1], -0.1588080, 1e-6);
  EXPECT_NEAR(y[2], 1.9545977, 1e-6);
}

TEST(Ops, VectorArithmetic) {
  auto a = randn(37, 91), b = randn(37, 92);
  std::vector<float> out(37);
  add(a.data(), b.data(), 37, out.data());
  for (size_t i = 0; i < 37; ++i) EXPECT_EQ(out[i], a[i] + b[i]);
  mul(a.data(), b.data(), 37, out.data());
  for (size_t i = 0; i < 37; ++i) EXPECT_EQ(out[i], a[i] * b[i]);
  auto c = a;
  add(c.data(), b.data(), 37);
  for (size_t i = 0; i < 37; ++i) EXPECT_EQ(c[i], a[i] + b[i]);
  c = a;
  mul(c.data(), b.data(), 37);
  for (size_t i = 0; i < 37; ++i) EXPECT_EQ(c[i], a[i] * b[i]);
  c = a;
  scale(c.data(), -0.5f, 37);
  for (size_t i = 0; i < 37; ++i) EXPECT_EQ(c[i], a[i] * -0.5f);
}

// ---- attention ----

struct Cache {
  std::vector<uint16_t> k, v;
};

Cache make_cache(int64_t n_pos, int64_t row, uint32_t seed) {
  auto k = randn(size_t(n_pos * row), seed), v = randn(size_t(n_pos * row), seed + 1);
  Cache c;
  for (float x : k) c.k.push_back(fp32_to_fp16(x));
  for (float x : v) c.v.push_back(fp32_to_fp16(x));
  return c;
}

// Double-precision attention of query head h over positions [first, pos].
std::vector<double> attention_reference(const float* q, const Cache& c, int64_t pos, int64_t first, int kvh,
                                        int n_head_kv, int hd, double scale) {
  const int64_t row = int64_t(n_head_kv) * hd;
  std::vector<double> s;
  double mx = -1e300;
  for (int64_t t = first; t <= pos; ++t) {
    double d = 0;
    for (int i = 0; i < hd; ++i) d += double(q[i]) * fp16_to_fp32(c.k[size_t(t * row + kvh * hd + i)]);
    s.push_back(d * scale);
    mx = std::max(mx, d * scale);
  }
  double sum = 0;
  for (auto& x : s) sum += x = std::exp(x - mx);
  std::vector<double> out(size_t(hd), 0.0);
  for (int64_t t = first; t <= pos; ++t) {
    const double w = s[size_t(t - first)] / sum;
    for (int i = 0; i < hd; ++i) out[size_t(i)] += w * fp16_to_fp32(c.v[size_t(t * row + kvh * hd + i)]);
  }
  return out;
}

TEST(Ops, AttentionGqaMatchesDouble) {
  const int n_head = 8, n_head_kv = 2, hd = 64;
  const int64_t n_pos = 50;
  const Cache c = make_cache(n_pos, n_head_kv * hd, 101);
  auto q = randn(size_t(n_head * hd), 103);
  AttentionParams p{.n_head = n_head, .n_head_kv = n_head_kv, .head_dim = hd, .scale = 1.0f / 8.0f};
  std::vector<float> scores(static_cast<size_t>(n_pos)), out(size_t(n_head * hd));
  for (int64_t pos : {0, 1, 49}) {
    attention(q.data(), c.k.data(), c.v.data(), pos, p, scores.data(), out.data());
    for (int h = 0; h < n_head; ++h) {
      // Heads 0-3 share KV head 0, heads 4-7 KV head 1.
      auto ref = attention_reference(q.data() + h * hd, c, pos, 0, h / 4, n_head_kv, hd, 1.0 / 8.0);
      for (int i = 0; i < hd; ++i) {
        EXPECT_NEAR(out[size_t(h * hd + i)], ref[size_t(i)], 1e-5) << "pos " << pos << " head " << h << " i " << i;
      }
    }
  }
  // At position 0 the only key is itself: the output is exactly V[0] of the head's KV group.
  attention(q.data(), c.k.data(), c.v.data(), 0, p, scores.data(), out.data());
  for (int i = 0; i < hd; ++i) EXPECT_FLOAT_EQ(out[size_t(5 * hd + i)], fp16_to_fp32(c.v[size_t(hd + i)]));
}

TEST(Ops, AttentionByKvGroupMatchesDouble) {
  // attention_kv_group (a prompt's attention, all query heads of a KV head at once) against
  // the double-precision reference for every head of each group, with and without a window;
  // 12 heads over 4 KV heads and 9 over 1 (the grouped kernels take eight heads at a time).
  for (auto [n_head, n_head_kv, hd, window] : {std::tuple{12, 4, 64, 0}, std::tuple{9, 1, 72, 0},
                                               std::tuple{8, 2, 128, 16}, std::tuple{6, 3, 20, 0}}) {
    SCOPED_TRACE(std::to_string(n_head) + " heads, " + std::to_string(n_head_kv) + " KV heads, head size " +
                 std::to_string(hd) + ", window " + std::to_string(window));
    const int64_t n_pos = 45;
    const int g = n_head / n_head_kv;
    const Cache c = make_cache(n_pos, int64_t(n_head_kv) * hd, 131);
    auto q = randn(size_t(n_head * hd), 133);
    const float scale = 1.0f / std::sqrt(float(hd));
    AttentionParams p{.n_head = n_head, .n_head_kv = n_head_kv, .head_dim = hd, .scale = scale,
                      .sliding_window = window};
    std::vector<float> scores(static_cast<size_t>(g * n_pos)), out(static_cast<size_t>(g * hd), NAN),
        one(static_cast<size_t>(hd));
    for (int64_t pos : {0, 7, 44}) {
      for (int kvh = 0; kvh < n_head_kv; ++kvh) {
        attention_kv_group(q.data() + kvh * g * hd, c.k.data(), c.v.data(), pos, kvh, p, scores.data(), out.data());
        for (int j = 0; j < g; ++j) {
          const int h = kvh * g + j;
          auto ref = attention_reference(q.data() + h * hd, c, pos, attention_first_pos(p, pos), kvh, n_head_kv, hd,
                                         double(scale));
          attention_head(q.data() + h * hd, c.k.data(), c.v.data(), pos, h, p, scores.data(), one.data());
          for (int i = 0; i < hd; ++i) {
            EXPECT_NEAR(out[size_t(j * hd + i)], ref[size_t(i)], 1e-5) << "pos " << pos << " head " << h << " i " << i;
            EXPECT_NEAR(out[size_t(j * hd + i)], one[size_t(i)], 1e-5) << "pos " << pos << " head " << h << " i " << i;
          }
        }
      }
    }
  }
}

TEST(Ops, AttentionSlidingWindow) {
  const int n_head = 4, n_head_kv = 4, hd = 32;
  const int64_t n_pos = 40;
  const Cache c = make_cache(n_pos, n_head_kv * hd, 111);
  auto q = randn(size_t(hd), 113);
  std::vector<float> scores(static_cast<size_t>(n_pos)), out(static_cast<size_t>(hd)), full(static_cast<size_t>(hd));
  AttentionParams p{.n_head = n_head, .n_head_kv = n_head_kv, .head_dim = hd, .scale = 0.2f, .sliding_window = 8};
  EXPECT_EQ(attention_first_pos(p, 39), 32);  // sees 32..39: 8 positions
  EXPECT_EQ(attention_first_pos(p, 7), 0);
  EXPECT_EQ(attention_first_pos(p, 8), 1);
  attention_head(q.data(), c.k.data(), c.v.data(), 39, 2, p, scores.data(), out.data());
  auto ref = attention_reference(q.data(), c, 39, 32, 2, n_head_kv, hd, 0.2);
  for (int i = 0; i < hd; ++i) EXPECT_NEAR(out[size_t(i)], ref[size_t(i)], 1e-5);
  // A window wider than the sequence changes nothing.
  AttentionParams wide = p, none = p;
  wide.sliding_window = 1000;
  none.sliding_window = 0;
  attention_head(q.data(), c.k.data(), c.v.data(), 39, 2, wide, scores.data(), out.data());
  attention_head(q.data(), c.k.data(), c.v.data(), 39, 2, none, scores.data(), full.data());
  for (int i = 0; i < hd; ++i) EXPECT_EQ(out[size_t(i)], full[size_t(i)]);
}

TEST(Ops, AttentionLongHeadUsesChunks) {
  // head_dim above the internal conversion chunk (256).
  const int hd = 320;
  const Cache c = make_cache(5, hd, 121);
  auto q = randn(size_t(hd), 123, 0.05f);
  AttentionParams p{.n_head = 1, .n_head_kv = 1, .head_dim = hd, .scale = 1.0f / std::sqrt(320.0f)};
  std::vector<float> scores(5), out(static_cast<size_t>(hd));
  attention_head(q.data(), c.k.data(), c.v.data(), 4, 0, p, scores.data(), out.data());
  auto ref = attention_reference(q.data(), c, 4, 0, 0, 1, hd, 1.0 / std::sqrt(320.0));
  for (int i = 0; i < hd; ++i) EXPECT_NEAR(out[size_t(i)], ref[size_t(i)], 1e-5) << i;
}

TEST(Ops, ValidateAttention) {
  EXPECT_NO_THROW(validate_attention({.n_head = 32, .n_head_kv = 8, .head_dim = 128}));
  EXPECT_THROW(validate_attention({.n_head = 32, .n_head_kv = 6, .head_dim = 128}), Error);
  EXPECT_THROW(validate_attention({.n_head = 0, .n_head_kv = 1, .head_dim = 128}), Error);
  EXPECT_THROW(validate_attention({.n_head = 4, .n_head_kv = 4, .head_dim = 16, .sliding_window = -1}), Error);
}

}  // namespace
}  // namespace hearth::kernels
