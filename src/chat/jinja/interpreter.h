// The tree-walking evaluator (internal to chat/jinja; template.h is the public interface).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chat/jinja/ast.h"
#include "chat/jinja/template.h"
#include "chat/jinja/value.h"

namespace hearth::chat::jinja {

struct CallArgs {
  ValueList args;
  std::vector<std::pair<std::string, Value>> kwargs;

  // Binds positional and keyword arguments to parameter names (Python rules); missing ones are
  // left undefined. `what` names the callee in error messages.
  std::vector<Value> bind(const char* what, std::initializer_list<const char*> params) const;
};

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};

class Interpreter {
 public:
  Interpreter(const std::string& name, const RenderOptions& options);
  ~Interpreter();
  std::string render(const Body& body, const Value& context);

  // Accounting, called by builtins for work proportional to data sizes.
  void step(uint64_t n = 1);
  void charge(size_t bytes);  // a new string/list of this many bytes/items is about to be made
  Value make_string(std::string s, bool markup = false);

  Value call(const Value& fn, CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  ValueList iterate(const Value& v);  // Python's iter(), materialised
  bool test(const std::string& name, const Value& v, CallArgs& args);
  Value filter(const std::string& name, const Value& input, CallArgs& args);
  Value add(const Value& a, const Value& b);
  int compare(const Value& a, const Value& b, const char* op);  // <0, 0, >0; throws if unordered
  void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

  const RenderOptions& options() const { return options_; }

 private:
  enum class Flow { normal, break_, continue_ };

  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_for(const Stmt& s);
  void append(const std::string& s);
  std::string capture(const Body& body);
  Value capture_filtered(const Stmt& s);
  Value lookup(const std::string& name);
  void assign(const Target& t, const Value& v);
  void eval_args(const Expr& e, CallArgs& out);
  Value make_macro(const Stmt& s, const char* kind_name);
  Value binary(const std::string& op, const Value& a, const Value& b);
  Value slice(const Value& obj, const Expr& sl);

  std::string name_;
  const RenderOptions& options_;
  Limits limits_;
  uint64_t steps_ = 0;
  uint64_t allocated_ = 0;
  int depth_ = 0;
  int call_depth_ = 0;
  std::string* out_ = nullptr;
  std::shared_ptr<Scope> scope_;
  std::shared_ptr<Scope> root_;
  std::unordered_map<std::string, Value> globals_;
  std::vector<Value> namespaces_;  // cleared after rendering, breaking any reference cycles
  std::vector<std::shared_ptr<Scope>> macro_scopes_;
};

// builtins.cpp
Value builtin_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);
bool builtin_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
// A bound method of a str / dict / list (undefined if there is none); unsafe (mutating) methods
// are undefined values that fail when called, as in jinja2's immutable sandbox.
Value builtin_method(Interpreter& in, const Value& obj, const std::string& name);
void add_builtin_globals(std::unordered_map<std::string, Value>& globals);
std::string html_escape(std::string_view s);

}  // namespace hearth::chat::jinja
