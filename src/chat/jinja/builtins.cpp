// Filters, tests, str/dict/list methods and globals, with the semantics of jinja2 3.1 running
// in transformers' ImmutableSandboxedEnvironment (Python 3 str/dict/list behaviour).
#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "chat/jinja/error.h"
#include "chat/jinja/interpreter.h"
#include "chat/jinja/parser.h"
#include "chat/jinja/unicode.h"

namespace hearth::chat::jinja {

namespace u = unicode;

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// str(v) as Python's soft_str: strings keep their markup flag.
Value soft_str(Interpreter& in, const Value& v) {
  if (v.is_string()) return v;
  return in.make_string(to_output_string(v));
}

int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case Kind::undefined: return 0;
    case Kind::string: return static_cast<int64_t>(u::length(v.str()));
    case Kind::list:
      if (v.is_iterator()) fail("object of type 'generator' has no len()");
      return static_cast<int64_t>(v.items().size());
    case Kind::dict:
      if (v.is_namespace()) fail("object of type 'Namespace' has no len()");
      return static_cast<int64_t>(v.dict_data().items.size());
    default: fail("object of type '{}' has no len()", v.type_name());
  }
}

bool contains(Interpreter& in, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::undefined: return false;
    case Kind::string:
      if (!item.is_string()) fail("'in <string>' requires string as left operand, not {}", item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Kind::list:
      for (const auto& v : in.iterate(container))
        if (values_equal(v, item)) return true;
      return false;
    case Kind::dict:
      if (container.is_namespace()) fail("argument of type 'Namespace' is not iterable");
      return container.dict_data().find(item) != nullptr;
    default: fail("argument of type '{}' is not iterable", container.type_name());
  }
}

const Value& arg_or(const std::vector<Value>& a, size_t i, const Value& def) { return a[i].is_undefined() ? def : a[i]; }

int64_t need_int(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) fail("'float' object cannot be interpreted as an integer ({})", what);
  fail("'{}' object cannot be interpreted as an integer ({})", v.type_name(), what);
}

std::string need_str(const Value& v, const char* what) {
  if (!v.is_string()) fail("{} must be str, not {}", what, v.type_name());
  return v.str();
}

// ---- Python str helpers on code points ----

bool in_chars(char32_t c, const std::vector<char32_t>* chars) {
  if (!chars) return u::is_space(c);
  return std::find(chars->begin(), chars->end(), c) != chars->end();
}

std::string py_strip(const std::string& s, const Value& chars_arg, bool left, bool right) {
  std::vector<char32_t> chars;
  const std::vector<char32_t>* cp = nullptr;
  if (!chars_arg.is_undefined() && !chars_arg.is_none()) {
    chars = u::decode(need_str(chars_arg, "strip arg"));
    cp = &chars;
  }
  if (u::is_ascii(s) && !cp) {
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && u::is_space(static_cast<unsigned char>(s[b]))) ++b;
    if (right)
      while (e > b && u::is_space(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
  }
  auto cps = u::decode(s);
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && in_chars(cps[b], cp)) ++b;
  if (right)
    while (e > b && in_chars(cps[e - 1], cp)) --e;
  return u::encode(cps, b, e);
}

std::vector<std::string> py_split(Interpreter& in, const std::string& s, const Value& sep_arg, int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  if (sep_arg.is_undefined() || sep_arg.is_none()) {
    auto cps = u::decode(s);
    std::vector<std::pair<size_t, size_t>> words;
    size_t i = 0, n = cps.size();
    if (!from_right) {
      while (i < n) {
        while (i < n && u::is_space(cps[i])) ++i;
        if (i >= n) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t e = n;
          while (e > i && u::is_space(cps[e - 1])) --e;
          words.emplace_back(i, e);
          break;
        }
        size_t j = i;
        while (j < n && !u::is_space(cps[j])) ++j;
        words.emplace_back(i, j);
        i = j;
      }
    } else {
      size_t e = n;
      while (e > 0) {
        while (e > 0 && u::is_space(cps[e - 1])) --e;
        if (e == 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t b = 0;
          while (b < e && u::is_space(cps[b])) ++b;
          words.emplace_back(b, e);
          break;
        }
        size_t b = e;
        while (b > 0 && !u::is_space(cps[b - 1])) --b;
        words.emplace_back(b, e);
        e = b;
      }
      std::reverse(words.begin(), words.end());
    }
    for (auto [b, e] : words) out.push_back(u::encode(cps, b, e));
    in.step(out.size() / 8);
    return out;
  }
  std::string sep = need_str(sep_arg, "separator");
  if (sep.empty()) fail("empty separator");
  if (!from_right) {
    size_t pos = 0;
    while (true) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
      size_t f = s.find(sep, pos);
      if (f == std::string::npos) break;
      out.push_back(s.substr(pos, f - pos));
      pos = f + sep.size();
    }
    out.push_back(s.substr(pos));
  } else {
    size_t end = s.size();
    while (true) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
      if (end < sep.size()) break;
      size_t f = s.rfind(sep, end - sep.size());
      if (f == std::string::npos) break;
      out.push_back(s.substr(f + sep.size(), end - f - sep.size()));
      end = f;
    }
    out.push_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
  }
  in.step(out.size() / 8);
  return out;
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> out;
  auto cps = u::decode(s);
  size_t i = 0, start = 0, n = cps.size();
  while (i < n) {
    if (u::is_linebreak(cps[i])) {
      size_t eol = i + 1;
      if (cps[i] == '\r' && i + 1 < n && cps[i + 1] == '\n') eol = i + 2;
      out.push_back(u::encode(cps, start, keepends ? eol : i));
      start = i = eol;
    } else {
      ++i;
    }
  }
  if (start < n) out.push_back(u::encode(cps, start, n));
  return out;
}

