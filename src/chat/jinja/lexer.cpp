#include "chat/jinja/lexer.h"

#include <algorithm>
#include <cstring>

#include "chat/jinja/error.h"
#include "chat/jinja/unicode.h"

namespace hearth::chat::jinja {

namespace {

class Lexer {
 public:
  Lexer(std::string_view source, const std::string& name) : name_(name) {
    // Newlines are normalised to "\n" and one trailing newline is dropped (keep_trailing_newline
    // is off), exactly as jinja2 prepares the source before lexing.
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    bool line_starting = true;
    size_t n = src_.size();
    while (pos_ < n) {
      size_t q = find_tag(pos_);
      if (q == std::string::npos) {
        emit(Tok::data, src_.substr(pos_), pos_);
        pos_ = n;
        break;
      }
      char kind = src_[q + 1];
      char sign = (q + 2 < n && (src_[q + 2] == '-' || src_[q + 2] == '+')) ? src_[q + 2] : 0;
      size_t raw_end = kind == '%' ? match_raw_begin(q) : 0;
      std::string text = src_.substr(pos_, q - pos_);
      if (sign == '-') {
        text.resize(rstrip_len(text));
      } else if (sign != '+' && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() && all_space(text, l_pos)) text.resize(l_pos);
      }
      if (!text.empty()) emit(Tok::data, std::move(text), pos_);
      if (raw_end) {
        lex_raw(q, raw_end);
      } else if (kind == '#') {
        lex_comment(q + 2 + (sign ? 1 : 0));
      } else {
        lex_tag(q, kind == '%', sign);
      }
      line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    }
    tokens_.push_back(Token{Tok::eof, "", line_of(n), col_of(n)});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(size_t at, const std::string& msg) {
    auto e = TemplateError(ErrorKind::format, name_ + ":" + std::to_string(line_of(at)) + ":" +
                                                  std::to_string(col_of(at)) + ": " + msg,
                           line_of(at), col_of(at));
    e.set_detail(msg);
    throw e;
  }

