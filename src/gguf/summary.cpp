#include "gguf/summary.h"

#include <fmt/format.h>

namespace hearth::gguf {

namespace {

// Hyper-parameter keys are prefixed by the architecture ("llama.context_length"). Integer
// keys are sometimes stored per layer as arrays; then report the first element.
std::optional<int64_t> arch_int(const File& f, const std::string& arch, const char* key) {
  const Value* v = f.find(arch + "." + key);
  if (v == nullptr) return std::nullopt;
  if (auto i = v->as_int()) return i;
  if (const Array* a = v->as_array(); a != nullptr && !a->items.empty()) return a->items[0].as_int();
  return std::nullopt;
}

std::optional<double> arch_float(const File& f, const std::string& arch, const char* key) {
  const Value* v = f.find(arch + "." + key);
  return v == nullptr ? std::nullopt : v->as_float();
}

}  // namespace

Summary summarize(const File& f) {
  Summary s;
  s.path = f.name();
  s.file_size = f.file_size();
  s.version = f.version();
  s.alignment = f.alignment();
  s.architecture = f.find_string("general.architecture").value_or("");
  s.name = f.find_string("general.name").value_or("");
  s.file_type = f.find_int("general.file_type");
  s.n_tensors = f.tensors().size();
  for (const auto& t : f.tensors()) {
    s.n_parameters += t.n_elements;
    s.tensor_bytes += t.n_bytes;
    auto& tot = s.by_type[std::string(tensor_type_name(t.type))];
    tot.tensors += 1;
    tot.elements += t.n_elements;
    tot.bytes += t.n_bytes;
  }
  const std::string& a = s.architecture;
  if (!a.empty()) {
    s.context_length = arch_int(f, a, "context_length");
    s.embedding_length = arch_int(f, a, "embedding_length");
    s.block_count = arch_int(f, a, "block_count");
    s.feed_forward_length = arch_int(f, a, "feed_forward_length");
    s.head_count = arch_int(f, a, "attention.head_count");
    s.head_count_kv = arch_int(f, a, "attention.head_count_kv");
    s.rope_dimension_count = arch_int(f, a, "rope.dimension_count");
    s.expert_count = arch_int(f, a, "expert_count");
    s.expert_used_count = arch_int(f, a, "expert_used_count");
    s.sliding_window = arch_int(f, a, "attention.sliding_window");
    s.rope_freq_base = arch_float(f, a, "rope.freq_base");
    s.rope_scaling_factor = arch_float(f, a, "rope.scaling.factor");
    s.rms_epsilon = arch_float(f, a, "attention.layer_norm_rms_epsilon");
    if (const Value* v = f.find(a + ".rope.scaling.type"); v && v->as_string()) s.rope_scaling_type = *v->as_string();
  }
  s.tokenizer_model = f.find_string("tokenizer.ggml.model").value_or("");
  s.tokenizer_pre = f.find_string("tokenizer.ggml.pre").value_or("");
  if (const Value* v = f.find("tokenizer.ggml.tokens"); v && v->as_array()) s.vocab_size = v->as_array()->items.size();
  s.bos_token_id = f.find_int("tokenizer.ggml.bos_token_id");
  s.eos_token_id = f.find_int("tokenizer.ggml.eos_token_id");
  s.has_chat_template = f.has("tokenizer.chat_template");
  return s;
}

std::string human_count(uint64_t n) {
  if (n >= 1'000'000'000ull) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1'000'000ull) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1'000ull) return fmt::format("{:.1f}K", n / 1e3);
  return std::to_string(n);
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.2f} {}", v, units[u]);
}

}  // namespace hearth::gguf
