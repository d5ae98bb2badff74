// `hearth show FILE [--json] [--metadata]`: what a GGUF file holds — architecture, size,
// hyper-parameters, tensor types, tokenizer — without loading the weights.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "gguf/gguf.h"
#include "gguf/summary.h"

namespace hearth::cli {

namespace {

struct ShowOptions {
  std::string path;
  bool json = false;
  bool metadata = false;
};

// Metadata values for display: long arrays are summarized, long strings cut.
nlohmann::json value_to_json(const gguf::Value& v, size_t max_items) {
  using gguf::ValueType;
  if (const auto* s = v.as_string()) return *s;
  if (const auto* a = v.as_array()) {
    nlohmann::json arr = nlohmann::json::array();
    for (size_t i = 0; i < a->items.size() && i < max_items; ++i) arr.push_back(value_to_json(a->items[i], max_items));
    if (a->items.size() > max_items) {
      return nlohmann::json{{"type", std::string(gguf::value_type_name(a->type))},
                            {"length", a->items.size()}, {"first", arr}};
    }
    return arr;
  }
  if (v.type() == ValueType::BOOL) return std::get<bool>(v.data);
  if (v.is_float()) return *v.as_float();
  if (v.type() == ValueType::UINT64) return std::get<uint64_t>(v.data);
  return *v.as_int();
}

std::string value_to_text(const gguf::Value& v) {
  if (const auto* s = v.as_string()) {
    std::string t = *s;
    for (auto& ch : t) if (ch == '\n') ch = ' ';
    return t.size() > 80 ? fmt::format("\"{}…\" ({} chars)", t.substr(0, 77), s->size()) : "\"" + t + "\"";
  }
  if (const auto* a = v.as_array()) {
    return fmt::format("[{} × {}]", a->items.size(), gguf::value_type_name(a->type));
  }
  return value_to_json(v, 0).dump();
}

template <typename T>
void put_opt(nlohmann::json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

nlohmann::json summary_json(const gguf::Summary& s, const gguf::File& f, bool metadata) {
  nlohmann::json j;
  j["path"] = s.path;
  j["file_size"] = s.file_size;
  j["gguf_version"] = s.version;
  j["alignment"] = s.alignment;
  j["architecture"] = s.architecture;
  j["name"] = s.name;
  put_opt(j, "file_type", s.file_type);
  j["tensor_count"] = s.n_tensors;
  j["parameter_count"] = s.n_parameters;
  j["tensor_bytes"] = s.tensor_bytes;
  nlohmann::json types = nlohmann::json::object();
  for (const auto& [name, t] : s.by_type) types[name] = {{"tensors", t.tensors}, {"elements", t.elements}, {"bytes", t.bytes}};
  j["tensor_types"] = types;
  put_opt(j, "context_length", s.context_length);
  put_opt(j, "embedding_length", s.embedding_length);
  put_opt(j, "block_count", s.block_count);
  put_opt(j, "feed_forward_length", s.feed_forward_length);
  put_opt(j, "head_count", s.head_count);
  put_opt(j, "head_count_kv", s.head_count_kv);
  put_opt(j, "expert_count", s.expert_count);
  put_opt(j, "expert_used_count", s.expert_used_count);
  put_opt(j, "sliding_window", s.sliding_window);
  nlohmann::json rope = nlohmann::json::object();
  put_opt(rope, "dimension_count", s.rope_dimension_count);
  put_opt(rope, "freq_base", s.rope_freq_base);
  put_opt(rope, "scaling_factor", s.rope_scaling_factor);
  if (!s.rope_scaling_type.empty()) rope["scaling_type"] = s.rope_scaling_type;
  j["rope"] = rope;
  put_opt(j, "rms_epsilon", s.rms_epsilon);
  j["tokenizer"] = {{"model", s.tokenizer_model}, {"pre", s.tokenizer_pre}, {"vocab_size", s.vocab_size}};
  put_opt(j["tokenizer"], "bos_token_id", s.bos_token_id);
  put_opt(j["tokenizer"], "eos_token_id", s.eos_token_id);
  j["has_chat_template"] = s.has_chat_template;
  if (metadata) {
    nlohmann::json m = nlohmann::json::object();
    for (const auto& kv : f.metadata()) m[kv.key] = value_to_json(kv.value, 16);
    j["metadata"] = m;
  }
  return j;
}

template <typename T>
std::string opt_text(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : std::string("—");
}

void print_text(const gguf::Summary& s, const gguf::File& f, bool metadata) {
  fmt::print("file             {}\n", s.path);
  fmt::print("size             {} ({} bytes), GGUF v{}\n", gguf::human_bytes(s.file_size), s.file_size, s.version);
  fmt::print("architecture     {}{}\n", s.architecture.empty() ? "—" : s.architecture,
             s.name.empty() ? "" : fmt::format("  ({})", s.name));
  fmt::print("parameters       {} ({}) in {} tensors, {}\n", gguf::human_count(s.n_parameters), s.n_parameters,
             s.n_tensors, gguf::human_bytes(s.tensor_bytes));
  for (const auto& [name, t] : s.by_type) {
    fmt::print("  {:<14} {:>5} tensors {:>14} elements  {:>12}\n", name, t.tensors, t.elements,
               gguf::human_bytes(t.bytes));
  }
  fmt::print("context length   {}\n", opt_text(s.context_length));
  fmt::print("embedding        {}\n", opt_text(s.embedding_length));
  fmt::print("layers           {}\n", opt_text(s.block_count));
  fmt::print("feed-forward     {}\n", opt_text(s.feed_forward_length));
  fmt::print("heads / kv heads {} / {}\n", opt_text(s.head_count), opt_text(s.head_count_kv));
  if (s.expert_count) fmt::print("experts          {} ({} used)\n", *s.expert_count, opt_text(s.expert_used_count));
  if (s.sliding_window) fmt::print("sliding window   {}\n", *s.sliding_window);
  fmt::print("rope             dims {}, freq_base {}{}\n", opt_text(s.rope_dimension_count), opt_text(s.rope_freq_base),
             s.rope_scaling_type.empty() ? ""
                                         : fmt::format(", scaling {} × {}", s.rope_scaling_type,
                                                       opt_text(s.rope_scaling_factor)));
  if (s.rms_epsilon) fmt::print("rms epsilon      {}\n", *s.rms_epsilon);
  std::string tok = s.tokenizer_model.empty() ? "—" : s.tokenizer_model;
  if (!s.tokenizer_pre.empty()) tok += " / " + s.tokenizer_pre;
  fmt::print("tokenizer        {}, {} tokens (bos {}, eos {})\n", tok, s.vocab_size, opt_text(s.bos_token_id),
             opt_text(s.eos_token_id));
  fmt::print("chat template    {}\n", s.has_chat_template ? "yes" : "no");
  if (metadata) {
    fmt::print("\nmetadata ({} keys)\n", f.metadata().size());
    for (const auto& kv : f.metadata()) {
      fmt::print("  {:<40} {:<7} {}\n", kv.key, gguf::value_type_name(kv.value.type()), value_to_text(kv.value));
    }
    fmt::print("\ntensors ({})\n", f.tensors().size());
    for (const auto& t : f.tensors()) {
      fmt::print("  {:<40} {:<8} {:<22} {:>12}\n", t.name, gguf::tensor_type_name(t.type), t.shape_string(),
                 gguf::human_bytes(t.n_bytes));
    }
  }
}

int run_show(const ShowOptions& o) {
  gguf::File f = gguf::File::open(o.path);
  gguf::Summary s = gguf::summarize(f);
  if (o.json) {
    fmt::print("{}\n", summary_json(s, f, o.metadata).dump(2));
  } else {
    print_text(s, f, o.metadata);
  }
  return 0;
}

}  // namespace

void add_show_command(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ShowOptions>();
  CLI::App* cmd = app.add_subcommand("show", "Describe a GGUF model file (architecture, size, tensors, tokenizer)");
  cmd->add_option("file", opts->path, "GGUF file")->required();
  cmd->add_flag("--json", opts->json, "Print JSON instead of text");
  cmd->add_flag("--metadata", opts->metadata, "Also list every metadata key and every tensor");
  cmd->callback([&action, opts] { action = [opts] { return run_show(*opts); }; });
}

}  // namespace hearth::cli
