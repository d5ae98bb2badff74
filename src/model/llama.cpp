// The forward pass of the llama family: llama (Llama 2/3, TinyLlama, the sample model),
// mistral (llama + sliding-window attention), qwen2 (+ q/k/v biases, NeoX rope) and qwen3
// (+ per-head RMSNorm of q and k, NeoX rope). They differ only in those optional pieces, so
// one straight function serves all four; each optional step says which family uses it.
//
// The pass evaluates a batch of rows, each one token of some sequence with its own KV cache and
// position (model/batch.h): a single sequence's prompt chunk (Context::eval) and one decode
// step of several sequences (the server's continuous batching) are the same call. The matmuls
// run once for all rows; attention runs per row against its own cache.
//
// Shapes: n rows; x is [n][n_embd]; q is [n][n_head][head_dim]; k and v are
// [n][n_head_kv][head_dim]; a cache holds K and V as F16 rows [pos][n_head_kv * head_dim].
#include <cmath>

#include "kernels/fp16.h"
#include "kernels/ops.h"
#include "kernels/matmul.h"
#include "model/batch.h"
#include "util/error.h"

namespace hearth::model {

using kernels::matmul;

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
        static_cast<size_t>(b.kv->n_ctx) * static_cast<size_t>(hp.n_head / hp.n_head_kv) > scores_per_thread)
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
  // Each row's rotation table, once for all layers and heads: computing the angles per call,
  // with pow and sincos in doubles, cost a 1.1B decode step about 2 µs per layer (rope and
  // cache writes 94-116 -> 47-58 µs per token).
  const int64_t n_rot = kernels::rope_cache_size(rope);
  for (int64_t i = 0; i < n; ++i) kernels::rope_cache(rope, batch[i].pos, s.rope.data() + i * n_rot);

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
    const kernels::MatmulOut qkv[] = {{&L.wq, q}, {&L.wk, k}, {&L.wv, v}};
    kernels::matmul_group(qkv, xb, n, pool);
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
      kernels::rope_apply(q + i * n_q, hp.n_head, head_dim, s.rope.data() + i * n_rot, rope);
      kernels::rope_apply(k + i * n_kv, hp.n_head_kv, head_dim, s.rope.data() + i * n_rot, rope);
      for (int64_t h = 0; h < hp.n_head_kv; ++h) {
        kernels::fp32_to_fp16_row(k + i * n_kv + h * head_dim, kv.k_rows(l, h) + pos * head_dim, head_dim);
        kernels::fp32_to_fp16_row(v + i * n_kv + h * head_dim, kv.v_rows(l, h) + pos * head_dim, head_dim);
      }
    }

    // Causal attention of each row over its own cache. With grouped-query attention the jobs
    // are (row, KV head): the query heads sharing a KV head go together, so each cached K and V
    // row is converted once for all of them (pp2048 of the 1.1B Q4_K model, 8 query heads per
    // KV head: 110-117 -> 137-146 t/s). Every batch does it this way, so a row's attention
    // is computed the same whether it is evaluated alone or batched with others.
    const bool by_kv_head = hp.n_head > hp.n_head_kv;
    const int64_t per_row = by_kv_head ? hp.n_head_kv : hp.n_head;
    const size_t stride = static_cast<size_t>(head_dim);  // a KV head's rows are contiguous (KvCache)
    pool.run([&](int ith, int nth) {
      float* scores = s.attn_scores.data() + static_cast<size_t>(ith) * scores_per_thread;
      for (int64_t job = ith; job < n * per_row; job += nth) {
        const int64_t i = job / per_row, h = job % per_row;
        const KvCache& kv = *batch[i].kv;
        if (by_kv_head) {
          const int64_t h0 = h * (hp.n_head / hp.n_head_kv);  // the first query head of KV head h
          kernels::attention_kv_group_rows(q + i * n_q + h0 * head_dim, kv.k_rows(l, h), kv.v_rows(l, h), stride,
                                           batch[i].pos, ap, scores, s.att_out.data() + i * n_q + h0 * head_dim);
        } else {
          kernels::attention_head_rows(q + i * n_q + h * head_dim, kv.k_rows(l, h), kv.v_rows(l, h), stride,
                                       batch[i].pos, ap, scores, s.att_out.data() + i * n_q + h * head_dim);
        }
      }
    });
    matmul(L.wo, s.att_out.data(), n, xb2, pool);
    for (int64_t i = 0; i < n * n_embd; ++i) x[i] += xb2[i];

    // Feed-forward (SwiGLU).
    for (int64_t i = 0; i < n; ++i) kernels::rmsnorm(x + i * n_embd, L.ffn_norm, n_embd, hp.rms_eps, xb + i * n_embd);
    const kernels::MatmulOut gate_up[] = {{&L.ffn_gate, s.hb.data()}, {&L.ffn_up, s.hb2.data()}};
    kernels::matmul_group(gate_up, xb, n, pool);
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
