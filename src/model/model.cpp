#include "model/model.h"

#include <algorithm>
#include <thread>

#include "model/batch.h"
#include "util/error.h"

namespace hearth::model {

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model(gguf::File::open(path)));
  m->hp_ = HParams::from_gguf(m->file_);
  m->weights_ = Weights::bind(m->file_, m->hp_);
  m->tokenizer_ = tokenizer::Tokenizer::from_gguf(m->file_);
  const int64_t n_vocab = m->weights_.output.rows;
  if (static_cast<int64_t>(m->tokenizer_->vocab().size()) > n_vocab) {
    throw_error(ErrorKind::format, "{}: tokenizer has {} tokens but the output layer only {} rows", path,
                m->tokenizer_->vocab().size(), n_vocab);
  }
  m->hp_.n_vocab = n_vocab;
  return m;
}

namespace {
int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
}  // namespace

Context::Context(const Model& model, ContextOptions opts)
    : model_(model), opts_(opts), pool_(opts.n_threads > 0 ? opts.n_threads : default_threads()) {
  const HParams& hp = model.hparams();
  int64_t n_ctx = opts.n_ctx > 0 ? opts.n_ctx : std::min<int64_t>(hp.n_ctx_train, 4096);
  if (n_ctx <= 0) n_ctx = 4096;
  opts_.n_batch = std::clamp<int64_t>(opts.n_batch, 1, n_ctx);
  kv_ = make_kv_cache(model, n_ctx);
  s_ = make_batch_scratch(model, opts_.n_batch, n_ctx, pool_.size());
  batch_.reserve(static_cast<size_t>(opts_.n_batch));
}

std::span<const float> Context::eval(std::span<const tokenizer::Token> tokens) {
  return run(tokens, false);
}

std::span<const float> Context::eval_all(std::span<const tokenizer::Token> tokens) {
  return run(tokens, true);
}

void Context::truncate(int64_t n) { n_past_ = std::clamp<int64_t>(n, 0, n_past_); }

std::span<const float> Context::run(std::span<const tokenizer::Token> tokens, bool all_logits) {
  const HParams& hp = model_.hparams();
  if (tokens.empty()) throw_error(ErrorKind::invalid_argument, "eval: no tokens to evaluate");
  if (n_past_ + static_cast<int64_t>(tokens.size()) > kv_.n_ctx) {
    throw_error(ErrorKind::limit, "context is full: {} tokens already, {} more would exceed the context size {}",
                n_past_, tokens.size(), kv_.n_ctx);
  }
  if (all_logits && static_cast<int64_t>(tokens.size()) > opts_.n_batch) {
    throw_error(ErrorKind::invalid_argument, "eval_all: at most {} tokens per call", opts_.n_batch);
  }
  for (tokenizer::Token t : tokens) {
    if (t < 0 || t >= hp.n_vocab) {
      throw_error(ErrorKind::invalid_argument, "eval: token id {} is outside the vocabulary (0..{})", t,
                  hp.n_vocab - 1);
    }
  }
  // Long prompts go through in batches of n_batch tokens; only the last row of the last batch
  // needs logits unless every position's are asked for.
  size_t done = 0;
  while (done < tokens.size()) {
    const size_t n = std::min<size_t>(tokens.size() - done, static_cast<size_t>(opts_.n_batch));
    batch_.clear();
    for (size_t i = 0; i < n; ++i) {
      const bool last = done + i + 1 == tokens.size();
      batch_.push_back({.token = tokens[done + i], .kv = &kv_, .pos = n_past_ + static_cast<int64_t>(i),
                        .logits = all_logits || last});
    }
    forward_llama_batch(model_, batch_, s_, pool_);
    n_past_ += static_cast<int64_t>(n);
    done += n;
  }
  const size_t n_out = all_logits ? tokens.size() : 1;
  return std::span<const float>(s_.logits.data(), n_out * static_cast<size_t>(hp.n_vocab));
}

}  // namespace hearth::model
