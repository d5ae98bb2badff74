// Hyper-parameters of a decoder-only transformer, read from GGUF metadata
// ("<arch>.embedding_length", ...). Names follow the GGUF keys.
#pragma once

#include <cstdint>
#include <string>

namespace hearth::gguf {
class File;
}

namespace hearth::model {

enum class Arch { llama, mistral, qwen2, qwen3 };

// How rotary position embedding pairs dimensions: `normal` rotates adjacent pairs (2i, 2i+1)
// (llama's GGUF files store q/k rows permuted for this), `neox` rotates (i, i + n_rot/2).
enum class RopeType { normal, neox };

enum class RopeScaling { none, linear, yarn };

struct HParams {
  Arch arch = Arch::llama;
  std::string arch_name;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;   // context_length
  int64_t n_embd = 0;        // embedding_length
  int64_t n_layer = 0;       // block_count
  int64_t n_ff = 0;          // feed_forward_length
  int64_t n_head = 0;        // attention.head_count
  int64_t n_head_kv = 0;     // attention.head_count_kv
  int64_t head_dim = 0;      // attention.key_length, else n_embd / n_head
  int64_t n_rot = 0;         // rope.dimension_count, else head_dim
  float rms_eps = 1e-5f;     // attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;
  RopeType rope_type = RopeType::normal;
  RopeScaling rope_scaling = RopeScaling::none;
  float rope_scaling_factor = 1.0f;    // rope.scaling.factor
  int64_t rope_orig_ctx = 0;           // rope.scaling.original_context_length
  float yarn_beta_fast = 32.0f, yarn_beta_slow = 1.0f;
  int64_t sliding_window = 0;          // attention.sliding_window (0: none)

  static HParams from_gguf(const gguf::File& f);
  int64_t n_embd_kv() const { return n_head_kv * head_dim; }
};

const char* arch_name(Arch a);

}  // namespace hearth::model
