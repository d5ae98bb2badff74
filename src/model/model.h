// A loaded model: hyper-parameters, tokenizer and weights, all backed by the GGUF mapping.
// A Model is immutable once loaded; the state of one conversation (KV cache, scratch buffers)
// lives in a Context, so several contexts can share one model.
//
//   auto m = hearth::model::Model::load("model.gguf");
//   hearth::model::Context ctx(*m, {.n_ctx = 2048, .n_threads = 4});
//   std::span<const float> logits = ctx.eval(prompt_tokens);   // logits of the last token
//   logits = ctx.eval({&next, 1});
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "util/mmap.h"
#include "util/thread_pool.h"

namespace hearth::model {

class Model {
 public:
  // Maps and validates the file: architecture, hyper-parameters, every tensor's presence,
  // shape and type, and the tokenizer. Throws hearth::Error naming what is wrong.
  static std::unique_ptr<Model> load(const std::string& path);

  const gguf::File& file() const { return file_; }
  const HParams& hparams() const { return hp_; }
  const Weights& weights() const { return weights_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  explicit Model(gguf::File f) : file_(std::move(f)) {}
  gguf::File file_;
  HParams hp_;
  Weights weights_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

struct ContextOptions {
  int64_t n_ctx = 0;     // 0: min(model context, 4096)
  int n_threads = 0;     // 0: the number of cores
  int64_t n_batch = 512; // tokens evaluated per forward call when a prompt is longer
};

// The KV cache of one sequence: per layer, K and V as F16, [n_head_kv][n_ctx][head_dim]. Each
// KV head's rows are together, so attention, which reads one head's rows from the first
// position to the last, streams through memory instead of taking head_dim of every n_embd_kv
// values (position-major, [n_ctx][n_head_kv][head_dim], the prefetcher follows such slices
// poorly: one thread's attention of a 1.1B decode step at position 8000 took 17.5 against 12.6
// ms; docs/engine.md).
struct KvCache {
  int64_t n_ctx = 0;
  int64_t n_embd_kv = 0;
  int64_t head_dim = 0;
  std::vector<std::span<uint16_t>> k, v;  // one [n_head_kv][n_ctx][head_dim] F16 buffer per layer
  // Layer l's K (or V) rows of KV head h: position t's head_dim values at t·head_dim.
  uint16_t* k_rows(size_t l, int64_t h) const { return k[l].data() + h * n_ctx * head_dim; }
  uint16_t* v_rows(size_t l, int64_t h) const { return v[l].data() + h * n_ctx * head_dim; }
  // The memory of all of them: anonymous, zero-filled, on 2 MiB pages where the kernel gives
  // them (util/mmap.h). Attention reads a head's rows of thousands of positions per token, and
  // with 4 KiB pages the page walks slowed those reads down (the 1.1B model decoding at
  // position 4000, position-major cache: 29.4 against 34.3 tokens/s; docs/engine.md).
  std::unique_ptr<HugePageBuffer> memory;
};

// One row of a forward pass: a token of some sequence, that sequence's KV cache and the
// token's position in it (model/batch.h, forward_llama_batch).
struct BatchToken {
  tokenizer::Token token = 0;
  KvCache* kv = nullptr;
  int64_t pos = 0;
  bool logits = false;
};

class Context {
 public:
  Context(const Model& model, ContextOptions opts = {});

  // Appends `tokens` to the sequence and returns the logits (n_vocab floats) of the last one.
  // Throws Error(limit) if the sequence would exceed n_ctx (nothing is evaluated then).
  std::span<const float> eval(std::span<const tokenizer::Token> tokens);
  // As eval, but returns logits for every token of this call: [tokens.size()][n_vocab].
  std::span<const float> eval_all(std::span<const tokenizer::Token> tokens);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return kv_.n_ctx; }
  // Forgets the sequence after position n (keeps the first n tokens' cache).
  void truncate(int64_t n);
  const Model& model() const { return model_; }
  int n_threads() const { return pool_.size(); }
  // The F16 K/V of the positions evaluated so far (read-only: tests compare it with the oracle).
  const KvCache& kv_cache() const { return kv_; }

  // Buffers of one forward call, sized for n_batch tokens (allocated once).
  struct Scratch {
    std::vector<float> x, xb, xb2, q, k, v, att_out, hb, hb2, logits, attn_scores;
    std::vector<float> rope;  // per row: the cos/sin table of its position (kernels::rope_cache)
  };

 private:
  std::span<const float> run(std::span<const tokenizer::Token> tokens, bool all_logits);

  const Model& model_;
  ContextOptions opts_;
  ThreadPool pool_;
  KvCache kv_;
  Scratch s_;
  std::vector<BatchToken> batch_;  // rows of one forward call (reused: eval allocates nothing)
  int64_t n_past_ = 0;
};

}  // namespace hearth::model
