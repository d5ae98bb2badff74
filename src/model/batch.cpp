// The buffers a batched forward pass works in: one KV cache per sequence, scratch for a step.
// (The forward pass itself is the architecture's: forward_llama_batch in llama.cpp.)
#include "model/batch.h"

#include <algorithm>

namespace hearth::model {

KvCache make_kv_cache(const Model& m, int64_t n_ctx) {
  const HParams& hp = m.hparams();
  KvCache kv;
  kv.n_ctx = n_ctx;
  kv.n_embd_kv = hp.n_embd_kv();
  kv.head_dim = hp.head_dim;
  const size_t per_layer = static_cast<size_t>(n_ctx * kv.n_embd_kv);
  kv.memory = std::make_unique<HugePageBuffer>(2 * static_cast<size_t>(hp.n_layer) * per_layer * sizeof(uint16_t));
  auto* base = reinterpret_cast<uint16_t*>(kv.memory->data());
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    kv.k.emplace_back(base + 2 * l * per_layer, per_layer);
    kv.v.emplace_back(base + (2 * l + 1) * per_layer, per_layer);
  }
  return kv;
}

Context::Scratch make_batch_scratch(const Model& m, int64_t n_rows, int64_t n_ctx, int n_threads) {
  const HParams& hp = m.hparams();
  const size_t nb = static_cast<size_t>(std::max<int64_t>(n_rows, 1));
  const size_t n_q = static_cast<size_t>(hp.n_head * hp.head_dim);
  const size_t n_kv = static_cast<size_t>(hp.n_embd_kv());
  Context::Scratch s;
  s.x.resize(nb * hp.n_embd);
  s.xb.resize(nb * std::max<size_t>(hp.n_embd, n_q));
  s.xb2.resize(nb * hp.n_embd);
  s.q.resize(nb * n_q);
  s.k.resize(nb * n_kv);
  s.v.resize(nb * n_kv);
  s.att_out.resize(nb * n_q);
  s.hb.resize(nb * hp.n_ff);
  s.hb2.resize(nb * hp.n_ff);
  s.logits.resize(nb * hp.n_vocab);
  s.rope.resize(nb * static_cast<size_t>(hp.n_rot));
  // Per thread: one score per position for each query head of a KV group (attention by KV head).
  s.attn_scores.resize(static_cast<size_t>(std::max(n_threads, 1)) * static_cast<size_t>(n_ctx) *
                       static_cast<size_t>(hp.n_head / hp.n_head_kv));
  return s;
}

}  // namespace hearth::model
