// hearth::chat::jinja::Value — the dynamic value of the chat-template interpreter.
//
// It models the Python objects a Jinja template sees, as far as chat templates use them:
// undefined, None, bool, int (64-bit; overflow is an error), float, str (UTF-8, optionally
// "markup", i.e. jinja2's Markup after |safe), list / tuple / one-shot iterator (what jinja2's
// generator-returning filters give), dict (insertion ordered; jinja2's namespace() is a dict
// flagged as one) and callables (builtins, bound methods, macros).
// Lists and dicts have reference semantics, as in Python: copying a Value shares them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::chat::jinja {

class Value;
class Interpreter;
struct CallArgs;

using ValueList = std::vector<Value>;

enum class Kind : uint8_t { undefined, none, boolean, integer, floating, string, list, dict, callable };

enum class ListKind : uint8_t { list, tuple, iterator };

struct ListData {
  ValueList items;
  ListKind kind = ListKind::list;
  bool exhausted = false;  // an iterator that was iterated once is empty afterwards
};

struct DictData {
  std::vector<std::pair<Value, Value>> items;
  bool is_namespace = false;
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;

struct Callable {
  std::string name;
  NativeFn fn;
  bool is_macro = false;
};

class Value {
 public:
  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s, bool markup = false);
  static Value list(ValueList items, ListKind kind = ListKind::list);
  static Value tuple(ValueList items) { return list(std::move(items), ListKind::tuple); }
  static Value dict();
  static Value callable(std::string name, NativeFn fn, bool is_macro = false);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::undefined; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_int() const { return kind_ == Kind::integer; }
  bool is_float() const { return kind_ == Kind::floating; }
  bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::floating || kind_ == Kind::boolean; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_list() const { return kind_ == Kind::list; }
  bool is_dict() const { return kind_ == Kind::dict; }
  bool is_callable() const { return kind_ == Kind::callable; }
  bool is_markup() const { return kind_ == Kind::string && flag_; }
  bool is_namespace() const { return kind_ == Kind::dict && dict_->is_namespace; }
  bool is_iterator() const { return kind_ == Kind::list && list_->kind == ListKind::iterator; }
  bool is_tuple() const { return kind_ == Kind::list && list_->kind == ListKind::tuple; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::boolean ? (b_ ? 1 : 0) : i_; }  // bool is an int
  double as_double() const { return kind_ == Kind::floating ? d_ : static_cast<double>(as_int()); }
  const std::string& str() const { return *s_; }
  ListData& list_data() const { return *list_; }
  const ValueList& items() const { return list_->items; }
  DictData& dict_data() const { return *dict_; }
  const Callable& callable_data() const { return *fn_; }
  // The explanation an undefined value carries ("'foo' is undefined"), used when it is misused.
  const std::string& undefined_hint() const;

  bool truthy() const;
  const char* type_name() const;  // Python's type name, for error messages

 private:
  Kind kind_ = Kind::undefined;
  bool flag_ = false;  // string: markup
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<const std::string> s_;  // string text, or an undefined value's hint
  std::shared_ptr<ListData> list_;
  std::shared_ptr<DictData> dict_;
  std::shared_ptr<const Callable> fn_;
};

// Python semantics of ==, for numbers, strings, lists, tuples, dicts, None and undefined.
bool values_equal(const Value& a, const Value& b);

// Python's float repr (shortest round-trip, "1e-05", "2.0", "inf").
std::string python_float_repr(double d);
// Python's repr of a str: quotes chosen as Python does, non-printable characters escaped.
std::string python_string_repr(std::string_view s);
// str(value) as jinja2 prints it: strings as-is, None → "None", lists/dicts as Python repr.
std::string to_output_string(const Value& v);
// repr(value).
std::string python_repr(const Value& v);

struct JsonOptions {
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_indent = false;
  std::string indent;  // the indent unit, when has_indent
  std::string item_separator = ", ";
  std::string key_separator = ": ";
};
// json.dumps(value, ...) with Python's output format. Throws on values JSON cannot express.
std::string to_json(const Value& v, const JsonOptions& options);

}  // namespace hearth::chat::jinja