std::string py_replace(Interpreter& in, const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    auto cps = u::decode(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      if (i < cps.size()) u::append_utf8(out, cps[i]);
      in.charge(repl.size());
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t f = s.find(old, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += repl;
    in.charge(repl.size() + (f - pos));
    pos = f + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string py_title(const std::string& s) {  // str.title()
  std::string out;
  bool prev_cased = false;
  for (char32_t c : u::decode(s)) {
    u::append_utf8(out, prev_cased ? u::to_lower(c) : u::to_title(c));
    prev_cased = u::is_cased_lower(c) || u::is_cased_upper(c);
  }
  return out;
}

std::string py_capitalize(const std::string& s) {
  std::string out;
  bool first = true;
  for (char32_t c : u::decode(s)) {
    u::append_utf8(out, first ? u::to_title(c) : u::to_lower(c));
    first = false;
  }
  return out;
}

// Code-point index range [start, end) of a Python slice-like (start, end) argument pair.
void py_range(const std::vector<Value>& a, size_t i0, int64_t n, int64_t& b, int64_t& e) {
  auto norm = [&](const Value& v, int64_t def) {
    if (v.is_undefined() || v.is_none()) return def;
    int64_t x = need_int(v, "slice index");
    if (x < 0) x = std::max<int64_t>(0, x + n);
    return std::min(x, n);
  };
  b = norm(a[i0], 0);
  e = norm(a[i0 + 1], n);
}

bool affix_match(const std::string& s, const Value& affix, const std::vector<Value>& a, bool prefix) {
  std::vector<Value> options;
  if (affix.is_list() && affix.is_tuple()) options = affix.items();
  else if (affix.is_string()) options.push_back(affix);
  else fail("{} first arg must be str or a tuple of str, not {}", prefix ? "startswith" : "endswith", affix.type_name());
  std::string sub = s;
  if (!a[1].is_undefined() || !a[2].is_undefined()) {
    auto cps = u::decode(s);
    int64_t b, e;
    py_range(a, 1, static_cast<int64_t>(cps.size()), b, e);
    if (b > e) return false;
    sub = u::encode(cps, static_cast<size_t>(b), static_cast<size_t>(e));
  }
  for (const auto& o : options) {
    if (!o.is_string()) fail("tuple for {} must only contain str", prefix ? "startswith" : "endswith");
    const std::string& x = o.str();
    if (x.size() > sub.size()) continue;
    if (prefix ? sub.compare(0, x.size(), x) == 0 : sub.compare(sub.size() - x.size(), x.size(), x) == 0) return true;
  }
  return false;
}

int64_t py_find(const std::string& s, const std::string& sub, const std::vector<Value>& a, bool reverse, int64_t* count) {
  auto cps = u::decode(s);
  auto pat = u::decode(sub);
  int64_t n = static_cast<int64_t>(cps.size());
  int64_t b, e;
  py_range(a, 1, n, b, e);
  int64_t m = static_cast<int64_t>(pat.size());
  int64_t found = -1, hits = 0;
  if (count) {
    if (m == 0) {
      *count = e >= b ? e - b + 1 : 0;
      return 0;
    }
    for (int64_t i = b; i + m <= e;) {
      if (std::equal(pat.begin(), pat.end(), cps.begin() + i)) {
        ++hits;
        i += m;
      } else {
        ++i;
      }
    }
    *count = hits;
    return 0;
  }
  if (!reverse) {
    for (int64_t i = b; i + m <= e; ++i)
      if (std::equal(pat.begin(), pat.end(), cps.begin() + i)) return i;
  } else {
    for (int64_t i = e - m; i >= b; --i)
      if (std::equal(pat.begin(), pat.end(), cps.begin() + i)) return i;
  }
  return found;
}

std::string py_pad(const std::string& s, int64_t width, const Value& fill_arg, int where /*-1 ljust,0 center,1 rjust*/) {
  std::string fill = " ";
  if (!fill_arg.is_undefined()) {
    fill = need_str(fill_arg, "fill character");
    if (u::length(fill) != 1) fail("The fill character must be exactly one character long");
  }
  int64_t len = static_cast<int64_t>(u::length(s));
  if (width <= len) return s;
  if (width > (1 << 24)) fail_limit("padding width {} is too large", width);
  int64_t total = width - len;
  int64_t left = where < 0 ? 0 : where > 0 ? total : total / 2 + (total & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < total - left; ++i) out += fill;
  return out;
}

std::string py_format(Interpreter& in, const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
      continue;
    }
    if (c == '}') fail("{}", "Single '}' encountered in format string");
    if (c != '{') {
      out += c;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) fail("{}", "Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    char conv = 0;
    size_t bang = field.find('!');
    size_t colon = field.find(':');
    if (colon != std::string::npos && colon + 1 < field.size()) fail("format specifications are not supported in str.format");
    if (colon != std::string::npos) field.resize(colon);
    if (bang != std::string::npos && bang < field.size()) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 0;
      field.resize(bang);
    }
    Value v;
    if (field.empty()) {
      if (auto_idx >= args.args.size()) fail("Replacement index {} out of range for positional args tuple", auto_idx);
      v = args.args[auto_idx++];
    } else if (std::all_of(field.begin(), field.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      size_t k = std::stoul(field);
      if (k >= args.args.size()) fail("Replacement index {} out of range for positional args tuple", k);
      v = args.args[k];
    } else {
      bool found = false;
      for (const auto& [k, val] : args.kwargs)
        if (k == field) v = val, found = true;
      if (!found) fail("KeyError: '{}'", field);
    }
    out += conv == 'r' ? python_repr(v) : to_output_string(v);
    in.charge(out.size() / 4);
  }
  return out;
}

Value str_list(Interpreter& in, const std::vector<std::string>& parts, bool markup) {
  ValueList items;
  items.reserve(parts.size());
  in.charge(parts.size());
  for (const auto& p : parts) items.push_back(Value::string(p, markup));
  return Value::list(std::move(items));
}

// ---- str / dict / list methods ----

Value call_str_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  const std::string& s = self.str();
  bool m = self.is_markup();
  auto str = [&](std::string r, bool keep_markup = true) { return in.make_string(std::move(r), keep_markup && m); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    auto a = args.bind(name.c_str(), {"chars"});
    return str(py_strip(s, a[0], name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    auto a = args.bind(name.c_str(), {"sep", "maxsplit"});
    int64_t maxsplit = a[1].is_undefined() ? -1 : need_int(a[1], "maxsplit");
    return str_list(in, py_split(in, s, a[0], maxsplit, name == "rsplit"), m);
  }
  if (name == "splitlines") {
    auto a = args.bind("splitlines", {"keepends"});
    return str_list(in, py_splitlines(s, a[0].truthy()), m);
  }
  if (name == "startswith" || name == "endswith") {
    auto a = args.bind(name.c_str(), {"affix", "start", "end"});
    if (a[0].is_undefined()) fail("{}() takes at least 1 argument (0 given)", name);
    return Value::boolean(affix_match(s, a[0], a, name == "startswith"));
  }
  if (name == "upper") return str(u::upper(s));
  if (name == "lower") return str(u::lower(s));
  if (name == "title") return str(py_title(s));
  if (name == "capitalize") return str(py_capitalize(s));
  if (name == "swapcase") {
    std::string out;
    for (char32_t c : u::decode(s))
      u::append_utf8(out, u::is_cased_upper(c) ? u::to_lower(c) : u::is_cased_lower(c) ? u::to_upper(c) : c);
    return str(out);
  }
  if (name == "replace") {
    auto a = args.bind("replace", {"old", "new", "count"});
    std::string old = need_str(a[0], "replace() argument 1");
    std::string repl = need_str(a[1], "replace() argument 2");
    if (m) old = html_escape(old), repl = html_escape(repl);
    int64_t count = a[2].is_undefined() ? -1 : need_int(a[2], "count");
    return str(py_replace(in, s, old, repl, count));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    auto a = args.bind(name.c_str(), {"sub", "start", "end"});
    int64_t r = py_find(s, need_str(a[0], "substring"), a, name[0] == 'r', nullptr);
    if (r < 0 && (name == "index" || name == "rindex")) fail("substring not found");
    return Value::integer(r);
  }
  if (name == "count") {
    auto a = args.bind("count", {"sub", "start", "end"});
    int64_t c = 0;
    py_find(s, need_str(a[0], "substring"), a, false, &c);
    return Value::integer(c);
  }
  if (name == "join") {
    auto a = args.bind("join", {"iterable"});
    std::string out;
    bool first = true;
    for (const auto& v : in.iterate(a[0])) {
      if (!v.is_string()) fail("sequence item: expected str instance, {} found", v.type_name());
      if (!first) out += s;
      first = false;
      out += (m && !v.is_markup()) ? html_escape(v.str()) : v.str();
      in.charge(v.str().size() + s.size());
    }
    return str(out);
  }
  if (name == "format") return str(py_format(in, s, args));
  if (name == "center" || name == "ljust" || name == "rjust") {
    auto a = args.bind(name.c_str(), {"width", "fillchar"});
    return str(py_pad(s, need_int(a[0], "width"), a[1], name == "ljust" ? -1 : name == "rjust" ? 1 : 0));
  }
  if (name == "zfill") {
    auto a = args.bind("zfill", {"width"});
    int64_t w = need_int(a[0], "width");
    int64_t len = static_cast<int64_t>(u::length(s));
    if (w <= len) return str(s);
    if (w > (1 << 24)) fail_limit("zfill width {} is too large", w);
    size_t sign = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    return str(s.substr(0, sign) + std::string(static_cast<size_t>(w - len), '0') + s.substr(sign));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    auto a = args.bind(name.c_str(), {"affix"});
    std::string x = need_str(a[0], "affix");
    if (name == "removeprefix" && s.compare(0, x.size(), x) == 0) return str(s.substr(x.size()));
    if (name == "removesuffix" && x.size() <= s.size() && !x.empty() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return str(s.substr(0, s.size() - x.size()));
    return str(s);
  }
  if (name == "partition" || name == "rpartition") {
    auto a = args.bind(name.c_str(), {"sep"});
    std::string sep = need_str(a[0], "separator");
    if (sep.empty()) fail("empty separator");
    size_t f = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (f == std::string::npos) {
      if (name == "partition") return Value::tuple({str(s), str(""), str("")});
      return Value::tuple({str(""), str(""), str(s)});
    }
    return Value::tuple({str(s.substr(0, f)), str(sep), str(s.substr(f + sep.size()))});
  }
  auto all_cps = [&](auto pred) {
    auto cps = u::decode(s);
    if (cps.empty()) return false;
    for (char32_t c : cps)
      if (!pred(c)) return false;
    return true;
  };
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return Value::boolean(all_cps(u::is_digit));
  if (name == "isalpha") return Value::boolean(all_cps(u::is_alpha));
  if (name == "isalnum") return Value::boolean(all_cps([](char32_t c) { return u::is_alpha(c) || u::is_digit(c); }));
  if (name == "isspace") return Value::boolean(all_cps(u::is_space));
  if (name == "islower" || name == "isupper") {
    bool any = false, ok = true;
    for (char32_t c : u::decode(s)) {
      if (u::is_cased_lower(c)) {
        any = true;
        if (name == "isupper") ok = false;
      } else if (u::is_cased_upper(c)) {
        any = true;
        if (name == "islower") ok = false;
      }
    }
    return Value::boolean(any && ok);
  }
  fail("str.{}() is not supported", name);
}

const char* const kStrMethods[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
                                   "upper", "lower", "title", "capitalize", "swapcase", "replace", "find", "rfind",
                                   "index", "rindex", "count", "join", "format", "center", "ljust", "rjust", "zfill",
                                   "removeprefix", "removesuffix", "partition", "rpartition", "isdigit", "isdecimal",
                                   "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper", "encode",
                                   "expandtabs", "casefold", "format_map", "isidentifier", "isprintable", "istitle",
                                   "isascii", "maketrans", "translate"};
const char* const kDictMethods[] = {"items", "keys", "values", "get", "copy", "fromkeys"};
const char* const kDictUnsafe[] = {"pop", "popitem", "setdefault", "update", "clear"};
const char* const kListMethods[] = {"index", "count", "copy"};
const char* const kListUnsafe[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};

template <size_t N>
bool one_of(const std::string& s, const char* const (&names)[N]) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

Value call_dict_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  auto& d = self.dict_data();
  if (name == "items") {
    args.bind("items", {});
    in.charge(d.items.size());
    ValueList out;
    for (const auto& [k, v] : d.items) out.push_back(Value::tuple({k, v}));
    return Value::list(std::move(out));
  }
  if (name == "keys" || name == "values") {
    args.bind(name.c_str(), {});
    in.charge(d.items.size());
    ValueList out;
    for (const auto& [k, v] : d.items) out.push_back(name == "keys" ? k : v);
    return Value::list(std::move(out));
  }
  if (name == "get") {
    auto a = args.bind("get", {"key", "default"});
    if (const Value* v = d.find(a[0])) return *v;
    return a[1].is_undefined() ? Value::none() : a[1];
  }
  if (name == "copy") {
    args.bind("copy", {});
    in.charge(d.items.size());
    Value c = Value::dict();
    c.dict_data().items = d.items;
    return c;
  }
  fail("dict.{}() is not supported", name);
}

Value call_list_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  const auto& items = self.items();
  if (name == "index" || name == "count") {
    auto a = args.bind(name.c_str(), {"value"});
    int64_t c = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (values_equal(items[i], a[0])) {
        if (name == "index") return Value::integer(static_cast<int64_t>(i));
        ++c;
      }
    }
    if (name == "index") fail("{} is not in list", python_repr(a[0]));
    return Value::integer(c);
  }
  if (name == "copy") {
    in.charge(items.size());
    return Value::list(items, self.list_data().kind);
  }
  fail("list.{}() is not supported", name);
}

// ---- attribute getter used by map / selectattr / sort / unique / join / sum ----

Value get_path(Interpreter& in, const Value& item, const std::string& attribute) {
  Value v = item;
  size_t pos = 0;
  while (true) {
    size_t dot = attribute.find('.', pos);
    std::string part = attribute.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = digits ? in.getitem(v, Value::integer(std::stoll(part))) : in.getitem(v, Value::string(part));
    if (dot == std::string::npos) return v;
    pos = dot + 1;
  }
}

Value attr_arg(const Value& a) {
  if (a.is_undefined() || a.is_none()) return Value();
  return a;
}

Value key_of(Interpreter& in, const Value& item, const Value& attribute, bool case_sensitive) {
  Value k = item;
  if (!attribute.is_undefined()) {
    if (attribute.is_int()) k = in.getitem(item, attribute);
    else k = get_path(in, item, to_output_string(attribute));
  }
  if (!case_sensitive && k.is_string()) return Value::string(u::lower(k.str()));
  return k;
}

void sort_values(Interpreter& in, ValueList& items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  in.step(items.size() * 4);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? in.compare(keys[b], keys[a], "<") < 0 : in.compare(keys[a], keys[b], "<") < 0;
  });
  ValueList out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(items[i]);
  items = std::move(out);
}

