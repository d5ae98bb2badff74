#include "model/weights.h"

#include <fmt/format.h>

#include "gguf/gguf.h"
#include "util/error.h"

namespace hearth::model {

namespace {

class Binder {
 public:
  Binder(const gguf::File& f, Weights& w, std::vector<std::unique_ptr<float[]>>& converted)
      : f_(f), w_(w), converted_(converted) {}

  const gguf::TensorInfo* find(const std::string& name, bool required) {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (t == nullptr && required) {
      throw_error(ErrorKind::format, "{}: tensor '{}' is missing", f_.name(), name);
    }
    return t;
  }

  // A [rows × cols] matrix (GGUF dims [cols, rows]).
  kernels::Weight matrix(const std::string& name, int64_t cols, int64_t rows) {
    const gguf::TensorInfo* t = find(name, true);
    check_shape(*t, {cols, rows});
    if (!kernels::is_supported(t->type)) {
      throw_error(ErrorKind::unsupported, "{}: tensor '{}' has type {}, which hearth cannot compute with yet",
                  f_.name(), name, gguf::tensor_type_name(t->type));
    }
    w_.matrix_bytes += t->n_bytes;
    return kernels::Weight{t->type, f_.tensor_data(*t), rows, cols};
  }

  // A vector of n floats (norm weight, bias); nullptr if absent and not required.
  const float* vector(const std::string& name, int64_t n, bool required) {
    const gguf::TensorInfo* t = find(name, required);
    if (t == nullptr) return nullptr;
    check_shape(*t, {n});
    if (t->type == gguf::TensorType::F32) return reinterpret_cast<const float*>(f_.tensor_data(*t));
    if (!kernels::is_supported(t->type)) {
      throw_error(ErrorKind::unsupported, "{}: tensor '{}' has type {}, which hearth cannot compute with yet",
                  f_.name(), name, gguf::tensor_type_name(t->type));
    }
    auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
    kernels::dequantize_row(kernels::Weight{t->type, f_.tensor_data(*t), 1, n}, 0, buf.get());
    converted_.push_back(std::move(buf));
    return converted_.back().get();
  }

 private:
  void check_shape(const gguf::TensorInfo& t, std::initializer_list<int64_t> want) {
    bool ok = t.dims.size() == want.size();
    size_t i = 0;
    for (int64_t d : want) {
      if (ok && static_cast<int64_t>(t.dims[i]) != d) ok = false;
      ++i;
    }
    if (!ok) {
      std::string w = "[";
      i = 0;
      for (int64_t d : want) w += (i++ ? ", " : "") + std::to_string(d);
      throw_error(ErrorKind::format, "{}: tensor '{}' has shape {}, expected {}]", f_.name(), t.name,
                  t.shape_string(), w);
    }
  }

  const gguf::File& f_;
  Weights& w_;
  std::vector<std::unique_ptr<float[]>>& converted_;
};

}  // namespace

Weights Weights::bind(const gguf::File& f, const HParams& hp) {
  Weights w;
  Binder b(f, w, w.converted_);
  const int64_t n_embd = hp.n_embd, n_q = hp.n_head * hp.head_dim, n_kv = hp.n_embd_kv();
  const gguf::TensorInfo* embd = b.find("token_embd.weight", true);
  if (embd->dims.size() != 2 || static_cast<int64_t>(embd->dims[0]) != n_embd) {
    throw_error(ErrorKind::format, "{}: tensor 'token_embd.weight' has shape {}, expected [{}, n_vocab]",
                f.name(), embd->shape_string(), n_embd);
  }
  const int64_t n_vocab = static_cast<int64_t>(embd->dims[1]);
  w.token_embd = b.matrix("token_embd.weight", n_embd, n_vocab);
  w.matrix_bytes -= embd->n_bytes;  // only one row of the embedding is read per token
  w.output_norm = b.vector("output_norm.weight", n_embd, true);
  if (b.find("output.weight", false) != nullptr) {
    w.output = b.matrix("output.weight", n_embd, n_vocab);
  } else {
    w.output = w.token_embd;  // tied embeddings
    w.matrix_bytes += embd->n_bytes;
  }
  const bool qkv_bias = hp.arch == Arch::qwen2;
  const bool qk_norm = hp.arch == Arch::qwen3;
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    LayerWeights l;
    l.attn_norm = b.vector(p + "attn_norm.weight", n_embd, true);
    l.wq = b.matrix(p + "attn_q.weight", n_embd, n_q);
    l.wk = b.matrix(p + "attn_k.weight", n_embd, n_kv);
    l.wv = b.matrix(p + "attn_v.weight", n_embd, n_kv);
    l.wo = b.matrix(p + "attn_output.weight", n_q, n_embd);
    l.bq = b.vector(p + "attn_q.bias", n_q, qkv_bias);
    l.bk = b.vector(p + "attn_k.bias", n_kv, qkv_bias);
    l.bv = b.vector(p + "attn_v.bias", n_kv, qkv_bias);
    l.attn_q_norm = b.vector(p + "attn_q_norm.weight", hp.head_dim, qk_norm);
    l.attn_k_norm = b.vector(p + "attn_k_norm.weight", hp.head_dim, qk_norm);
    l.ffn_norm = b.vector(p + "ffn_norm.weight", n_embd, true);
    l.ffn_gate = b.matrix(p + "ffn_gate.weight", n_embd, hp.n_ff);
    l.ffn_up = b.matrix(p + "ffn_up.weight", n_embd, hp.n_ff);
    l.ffn_down = b.matrix(p + "ffn_down.weight", hp.n_ff, n_embd);
    w.layers.push_back(l);
  }
  return w;
}

}  // namespace hearth::model
