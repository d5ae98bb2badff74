// libFuzzer target for the tool-call parser (chat/tool_calls.h): model output is untrusted
// text; every format must return (calls or text) without crashing, and the arguments it returns
// are JSON objects that serialize.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "chat/tool_calls.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::chat;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (ToolFormat f : {ToolFormat::hermes, ToolFormat::llama3, ToolFormat::mistral, ToolFormat::none}) {
    ParsedOutput out = parse_tool_calls(text, f);
    for (const ToolCall& c : out.tool_calls) {
      if (c.name.empty() || !c.arguments.is_object()) std::abort();
      (void)c.arguments.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    }
    if (out.tool_calls.empty() && out.content != text) std::abort();  // no calls: the text as is
  }
  return 0;
}