Value py_round(const Value& v, int64_t precision, const std::string& method) {
  if (!v.is_number()) fail("type {} doesn't define __round__ method", v.type_name());
  if (method == "common") {
    if (!v.is_float()) return Value::integer(v.as_int());  // round(int, n >= 0) is the int
    double d = v.as_double();
    if (!std::isfinite(d)) return v;
    char buf[512];
    int p = static_cast<int>(std::clamp<int64_t>(precision, 0, 300));
    if (precision < 0) {
      double scale = std::pow(10.0, static_cast<double>(-precision));
      return Value::floating(std::nearbyint(d / scale) * scale);
    }
    std::snprintf(buf, sizeof buf, "%.*f", p, d);  // correctly rounded, ties to even
    return Value::floating(std::strtod(buf, nullptr));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  if (method == "ceil") return Value::floating(std::ceil(x) / scale);
  if (method == "floor") return Value::floating(std::floor(x) / scale);
  fail("method must be common, ceil or floor");
}

Value py_int(const Value& v, const Value& def, int64_t base) {
  if (v.is_int()) return v;
  if (v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    double d = v.as_double();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return def;
    return Value::integer(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    std::string s = py_strip(v.str(), Value(), true, true);
    std::string clean;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '_' && i > 0 && i + 1 < s.size() && std::isalnum(static_cast<unsigned char>(s[i - 1])) &&
          std::isalnum(static_cast<unsigned char>(s[i + 1])))
        continue;
      clean += s[i];
    }
    if (!clean.empty()) {
      const char* p = clean.c_str();
      char* end = nullptr;
      errno = 0;
      long long r = std::strtoll(p, &end, static_cast<int>(base));
      if (end && *end == 0 && errno == 0) return Value::integer(r);
      errno = 0;
      double d = std::strtod(p, &end);
      if (end && *end == 0 && errno == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18 &&
          clean.find_first_of("xXpP") == std::string::npos)
        return Value::integer(static_cast<int64_t>(d));
    }
  }
  return def;
}

