// Elementwise and per-row operations of a transformer forward pass: norms, rotary position
// embedding, softmax, activations, vector arithmetic and attention of one query over an F16 KV
// cache. All take plain float pointers and lengths; outputs may alias inputs unless a function
// says otherwise. They are generic C++ written so the compiler can vectorize the simple loops;
// the dot products inside attention go through the run-time selected kernels (vec.h).
//
// These run inside the decode loop: they never throw and never allocate. Parameters that come
// from a model file (rope dimensions, head counts) are checked once, at load time, with
// validate_rope / validate_attention.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hearth::kernels {

// ---- normalization ----

// out[i] = x[i] / sqrt(mean(x²) + eps) * weight[i]. weight may be nullptr (all ones).
// The sum of squares is accumulated in double, as ggml does, so long rows lose no precision.
void rmsnorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// out[i] = (x[i] - mean) / sqrt(var + eps) * weight[i] + bias[i]; weight / bias may be nullptr.
void layernorm(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* out);

// ---- rotary position embedding (RoPE) ----
//
// Each head's first n_rot dimensions are rotated in pairs by angle pos · θ_i with
// θ_i = freq_base^(-2i / n_rot), i = 0 .. n_rot/2 - 1; dimensions n_rot .. head_dim-1 are left
// as they are.
//   normal (llama, mistral): pair i is (2i, 2i+1) — adjacent elements. Llama GGUF files store
//                            the q/k weight rows permuted so that this matches Meta's layout.
//   neox   (qwen2, qwen3):   pair i is (i, i + n_rot/2) — the two halves.
// Context extension:
//   linear: the position is scaled, angle = freq_scale · pos · θ_i (freq_scale = 1/factor).
//   YaRN:   dimensions whose wavelength is short compared to the original context keep the
//           unscaled angle (extrapolation), long ones get the scaled one (interpolation), with a
//           linear ramp between dimension indices given by beta_fast / beta_slow; cos and sin
//           are multiplied by attn_factor · (1 + 0.1 · ln(1/freq_scale)).
struct RopeParams {
  int n_rot = 0;             // rope.dimension_count: rotated dimensions per head (even)
  bool neox = false;         // pair the halves instead of adjacent elements
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;   // 1 / rope.scaling.factor for linear and YaRN scaling
  bool yarn = false;         // rope.scaling.type == "yarn"
  int n_ctx_orig = 0;        // rope.scaling.original_context_length (YaRN)
  float beta_fast = 32.0f;   // YaRN ramp: rotations per original context where extrapolation ends
  float beta_slow = 1.0f;    //            ... and where interpolation takes over completely
  float ext_factor = 1.0f;   // YaRN mix strength (0 turns the ramp off; used only when yarn)
  float attn_factor = 1.0f;  // multiplies cos and sin (magnitude correction)
};

// Throws hearth::Error(format) if n_rot is odd, negative or larger than head_dim, or a
// frequency parameter is not positive and finite. Call once when a model is loaded.
void validate_rope(const RopeParams& p, int64_t head_dim);

// Floats of one position's cos/sin table: n_rot (cos, sin for each of the n_rot/2 pairs).
inline int64_t rope_cache_size(const RopeParams& p) { return p.n_rot; }

// Fills cache[0 .. rope_cache_size) with (cos, sin) of every pair at position pos. A forward
// pass fills this once per position and reuses it for q and k of every layer.
void rope_cache(const RopeParams& p, int64_t pos, float* cache);

// Rotates x, n_head heads of head_dim floats each ([n_head][head_dim]), in place, with a table
// made by rope_cache for the wanted position.
void rope_apply(float* x, int64_t n_head, int64_t head_dim, const float* cache, const RopeParams& p);

// rope_cache + rope_apply in one call, with the table on the stack (for n_rot ≤ 1024; a larger
// n_rot computes the angles pair by pair). Convenient where the table is not reused.
void rope(float* x, int64_t n_head, int64_t head_dim, int64_t pos, const RopeParams& p);

// ---- softmax and activations ----

// x ← exp(x - max) / Σ exp(x - max), in place. -inf entries become 0. If every entry is -inf
// (nothing allowed) the result is all zeros rather than NaN.
void softmax(float* x, int64_t n);
// softmax(scale·x) without the division: x ← exp(scale·(x - max)), returning Σ x (0, with x all
// zeros, when every entry is -inf). scale > 0.
double exp_sum(float* x, int64_t n, float scale);

// out = x · sigmoid(x)
void silu(const float* x, int64_t n, float* out);
// out = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³))): the tanh approximation ggml uses.
void gelu(const float* x, int64_t n, float* out);
// out = silu(gate) · up (the SwiGLU feed-forward of llama); out may alias gate or up.
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// ---- vector arithmetic ----

void add(float* a, const float* b, int64_t n);                        // a += b
void add(const float* a, const float* b, int64_t n, float* out);      // out = a + b
void mul(float* a, const float* b, int64_t n);                        // a *= b
void mul(const float* a, const float* b, int64_t n, float* out);      // out = a * b
void scale(float* x, float s, int64_t n);                             // x *= s

// ---- attention over an F16 KV cache ----
//
// The cache of one layer holds K and V as IEEE half bit patterns, one row per position:
// [pos][n_head_kv * head_dim]. With grouped-query attention (n_head_kv < n_head) query head h
// reads KV head h / (n_head / n_head_kv).
struct AttentionParams {
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  float scale = 0.0f;          // usually 1/sqrt(head_dim)
  int64_t sliding_window = 0;  // > 0: a query at pos sees only keys at pos - window < p ≤ pos
};

// Throws hearth::Error(format) unless n_head, n_head_kv, head_dim are positive and n_head is a
// multiple of n_head_kv.
void validate_attention(const AttentionParams& p);

// First cache position a query at pos attends to (0 without a sliding window).
inline int64_t attention_first_pos(const AttentionParams& p, int64_t pos) {
  return (p.sliding_window > 0 && pos >= p.sliding_window) ? pos - p.sliding_window + 1 : 0;
}

// Causal attention of query head h (q: head_dim floats, already roped) at position pos over
// cache positions attention_first_pos .. pos. scores is scratch space of at least pos + 1
// floats; out receives head_dim floats. Safe to call from several threads with distinct
// scores / out buffers.
void attention_head(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t pos, int64_t h,
                    const AttentionParams& p, float* scores, float* out);

// attention_head for the n_head / n_head_kv query heads that share KV head kvh (q and out:
// [n_head / n_head_kv][head_dim], those heads in order), reading each K row once for all of
// them. scores: at least (n_head / n_head_kv)·(pos + 1) floats.
void attention_kv_group(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t pos, int64_t kvh,
                        const AttentionParams& p, float* scores, float* out);

// The same two over one KV head's cached rows wherever they are: position t's head_dim K values
// at k_rows + t·stride, its V values at v_rows + t·stride. (The functions above are these with
// k_cache + kvh·head_dim and a stride of n_head_kv·head_dim; the model's cache keeps each head's
// rows together, stride head_dim: model/model.h, KvCache.)
void attention_head_rows(const float* q, const uint16_t* k_rows, const uint16_t* v_rows, size_t stride,
                         int64_t pos, const AttentionParams& p, float* scores, float* out);
void attention_kv_group_rows(const float* q, const uint16_t* k_rows, const uint16_t* v_rows, size_t stride,
                             int64_t pos, const AttentionParams& p, float* scores, float* out);

// attention_head for every head: q and out are [n_head][head_dim].
void attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t pos,
               const AttentionParams& p, float* scores, float* out);

}  // namespace hearth::kernels
