#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace hearth::sample {

namespace {

// Descending logit, ties broken by ascending id so that every order is deterministic.
bool by_logit(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

bool is_nan(float v) { return v != v; }

}  // namespace

Sampler::Sampler(SamplerParams params) : params_(std::move(params)) {
  const SamplerParams& p = params_;
  auto in_unit = [](float v) { return v >= 0.0f && v <= 1.0f; };  // false for NaN
  if (is_nan(p.temperature)) throw_error(ErrorKind::invalid_argument, "temperature must be a number");
  if (!in_unit(p.top_p)) throw_error(ErrorKind::invalid_argument, "top_p must be in [0, 1] (got {})", p.top_p);
  if (!in_unit(p.min_p)) throw_error(ErrorKind::invalid_argument, "min_p must be in [0, 1] (got {})", p.min_p);
  if (!in_unit(p.typical_p)) {
    throw_error(ErrorKind::invalid_argument, "typical_p must be in [0, 1] (got {})", p.typical_p);
  }
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty)) {
    throw_error(ErrorKind::invalid_argument, "repeat_penalty must be a positive number (got {})", p.repeat_penalty);
  }
  if (!std::isfinite(p.frequency_penalty) || !std::isfinite(p.presence_penalty)) {
    throw_error(ErrorKind::invalid_argument, "frequency_penalty and presence_penalty must be finite numbers");
  }
  if (p.penalty_last_n < -1) {
    throw_error(ErrorKind::invalid_argument, "penalty_last_n must be -1 (all), 0 (off) or a count (got {})",
                p.penalty_last_n);
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (is_nan(bias)) throw_error(ErrorKind::invalid_argument, "logit_bias for token {} is not a number", id);
  }
  if (p.penalty_last_n > 0) history_.reserve(size_t(p.penalty_last_n));
  rng_.seed(p.seed);
}

void Sampler::reset() {
  history_.clear();
  history_pos_ = 0;
  rng_.seed(params_.seed);
}

void Sampler::accept(int32_t token) {
  const int32_t n = params_.penalty_last_n;
  if (n == 0) return;
  if (n < 0 || history_.size() < size_t(n)) {
    history_.push_back(token);
    return;
  }
  history_[history_pos_] = token;  // ring buffer: overwrite the oldest
  history_pos_ = (history_pos_ + 1) % size_t(n);
}

void Sampler::apply_penalties() {
  const SamplerParams& p = params_;
  if (history_.empty() ||
      (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f)) {
    return;
  }
  // cur_ is still indexed by token id here (penalties run first), so counts index it directly.
  const size_t n_vocab = n_cur_;
  if (counts_.size() != n_vocab) counts_.assign(n_vocab, 0);
  for (int32_t t : history_) {
    if (t >= 0 && size_t(t) < n_vocab) ++counts_[size_t(t)];
  }
  for (int32_t t : history_) {
    if (t < 0 || size_t(t) >= n_vocab) continue;
    const int32_t count = counts_[size_t(t)];
    if (count == 0) continue;  // already penalized (a token seen twice is handled once)
    float& logit = cur_[size_t(t)].logit;
    // Dividing a negative logit would raise it; multiplying lowers it, as the penalty intends.
    logit = logit <= 0.0f ? logit * p.repeat_penalty : logit / p.repeat_penalty;
    logit -= float(count) * p.frequency_penalty + p.presence_penalty;
    counts_[size_t(t)] = 0;  // reset as we go: counts_ is all zero again afterwards
  }
}

void Sampler::apply_bias() {
  for (const auto& [id, bias] : params_.logit_bias) {
    if (id >= 0 && size_t(id) < n_cur_) cur_[size_t(id)].logit += bias;
  }
}

void Sampler::sort_by_logit() {
  if (sorted_) return;
  std::sort(cur_.begin(), cur_.begin() + ptrdiff_t(n_cur_), by_logit);
  sorted_ = true;
}

void Sampler::softmax_candidates() {
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n_cur_; ++i) mx = std::max(mx, cur_[i].logit);
  double sum = 0;
  for (size_t i = 0; i < n_cur_; ++i) {
    cur_[i].p = std::exp(cur_[i].logit - mx);
    sum += cur_[i].p;
  }
  for (size_t i = 0; i < n_cur_; ++i) cur_[i].p = float(cur_[i].p / sum);
}

void Sampler::top_k() {
  const int32_t k = params_.top_k;
  if (k <= 0 || size_t(k) >= n_cur_) return;
  // Partial selection is O(n); only the k survivors get sorted.
  auto begin = cur_.begin();
  std::nth_element(begin, begin + k, begin + ptrdiff_t(n_cur_), by_logit);
  std::sort(begin, begin + k, by_logit);
  n_cur_ = size_t(k);
  sorted_ = true;
}