Value py_float(const Value& v, const Value& def) {
  if (v.is_number()) return Value::floating(v.as_double());
  if (v.is_string()) {
    std::string s = py_strip(v.str(), Value(), true, true);
    if (s.empty() || s.find_first_of("xXpP") != std::string::npos) return def;
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == 0) return Value::floating(d);
  }
  return def;
}

Value do_tojson(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = args.bind("tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = a[0].truthy();
  o.sort_keys = a[3].truthy();
  if (!a[1].is_undefined() && !a[1].is_none()) {
    o.has_indent = true;
    if (a[1].is_string()) o.indent = a[1].str();
    else o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(need_int(a[1], "indent"), 0, 1024)), ' ');
    o.item_separator = ",";
  }
  if (!a[2].is_undefined() && !a[2].is_none()) {
    ValueList seps = in.iterate(a[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string()) fail("separators must be a pair of strings");
    o.item_separator = seps[0].str();
    o.key_separator = seps[1].str();
  }
  std::string out = to_json(v, o);
  return in.make_string(std::move(out));
}

Value do_indent(Interpreter& in, const Value& v, CallArgs& args) {
  auto a = args.bind("indent", {"width", "first", "blank"});
  std::string ind;
  if (a[0].is_string()) ind = a[0].str();
  else ind = std::string(static_cast<size_t>(std::clamp<int64_t>(a[0].is_undefined() ? 4 : need_int(a[0], "width"), 0, 4096)), ' ');
  Value sv = soft_str(in, v);
  std::string s = sv.str() + "\n";
  auto lines = py_splitlines(s, false);
  std::string rv;
  if (a[2].truthy()) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + ind;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += ind;
      rv += lines[i];
    }
  }
  if (a[1].truthy()) rv = ind + rv;
  return in.make_string(std::move(rv), sv.is_markup());
}

