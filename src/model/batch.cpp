// forward_llama_batch: forward_llama (llama.cpp) with a (cache, position) per row. The steps
// are the same and in the same order, so a row gives the same numbers as in forward_llama.
#include "model/batch.h"

#include <algorithm>
#include <cmath>

#include "kernels/fp16.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "util/error.h"

namespace hearth::model {

using kernels::matmul;

KvCache make_kv_cache(const Model& m, int64_t n_ctx) {
  const HParams& hp = m.hparams();
  KvCache kv;
  kv.n_ctx = n_ctx;
  kv.n_embd_kv = hp.n_embd_kv();
  kv.k.resize(static_cast<size_t>(hp.n_layer));
  kv.v.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    kv.k[l].assign(static_cast<size_t>(n_ctx * kv.n_embd_kv), 0);
    kv.v[l].assign(static_cast<size_t>(n_ctx * kv.n_embd_kv), 0);
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
  s.attn_scores.resize(static_cast<size_t>(std::max(n_threads, 1)) * static_cast<size_t>(n_ctx));
  return s;
}

void forward_llama_batch(const Model& m, std::span<const BatchToken> batch, Context::Scratch& s,
                         ThreadPool& pool) {
  const HParams& hp = m.hparams();
  const Weights& w = m.weights();
  const int64_t n = static_cast<int64_t>(batch.size());
  if (n == 0) return;
  const int64_t n_embd = hp.n_embd, head_dim = hp.head_dim, n_kv = hp.n_embd_kv();
  const int64_t n_q = hp.n_head * head_dim;
  if (static_cast<size_t>(n * n_embd) > s.x.size())
    throw_error(ErrorKind::internal, "forward_llama_batch: {} rows but the scratch holds {}", n,
                s.x.size() / static_cast<size_t>(n_embd));
  const size_t scores_per_thread = s.attn_scores.size() / static_cast<size_t>(pool.size());
  for (const BatchToken& b : batch) {
    if (b.token < 0 || b.token >= hp.n_vocab)
      throw_error(ErrorKind::invalid_argument, "eval: token id {} is outside the vocabulary (0..{})", b.token,
                  hp.n_vocab - 1);
    if (b.kv == nullptr || b.pos < 0 || b.pos >= b.kv->n_ctx || b.kv->n_embd_kv != n_kv ||
        static_cast<size_t>(b.kv->n_ctx) > scores_per_thread)
      throw_error(ErrorKind::invalid_argument, "eval: position {} is outside the context", b.pos);
  }
  float* x = s.x.data();
  float* xb = s.xb.data();
  float* xb2 = s.xb2.data();
  float* q = s.q.data();
  float* k = s.k.data();
  float* v = s.v.data();

  for (int64_t i = 0; i < n; ++i) kernels::dequantize_row(w.token_embd, batch[i].token, x + i * n_embd);

  const kernels::RopeParams rope = {
      .n_rot = static_cast<int>(hp.n_rot),
      .neox = hp.rope_type == RopeType::neox,
      .freq_base = hp.rope_freq_base,
      .freq_scale = hp.rope_scaling == RopeScaling::none ? 1.0f : 1.0f / hp.rope_scaling_factor,
      .yarn = hp.rope_scaling == RopeScaling::yarn,
      .n_ctx_orig = static_cast<int>(hp.rope_orig_ctx),
      .beta_fast = hp.yarn_beta_fast,
      .beta_slow = hp.yarn_beta_slow,
  };
  const kernels::AttentionParams ap = {
      .n_head = static_cast<int>(hp.n_head),
      .n_head_kv = static_cast<int>(hp.n_head_kv),
      .head_dim = static_cast<int>(head_dim),
      .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
      .sliding_window = hp.sliding_window,
  };

  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& L = w.layers[l];

    // Attention: x → rmsnorm → q, k, v, for all rows at once.
    for (int64_t i = 0; i < n; ++i) kernels::rmsnorm(x + i * n_embd, L.attn_norm, n_embd, hp.rms_eps, xb + i * n_embd);
    matmul(L.wq, xb, n, q, pool);
    matmul(L.wk, xb, n, k, pool);
    matmul(L.wv, xb, n, v, pool);
    if (L.bq != nullptr) {  // qwen2
      for (int64_t i = 0; i < n; ++i) {
        kernels::add(q + i * n_q, L.bq, n_q);
        kernels::add(k + i * n_kv, L.bk, n_kv);
        kernels::add(v + i * n_kv, L.bv, n_kv);
      }
    }
    if (L.attn_q_norm != nullptr) {  // qwen3
      for (int64_t h = 0; h < n * hp.n_head; ++h)
        kernels::rmsnorm(q + h * head_dim, L.attn_q_norm, head_dim, hp.rms_eps, q + h * head_dim);
      for (int64_t h = 0; h < n * hp.n_head_kv; ++h)
        kernels::rmsnorm(k + h * head_dim, L.attn_k_norm, head_dim, hp.rms_eps, k + h * head_dim);
    }
    // Each row's rope at its own position; K/V into its own cache.
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos = batch[i].pos;
      KvCache& kv = *batch[i].kv;
      kernels::rope(q + i * n_q, hp.n_head, head_dim, pos, rope);
      kernels::rope(k + i * n_kv, hp.n_head_kv, head_dim, pos, rope);
      kernels::fp32_to_fp16_row(k + i * n_kv, kv.k[l].data() + pos * n_kv, n_kv);
      kernels::fp32_to_fp16_row(v + i * n_kv, kv.v[l].data() + pos * n_kv, n_kv);
    }

    // Causal attention of each row over its own cache, every (row, head) pair in parallel.
    pool.run([&](int ith, int nth) {
      float* scores = s.attn_scores.data() + static_cast<size_t>(ith) * scores_per_thread;
      for (int64_t job = ith; job < n * hp.n_head; job += nth) {
        const int64_t i = job / hp.n_head, h = job % hp.n_head;
        const KvCache& kv = *batch[i].kv;
        kernels::attention_head(q + i * n_q + h * head_dim, kv.k[l].data(), kv.v[l].data(), batch[i].pos, h, ap,
                                scores, s.att_out.data() + i * n_q + h * head_dim);
      }
    });
    matmul(L.wo, s.att_out.data(), n, xb2, pool);
    for (int64_t i = 0; i < n * n_embd; ++i) x[i] += xb2[i];

    // Feed-forward (SwiGLU).
    for (int64_t i = 0; i < n; ++i) kernels::rmsnorm(x + i * n_embd, L.ffn_norm, n_embd, hp.rms_eps, xb + i * n_embd);
    matmul(L.ffn_gate, xb, n, s.hb.data(), pool);
    matmul(L.ffn_up, xb, n, s.hb2.data(), pool);
    kernels::swiglu(s.hb.data(), s.hb2.data(), n * hp.n_ff, s.hb.data());
    matmul(L.ffn_down, s.hb.data(), n, xb2, pool);
    for (int64_t i = 0; i < n * n_embd; ++i) x[i] += xb2[i];
  }

  // Final norm and output layer for the rows that want logits.
  int64_t n_out = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!batch[i].logits) continue;
    kernels::rmsnorm(x + i * n_embd, w.output_norm, n_embd, hp.rms_eps, xb + n_out * n_embd);
    ++n_out;
  }
  matmul(w.output, xb, n_out, s.logits.data(), pool);
}

}  // namespace hearth::model
