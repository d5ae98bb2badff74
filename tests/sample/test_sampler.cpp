// The sampling chain: each step against its definition on small hand-made distributions, and
// the draw against the probabilities it claims (chi-square over many seeded draws).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "sample/sampler.h"
#include "util/error.h"

using hearth::sample::Candidate;
using hearth::sample::Sampler;
using hearth::sample::SamplerParams;

namespace {

// A sampler with every truncation off: only the steps a test turns on act.
SamplerParams neutral(float temperature = 1.0f) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.typical_p = 1.0f;
  return p;
}

// Logits whose softmax is exactly `probs` (up to the normalisation).
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(p > 0 ? float(std::log(p)) : -std::numeric_limits<float>::infinity());
  return l;
}

std::vector<int32_t> ids(std::span<const Candidate> c) {
  std::vector<int32_t> v;
  for (const auto& x : c) v.push_back(x.id);
  return v;
}

}  // namespace

TEST(Sampler, GreedyTakesHighestLogitLowestIdOnTies) {
  Sampler s(neutral(0.0f));
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.0f, -1.0f, 2.9f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{5.0f, 1.0f, 5.0f}), 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(s.sample(std::vector<float>{nan, -2.0f, nan}), 1);  // NaN never wins
}

TEST(Sampler, TemperatureOneKeepsTheSoftmax) {
  Sampler s(neutral(1.0f));
  auto c = s.candidates(logits_of({0.5, 0.3, 0.2}));
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_NEAR(c[0].p, 0.5, 1e-6);
  EXPECT_NEAR(c[1].p, 0.3, 1e-6);
  EXPECT_NEAR(c[2].p, 0.2, 1e-6);
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const auto l = logits_of({0.5, 0.3, 0.2});
  Sampler cold(neutral(0.5f)), hot(neutral(2.0f));
  auto c = cold.candidates(l);
  // p_i ∝ p_i^(1/T): T = 0.5 squares the probabilities.
  const double z = 0.25 + 0.09 + 0.04;
  EXPECT_NEAR(c[0].p, 0.25 / z, 1e-6);
  EXPECT_NEAR(c[2].p, 0.04 / z, 1e-6);
  auto h = hot.candidates(l);
  const double zh = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.2);
  EXPECT_NEAR(h[0].p, std::sqrt(0.5) / zh, 1e-6);
}

TEST(Sampler, TopKKeepsTheKBest) {
  SamplerParams p = neutral();
  p.top_k = 2;
  Sampler s(p);
  auto c = s.candidates(std::vector<float>{1.0f, 4.0f, 3.0f, 2.0f});
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));
  EXPECT_NEAR(c[0].p + c[1].p, 1.0, 1e-6);
  EXPECT_NEAR(c[0].p / c[1].p, std::exp(1.0), 1e-4);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingTheMass) {
  SamplerParams p = neutral();
  p.top_p = 0.75f;
  Sampler s(p);
  auto c = s.candidates(logits_of({0.1, 0.5, 0.3, 0.1}));
  // 0.5 < 0.75 ≤ 0.5 + 0.3: two tokens, renormalised.
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));
  EXPECT_NEAR(c[0].p, 0.5 / 0.8, 1e-6);
  p.top_p = 0.45f;  // within the first token's mass
  Sampler s2(p);
  EXPECT_EQ(ids(s2.candidates(logits_of({0.1, 0.5, 0.3, 0.1}))), (std::vector<int32_t>{1}));
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheBest) {
  SamplerParams p = neutral();
  p.min_p = 0.25f;
  Sampler s(p);
  // p_max = 0.4: keep p ≥ 0.1 (no value sits on the threshold, where float rounding decides).
  auto c = s.candidates(logits_of({0.4, 0.05, 0.3, 0.11, 0.14}));
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 2, 4, 3}));
}

TEST(Sampler, TypicalKeepsTokensNearTheEntropy) {
  SamplerParams p = neutral();
  p.typical_p = 0.5f;
  Sampler s(p);
  const std::vector<double> probs = {0.6, 0.2, 0.1, 0.1};
  double h = 0;
  for (double x : probs) h -= x * std::log(x);
  // |−ln p − H| ranks 0.2 (1.609 vs H 1.089: 0.52) and 0.6 (0.51: 0.58) ahead of the 0.1s
  // (2.30: 1.21); 0.2 alone has mass 0.2 < 0.5, with 0.6 it reaches 0.8.
  ASSERT_LT(std::abs(-std::log(0.2) - h), std::abs(-std::log(0.6) - h));
  auto c = s.candidates(logits_of(probs));
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1}));
}