  int line_of(size_t at) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), at);
    return static_cast<int>(it - line_starts_.begin());
  }
  // Column in code points; tokens come in source order, so count on from the previous one.
  int col_of(size_t at) const {
    size_t start = line_starts_[static_cast<size_t>(line_of(at) - 1)];
    if (col_cache_pos_ < start || col_cache_pos_ > at) {
      col_cache_pos_ = start;
      col_cache_col_ = 1;
    }
    for (size_t i = col_cache_pos_; i < at; ++i)
      if ((static_cast<unsigned char>(src_[i]) & 0xC0) != 0x80) ++col_cache_col_;
    col_cache_pos_ = at;
    return col_cache_col_;
  }

  void emit(Tok t, std::string value, size_t at) { tokens_.push_back(Token{t, std::move(value), line_of(at), col_of(at)}); }

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // Length in bytes of the whitespace character at i (Python's \s), 0 if none.
  size_t space_at(std::string_view s, size_t i) const {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return unicode::is_space(c) ? 1 : 0;
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (i + len > s.size()) return 0;
    auto cps = unicode::decode(s.substr(i, len));
    return cps.size() == 1 && unicode::is_space(cps[0]) ? len : 0;
  }
  size_t skip_space(size_t i) const {
    while (i < src_.size()) {
      size_t l = space_at(src_, i);
      if (!l) break;
      i += l;
    }
    return i;
  }
  bool all_space(std::string_view s, size_t from) const {
    for (size_t i = from; i < s.size();) {
      size_t l = space_at(s, i);
      if (!l) return false;
      i += l;
    }
    return true;
  }
  size_t rstrip_len(std::string_view s) const {
    // Python's str.rstrip(): walk back over whitespace code points.
    size_t end = s.size();
    while (end > 0) {
      size_t start = end - 1;
      while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4) --start;
      if (space_at(s, start) != end - start) break;
      end = start;
    }
    return end;
  }

  // "{%[-+]? raw [-]?%}" at q: returns the position after the tag, 0 if it is not one.
  size_t match_raw_begin(size_t q) const {
    size_t i = q + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    i = skip_space(i);
    if (src_.compare(i, 3, "raw") != 0) return 0;
    i = skip_space(i + 3);
    if (src_.compare(i, 3, "-%}") == 0) return skip_space(i + 3);
    if (src_.compare(i, 2, "%}") == 0) return i + 2;
    return 0;
  }

  void lex_raw(size_t q, size_t body) {
    // Body runs to "{%[-+]? endraw [-+]?%}".
    for (size_t i = src_.find("{%", body); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t j = i + 2;
      char sign = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) sign = src_[j++];
      j = skip_space(j);
      if (src_.compare(j, 6, "endraw") != 0) continue;
      j = skip_space(j + 6);
      size_t end;
      if (src_.compare(j, 3, "+%}") == 0) {
        end = j + 3;
      } else if (src_.compare(j, 3, "-%}") == 0) {
        end = skip_space(j + 3);
      } else if (src_.compare(j, 2, "%}") == 0) {
        end = j + 2;
        if (end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      std::string text = src_.substr(body, i - body);
      if (sign == '-') {
        text.resize(rstrip_len(text));
      } else if (sign != '+') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 && l_pos < text.size() && all_space(text, l_pos)) text.resize(l_pos);
      }
      if (!text.empty()) emit(Tok::data, std::move(text), body);
      pos_ = end;
      return;
    }
    error(q, "Missing end of raw directive");
  }

  void lex_comment(size_t p) {
    size_t r = src_.find("#}", p);
    if (r == std::string::npos) error(p, "Missing end of comment tag");
    char sign = (r > p && (src_[r - 1] == '-' || src_[r - 1] == '+')) ? src_[r - 1] : 0;
    pos_ = r + 2;
    if (sign == '-') pos_ = skip_space(pos_);
    else if (sign != '+' && pos_ < src_.size() && src_[pos_] == '\n') ++pos_;
  }

  void lex_tag(size_t q, bool block, char sign) {
    emit(block ? Tok::block_begin : Tok::var_begin, block ? "{%" : "{{", q);
    size_t i = q + 2 + (sign ? 1 : 0);
    std::vector<char> balance;
    size_t n = src_.size();
    while (true) {
      if (i >= n) error(q, block ? "unexpected end of template: unclosed '{%'" : "unexpected end of template: unclosed '{{'");
      if (balance.empty()) {
        size_t end = 0;
        if (block) {
          if (src_.compare(i, 3, "+%}") == 0) end = i + 3;
          else if (src_.compare(i, 3, "-%}") == 0) end = skip_space(i + 3);
          else if (src_.compare(i, 2, "%}") == 0) end = (i + 2 < n && src_[i + 2] == '\n') ? i + 3 : i + 2;
        } else {
          if (src_.compare(i, 3, "-}}") == 0) end = skip_space(i + 3);
          else if (src_.compare(i, 2, "}}") == 0) end = i + 2;
        }
        if (end) {
          emit(block ? Tok::block_end : Tok::var_end, block ? "%}" : "}}", i);
          pos_ = end;
          return;
        }
      }
      if (size_t l = space_at(src_, i)) {
        i += l;
        continue;
      }
      unsigned char c = static_cast<unsigned char>(src_[i]);
      if (std::isdigit(c)) {
        i = lex_number(i);
        continue;
      }
      if (std::isalpha(c) || c == '_') {
        size_t j = i;
        while (j < n && (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) ++j;
        emit(Tok::name, src_.substr(i, j - i), i);
        i = j;
        continue;
      }
      if (c == '\'' || c == '"') {
        i = lex_string(i);
        continue;
      }
      static const char* ops[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(",
                                  ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
      bool matched = false;
      for (const char* op : ops) {
        size_t len = std::strlen(op);
        if (src_.compare(i, len, op) == 0) {
          char o = op[0];
          if (len == 1 && (o == '(' || o == '[' || o == '{')) {
            balance.push_back(o == '(' ? ')' : o == '[' ? ']' : '}');
          } else if (len == 1 && (o == ')' || o == ']' || o == '}')) {
            if (balance.empty()) error(i, std::string("unexpected '") + o + "'");
            if (balance.back() != o) error(i, std::string("unexpected '") + o + "', expected '" + balance.back() + "'");
            balance.pop_back();
          }
          emit(Tok::op, op, i);
          i += len;
          matched = true;
          break;
        }
      }
      if (!matched) error(i, std::string("unexpected char '") + src_[i] + "'");
    }
  }

  size_t lex_number(size_t i) {
    size_t n = src_.size();
    auto digits = [&](size_t j) {  // (\d+_)*\d+ ; returns end or j if none
      size_t k = j;
      if (k >= n || !std::isdigit(static_cast<unsigned char>(src_[k]))) return j;
      while (true) {
        while (k < n && std::isdigit(static_cast<unsigned char>(src_[k]))) ++k;
        if (k + 1 < n && src_[k] == '_' && std::isdigit(static_cast<unsigned char>(src_[k + 1]))) {
          ++k;
          continue;
        }
        return k;
      }
    };
    auto clean = [](std::string s) {
      s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
      return s;
    };
    bool after_dot = i > 0 && src_[i - 1] == '.';
    if (!after_dot) {
      size_t k = digits(i);
      size_t f = 0;
      // fraction and/or exponent
      size_t m = k;
      if (m < n && src_[m] == '.') {
        size_t e = digits(m + 1);
        if (e != m + 1) m = e;
      }
      if (m < n && (src_[m] == 'e' || src_[m] == 'E')) {
        size_t e = m + 1;
        if (e < n && (src_[e] == '+' || src_[e] == '-')) ++e;
        size_t d = digits(e);
        if (d != e) f = d;
      }
      if (!f && m != k) f = m;
      if (f) {
        emit(Tok::floating, clean(src_.substr(i, f - i)), i);
        return f;
      }
    }
    // integers: 0b / 0o / 0x, [1-9](_?\d)*, 0(_?0)*
    if (src_[i] == '0' && i + 1 < n && src_[i + 1] != 0 && std::strchr("bBoOxX", src_[i + 1])) {
      char base = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[i + 1])));
      size_t k = i + 2;
      auto ok = [&](char ch) {
        if (base == 'b') return ch == '0' || ch == '1';
        if (base == 'o') return ch >= '0' && ch <= '7';
        return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
      };
      size_t start = k;
      while (k < n && (ok(src_[k]) || (src_[k] == '_' && k + 1 < n && ok(src_[k + 1])))) ++k;
      if (k > start) {
        emit(Tok::integer, clean(src_.substr(i, k - i)), i);
        return k;
      }
    }
    size_t k = i + 1;
    if (src_[i] == '0') {
      while (k < n && (src_[k] == '0' || (src_[k] == '_' && k + 1 < n && src_[k + 1] == '0'))) ++k;
    } else {
      while (k < n && (std::isdigit(static_cast<unsigned char>(src_[k])) ||
                       (src_[k] == '_' && k + 1 < n && std::isdigit(static_cast<unsigned char>(src_[k + 1])))))
        ++k;
    }
    emit(Tok::integer, clean(src_.substr(i, k - i)), i);
    return k;
  }

  size_t lex_string(size_t i) {
    char quote = src_[i];
    size_t n = src_.size();
    size_t j = i + 1;
    while (j < n && src_[j] != quote) {
      if (src_[j] == '\\') ++j;
      ++j;
    }
    if (j >= n) error(i, std::string("unexpected char '") + quote + "'");
    std::string_view raw(src_.data() + i + 1, j - i - 1);
    std::string out;
    for (size_t k = 0; k < raw.size(); ++k) {
      char c = raw[k];
      if (c != '\\' || k + 1 >= raw.size()) {
        out += c;
        continue;
      }
      char e = raw[++k];
      auto hex = [&](size_t count) -> char32_t {
        char32_t v = 0;
        for (size_t m = 1; m <= count; ++m) {
          if (k + m >= raw.size() || !std::isxdigit(static_cast<unsigned char>(raw[k + m])))
            error(i, "truncated escape in string literal");
          char h = raw[k + m];
          v = v * 16 + static_cast<char32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
        }
        k += count;
        return v;
      };
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': unicode::append_utf8(out, hex(2)); break;
        case 'u': unicode::append_utf8(out, hex(4)); break;
        case 'U': {
          char32_t v = hex(8);
          if (v > 0x10FFFF) error(i, "illegal Unicode character in string literal");
          unicode::append_utf8(out, v);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int m = 0; m < 2 && k + 1 < raw.size() && raw[k + 1] >= '0' && raw[k + 1] <= '7'; ++m)
              v = v * 8 + static_cast<char32_t>(raw[++k] - '0');
            unicode::append_utf8(out, v);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    emit(Tok::string, std::move(out), i);
    return j + 1;
  }

  std::string name_;
  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  mutable size_t col_cache_pos_ = 0;
  mutable int col_cache_col_ = 1;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& name) {
  return Lexer(source, name).run();
}

}  // namespace hearth::chat::jinja