// select / reject / selectattr / rejectattr
Value do_select(Interpreter& in, const Value& seq, CallArgs& args, bool with_attr, bool want) {
  if (!seq.truthy()) return Value::list({}, ListKind::iterator);  // jinja2 yields nothing for a falsy input
  size_t i = 0;
  std::string attr;
  if (with_attr) {
    if (args.args.empty()) fail("Missing parameter for attribute name");
    attr = to_output_string(args.args[0]);
    i = 1;
  }
  std::string test_name;
  CallArgs test_args;
  bool has_test = args.args.size() > i;
  if (has_test) {
    test_name = to_output_string(args.args[i]);
    test_args.args.assign(args.args.begin() + static_cast<long>(i) + 1, args.args.end());
    test_args.kwargs = args.kwargs;
  }
  ValueList out;
  for (const auto& item : in.iterate(seq)) {
    in.step();
    Value x = with_attr ? get_path(in, item, attr) : item;
    bool r;
    if (has_test) {
      CallArgs ta = test_args;
      r = in.test(test_name, x, ta);
    } else {
      r = x.truthy();
    }
    if (r == want) out.push_back(item);
  }
  return Value::list(std::move(out), ListKind::iterator);
}

Value do_map(Interpreter& in, const Value& seq, CallArgs& args) {
  if (!seq.truthy()) return Value::list({}, ListKind::iterator);  // jinja2 yields nothing for a falsy input
  bool by_attr = false;
  Value attribute, def;
  for (const auto& [k, v] : args.kwargs) {
    if (k == "attribute") by_attr = true, attribute = v;
    else if (k == "default") def = v;
  }
  ValueList out;
  if (by_attr) {
    for (const auto& [k, v] : args.kwargs)
      if (k != "attribute" && k != "default") fail("Unexpected keyword argument '{}'", k);
    for (const auto& item : in.iterate(seq)) {
      in.step();
      Value v = attribute.is_int() ? in.getitem(item, attribute) : get_path(in, item, to_output_string(attribute));
      if (v.is_undefined() && !def.is_undefined()) v = def;
      out.push_back(v);
    }
    return Value::list(std::move(out), ListKind::iterator);
  }
  if (args.args.empty()) fail("map requires a filter argument");
  std::string name = to_output_string(args.args[0]);
  if (!is_known_filter(name)) fail("No filter named '{}'.", name);
  CallArgs rest;
  rest.args.assign(args.args.begin() + 1, args.args.end());
  rest.kwargs = args.kwargs;
  for (const auto& item : in.iterate(seq)) {
    in.step();
    CallArgs ra = rest;
    out.push_back(in.filter(name, item, ra));
  }
  return Value::list(std::move(out), ListKind::iterator);
}

}  // namespace

Value builtin_method(Interpreter& in, const Value& obj, const std::string& name) {
  (void)in;
  std::string unsafe_hint;
  if (obj.is_string()) {
    if (!one_of(name, kStrMethods)) return Value();
  } else if (obj.is_dict() && !obj.is_namespace()) {
    if (one_of(name, kDictUnsafe)) return Value::undefined("access to attribute '" + name + "' of 'dict' object is unsafe.");
    if (!one_of(name, kDictMethods)) return Value();
  } else if (obj.is_list() && !obj.is_iterator()) {
    if (one_of(name, kListUnsafe)) {
      if (obj.is_tuple()) return Value();
      return Value::undefined("access to attribute '" + name + "' of 'list' object is unsafe.");
    }
    if (!one_of(name, kListMethods) || (obj.is_tuple() && name == "copy")) return Value();
  } else {
    return Value();
  }
  Value self = obj;
  return Value::callable(std::string(obj.type_name()) + "." + name, [self, name](Interpreter& in2, CallArgs& args) -> Value {
    if (self.is_string()) return call_str_method(in2, self, name, args);
    if (self.is_dict()) return call_dict_method(in2, self, name, args);
    return call_list_method(in2, self, name, args);
  });
}

