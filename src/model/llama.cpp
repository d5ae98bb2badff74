// The forward pass of the llama family: llama (Llama 2/3, TinyLlama, the sample model),
// mistral (llama + sliding-window attention), qwen2 (+ q/k/v biases, NeoX rope) and qwen3
// (+ per-head RMSNorm of q and k, NeoX rope). They differ only in those optional pieces, so
// one straight function serves all four; each optional step says which family uses it.
//
// Shapes: n tokens at positions n_past .. n_past+n-1; x is [n][n_embd]; q is
// [n][n_head][head_dim]; k and v are [n][n_head_kv][head_dim]; the cache holds K and V as F16
// rows [pos][n_head_kv * head_dim].
#include <cmath>

#include "kernels/fp16.h"
#include "kernels/ops.h"
#include "model/model.h"

namespace hearth::model {

using kernels::matmul;

void forward_llama(const Model& m, KvCache& kv, Context::Scratch& s, ThreadPool& pool,
                   std::span<const tokenizer::Token> tokens, int64_t n_past, bool all_logits) {
  const HParams& hp = m.hparams();
  const Weights& w = m.weights();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t n_embd = hp.n_embd, head_dim = hp.head_dim, n_kv = hp.n_embd_kv();
  const int64_t n_q = hp.n_head * head_dim;
  float* x = s.x.data();
  float* xb = s.xb.data();
  float* xb2 = s.xb2.data();
  float* q = s.q.data();
  float* k = s.k.data();
  float* v = s.v.data();

  // Token embeddings.
  for (int64_t i = 0; i < n; ++i) kernels::dequantize_row(w.token_embd, tokens[i], x + i * n_embd);

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

  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& L = w.layers[l];

    // Attention: x → rmsnorm → q, k, v.
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
    if (L.attn_q_norm != nullptr) {  // qwen3: RMSNorm of each head of q and k
      for (int64_t h = 0; h < n * hp.n_head; ++h)
        kernels::rmsnorm(q + h * head_dim, L.attn_q_norm, head_dim, hp.rms_eps, q + h * head_dim);
      for (int64_t h = 0; h < n * hp.n_head_kv; ++h)
        kernels::rmsnorm(k + h * head_dim, L.attn_k_norm, head_dim, hp.rms_eps, k + h * head_dim);
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos = n_past + i;
      kernels::rope(q + i * n_q, hp.n_head, head_dim, pos, rope);
      kernels::rope(k + i * n_kv, hp.n_head_kv, head_dim, pos, rope);
      kernels::fp32_to_fp16_row(k + i * n_kv, kv.k[l].data() + pos * n_kv, n_kv);
      kernels::fp32_to_fp16_row(v + i * n_kv, kv.v[l].data() + pos * n_kv, n_kv);
    }

    // Causal attention over the cache, every (token, head) pair in parallel.
    const kernels::AttentionParams ap = {
        .n_head = static_cast<int>(hp.n_head),
        .n_head_kv = static_cast<int>(hp.n_head_kv),
        .head_dim = static_cast<int>(head_dim),
        .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
        .sliding_window = hp.sliding_window,
    };
    pool.run([&](int ith, int nth) {
      float* scores = s.attn_scores.data() + static_cast<size_t>(ith) * kv.n_ctx;
      for (int64_t job = ith; job < n * hp.n_head; job += nth) {
        const int64_t i = job / hp.n_head, h = job % hp.n_head;
        kernels::attention_head(q + i * n_q + h * head_dim, kv.k[l].data(), kv.v[l].data(), n_past + i, h, ap,
                                scores, s.att_out.data() + i * n_q + h * head_dim);
      }
    });
    matmul(L.wo, s.att_out.data(), n, xb2, pool);
    for (int64_t i = 0; i < n * n_embd; ++i) x[i] += xb2[i];

    // Feed-forward (SwiGLU): x → rmsnorm → down(silu(gate) * up).
    for (int64_t i = 0; i < n; ++i) kernels::rmsnorm(x + i * n_embd, L.ffn_norm, n_embd, hp.rms_eps, xb + i * n_embd);
    matmul(L.ffn_gate, xb, n, s.hb.data(), pool);
    matmul(L.ffn_up, xb, n, s.hb2.data(), pool);
    kernels::swiglu(s.hb.data(), s.hb2.data(), n * hp.n_ff, s.hb.data());
    matmul(L.ffn_down, s.hb.data(), n, xb2, pool);
    for (int64_t i = 0; i < n * n_embd; ++i) x[i] += xb2[i];
  }

  // Final norm and the output layer, for the last token only unless every position is asked.
  const int64_t first = all_logits ? 0 : n - 1;
  const int64_t n_out = n - first;
  for (int64_t i = 0; i < n_out; ++i)
    kernels::rmsnorm(x + (first + i) * n_embd, w.output_norm, n_embd, hp.rms_eps, xb + i * n_embd);
  matmul(w.output, xb, n_out, s.logits.data(), pool);
}

}  // namespace hearth::model
