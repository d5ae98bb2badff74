// Tool calls parsed out of a model's output, in the format its chat template teaches it:
//
//   hermes   Qwen 2.5/3, Hermes 2/3, and the fallback format:
//            <tool_call>{"name": "f", "arguments": {...}}</tool_call> (one or more); also the
//            Qwen3-Coder XML body <function=f><parameter=x>v</parameter></function>
//   llama3   Llama 3.1/3.2/3.3: {"name": "f", "parameters": {...}} as the whole answer, or after
//            <|python_tag|> (several separated by ";"), and built-in calls f.call(x="v")
//   mistral  [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "…"}, …] (Nemo, 7B v0.3) and
//            [TOOL_CALLS]f[ARGS]{...} / [TOOL_CALLS]f[CALL_ID]id[ARGS]{...} (Small 3.2, Devstral,
//            Ministral 3)
//   none     the template has no tool support: output is never parsed
//
// Text that is not a well-formed call stays content: a half-written or invalid call is
// returned as text rather than guessed at.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::chat {

enum class ToolFormat { none, hermes, llama3, mistral };

const char* tool_format_name(ToolFormat f);

// Picks the format from the template source (its tool-call markup); none when the template
// does not mention tools.
ToolFormat detect_tool_format(std::string_view template_source);

struct ToolCall {
  std::string id;  // from the output (Mistral) or empty; see make_tool_call_id
  std::string name;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();  // an object
};

struct ParsedOutput {
  std::string content;  // the text outside the calls, trimmed when there are calls
  std::vector<ToolCall> tool_calls;
};

ParsedOutput parse_tool_calls(std::string_view text, ToolFormat format);

// A fresh id for a call: Mistral's templates require 9 letters/digits; others get "call_" + 24.
std::string make_tool_call_id(ToolFormat format, uint64_t random);

// The control tokens a format's calls start with, which decoding must keep as text
// (e.g. "[TOOL_CALLS]", "<|python_tag|>").
std::vector<std::string> tool_call_markers(ToolFormat format);

}  // namespace hearth::chat