Value builtin_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
  static const Value kEmpty = Value::string("");
  auto undefined_fail = [&](const Value& x) {
    if (x.is_undefined()) {
      const std::string& h = x.undefined_hint();
      fail("{}", h.empty() ? std::string("value is undefined") : h);
    }
  };
  if (name == "default" || name == "d") {
    auto a = args.bind("default", {"default_value", "boolean"});
    if (v.is_undefined() || (a[1].truthy() && !v.truthy())) return arg_or(a, 0, kEmpty);
    return v;
  }
  if (name == "length" || name == "count") {
    args.bind(name.c_str(), {});
    return Value::integer(py_len(v));
  }
  if (name == "string") {
    args.bind("string", {});
    return soft_str(in, v);
  }
  if (name == "safe") {
    args.bind("safe", {});
    if (v.is_markup()) return v;
    return in.make_string(to_output_string(v), true);
  }
  if (name == "escape" || name == "e" || name == "forceescape") {
    args.bind(name.c_str(), {});
    if (v.is_markup() && name != "forceescape") return v;
    if (v.is_none() && name != "forceescape") return Value::string("None", true);
    return in.make_string(html_escape(to_output_string(v)), true);
  }
  if (name == "trim") {
    auto a = args.bind("trim", {"chars"});
    Value s = soft_str(in, v);
    return in.make_string(py_strip(s.str(), a[0], true, true), s.is_markup());
  }
  if (name == "upper" || name == "lower" || name == "capitalize" || name == "title") {
    args.bind(name.c_str(), {});
    Value s = soft_str(in, v);
    std::string r;
    if (name == "upper") r = u::upper(s.str());
    else if (name == "lower") r = u::lower(s.str());
    else if (name == "capitalize") r = py_capitalize(s.str());
    else {
      // jinja2's title: split before runs of [-\s({\[<] and upper-case each piece's first letter.
      auto cps = u::decode(s.str());
      auto is_delim = [](char32_t c) { return u::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
      size_t i = 0;
      while (i < cps.size()) {
        size_t j = i;
        bool delim = is_delim(cps[i]);
        while (j < cps.size() && is_delim(cps[j]) == delim) ++j;
        for (size_t k = i; k < j; ++k) u::append_utf8(r, k == i ? u::to_upper(cps[k]) : u::to_lower(cps[k]));
        i = j;
      }
    }
    return in.make_string(std::move(r), s.is_markup());
  }
  if (name == "replace") {
    auto a = args.bind("replace", {"old", "new", "count"});
    int64_t count = a[2].is_undefined() || a[2].is_none() ? -1 : need_int(a[2], "count");
    return in.make_string(py_replace(in, to_output_string(v), to_output_string(a[0]), to_output_string(a[1]), count));
  }
  if (name == "tojson") return do_tojson(in, v, args);
  if (name == "join") {
    auto a = args.bind("join", {"d", "attribute"});
    std::string sep = a[0].is_undefined() ? "" : to_output_string(a[0]);
    std::string out;
    bool first = true;
    for (const auto& item : in.iterate(v)) {
      Value x = a[1].is_undefined() || a[1].is_none() ? item : key_of(in, item, a[1], true);
      if (!first) out += sep;
      first = false;
      out += to_output_string(x);
      in.charge(sep.size() + 8);
      if (out.size() > in.options().limits.max_output) fail_limit("join result is over the size limit");
    }
    return in.make_string(std::move(out));
  }
  if (name == "list") {
    args.bind("list", {});
    ValueList items = in.iterate(v);
    in.charge(items.size());
    return Value::list(std::move(items));
  }
  if (name == "first") {
    args.bind("first", {});
    if (v.is_list() && !v.is_iterator()) {
      if (!v.items().empty()) return v.items()[0];
    } else {
      ValueList items = in.iterate(v);
      if (!items.empty()) return items[0];
    }
    return Value::undefined("No first item, sequence was empty.");
  }
  if (name == "last") {
    args.bind("last", {});
    if (v.is_iterator()) fail("'generator' object is not reversible");
    if (v.is_undefined()) return Value::undefined("No last item, sequence was empty.");
    if (!(v.is_list() || v.is_string() || v.is_dict())) fail("'{}' object is not reversible", v.type_name());
    ValueList items = in.iterate(v);
    if (!items.empty()) return items.back();
    return Value::undefined("No last item, sequence was empty.");
  }
  if (name == "reverse") {
    args.bind("reverse", {});
    if (v.is_string()) {
      auto cps = u::decode(v.str());
      std::reverse(cps.begin(), cps.end());
      return in.make_string(u::encode(cps, 0, cps.size()), v.is_markup());
    }
    ValueList items = in.iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items), v.is_list() && !v.is_iterator() ? ListKind::iterator : ListKind::list);
  }
  if (name == "items") {
    args.bind("items", {});
    if (v.is_undefined()) return Value::list({}, ListKind::iterator);
    if (!v.is_dict() || v.is_namespace()) fail("Can only get item pairs from a mapping.");
    ValueList out;
    for (const auto& [k, x] : v.dict_data().items) out.push_back(Value::tuple({k, x}));
    return Value::list(std::move(out), ListKind::iterator);
  }
  if (name == "dictsort") {
    auto a = args.bind("dictsort", {"case_sensitive", "by", "reverse"});
    if (!v.is_dict() || v.is_namespace()) fail("dictsort requires a mapping");
    std::string by = a[1].is_undefined() ? "key" : to_output_string(a[1]);
    if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
    ValueList items;
    std::vector<Value> keys;
    for (const auto& [k, x] : v.dict_data().items) {
      items.push_back(Value::tuple({k, x}));
      Value key = by == "key" ? k : x;
      keys.push_back(!a[0].truthy() && key.is_string() ? Value::string(u::lower(key.str())) : key);
    }
    sort_values(in, items, keys, a[2].truthy());
    return Value::list(std::move(items));
  }
  if (name == "sort") {
    auto a = args.bind("sort", {"reverse", "case_sensitive", "attribute"});
    ValueList items = in.iterate(v);
    std::vector<Value> keys;
    for (const auto& item : items) keys.push_back(key_of(in, item, attr_arg(a[2]), a[1].truthy()));
    sort_values(in, items, keys, a[0].truthy());
    return Value::list(std::move(items));
  }
  if (name == "unique") {
    auto a = args.bind("unique", {"case_sensitive", "attribute"});
    ValueList out, seen;
    for (const auto& item : in.iterate(v)) {
      in.step();
      Value k = key_of(in, item, attr_arg(a[1]), a[0].truthy());
      bool dup = false;
      for (const auto& s : seen)
        if (values_equal(s, k)) dup = true;
      if (dup) continue;
      seen.push_back(k);
      out.push_back(item);
    }
    return Value::list(std::move(out), ListKind::iterator);
  }
  if (name == "min" || name == "max") {
    auto a = args.bind(name.c_str(), {"case_sensitive", "attribute"});
    ValueList items = in.iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    Value bk = key_of(in, items[0], attr_arg(a[1]), a[0].truthy());
    for (size_t i = 1; i < items.size(); ++i) {
      Value k = key_of(in, items[i], attr_arg(a[1]), a[0].truthy());
      int c = in.compare(k, bk, "<");
      if (name == "min" ? c < 0 : c > 0) best = i, bk = k;
    }
    return items[best];
  }
  if (name == "sum") {
    auto a = args.bind("sum", {"attribute", "start"});
    Value total = a[1].is_undefined() ? Value::integer(0) : a[1];
    for (const auto& item : in.iterate(v)) {
      Value x = a[0].is_undefined() || a[0].is_none() ? item : key_of(in, item, a[0], true);
      total = in.add(total, x);
    }
    return total;
  }
  if (name == "map") return do_map(in, v, args);
  if (name == "select") return do_select(in, v, args, false, true);
  if (name == "reject") return do_select(in, v, args, false, false);
  if (name == "selectattr") return do_select(in, v, args, true, true);
  if (name == "rejectattr") return do_select(in, v, args, true, false);
  if (name == "indent") return do_indent(in, v, args);
  if (name == "int") {
    auto a = args.bind("int", {"default", "base"});
    Value def = a[0].is_undefined() ? Value::integer(0) : a[0];
    int64_t base = a[1].is_undefined() ? 10 : need_int(a[1], "base");
    if (base != 0 && (base < 2 || base > 36)) fail("int() base must be >= 2 and <= 36, or 0");
    return py_int(v, def, base);
  }
  if (name == "float") {
    auto a = args.bind("float", {"default"});
    return py_float(v, a[0].is_undefined() ? Value::floating(0.0) : a[0]);
  }
  if (name == "abs") {
    args.bind("abs", {});
    undefined_fail(v);
    if (v.is_float()) return Value::floating(std::fabs(v.as_double()));
    if (v.is_int() || v.is_bool()) {
      if (v.as_int() == INT64_MIN) fail("integer overflow");
      return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    fail("bad operand type for abs(): '{}'", v.type_name());
  }
  if (name == "round") {
    auto a = args.bind("round", {"precision", "method"});
    undefined_fail(v);
    int64_t p = a[0].is_undefined() ? 0 : need_int(a[0], "precision");
    std::string method = a[1].is_undefined() ? "common" : to_output_string(a[1]);
    if (method == "common" && v.is_float()) return py_round(v, p, method);
    if (method != "common" && method != "ceil" && method != "floor") fail("method must be common, ceil or floor");
    return py_round(v, p, method);
  }
  if (name == "attr") {
    auto a = args.bind("attr", {"name"});
    std::string n = to_output_string(a[0]);
    if (v.is_undefined()) return Value::undefined("'" + n + "' is undefined");
    if (n.rfind("_", 0) == 0) return Value::undefined("access to attribute '" + n + "' is unsafe.");
    Value m = (v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace())) ? builtin_method(in, v, n) : Value();
    if (v.is_namespace())
      if (const Value* x = v.dict_data().find(std::string_view(n))) return *x;
    return m;
  }
  if (name == "center") {
    auto a = args.bind("center", {"width"});
    Value s = soft_str(in, v);
    return in.make_string(py_pad(s.str(), a[0].is_undefined() ? 80 : need_int(a[0], "width"), Value(), 0), s.is_markup());
  }
  if (name == "wordcount") {
    args.bind("wordcount", {});
    int64_t words = 0;
    bool inword = false;
    for (char32_t c : u::decode(to_output_string(v))) {
      bool w = u::is_alpha(c) || u::is_digit(c) || c == '_';
      if (w && !inword) ++words;
      inword = w;
    }
    return Value::integer(words);
  }
  if (is_known_filter(name)) fail("the '{}' filter is not supported in chat templates", name);
  fail("No filter named '{}' found.", name);
}

