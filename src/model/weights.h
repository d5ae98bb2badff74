// The tensors of a decoder-only transformer, bound by their GGUF names to views into the
// memory mapping. Matrices stay in their file format; small vectors (norm weights, biases) are
// used in place when F32 and converted once at load otherwise.
#pragma once

#include <memory>
#include <vector>

#include "kernels/matmul.h"
#include "model/hparams.h"

namespace hearth::gguf {
class File;
}

namespace hearth::model {

struct LayerWeights {
  const float* attn_norm = nullptr;        // blk.N.attn_norm.weight [n_embd]
  kernels::Weight wq, wk, wv, wo;          // attn_q/k/v/output.weight
  const float* bq = nullptr;               // attn_q/k/v.bias (qwen2)
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* attn_q_norm = nullptr;      // attn_q_norm/attn_k_norm.weight [head_dim] (qwen3)
  const float* attn_k_norm = nullptr;
  const float* ffn_norm = nullptr;         // ffn_norm.weight [n_embd]
  kernels::Weight ffn_gate, ffn_up, ffn_down;
};

struct Weights {
  kernels::Weight token_embd;              // [n_vocab rows × n_embd]
  const float* output_norm = nullptr;
  kernels::Weight output;                  // lm head; token_embd when tied
  std::vector<LayerWeights> layers;
  uint64_t matrix_bytes = 0;               // bytes of all matrices (read once per token)

  // Binds every tensor the architecture needs; throws hearth::Error naming a missing tensor,
  // a tensor whose shape does not match the hyper-parameters, or a type with no kernel.
  static Weights bind(const gguf::File& f, const HParams& hp);

 private:
  std::vector<std::unique_ptr<float[]>> converted_;  // non-F32 vectors converted at load
};

}  // namespace hearth::model
