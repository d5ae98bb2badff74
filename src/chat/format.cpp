#include "chat/format.h"

#include "gguf/gguf.h"

namespace hearth::chat {

namespace {

using ojson = nlohmann::ordered_json;

std::string text_of(const ojson& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {  // OpenAI content parts: the text parts, joined
    std::string out;
    for (const auto& part : *it)
      if (part.is_object() && part.contains("text") && part["text"].is_string()) out += part["text"].get<std::string>();
    return out;
  }
  return it->dump(-1, ' ', false, ojson::error_handler_t::replace);
}

// {"name": …, "arguments": {…}} of a message's tool call (OpenAI's {function: {…}} or flat).
ojson plain_call(const ojson& call) {
  const ojson& fn = call.contains("function") && call["function"].is_object() ? call["function"] : call;
  ojson out = ojson::object();
  out["name"] = fn.contains("name") ? fn["name"] : ojson("");
  ojson args = fn.contains("arguments") ? fn["arguments"] : ojson::object();
  if (args.is_string()) {
    ojson parsed = ojson::parse(args.get<std::string>(), nullptr, false);
    if (!parsed.is_discarded()) args = parsed;
  }
  out["arguments"] = args;
  return out;
}

}  // namespace

std::string format_plain(const ChatInputs& in) {
  std::string out;
  const bool tools = in.tools.is_array() && !in.tools.empty();
  bool tools_listed = !tools;
  auto list_tools = [&] {
    out += "You can call these tools:\n";
    for (const auto& t : in.tools) out += t.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
    out += "To call a tool, answer with <tool_call>{\"name\": NAME, \"arguments\": {ARGUMENTS}}</tool_call>.\n\n";
    tools_listed = true;
  };
  for (const auto& m : in.messages) {
    if (!m.is_object()) continue;
    const std::string role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "user";
    const std::string content = text_of(m, "content");
    const bool system = role == "system" || role == "developer";
    if (!system && !tools_listed) list_tools();  // after the leading system text
    if (system) {
      out += content + "\n\n";
    } else if (role == "user") {
      out += "User: " + content + "\n";
    } else if (role == "assistant") {
      out += "Assistant: " + content;
      if (auto it = m.find("tool_calls"); it != m.end() && it->is_array()) {
        for (const auto& call : *it)
          out += "<tool_call>" + plain_call(call).dump(-1, ' ', false, ojson::error_handler_t::replace) + "</tool_call>";
      }
      out += "\n";
    } else {
      out += "Tool: " + content + "\n";
    }
  }
  if (!tools_listed) list_tools();
  if (in.add_generation_prompt) out += "Assistant:";
  return out;
}

std::string token_text(const tokenizer::Vocab& v, tokenizer::Token id) {
  if (id < 0 || static_cast<size_t>(id) >= v.tokens.size()) return "";
  return v.tokens[static_cast<size_t>(id)];
}

ChatFormat::ChatFormat(std::optional<std::string> source, std::string bos_token, std::string eos_token,
                       std::string name)
    : bos_(std::move(bos_token)), eos_(std::move(eos_token)) {
  if (source && !source->empty()) {
    source_ = std::move(*source);
    tmpl_ = jinja::Template::parse(source_, std::move(name));
    tool_format_ = detect_tool_format(source_);
  }
}

ChatFormat ChatFormat::from_model(const gguf::File& f, const tokenizer::Tokenizer& tok) {
  const auto& v = tok.vocab();
  return ChatFormat(f.find_string("tokenizer.chat_template"), token_text(v, v.bos), token_text(v, v.eos));
}

std::string ChatFormat::render(ChatInputs in, const jinja::RenderOptions& options) const {
  if (in.bos_token.empty()) in.bos_token = bos_;
  if (in.eos_token.empty()) in.eos_token = eos_;
  if (!tmpl_) return format_plain(in);
  return apply_chat_template(*tmpl_, in, options);
}

std::vector<tokenizer::Token> ChatFormat::tokenize(const tokenizer::Tokenizer& tok, const std::string& prompt) const {
  if (!tmpl_) return tok.encode(prompt, true, false);
  std::vector<tokenizer::Token> ids = tok.encode(prompt, false, true);
  const auto& v = tok.vocab();
  if (v.add_bos && v.bos >= 0 && v.model != "bert" && (ids.empty() || ids.front() != v.bos))
    ids.insert(ids.begin(), v.bos);
  return ids;
}

}  // namespace hearth::chat
