#include "model/hparams.h"

#include "gguf/gguf.h"
#include "util/error.h"

namespace hearth::model {

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::llama: return "llama";
    case Arch::mistral: return "mistral";
    case Arch::qwen2: return "qwen2";
    case Arch::qwen3: return "qwen3";
  }
  return "?";
}

HParams HParams::from_gguf(const gguf::File& f) {
  HParams h;
  h.arch_name = f.get_string("general.architecture");
  if (h.arch_name == "llama") h.arch = Arch::llama;
  else if (h.arch_name == "mistral") h.arch = Arch::mistral;
  else if (h.arch_name == "qwen2") h.arch = Arch::qwen2;
  else if (h.arch_name == "qwen3") h.arch = Arch::qwen3;
  else {
    throw_error(ErrorKind::unsupported,
                "{}: architecture '{}' is not supported (supported: llama, mistral, qwen2, qwen3)",
                f.name(), h.arch_name);
  }
  const std::string p = h.arch_name + ".";
  h.n_ctx_train = f.get_int(p + "context_length");
  h.n_embd = f.get_int(p + "embedding_length");
  h.n_layer = f.get_int(p + "block_count");
  h.n_ff = f.get_int(p + "feed_forward_length");
  h.n_head = f.get_int(p + "attention.head_count");
  h.n_head_kv = f.find_int(p + "attention.head_count_kv").value_or(h.n_head);
  if (h.n_embd <= 0 || h.n_layer <= 0 || h.n_head <= 0 || h.n_head_kv <= 0 || h.n_ff <= 0) {
    throw_error(ErrorKind::format, "{}: non-positive hyper-parameter (embd {}, layers {}, heads {}/{}, ff {})",
                f.name(), h.n_embd, h.n_layer, h.n_head, h.n_head_kv, h.n_ff);
  }
  if (h.n_head % h.n_head_kv != 0) {
    throw_error(ErrorKind::format, "{}: head_count {} is not a multiple of head_count_kv {}", f.name(),
                h.n_head, h.n_head_kv);
  }
  h.head_dim = f.find_int(p + "attention.key_length").value_or(h.n_embd / h.n_head);
  h.n_rot = f.find_int(p + "rope.dimension_count").value_or(h.head_dim);
  if (h.n_rot > h.head_dim || h.n_rot % 2 != 0) {
    throw_error(ErrorKind::format, "{}: rope.dimension_count {} does not fit head size {}", f.name(), h.n_rot,
                h.head_dim);
  }
  h.rms_eps = static_cast<float>(f.find_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  h.rope_freq_base = static_cast<float>(f.find_float(p + "rope.freq_base").value_or(10000.0));
  h.rope_type = (h.arch == Arch::qwen2 || h.arch == Arch::qwen3) ? RopeType::neox : RopeType::normal;
  std::string scaling = f.find_string(p + "rope.scaling.type").value_or("none");
  h.rope_scaling_factor = static_cast<float>(f.find_float(p + "rope.scaling.factor").value_or(1.0));
  if (scaling == "linear") h.rope_scaling = RopeScaling::linear;
  else if (scaling == "yarn") h.rope_scaling = RopeScaling::yarn;
  else if (scaling == "none" || scaling.empty()) h.rope_scaling = RopeScaling::none;
  else throw_error(ErrorKind::unsupported, "{}: rope scaling '{}' is not supported", f.name(), scaling);
  if (h.rope_scaling != RopeScaling::none && h.rope_scaling_factor <= 0.0f) {
    throw_error(ErrorKind::format, "{}: rope.scaling.factor must be positive", f.name());
  }
  h.rope_orig_ctx = f.find_int(p + "rope.scaling.original_context_length").value_or(h.n_ctx_train);
  h.sliding_window = f.find_int(p + "attention.sliding_window").value_or(0);
  if (const gguf::Value* v = f.find("tokenizer.ggml.tokens"); v && v->as_array()) {
    h.n_vocab = static_cast<int64_t>(v->as_array()->items.size());
  }
  return h;
}

}  // namespace hearth::model