bool builtin_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
  auto one = [&](const char* what) -> Value {
    auto a = args.bind(what, {"other"});
    return a[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict() && !v.is_namespace();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
  if (name == "sequence")
    return v.is_undefined() || v.is_string() || (v.is_list() && !v.is_iterator()) || (v.is_dict() && !v.is_namespace());
  if (name == "callable") return v.is_callable() || v.is_undefined();
  if (name == "escaped") return v.is_markup();
  if (name == "sameas") {
    Value o = one("sameas");
    if (v.kind() != o.kind()) return false;
    switch (v.kind()) {
      case Kind::list: return &v.list_data() == &o.list_data();
      case Kind::dict: return &v.dict_data() == &o.dict_data();
      case Kind::callable: return &v.callable_data() == &o.callable_data();
      case Kind::undefined: return false;
      default: return values_equal(v, o);
    }
  }
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, one(name.c_str()));
  if (name == "ne" || name == "!=") return !values_equal(v, one(name.c_str()));
  if (name == "lt" || name == "lessthan" || name == "<") return in.compare(v, one(name.c_str()), "<") < 0;
  if (name == "le" || name == "<=") return in.compare(v, one(name.c_str()), "<=") <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return in.compare(v, one(name.c_str()), ">") > 0;
  if (name == "ge" || name == ">=") return in.compare(v, one(name.c_str()), ">=") >= 0;
  if (name == "in") {
    auto a = args.bind("in", {"seq"});
    return contains(in, a[0], v);
  }
  if (name == "even" || name == "odd") {
    if (v.is_undefined()) fail("{}", v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint());
    if (!v.is_number()) fail("unsupported operand type(s) for %: '{}' and 'int'", v.type_name());
    double r = v.is_float() ? std::fmod(std::fmod(v.as_double(), 2.0) + 2.0, 2.0) : static_cast<double>(((v.as_int() % 2) + 2) % 2);
    return name == "even" ? r == 0 : r == 1;
  }
  if (name == "divisibleby") {
    auto a = args.bind("divisibleby", {"num"});
    if (!v.is_number() || !a[0].is_number()) fail("unsupported operand type(s) for %");
    if (v.is_float() || a[0].is_float()) {
      if (a[0].as_double() == 0) fail("float modulo");
      return std::fmod(v.as_double(), a[0].as_double()) == 0;
    }
    if (a[0].as_int() == 0) fail("integer division or modulo by zero");
    return v.as_int() % a[0].as_int() == 0;
  }
  if (name == "lower" || name == "upper") {
    bool any = false, ok = true;
    for (char32_t c : u::decode(to_output_string(v))) {
      if (u::is_cased_lower(c)) any = true, ok = ok && name == "lower";
      else if (u::is_cased_upper(c)) any = true, ok = ok && name == "upper";
    }
    return any && ok;
  }
  if (name == "filter") return v.is_string() && is_known_filter(v.str());
  if (name == "test") return v.is_string() && is_known_test(v.str());
  fail("No test named '{}' found.", name);
}

