#include "chat/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja/error.h"
#include "chat/jinja/unicode.h"

namespace hearth::chat::jinja {

namespace {
const std::string kEmpty;
}

const Value* DictData::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (values_equal(k, key)) return &v;
  return nullptr;
}

Value* DictData::find(const Value& key) {
  for (auto& [k, v] : items)
    if (values_equal(k, key)) return &v;
  return nullptr;
}

const Value* DictData::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k.is_string() && k.str() == key) return &v;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  if (Value* v = find(key)) {
    *v = std::move(value);
    return;
  }
  items.emplace_back(std::move(key), std::move(value));
}

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.s_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::none;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::boolean;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::integer;
  v.i_ = i;
  return v;
}
Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::floating;
  v.d_ = d;
  return v;
}
Value Value::string(std::string s, bool markup) {
  Value v;
  v.kind_ = Kind::string;
  v.flag_ = markup;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::list(ValueList items, ListKind kind) {
  Value v;
  v.kind_ = Kind::list;
  v.list_ = std::make_shared<ListData>();
  v.list_->items = std::move(items);
  v.list_->kind = kind;
  return v;
}
Value Value::dict() {
  Value v;
  v.kind_ = Kind::dict;
  v.dict_ = std::make_shared<DictData>();
  return v;
}
Value Value::callable(std::string name, NativeFn fn, bool is_macro) {
  Value v;
  v.kind_ = Kind::callable;
  auto c = std::make_shared<Callable>();
  c->name = std::move(name);
  c->fn = std::move(fn);
  c->is_macro = is_macro;
  v.fn_ = std::move(c);
  return v;
}

const std::string& Value::undefined_hint() const { return s_ ? *s_ : kEmpty; }

bool Value::truthy() const {
  switch (kind_) {
    case Kind::undefined: case Kind::none: return false;
    case Kind::boolean: return b_;
    case Kind::integer: return i_ != 0;
    case Kind::floating: return d_ != 0.0;
    case Kind::string: return !s_->empty();
    case Kind::list: return list_->kind == ListKind::iterator || !list_->items.empty();
    case Kind::dict: return dict_->is_namespace || !dict_->items.empty();
    case Kind::callable: return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "NoneType";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return flag_ ? "Markup" : "str";
    case Kind::list:
      return list_->kind == ListKind::tuple ? "tuple" : list_->kind == ListKind::iterator ? "generator" : "list";
    case Kind::dict: return dict_->is_namespace ? "Namespace" : "dict";
    case Kind::callable: return fn_->is_macro ? "Macro" : "function";
  }
  return "object";
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::undefined: case Kind::none: return true;
    case Kind::string: return a.str() == b.str();
    case Kind::list: {
      if (&a.list_data() == &b.list_data()) return true;
      if (a.list_data().kind != b.list_data().kind || a.is_iterator()) return false;
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!values_equal(x[i], y[i])) return false;
      return true;
    }
    case Kind::dict: {
      if (&a.dict_data() == &b.dict_data()) return true;
      if (a.is_namespace() || b.is_namespace()) return false;
      const auto& x = a.dict_data().items;
      if (x.size() != b.dict_data().items.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* o = b.dict_data().find(k);
        if (!o || !values_equal(v, *o)) return false;
      }
      return true;
    }
    case Kind::callable: return &a.callable_data() == &b.callable_data();
    default: return false;
  }
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci looks like "-1.2345e+05"; split into sign, digits and decimal exponent.
  bool neg = sci[0] == '-';
  size_t epos = sci.find('e');
  std::string mant = sci.substr(neg ? 1 : 0, epos - (neg ? 1 : 0));
  int exp = std::atoi(sci.c_str() + epos + 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits.push_back(c);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += e;
    return out;
  }
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
    return out;
  }
  size_t int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len) {
    out += digits;
    out.append(int_len - digits.size(), '0');
    out += ".0";
  } else {
    out.append(digits, 0, int_len);
    out += '.';
    out.append(digits, int_len);
  }
  return out;
}

std::string python_string_repr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : unicode::decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && !unicode::is_printable(c))) {
      char buf[16];
      if (c < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      else if (c < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    } else {
      unicode::append_utf8(out, c);
    }
  }
  out += quote;
  return out;
}