TEST(Sampler, RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplerParams p = neutral(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  s.accept(0);
  // Token 0: 3 → 1.5, loses to token 1 (2).
  EXPECT_EQ(s.sample(std::vector<float>{3.0f, 2.0f}), 1);
  SamplerParams q = neutral(0.0f);
  q.repeat_penalty = 2.0f;
  Sampler s2(q);
  s2.accept(1);
  // Token 1: -1 → -2, below token 0 (-1.5).
  EXPECT_EQ(s2.sample(std::vector<float>{-1.5f, -1.0f}), 0);
}

TEST(Sampler, FrequencyAndPresencePenaltiesCountOccurrences) {
  SamplerParams p = neutral(1.0f);
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  Sampler s(p);
  for (int32_t t : {2, 2, 2, 1}) s.accept(t);
  auto c = s.candidates(std::vector<float>{0.0f, 0.0f, 0.0f});
  std::map<int32_t, float> logit;
  for (const auto& x : c) logit[x.id] = x.logit;
  EXPECT_FLOAT_EQ(logit[0], 0.0f);
  EXPECT_FLOAT_EQ(logit[1], -0.75f);  // 1 × 0.5 + 0.25
  EXPECT_FLOAT_EQ(logit[2], -1.75f);  // 3 × 0.5 + 0.25
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplerParams p = neutral(0.0f);
  p.repeat_penalty = 10.0f;
  p.penalty_last_n = 2;
  Sampler s(p);
  s.accept(0);
  s.accept(1);
  s.accept(1);  // token 0 has left the window of 2
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 1.5f}), 0);  // 1.5 / 10 < 1.0
  s.reset();
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 1.5f}), 1);  // no history after reset
}

TEST(Sampler, LogitBiasAndBans) {
  SamplerParams p = neutral(0.0f);
  p.logit_bias = {{0, -std::numeric_limits<float>::infinity()}, {2, 5.0f}};
  Sampler s(p);
  EXPECT_EQ(s.sample(std::vector<float>{10.0f, 6.0f, 2.0f}), 2);  // 2 + 5 > 6; 0 banned
  SamplerParams q = neutral(1.0f);
  q.logit_bias = {{0, -std::numeric_limits<float>::infinity()}};
  Sampler s2(q);
  for (int i = 0; i < 50; ++i) EXPECT_NE(s2.sample(std::vector<float>{10.0f, 0.0f, 0.0f}), 0);
  Sampler s3(q);
  EXPECT_THROW(s3.sample(std::vector<float>{1.0f}), hearth::Error);  // nothing left
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  std::vector<float> l(100);
  for (size_t i = 0; i < l.size(); ++i) l[i] = float(std::sin(double(i)));
  auto run = [&](uint64_t seed) {
    SamplerParams p = neutral(1.0f);
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(l));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, DrawFollowsTheDistribution) {
  // Chi-square goodness of fit, 3 degrees of freedom: 16.27 is the 0.999 quantile, so a correct
  // sampler fails this with probability 1e-3 for a random seed, and never for this fixed one.
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  SamplerParams p = neutral(1.0f);
  p.seed = 7;
  Sampler s(p);
  const auto l = logits_of(probs);
  const int n = 20000;
  std::vector<int> counts(probs.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[size_t(s.sample(l))];
  double chi2 = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double e = n * probs[i];
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  EXPECT_LT(chi2, 16.27) << counts[0] << " " << counts[1] << " " << counts[2] << " " << counts[3];
}

TEST(Sampler, RejectsParametersOutOfRange) {
  auto make = [](auto edit) {
    SamplerParams p;
    edit(p);
    return Sampler(p);
  };
  EXPECT_THROW(make([](SamplerParams& p) { p.top_p = 1.5f; }), hearth::Error);
  EXPECT_THROW(make([](SamplerParams& p) { p.min_p = -0.1f; }), hearth::Error);
  EXPECT_THROW(make([](SamplerParams& p) { p.typical_p = std::nanf(""); }), hearth::Error);
  EXPECT_THROW(make([](SamplerParams& p) { p.repeat_penalty = 0.0f; }), hearth::Error);
  EXPECT_THROW(make([](SamplerParams& p) { p.temperature = std::nanf(""); }), hearth::Error);
  EXPECT_THROW(make([](SamplerParams& p) { p.penalty_last_n = -2; }), hearth::Error);
  EXPECT_THROW(make([](SamplerParams& p) { p.logit_bias = {{3, std::nanf("")}}; }), hearth::Error);
  Sampler ok{SamplerParams{}};
  EXPECT_THROW(ok.sample(std::span<const float>{}), hearth::Error);
}
