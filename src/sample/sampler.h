// Choosing the next token from a vector of logits.
//
// The chain, in this order (docs/engine.md, "Sampling"):
//   repetition penalties → logit bias → top-k → typical → top-p → min-p → temperature → draw
// Temperature ≤ 0 means greedy: after penalties and bias the highest logit wins (ties: lowest
// id). A step whose parameter is at its neutral value (top_k 0, typical_p 1, top_p 1, min_p 0,
// penalties 1/0/0) is skipped. The random source is std::mt19937_64 seeded from `seed`, and
// the draw uses only its raw 64-bit outputs, so a seed reproduces the same tokens on every
// platform.
//
//   hearth::sample::Sampler s({.temperature = 0.7f, .seed = 42});
//   for (auto t : prompt) s.accept(t);
//   int32_t next = s.sample(logits);   // logits: n_vocab floats
//   s.accept(next);
//
// One Sampler serves one sequence. It keeps its candidate buffer between calls, so sampling
// allocates nothing after the first token (for a given vocabulary size).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace hearth::sample {

struct SamplerParams {
  float temperature = 0.8f;      // ≤ 0: greedy
  int32_t top_k = 40;            // keep the k highest logits; ≤ 0: off
  float top_p = 0.95f;           // nucleus: smallest set with probability mass ≥ top_p; 1: off
  float min_p = 0.05f;           // drop tokens with p < min_p · p_max; 0: off
  float typical_p = 1.0f;        // locally typical sampling mass; 1: off
  float repeat_penalty = 1.0f;   // logit / penalty if positive, × penalty if not; 1: off
  float frequency_penalty = 0.0f;// logit -= count · frequency_penalty
  float presence_penalty = 0.0f; // logit -= presence_penalty if the token occurred at all
  int32_t penalty_last_n = 64;   // how many recent tokens the penalties look at; 0: off, -1: all
  std::unordered_map<int32_t, float> logit_bias;  // added to a token's logit (-inf bans it)
  uint64_t seed = 0;
};

// One token still in the running, with its probability once a step has computed it.
struct Candidate {
  int32_t id;
  float logit;
  float p;
};

class Sampler {
 public:
  // Throws hearth::Error(invalid_argument) for parameters out of range (top_p outside [0, 1],
  // negative min_p, non-positive repeat_penalty, NaN anywhere, penalty_last_n < -1).
  explicit Sampler(SamplerParams params = {});

  // Runs the chain on logits (n_vocab floats) and draws a token. Throws
  // Error(invalid_argument) if logits is empty or every token was excluded (all -inf / banned).
  int32_t sample(std::span<const float> logits);

  // Runs the chain without drawing: the remaining candidates sorted by descending probability,
  // with p normalized after temperature. Valid until the next call. With temperature ≤ 0 it is
  // the single greedy token with p = 1.
  std::span<const Candidate> candidates(std::span<const float> logits);

  // Records a token of the sequence (prompt or generated) for the repetition penalties.
  void accept(int32_t token);
  // Forgets the recorded tokens and re-seeds the random source.
  void reset();

  const SamplerParams& params() const { return params_; }

 private:
  void prepare(std::span<const float> logits);  // the chain up to the final softmax
  void apply_penalties();
  void apply_bias();
  void sort_by_logit();
  void softmax_candidates();
  void top_k();
  void typical();
  void top_p();
  void min_p();
  int32_t draw();

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> cur_;       // reused candidate buffer
  size_t n_cur_ = 0;                 // live candidates in cur_
  bool sorted_ = false;              // cur_[0..n_cur_) sorted by descending logit
  std::vector<int32_t> history_;     // ring buffer of the last penalty_last_n tokens
  size_t history_pos_ = 0;           // next slot in the ring (once full)
  std::vector<int32_t> counts_;      // scratch per-token counts, all zero between calls
};

}  // namespace hearth::sample
