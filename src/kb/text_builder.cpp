#include "kb/text_builder.h"

namespace hearth::kb {

TextBuilder::TextBuilder(std::string format) {
  out_.format = std::move(format);
  out_.sections.push_back("");
}

uint32_t TextBuilder::section_index() {
  if (section_dirty_) {
    std::string path;
    for (const auto& [level, title] : stack_) {
      if (!path.empty()) path += " > ";
      path += title;
    }
    if (path != out_.sections[section_]) {
      out_.sections.push_back(path);
      section_ = static_cast<uint32_t>(out_.sections.size() - 1);
    }
    section_dirty_ = false;
  }
  return section_;
}

void TextBuilder::heading(int level, std::string_view text) {
  std::string title = collapse_whitespace(text);
  if (title.empty()) return;
  if (level < 1) level = 1;
  while (!stack_.empty() && stack_.back().first >= level) stack_.pop_back();
  std::string shown = title.size() > 200 ? title.substr(0, 200) : title;
  stack_.emplace_back(level, shown);
  section_dirty_ = true;
  block(title, BlockKind::heading);
  out_.blocks.back().level = level;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void TextBuilder::block(std::string_view text, BlockKind kind) {
  size_t b = 0, e = text.size();
  while (b < e && is_space(text[b])) ++b;
  while (e > b && is_space(text[e - 1])) --e;
  if (b == e) return;
  if (!out_.text.empty()) out_.text += "\n\n";
  Block blk;
  blk.start = out_.text.size();
  out_.text.append(text.substr(b, e - b));
  blk.end = out_.text.size();
  blk.kind = kind;
  blk.page = page_;
  blk.section = section_index();
  out_.blocks.push_back(blk);
}

Extracted TextBuilder::finish() {
  if (page_ > out_.pages) out_.pages = page_;
  return std::move(out_);
}

std::string collapse_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending = false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t skip = 0;
    if (is_space(static_cast<char>(c))) skip = 1;
    else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) skip = 2;
    else if (c == 0xE3 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
             static_cast<unsigned char>(s[i + 2]) == 0x80) skip = 3;
    if (skip) {
      pending = true;
      i += skip - 1;
      continue;
    }
    if (pending && !out.empty()) out += ' ';
    pending = false;
    out += static_cast<char>(c);
  }
  return out;
}

}  // namespace hearth::kb

namespace hearth::kb {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) cp = 0xFFFD;
  if (cp < 0x80) out += static_cast<char>(cp);
  else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12)); out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18)); out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string decode_entity(std::string_view e) {
  if (e.size() < 3 || e.front() != '&' || e.back() != ';') return std::string(e);
  std::string_view body = e.substr(1, e.size() - 2);
  std::string out;
  if (body[0] == '#') {
    uint32_t cp = 0;
    bool hex = body.size() > 1 && (body[1] == 'x' || body[1] == 'X');
    for (size_t i = hex ? 2 : 1; i < body.size(); ++i) {
      char c = body[i];
      int d = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0 || cp > 0x10FFFF) return std::string(e);
      cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
    }
    append_utf8(out, cp);
    return out;
  }
  static const std::pair<const char*, uint32_t> named[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0}, {"copy", 0xA9},
      {"reg", 0xAE}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026}, {"lsquo", 0x2018},
      {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"middot", 0xB7}, {"times", 0xD7}};
  for (const auto& [n, cp] : named) {
    if (body == n) { append_utf8(out, cp); return out; }
  }
  return std::string(e);
}

}  // namespace hearth::kb
