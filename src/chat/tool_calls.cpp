#include "chat/tool_calls.h"

#include <optional>

namespace hearth::chat {

namespace {

using ojson = nlohmann::ordered_json;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

void skip_space(std::string_view s, size_t& pos) {
  while (pos < s.size() && is_space(s[pos])) ++pos;
}

bool starts_with(std::string_view s, size_t pos, std::string_view prefix) {
  return s.size() - pos >= prefix.size() && s.compare(pos, prefix.size(), prefix) == 0;
}

// The end (one past) of the JSON object or array starting at s[pos], by bracket balance
// outside strings; npos if it does not close.
size_t json_end(std::string_view s, size_t pos) {
  if (pos >= s.size() || (s[pos] != '{' && s[pos] != '[')) return std::string_view::npos;
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<ojson> parse_json(std::string_view s) {
  ojson j = ojson::parse(s.begin(), s.end(), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// Arguments as an object: an object as is, a string holding a JSON object parsed.
std::optional<ojson> arguments_object(const ojson& v) {
  if (v.is_object()) return v;
  if (v.is_string()) {
    auto j = parse_json(v.get_ref<const std::string&>());
    if (j && j->is_object()) return j;
  }
  return std::nullopt;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 256) return false;
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// {"name": "f", "arguments"|"parameters": {...}} (also OpenAI's {"function": {...}} wrapping).
std::optional<ToolCall> call_from_json(const ojson& j) {
  if (!j.is_object()) return std::nullopt;
  if (j.contains("function") && j["function"].is_object() && !j.contains("name")) {
    auto c = call_from_json(j["function"]);
    if (c && j.contains("id") && j["id"].is_string()) c->id = j["id"].get<std::string>();
    return c;
  }
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || !valid_name(name->get_ref<const std::string&>())) return std::nullopt;
  ToolCall c;
  c.name = name->get<std::string>();
  const ojson* args = nullptr;
  if (auto it = j.find("arguments"); it != j.end()) args = &*it;
  else if (auto it2 = j.find("parameters"); it2 != j.end()) args = &*it2;
  if (args != nullptr) {
    auto obj = arguments_object(*args);
    if (!obj) return std::nullopt;
    c.arguments = std::move(*obj);
  }
  if (auto id = j.find("id"); id != j.end() && id->is_string()) c.id = id->get<std::string>();
  return c;
}

// A <parameter=…> value: JSON if it reads as JSON (numbers, booleans, objects), else the text.
ojson xml_value(std::string_view v) {
  if (!v.empty() && v.front() == '\n') v.remove_prefix(1);
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  auto j = parse_json(v);
  if (j && !j->is_string()) return *j;
  return ojson(std::string(v));
}

// <function=NAME><parameter=K>V</parameter>…</function> (Qwen3-Coder, Nemotron).
std::optional<ToolCall> call_from_xml(std::string_view body) {
  body = trim(body);
  if (!starts_with(body, 0, "<function=")) return std::nullopt;
  size_t gt = body.find('>');
  if (gt == std::string_view::npos) return std::nullopt;
  ToolCall c;
  c.name = std::string(trim(body.substr(10, gt - 10)));
  if (!valid_name(c.name)) return std::nullopt;
  size_t pos = gt + 1;
  for (;;) {
    skip_space(body, pos);
    if (starts_with(body, pos, "</function>")) {
      pos += 11;
      break;
    }
    if (pos >= body.size()) break;  // tolerate a missing </function> at the very end
    if (!starts_with(body, pos, "<parameter=")) return std::nullopt;
    const size_t name_end = body.find('>', pos);
    if (name_end == std::string_view::npos) return std::nullopt;
    const std::string key(trim(body.substr(pos + 11, name_end - pos - 11)));
    const size_t close = body.find("</parameter>", name_end + 1);
    if (key.empty() || close == std::string_view::npos) return std::nullopt;
    c.arguments[key] = xml_value(body.substr(name_end + 1, close - name_end - 1));
    pos = close + 12;
  }
  skip_space(body, pos);
  if (pos != body.size()) return std::nullopt;
  return c;
}

ParsedOutput as_text(std::string_view text) { return ParsedOutput{std::string(text), {}}; }

ParsedOutput finish(std::string content, std::vector<ToolCall> calls) {
  ParsedOutput out;
  out.content = calls.empty() ? std::move(content) : std::string(trim(content));
  out.tool_calls = std::move(calls);
  return out;
}

ParsedOutput parse_hermes(std::string_view text) {
  static constexpr std::string_view open = "<tool_call>", close = "</tool_call>";
  std::string content;
  std::vector<ToolCall> calls;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = text.find(open, pos);
    if (start == std::string_view::npos) {
      content.append(text.substr(pos));
      break;
    }
    content.append(text.substr(pos, start - pos));
    const size_t body_start = start + open.size();
    const size_t end = text.find(close, body_start);
    const std::string_view body = trim(
        text.substr(body_start, end == std::string_view::npos ? std::string_view::npos : end - body_start));
    const size_t next = end == std::string_view::npos ? text.size() : end + close.size();
    std::optional<ToolCall> call;
    if (!body.empty() && body.front() == '{') {
      if (json_end(body, 0) == body.size())
        if (auto j = parse_json(body)) call = call_from_json(*j);
    } else {
      call = call_from_xml(body);
    }
    if (call) calls.push_back(std::move(*call));
    else content.append(text.substr(start, next - start));  // not a call: keep it as text
    pos = next;
  }
  return finish(std::move(content), std::move(calls));
}

// name.call(key="value", n=3): Llama 3.1's built-in tools (brave_search, wolfram_alpha, …).
std::optional<ToolCall> parse_builtin_call(std::string_view s, size_t& pos) {
  const size_t dot = s.find(".call(", pos);
  if (dot == std::string_view::npos) return std::nullopt;
  ToolCall c;
  c.name = std::string(trim(s.substr(pos, dot - pos)));
  if (!valid_name(c.name)) return std::nullopt;
  size_t i = dot + 6;
  for (;;) {
    skip_space(s, i);
    if (i < s.size() && s[i] == ')') {
      pos = i + 1;
      return c;
    }
    size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string key(trim(s.substr(i, eq - i)));
    if (!valid_name(key)) return std::nullopt;
    i = eq + 1;
    skip_space(s, i);
    if (i >= s.size()) return std::nullopt;
    if (s[i] == '"' || s[i] == '\'') {
      const char q = s[i];
      std::string v;
      size_t k = i + 1;
      for (; k < s.size() && s[k] != q; ++k) {
        if (s[k] == '\\' && k + 1 < s.size()) ++k;
        v += s[k];
      }
      if (k >= s.size()) return std::nullopt;
      c.arguments[key] = v;
      i = k + 1;
    } else {
      size_t k = i;
      while (k < s.size() && s[k] != ',' && s[k] != ')') ++k;
      auto j = parse_json(trim(s.substr(i, k - i)));
      if (!j) return std::nullopt;
      c.arguments[key] = *j;
      i = k;
    }
    skip_space(s, i);
    if (i < s.size() && s[i] == ',') ++i;
  }
}

// One or more calls separated by whitespace or ';', covering all of `s`.
std::optional<std::vector<ToolCall>> parse_llama_calls(std::string_view s, bool allow_builtin) {
  std::vector<ToolCall> calls;
  size_t pos = 0;
  for (;;) {
    while (pos < s.size() && (is_space(s[pos]) || s[pos] == ';')) ++pos;
    if (pos >= s.size()) break;
    if (s[pos] == '{') {
      const size_t end = json_end(s, pos);
      if (end == std::string_view::npos) return std::nullopt;
      auto j = parse_json(s.substr(pos, end - pos));
      if (!j) return std::nullopt;
      auto c = call_from_json(*j);
      if (!c) return std::nullopt;
      calls.push_back(std::move(*c));
      pos = end;
    } else if (allow_builtin) {
      auto c = parse_builtin_call(s, pos);
      if (!c) return std::nullopt;
      calls.push_back(std::move(*c));
    } else {
      return std::nullopt;
    }
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

ParsedOutput parse_llama3(std::string_view text) {
  static constexpr std::string_view tag = "<|python_tag|>";
  if (const size_t at = text.find(tag); at != std::string_view::npos) {
    auto calls = parse_llama_calls(text.substr(at + tag.size()), true);
    if (!calls) return as_text(text);
    return finish(std::string(text.substr(0, at)), std::move(*calls));
  }
  const std::string_view t = trim(text);
  if (t.empty() || t.front() != '{') return as_text(text);
  auto calls = parse_llama_calls(t, false);
  if (!calls) return as_text(text);
  return finish("", std::move(*calls));
}

ParsedOutput parse_mistral(std::string_view text) {
  static constexpr std::string_view tag = "[TOOL_CALLS]", args = "[ARGS]", call_id = "[CALL_ID]";
  const size_t at = text.find(tag);
  if (at == std::string_view::npos) return as_text(text);
  std::vector<ToolCall> calls;
  size_t pos = at + tag.size();
  for (;;) {
    skip_space(text, pos);
    if (pos < text.size() && text[pos] == '[') {  // [{"name": …, "arguments": …, "id": …}, …]
      const size_t end = json_end(text, pos);
      if (end == std::string_view::npos) return as_text(text);
      auto j = parse_json(text.substr(pos, end - pos));
      if (!j || !j->is_array() || j->empty()) return as_text(text);
      for (const auto& e : *j) {
        auto c = call_from_json(e);
        if (!c) return as_text(text);
        calls.push_back(std::move(*c));
      }
      pos = end;
    } else {  // name[CALL_ID]id[ARGS]{…} or name[ARGS]{…}
      const size_t a = text.find(args, pos);
      if (a == std::string_view::npos) return as_text(text);
      ToolCall c;
      std::string_view head = text.substr(pos, a - pos);
      if (const size_t ci = head.find(call_id); ci != std::string_view::npos) {
        c.id = std::string(trim(head.substr(ci + call_id.size())));
        head = head.substr(0, ci);
      }
      c.name = std::string(trim(head));
      if (!valid_name(c.name)) return as_text(text);
      pos = a + args.size();
      skip_space(text, pos);
      const size_t end = json_end(text, pos);
      if (end == std::string_view::npos) return as_text(text);
      auto j = parse_json(text.substr(pos, end - pos));
      if (!j || !j->is_object()) return as_text(text);
      c.arguments = std::move(*j);
      calls.push_back(std::move(c));
      pos = end;
    }
    skip_space(text, pos);
    if (pos >= text.size()) break;
    if (!starts_with(text, pos, tag)) return as_text(text);  // trailing text after the calls
    pos += tag.size();
  }
  return finish(std::string(text.substr(0, at)), std::move(calls));
}

}  // namespace

const char* tool_format_name(ToolFormat f) {
  switch (f) {
    case ToolFormat::none: return "none";
    case ToolFormat::hermes: return "hermes";
    case ToolFormat::llama3: return "llama3";
    case ToolFormat::mistral: return "mistral";
  }
  return "none";
}

ToolFormat detect_tool_format(std::string_view src) {
  const auto has = [&](std::string_view s) { return src.find(s) != std::string_view::npos; };
  if (has("[TOOL_CALLS]")) return ToolFormat::mistral;
  // GLM writes <tool_call>name<arg_key>…: a format of its own, not parsed.
  if (has("<tool_call>") && !has("<arg_key>")) return ToolFormat::hermes;
  if (has("<|python_tag|>") || (has("<|start_header_id|>") && has("\"parameters\""))) return ToolFormat::llama3;
  return ToolFormat::none;
}

ParsedOutput parse_tool_calls(std::string_view text, ToolFormat format) {
  switch (format) {
    case ToolFormat::hermes: return parse_hermes(text);
    case ToolFormat::llama3: return parse_llama3(text);
    case ToolFormat::mistral: return parse_mistral(text);
    case ToolFormat::none: break;
  }
  return as_text(text);
}

std::string make_tool_call_id(ToolFormat format, uint64_t random) {
  static constexpr char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  // splitmix64: more well-mixed bits from one seed.
  auto next = [&random]() {
    uint64_t z = (random += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const size_t n = format == ToolFormat::mistral ? 9 : 24;
  std::string id = format == ToolFormat::mistral ? "" : "call_";
  for (size_t i = 0; i < n; ++i) id += alnum[next() % 62];
  return id;
}

std::vector<std::string> tool_call_markers(ToolFormat format) {
  switch (format) {
    case ToolFormat::hermes: return {"<tool_call>", "</tool_call>"};
    case ToolFormat::llama3: return {"<|python_tag|>"};
    case ToolFormat::mistral: return {"[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"};
    case ToolFormat::none: break;
  }
  return {};
}

}  // namespace hearth::chat