namespace {

void repr_into(std::string& out, const Value& v, int depth);

void output_into(std::string& out, const Value& v, int depth) {
  switch (v.kind()) {
    case Kind::undefined: return;
    case Kind::string: out += v.str(); return;
    default: repr_into(out, v, depth);
  }
}

void repr_into(std::string& out, const Value& v, int depth) {
  if (depth > 200) fail_limit("value nested too deeply to print");
  switch (v.kind()) {
    case Kind::undefined: out += "Undefined"; return;
    case Kind::none: out += "None"; return;
    case Kind::boolean: out += v.as_bool() ? "True" : "False"; return;
    case Kind::integer: out += std::to_string(v.as_int()); return;
    case Kind::floating: out += python_float_repr(v.as_double()); return;
    case Kind::string:
      if (v.is_markup()) out += "Markup(";
      out += python_string_repr(v.str());
      if (v.is_markup()) out += ")";
      return;
    case Kind::list: {
      if (v.is_iterator()) {
        out += "<generator object>";
        return;
      }
      bool tuple = v.is_tuple();
      out += tuple ? '(' : '[';
      const auto& items = v.items();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        repr_into(out, items[i], depth + 1);
      }
      if (tuple && items.size() == 1) out += ',';
      out += tuple ? ')' : ']';
      return;
    }
    case Kind::dict: {
      if (v.is_namespace()) out += "<Namespace ";
      out += '{';
      bool first = true;
      for (const auto& [k, val] : v.dict_data().items) {
        if (!first) out += ", ";
        first = false;
        repr_into(out, k, depth + 1);
        out += ": ";
        repr_into(out, val, depth + 1);
      }
      out += '}';
      if (v.is_namespace()) out += '>';
      return;
    }
    case Kind::callable:
      if (v.callable_data().is_macro) out += "<Macro '" + v.callable_data().name + "'>";
      else out += "<function " + v.callable_data().name + ">";
      return;
  }
}

void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  auto escape_u = [&](unsigned c) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\u%04x", c);
    out += buf;
  };
  if (!ensure_ascii) {
    for (char ch : s) {
      unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) escape_u(c);
          else out += ch;
      }
    }
  } else {
    for (char32_t c : unicode::decode(s)) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || (c >= 0x7F && c < 0x10000)) {
            if (c < 0x7F) escape_u(c);
            else if (c == 0x7F) out += static_cast<char>(c);
            else escape_u(c);
          } else if (c >= 0x10000) {
            char32_t v = c - 0x10000;
            escape_u(0xD800 + static_cast<unsigned>(v >> 10));
            escape_u(0xDC00 + static_cast<unsigned>(v & 0x3FF));
          } else {
            out += static_cast<char>(c);
          }
      }
    }
  }
  out += '"';
}

void json_into(std::string& out, const Value& v, const JsonOptions& o, int level) {
  if (level > 200) fail_limit("value nested too deeply for tojson");
  auto newline = [&](int lvl) {
    out += '\n';
    for (int i = 0; i < lvl; ++i) out += o.indent;
  };
  switch (v.kind()) {
    case Kind::none: out += "null"; return;
    case Kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case Kind::integer: out += std::to_string(v.as_int()); return;
    case Kind::floating: {
      double d = v.as_double();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
      else out += python_float_repr(d);
      return;
    }
    case Kind::string: json_string(out, v.str(), o.ensure_ascii); return;
    case Kind::list: {
      if (v.is_iterator()) fail("Object of type generator is not JSON serializable");
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.has_indent) newline(level + 1);
        json_into(out, items[i], o, level + 1);
      }
      if (o.has_indent) newline(level);
      out += ']';
      return;
    }
    case Kind::dict: {
      if (v.is_namespace()) fail("Object of type Namespace is not JSON serializable");
      std::vector<const std::pair<Value, Value>*> entries;
      for (const auto& e : v.dict_data().items) entries.push_back(&e);
      if (entries.empty()) {
        out += "{}";
        return;
      }
      auto key_text = [](const Value& k) -> std::string {
        switch (k.kind()) {
          case Kind::string: return k.str();
          case Kind::boolean: return k.as_bool() ? "true" : "false";
          case Kind::integer: return std::to_string(k.as_int());
          case Kind::floating: return python_float_repr(k.as_double());
          case Kind::none: return "null";
          default: fail("keys must be str, int, float, bool or None, not {}", k.type_name());
        }
      };
      if (o.sort_keys) {
        for (const auto* e : entries)
          if (!e->first.is_string()) fail("'<' not supported between keys of this type in sort_keys");
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto* a, const auto* b) { return a->first.str() < b->first.str(); });
      }
      out += '{';
      bool first = true;
      for (const auto* e : entries) {
        if (!first) out += o.item_separator;
        first = false;
        if (o.has_indent) newline(level + 1);
        json_string(out, key_text(e->first), o.ensure_ascii);
        out += o.key_separator;
        json_into(out, e->second, o, level + 1);
      }
      if (o.has_indent) newline(level);
      out += '}';
      return;
    }
    case Kind::undefined: fail("Object of type Undefined is not JSON serializable");
    case Kind::callable: fail("Object of type function is not JSON serializable");
  }
}

}  // namespace

std::string to_output_string(const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  output_into(out, v, 0);
  return out;
}

std::string python_repr(const Value& v) {
  std::string out;
  repr_into(out, v, 0);
  return out;
}

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  json_into(out, v, options, 0);
  return out;
}

}  // namespace hearth::chat::jinja
