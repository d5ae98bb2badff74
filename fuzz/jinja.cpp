// libFuzzer target for the chat-template interpreter: any byte string, parsed as a template and
// rendered for a small conversation, must render or throw hearth::Error — no crash, hang,
// unbounded memory or leak. Tight limits keep each run short.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chat/chat_template.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::chat;
  static const auto* inputs = [] {
    auto* in = new ChatInputs;
    in->messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi 你好 <b>"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "f", "arguments": {"x": 1, "y": [1.5, null, true]}}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "ok"}])");
    in->tools = nlohmann::ordered_json::parse(
        R"([{"type": "function", "function": {"name": "f", "description": "d",
             "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}])");
    in->add_generation_prompt = true;
    in->bos_token = "<s>";
    in->eos_token = "</s>";
    return in;
  }();
  jinja::Limits limits;
  limits.max_steps = 200000;
  limits.max_output = 1 << 20;
  limits.max_alloc = 16 << 20;
  limits.max_depth = 64;
  jinja::RenderOptions options;
  options.limits = limits;
  options.now = jinja::parse_fixed_date("2024-07-26");
  try {
    auto t = jinja::Template::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.jinja", limits);
    std::string out = apply_chat_template(t, *inputs, options);
    if (out.size() > limits.max_output) __builtin_trap();
  } catch (const hearth::Error&) {
  }
  return 0;
}