void add_builtin_globals(std::unordered_map<std::string, Value>& g) {
  g["range"] = Value::callable("range", [](Interpreter& in, CallArgs& args) -> Value {
    if (!args.kwargs.empty()) fail("range() takes no keyword arguments");
    if (args.args.empty() || args.args.size() > 3) fail("range expected 1 to 3 arguments, got {}", args.args.size());
    int64_t start = 0, stop, step = 1;
    if (args.args.size() == 1) {
      stop = need_int(args.args[0], "range");
    } else {
      start = need_int(args.args[0], "range");
      stop = need_int(args.args[1], "range");
      if (args.args.size() == 3) step = need_int(args.args[2], "range");
    }
    if (step == 0) fail("range() arg 3 must not be zero");
    long double count = step > 0 ? (stop > start ? (static_cast<long double>(stop) - start + step - 1) / step : 0)
                                 : (start > stop ? (static_cast<long double>(start) - stop - step - 1) / -step : 0);
    if (count > 100000)
      fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    in.charge(static_cast<size_t>(count));
    ValueList out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(Value::integer(i));
    return Value::list(std::move(out));
  });
  g["dict"] = Value::callable("dict", [](Interpreter& in, CallArgs& args) -> Value {
    Value d = Value::dict();
    if (args.args.size() > 1) fail("dict expected at most 1 argument, got {}", args.args.size());
    if (args.args.size() == 1) {
      const Value& src = args.args[0];
      if (src.is_dict()) {
        d.dict_data().items = src.dict_data().items;
      } else {
        for (const auto& pair : in.iterate(src)) {
          ValueList kv = in.iterate(pair);
          if (kv.size() != 2) fail("dictionary update sequence element has length {}; 2 is required", kv.size());
          d.dict_data().set(kv[0], kv[1]);
        }
      }
    }
    for (const auto& [k, v] : args.kwargs) d.dict_data().set(Value::string(k), v);
    return d;
  });
  g["namespace"] = Value::callable("namespace", [](Interpreter& in, CallArgs& args) -> Value {
    Value ns = Value::dict();
    ns.dict_data().is_namespace = true;
    for (const auto& a : args.args) {
      if (a.is_dict()) {
        for (const auto& [k, v] : a.dict_data().items) ns.dict_data().set(k, v);
      } else {
        for (const auto& pair : in.iterate(a)) {
          ValueList kv = in.iterate(pair);
          if (kv.size() != 2) fail("dictionary update sequence element has length {}; 2 is required", kv.size());
          ns.dict_data().set(kv[0], kv[1]);
        }
      }
    }
    for (const auto& [k, v] : args.kwargs) ns.dict_data().set(Value::string(k), v);
    in.track_namespace(ns);
    return ns;
  });
  g["raise_exception"] = Value::callable("raise_exception", [](Interpreter&, CallArgs& args) -> Value {
    auto a = args.bind("raise_exception", {"message"});
    throw TemplateError(ErrorKind::invalid_argument, to_output_string(a[0]));
  });
  g["strftime_now"] = Value::callable("strftime_now", [](Interpreter& in, CallArgs& args) -> Value {
    auto a = args.bind("strftime_now", {"format"});
    std::string fmt = need_str(a[0], "strftime_now() format");
    if (fmt.size() > 1024) fail_limit("strftime_now() format is too long");
    std::tm tm{};
    if (in.options().now) {
      tm = *in.options().now;
    } else {
      time_t t = std::time(nullptr);
      localtime_r(&t, &tm);
    }
    if (fmt.empty()) return Value::string("");
    std::string buf(256 + fmt.size() * 64, '\0');
    size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    buf.resize(n);
    return in.make_string(std::move(buf));
  });
  for (const char* unsupported : {"lipsum", "cycler", "joiner"}) {
    std::string n = unsupported;
    g[n] = Value::callable(n, [n](Interpreter&, CallArgs&) -> Value { fail("{}() is not supported in chat templates", n); });
  }
}

}  // namespace hearth::chat::jinja