void Sampler::typical() {
  const float tp = params_.typical_p;
  if (tp >= 1.0f || n_cur_ <= 1) return;
  // Locally typical sampling: keep the tokens whose information content (-log p) is closest to
  // the distribution's entropy, until they cover typical_p of the mass.
  softmax_candidates();
  double entropy = 0;
  for (size_t i = 0; i < n_cur_; ++i) {
    if (cur_[i].p > 0.0f) entropy -= double(cur_[i].p) * std::log(double(cur_[i].p));
  }
  // Sort key: |−log p − H|, stored temporarily in logit's place would lose the logit, so sort
  // with a computed key instead.
  auto key = [entropy](const Candidate& c) {
    return c.p > 0.0f ? std::abs(-std::log(double(c.p)) - entropy) : std::numeric_limits<double>::infinity();
  };
  std::sort(cur_.begin(), cur_.begin() + ptrdiff_t(n_cur_), [&](const Candidate& a, const Candidate& b) {
    const double ka = key(a), kb = key(b);
    return ka < kb || (ka == kb && a.id < b.id);
  });
  double cum = 0;
  size_t keep = n_cur_;
  for (size_t i = 0; i < n_cur_; ++i) {
    cum += cur_[i].p;
    if (cum >= tp) {
      keep = i + 1;
      break;
    }
  }
  n_cur_ = keep;
  sorted_ = false;
}

void Sampler::top_p() {
  const float tp = params_.top_p;
  if (tp >= 1.0f || n_cur_ <= 1) return;
  sort_by_logit();
  softmax_candidates();
  double cum = 0;
  for (size_t i = 0; i < n_cur_; ++i) {
    cum += cur_[i].p;
    if (cum >= tp) {  // the smallest prefix reaching the mass; always at least one token
      n_cur_ = i + 1;
      return;
    }
  }
}

void Sampler::min_p() {
  const float mp = params_.min_p;
  if (mp <= 0.0f || n_cur_ <= 1) return;
  // p_i ≥ min_p · p_max  ⇔  logit_i − logit_max ≥ ln(min_p): no softmax needed.
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n_cur_; ++i) mx = std::max(mx, cur_[i].logit);
  const float threshold = mx + std::log(mp);
  size_t w = 0;
  for (size_t i = 0; i < n_cur_; ++i) {
    if (cur_[i].logit >= threshold) cur_[w++] = cur_[i];  // keeps the order (and sortedness)
  }
  n_cur_ = w;
}

void Sampler::prepare(std::span<const float> logits) {
  if (logits.empty()) throw_error(ErrorKind::invalid_argument, "cannot sample from an empty logit vector");
  const size_t n = logits.size();
  if (cur_.size() < n) cur_.resize(n);
  n_cur_ = n;
  sorted_ = false;
  for (size_t i = 0; i < n; ++i) cur_[i] = {int32_t(i), logits[i], 0.0f};

  apply_penalties();
  apply_bias();

  if (params_.temperature <= 0.0f) {
    // Greedy: the highest logit; NaN and -inf never win.
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      const float l = cur_[i].logit;
      if (is_nan(l) || l == -std::numeric_limits<float>::infinity()) continue;
      if (best == n || l > cur_[best].logit) best = i;
    }
    if (best == n) throw_error(ErrorKind::invalid_argument, "every token is excluded (all logits are -inf)");
    cur_[0] = {cur_[best].id, cur_[best].logit, 1.0f};
    n_cur_ = 1;
    return;
  }

  // Drop excluded tokens (banned by a -inf bias, or NaN from a broken model) up front.
  size_t w = 0;
  for (size_t i = 0; i < n_cur_; ++i) {
    const float l = cur_[i].logit;
    if (!is_nan(l) && l != -std::numeric_limits<float>::infinity()) cur_[w++] = cur_[i];
  }
  n_cur_ = w;
  if (n_cur_ == 0) throw_error(ErrorKind::invalid_argument, "every token is excluded (all logits are -inf)");

  top_k();
  typical();
  top_p();
  min_p();

  const float inv_t = 1.0f / params_.temperature;
  for (size_t i = 0; i < n_cur_; ++i) cur_[i].logit *= inv_t;
  softmax_candidates();
}

std::span<const Candidate> Sampler::candidates(std::span<const float> logits) {
  prepare(logits);
  sort_by_logit();  // only for the caller's view: the draw does not need an order
  return {cur_.data(), n_cur_};
}

int32_t Sampler::draw() {
  // u in [0, 1) from the top 53 bits of one raw output: identical on every standard library
  // (std::uniform_real_distribution's algorithm is not specified).
  const double u = double(rng_() >> 11) * 0x1.0p-53;
  double total = 0;
  for (size_t i = 0; i < n_cur_; ++i) total += cur_[i].p;
  const double target = u * total;
  double cum = 0;
  for (size_t i = 0; i < n_cur_; ++i) {
    cum += cur_[i].p;
    if (target < cum) return cur_[i].id;
  }
  return cur_[n_cur_ - 1].id;  // rounding: u·total at the very top of the range
}

int32_t Sampler::sample(std::span<const float> logits) {
  prepare(logits);
  if (n_cur_ == 1) return cur_[0].id;  // greedy, or truncated to one: no random number used
  return draw();
}

}  // namespace hearth::sample
