#include "chat/jinja/interpreter.h"

#include <cmath>
#include <cstring>

#include "chat/jinja/error.h"
#include "chat/jinja/parser.h"
#include "chat/jinja/unicode.h"

namespace hearth::chat::jinja {

namespace {

[[noreturn]] void fail_undefined(const Value& v, const std::string& fallback = "value is undefined") {
  const std::string& hint = v.undefined_hint();
  throw TemplateError(ErrorKind::invalid_argument, hint.empty() ? fallback : hint);
}

std::string obj_desc(const Value& v) {
  // jinja2's object_type_repr: "None", "'dict object'", ...
  if (v.is_none()) return "None";
  return std::string("'") + v.type_name() + " object'";
}

bool mul_overflow(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

}  // namespace

std::vector<Value> CallArgs::bind(const char* what, std::initializer_list<const char*> params) const {
  std::vector<Value> out(params.size());
  std::vector<bool> set(params.size(), false);
  if (args.size() > params.size())
    fail("{}() takes at most {} argument(s) ({} given)", what, params.size(), args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    out[i] = args[i];
    set[i] = true;
  }
  for (const auto& [k, v] : kwargs) {
    size_t i = 0;
    for (const char* p : params) {
      if (k == p) break;
      ++i;
    }
    if (i == params.size()) fail("{}() got an unexpected keyword argument '{}'", what, k);
    if (set[i]) fail("{}() got multiple values for argument '{}'", what, k);
    out[i] = v;
    set[i] = true;
  }
  return out;
}

Interpreter::Interpreter(const std::string& name, const RenderOptions& options)
    : name_(name), options_(options), limits_(options.limits) {
  add_builtin_globals(globals_);
}

Interpreter::~Interpreter() {
  // Namespaces may reference themselves ({% set ns.me = ns %}); empty them so nothing leaks.
  for (auto& ns : namespaces_) ns.dict_data().items.clear();
  if (root_) root_->vars.clear();
}

void Interpreter::step(uint64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps)
    fail_limit("template exceeded the step limit ({} steps): it may loop without end", limits_.max_steps);
}

void Interpreter::charge(size_t bytes) {
  if (bytes > limits_.max_output)
    fail_limit("template made a value of {} bytes/items, over the limit of {}", bytes, limits_.max_output);
  allocated_ += bytes;
  if (allocated_ > limits_.max_alloc)
    fail_limit("template allocated more than {} bytes in total", limits_.max_alloc);
}

Value Interpreter::make_string(std::string s, bool markup) {
  charge(s.size());
  return Value::string(std::move(s), markup);
}

std::string Interpreter::render(const Body& body, const Value& context) {
  root_ = std::make_shared<Scope>();
  if (context.is_dict()) {
    for (const auto& [k, v] : context.dict_data().items)
      if (k.is_string()) root_->vars[k.str()] = v;
  }
  scope_ = root_;
  std::string out;
  out_ = &out;
  exec_body(body);
  return out;
}

void Interpreter::append(const std::string& s) {
  if (s.empty()) return;
  charge(s.size());
  if (out_->size() + s.size() > limits_.max_output)
    fail_limit("template output exceeds the limit of {} bytes", limits_.max_output);
  out_->append(s);
}

std::string Interpreter::capture(const Body& body) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  try {
    exec_body(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

namespace {
struct ScopeGuard {
  std::shared_ptr<Scope>& slot;
  std::shared_ptr<Scope> saved;
  ScopeGuard(std::shared_ptr<Scope>& s, std::shared_ptr<Scope> parent) : slot(s), saved(s) {
    auto child = std::make_shared<Scope>();
    child->parent = std::move(parent);
    slot = std::move(child);
  }
  ~ScopeGuard() { slot = saved; }
};
struct DepthCount {
  int& d;
  DepthCount(int& depth, int limit, const char* what) : d(depth) {
    if (++d > limit) {
      --d;
      fail_limit("template {} too deeply (more than {} levels)", what, limit);
    }
  }
  ~DepthCount() { --d; }
};
}  // namespace

// `{% set x | f %}…{% endset %}` and `{% filter f %}…{% endfilter %}`: the body rendered in a
// scope of its own, as a string, through the statement's filters.
Value Interpreter::capture_filtered(const Stmt& s) {
  std::string text;
  {
    ScopeGuard g(scope_, scope_);
    text = capture(s.body);
  }
  Value v = make_string(std::move(text));
  for (const auto& f : s.filters) {
    CallArgs args;
    eval_args(*f, args);
    v = filter(f->name, v, args);
  }
  return v;
}

Value Interpreter::lookup(const std::string& name) {
  for (Scope* s = scope_.get(); s; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  auto g = globals_.find(name);
  if (g != globals_.end()) return g->second;
  return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::assign(const Target& t, const Value& v) {
  if (!t.ns_attr.empty()) {
    Value ns = lookup(t.names[0]);
    if (!ns.is_namespace()) fail("cannot assign attribute on non-namespace object");
    ns.dict_data().set(Value::string(t.ns_attr), v);
    return;
  }
  if (!t.is_tuple) {
    scope_->vars[t.names[0]] = v;
    return;
  }
  ValueList items = iterate(v);
  if (items.size() > t.names.size()) fail("too many values to unpack (expected {})", t.names.size());
  if (items.size() < t.names.size())
    fail("not enough values to unpack (expected {}, got {})", t.names.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) scope_->vars[t.names[i]] = items[i];
}

// ---------------------------------------------------------------- statements

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  for (const auto& s : body) {
    Flow f = exec(*s);
    if (f != Flow::normal) return f;
  }
  return Flow::normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  step();
  DepthCount dc(depth_, limits_.max_depth * 10, "nests");
  try {
    switch (s.kind) {
      case StmtKind::output:
        append(s.text);
        return Flow::normal;
      case StmtKind::print: {
        Value v = eval(*s.expr);
        if (v.is_string()) append(v.str());
        else append(to_output_string(v));
        return Flow::normal;
      }
      case StmtKind::if_:
        for (const auto& [test, body] : s.branches)
          if (eval(*test).truthy()) return exec_body(body);
        return exec_body(s.else_body);
      case StmtKind::for_:
        return exec_for(s);
      case StmtKind::set:
        assign(s.target, eval(*s.expr));
        return Flow::normal;
      case StmtKind::set_block:
        assign(s.target, capture_filtered(s));
        return Flow::normal;
      case StmtKind::macro:
        scope_->vars[s.name] = make_macro(s, "macro");
        return Flow::normal;
      case StmtKind::call_block: {
        Value caller = make_macro(s, "caller");
        const Expr& call = *s.expr;
        Value fn = eval(*call.a);
        CallArgs args;
        eval_args(call, args);
        args.kwargs.emplace_back("caller", caller);
        append(to_output_string(this->call(fn, args)));
        return Flow::normal;
      }
      case StmtKind::filter_block: {
        append(to_output_string(capture_filtered(s)));
        return Flow::normal;
      }
      case StmtKind::with: {
        std::vector<Value> values;
        for (const auto& [t, e] : s.assigns) values.push_back(eval(*e));
        ScopeGuard g(scope_, scope_);
        for (size_t i = 0; i < values.size(); ++i) assign(s.assigns[i].first, values[i]);
        return exec_body(s.body);
      }
      case StmtKind::generation: {
        // transformers' AssistantTracker: a call block whose caller() output is used as is.
        std::string text;
        {
          ScopeGuard g(scope_, scope_);
          DepthCount calls(call_depth_, limits_.max_depth, "calls macros");
          text = capture(s.body);
        }
        append(text);
        return Flow::normal;
      }
      case StmtKind::break_: return Flow::break_;
      case StmtKind::continue_: return Flow::continue_;
    }
  } catch (TemplateError& e) {
    if (e.line() != 0) throw;
    TemplateError located(e.kind(), name_ + ":" + std::to_string(s.line) + ":" + std::to_string(s.column) + ": " + e.what(),
                          s.line, s.column);
    located.set_detail(e.what());
    throw located;
  }
  return Flow::normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
  if (s.recursive) fail("recursive for loops are not supported");
  ValueList items = iterate(eval(*s.expr));
  step(items.size());
  if (s.cond) {
    ValueList kept;
    for (const auto& item : items) {
      ScopeGuard g(scope_, scope_);
      assign(s.target, item);
      if (eval(*s.cond).truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    ScopeGuard g(scope_, scope_);
    exec_body(s.else_body);
    return Flow::normal;
  }
  auto last_changed = std::make_shared<std::optional<ValueList>>();
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    ScopeGuard g(scope_, scope_);
    assign(s.target, items[static_cast<size_t>(i)]);
    static const Value kKeys[] = {Value::string("index0"),   Value::string("index"),    Value::string("revindex0"),
                                  Value::string("revindex"), Value::string("first"),    Value::string("last"),
                                  Value::string("length"),   Value::string("depth0"),   Value::string("depth"),
                                  Value::string("previtem"), Value::string("nextitem"), Value::string("cycle"),
                                  Value::string("changed")};
    Value loop = Value::dict();
    auto& d = loop.dict_data();
    d.items.reserve(13);
    size_t key = 0;
    auto put = [&](const char*, Value v) { d.items.emplace_back(kKeys[key++], std::move(v)); };
    put("index0", Value::integer(i));
    put("index", Value::integer(i + 1));
    put("revindex0", Value::integer(n - i - 1));
    put("revindex", Value::integer(n - i));
    put("first", Value::boolean(i == 0));
    put("last", Value::boolean(i == n - 1));
    put("length", Value::integer(n));
    put("depth0", Value::integer(0));
    put("depth", Value::integer(1));
    put("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    put("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
    put("cycle", Value::callable("loop.cycle", [i](Interpreter&, CallArgs& a) -> Value {
          if (a.args.empty()) fail("no items for cycling given");
          return a.args[static_cast<size_t>(i) % a.args.size()];
        }));
    put("changed", Value::callable("loop.changed", [last_changed](Interpreter&, CallArgs& a) -> Value {
          if (last_changed->has_value() && last_changed->value().size() == a.args.size()) {
            bool same = true;
            for (size_t k = 0; k < a.args.size(); ++k)
              if (!values_equal((*last_changed)->at(k), a.args[k])) same = false;
            if (same) return Value::boolean(false);
          }
          *last_changed = a.args;
          return Value::boolean(true);
        }));
    scope_->vars["loop"] = loop;
    Flow f = exec_body(s.body);
    if (f == Flow::break_) break;
  }
  return Flow::normal;
}

Value Interpreter::make_macro(const Stmt& s, const char* kind_name) {
  std::weak_ptr<Scope> defined_in = scope_;
  const Stmt* stmt = &s;
  std::string name = s.kind == StmtKind::macro ? s.name : "caller";
  return Value::callable(
      name,
      [stmt, defined_in, name](Interpreter& in, CallArgs& args) -> Value {
        DepthCount calls(in.call_depth_, in.limits_.max_depth, "calls macros");
        auto parent = defined_in.lock();
        if (!parent) parent = in.root_;
        ScopeGuard g(in.scope_, parent);
        Scope& sc = *in.scope_;
        const auto& params = stmt->params;
        ValueList extra;
        for (size_t i = 0; i < args.args.size(); ++i) {
          if (i < params.size()) sc.vars[params[i].name] = args.args[i];
          else extra.push_back(args.args[i]);
        }
        if (!extra.empty() && !stmt->uses_varargs)
          fail("macro '{}' takes not more than {} argument(s)", name, params.size());
        Value kw = Value::dict();
        Value caller;
        for (const auto& [k, v] : args.kwargs) {
          bool found = false;
          for (size_t i = 0; i < params.size(); ++i) {
            if (params[i].name == k) {
              if (i < args.args.size()) fail("macro '{}' got multiple values for argument '{}'", name, k);
              sc.vars[k] = v;
              found = true;
            }
          }
          if (found) continue;
          if (k == "caller" && stmt->kind == StmtKind::macro) {
            caller = v;
            continue;
          }
          if (!stmt->uses_kwargs) fail("macro '{}' takes no keyword argument '{}'", name, k);
          kw.dict_data().set(Value::string(k), v);
        }
        for (size_t i = args.args.size(); i < params.size(); ++i) {
          if (sc.vars.count(params[i].name)) continue;
          if (params[i].default_value) sc.vars[params[i].name] = in.eval(*params[i].default_value);
          else sc.vars[params[i].name] = Value::undefined("parameter '" + params[i].name + "' was not provided");
        }
        if (stmt->uses_varargs) sc.vars["varargs"] = Value::tuple(std::move(extra));
        if (stmt->uses_kwargs) sc.vars["kwargs"] = kw;
        if (stmt->kind == StmtKind::macro && !caller.is_undefined()) sc.vars["caller"] = caller;
        return in.make_string(in.capture(stmt->body));
      },
      std::strcmp(kind_name, "macro") == 0);
}

// ---------------------------------------------------------------- expressions

Value Interpreter::eval(const Expr& e) {
  step();
  DepthCount dc(depth_, limits_.max_depth * 10, "nests");
  try {
    return eval_inner(e);
  } catch (TemplateError& err) {
    if (err.line() != 0) throw;
    TemplateError located(err.kind(), name_ + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + err.what(),
                          e.line, e.column);
    located.set_detail(err.what());
    throw located;
  }
}

void Interpreter::eval_args(const Expr& e, CallArgs& out) {
  for (const auto& a : e.args) {
    if (a.name.empty()) out.args.push_back(eval(*a.value));
    else out.kwargs.emplace_back(a.name, eval(*a.value));
  }
  if (e.star_args) {
    for (auto& v : iterate(eval(*e.star_args))) out.args.push_back(v);
  }
  if (e.star_kwargs) {
    Value d = eval(*e.star_kwargs);
    if (!d.is_dict()) fail("argument after ** must be a mapping, not {}", d.type_name());
    for (const auto& [k, v] : d.dict_data().items) {
      if (!k.is_string()) fail("keywords must be strings");
      out.kwargs.emplace_back(k.str(), v);
    }
  }
}

Value Interpreter::eval_inner(const Expr& e) {
  switch (e.kind) {
    case ExprKind::constant: return e.value;
    case ExprKind::name: return lookup(e.name);
    case ExprKind::getattr: return getattr(eval(*e.a), e.name);
    case ExprKind::getitem: {
      Value obj = eval(*e.a);
      if (e.b->kind == ExprKind::slice) return slice(obj, *e.b);
      return getitem(obj, eval(*e.b));
    }
    case ExprKind::slice: fail("slice outside of a subscript");
    case ExprKind::call: {
      Value fn = eval(*e.a);
      CallArgs args;
      eval_args(e, args);
      return call(fn, args);
    }
    case ExprKind::filter: {
      Value input = e.a ? eval(*e.a) : Value();
      CallArgs args;
      eval_args(e, args);
      return filter(e.name, input, args);
    }
    case ExprKind::test: {
      Value v = eval(*e.a);
      CallArgs args;
      eval_args(e, args);
      bool r = test(e.name, v, args);
      return Value::boolean(e.negated ? !r : r);
    }
    case ExprKind::neg:
    case ExprKind::pos: {
      Value v = eval(*e.a);
      if (v.is_undefined()) fail_undefined(v);
      if (!v.is_number()) fail("bad operand type for unary {}: '{}'", e.kind == ExprKind::neg ? "-" : "+", v.type_name());
      if (e.kind == ExprKind::pos) return v.is_bool() ? Value::integer(v.as_int()) : v;
      if (v.is_float()) return Value::floating(-v.as_double());
      if (v.as_int() == INT64_MIN) fail("integer overflow");
      return Value::integer(-v.as_int());
    }
    case ExprKind::not_: return Value::boolean(!eval(*e.a).truthy());
    case ExprKind::and_: {
      Value a = eval(*e.a);
      return a.truthy() ? eval(*e.b) : a;
    }
    case ExprKind::or_: {
      Value a = eval(*e.a);
      return a.truthy() ? a : eval(*e.b);
    }
    case ExprKind::binary: {
      Value a = eval(*e.a);
      Value b = eval(*e.b);
      return binary(e.name, a, b);
    }
    case ExprKind::compare: {
      Value left = eval(*e.items[0]);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.items[i + 1]);
        const std::string& op = e.ops[i];
        bool r;
        if (op == "==") r = values_equal(left, right);
        else if (op == "!=") r = !values_equal(left, right);
        else if (op == "in" || op == "notin") {
          CallArgs a;
          a.args.push_back(right);
          r = test("in", left, a);
          if (op == "notin") r = !r;
        } else {
          int c = compare(left, right, op.c_str());
          r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!r) return Value::boolean(false);
        left = right;
      }
      return Value::boolean(true);
    }
    case ExprKind::condexpr:
      if (eval(*e.a).truthy()) return eval(*e.b);
      if (e.c) return eval(*e.c);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined.");
    case ExprKind::list:
    case ExprKind::tuple: {
      ValueList items;
      items.reserve(e.items.size());
      for (const auto& i : e.items) items.push_back(eval(*i));
      return Value::list(std::move(items), e.kind == ExprKind::tuple ? ListKind::tuple : ListKind::list);
    }
    case ExprKind::dict: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i]);
        if (k.is_list() && !k.is_tuple()) fail("unhashable type: 'list'");
        if (k.is_dict()) fail("unhashable type: 'dict'");
        d.dict_data().set(k, eval(*e.items[i + 1]));
      }
      return d;
    }
    case ExprKind::concat: {
      std::string s;
      for (const auto& i : e.items) {
        Value v = eval(*i);
        if (v.is_string()) s += v.str();
        else s += to_output_string(v);
        charge(s.size() / 2);
      }
      return make_string(std::move(s));
    }
  }
  return Value();
}

Value Interpreter::call(const Value& fn, CallArgs& args) {
  if (fn.is_undefined()) fail_undefined(fn, "call of an undefined value");
  if (!fn.is_callable()) fail("'{}' object is not callable", fn.type_name());
  return fn.callable_data().fn(*this, args);
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (name.rfind("__", 0) == 0)
    return Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.");
  switch (obj.kind()) {
    case Kind::dict: {
      if (!obj.is_namespace()) {
        Value m = builtin_method(*this, obj, name);
        if (!m.is_undefined() || !m.undefined_hint().empty()) return m;
      }
      if (const Value* v = obj.dict_data().find(std::string_view(name))) return *v;
      break;
    }
    case Kind::string:
    case Kind::list: {
      Value m = builtin_method(*this, obj, name);
      if (!m.is_undefined() || !m.undefined_hint().empty()) return m;
      break;
    }
    default: break;
  }
  return Value::undefined(obj_desc(obj) + " has no attribute '" + name + "'");
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  switch (obj.kind()) {
    case Kind::dict:
      if (const Value* v = obj.dict_data().find(key)) return *v;
      break;
    case Kind::list:
      if (!obj.is_iterator() && (key.is_int() || key.is_bool())) {
        int64_t i = key.as_int();
        int64_t n = static_cast<int64_t>(obj.items().size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
        return Value::undefined(obj_desc(obj) + " has no element " + std::to_string(key.as_int()));
      }
      break;
    case Kind::string:
      if (key.is_int() || key.is_bool()) {
        auto cps = unicode::decode(obj.str());
        int64_t i = key.as_int();
        int64_t n = static_cast<int64_t>(cps.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) {
          std::string c;
          unicode::append_utf8(c, cps[static_cast<size_t>(i)]);
          return Value::string(std::move(c), obj.is_markup());
        }
        return Value::undefined(obj_desc(obj) + " has no element " + std::to_string(key.as_int()));
      }
      break;
    default: break;
  }
  if (key.is_string() && key.str().rfind("__", 0) != 0 && !obj.is_namespace()) {
    if (obj.is_dict() || obj.is_string() || obj.is_list()) {
      Value m = builtin_method(*this, obj, key.str());
      if (!m.is_undefined() || !m.undefined_hint().empty()) return m;
    }
  }
  if (key.is_string()) return Value::undefined(obj_desc(obj) + " has no attribute '" + key.str() + "'");
  return Value::undefined(obj_desc(obj) + " has no element " + python_repr(key));
}

Value Interpreter::slice(const Value& obj, const Expr& sl) {
  if (obj.is_undefined()) fail_undefined(obj);
  Value parts[3];
  const Expr* exprs[3] = {sl.a.get(), sl.b.get(), sl.c.get()};
  for (int i = 0; i < 3; ++i) parts[i] = exprs[i] ? eval(*exprs[i]) : Value::none();
  bool is_str = obj.is_string();
  if (!is_str && !(obj.is_list() && !obj.is_iterator())) return Value::undefined(obj_desc(obj) + " is not subscriptable");
  for (auto& p : parts) {
    if (p.is_none()) continue;
    if (!(p.is_int() || p.is_bool())) return Value::undefined("slice indices must be integers or None");
  }
  std::vector<char32_t> cps;
  int64_t n;
  if (is_str) {
    cps = unicode::decode(obj.str());
    n = static_cast<int64_t>(cps.size());
  } else {
    n = static_cast<int64_t>(obj.items().size());
  }
  int64_t stride = parts[2].is_none() ? 1 : parts[2].as_int();
  if (stride == 0) fail("slice step cannot be zero");
  int64_t start, stop;
  auto clamp = [&](const Value& v, int64_t def, bool is_start) {
    if (v.is_none()) return def;
    int64_t x = v.as_int();
    if (x < 0) {
      x += n;
      if (x < 0) x = stride < 0 ? -1 : 0;
    } else if (x >= n) {
      x = stride < 0 ? n - 1 : n;
    }
    (void)is_start;
    return x;
  };
  if (stride > 0) {
    start = clamp(parts[0], 0, true);
    stop = clamp(parts[1], n, false);
  } else {
    start = clamp(parts[0], n - 1, true);
    stop = clamp(parts[1], -1, false);
  }
  std::vector<int64_t> idx;
  if (stride > 0) {
    for (int64_t i = start; i < stop; i += stride) idx.push_back(i);
  } else {
    for (int64_t i = start; i > stop; i += stride) idx.push_back(i);
  }
  step(idx.size() / 16);
  if (is_str) {
    std::string out;
    for (int64_t i : idx) unicode::append_utf8(out, cps[static_cast<size_t>(i)]);
    return make_string(std::move(out), obj.is_markup());
  }
  charge(idx.size());
  ValueList out;
  out.reserve(idx.size());
  for (int64_t i : idx) out.push_back(obj.items()[static_cast<size_t>(i)]);
  return Value::list(std::move(out), obj.list_data().kind);
}

ValueList Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::undefined: return {};
    case Kind::list: {
      if (v.is_iterator()) {
        if (v.list_data().exhausted) return {};
        v.list_data().exhausted = true;
      }
      step(v.items().size() / 16);
      return v.items();
    }
    case Kind::dict: {
      if (v.is_namespace()) fail("'Namespace' object is not iterable");
      ValueList keys;
      for (const auto& [k, val] : v.dict_data().items) keys.push_back(k);
      return keys;
    }
    case Kind::string: {
      ValueList out;
      bool m = v.is_markup();
      for (char32_t c : unicode::decode(v.str())) {
        std::string s;
        unicode::append_utf8(s, c);
        out.push_back(Value::string(std::move(s), m));
      }
      charge(out.size() * 16);
      return out;
    }
    default: fail("'{}' object is not iterable", v.type_name());
  }
}

bool Interpreter::test(const std::string& name, const Value& v, CallArgs& args) {
  return builtin_test(*this, name, v, args);
}

Value Interpreter::filter(const std::string& name, const Value& input, CallArgs& args) {
  return builtin_filter(*this, name, input, args);
}

int Interpreter::compare(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      if (std::isnan(x) || std::isnan(y)) return op[0] == '<' ? 1 : -1;  // every comparison false
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list() && !a.is_iterator() && a.list_data().kind == b.list_data().kind) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (values_equal(x[i], y[i])) continue;
      return compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  fail("'{}' not supported between instances of '{}' and '{}'", op, a.type_name(), b.type_name());
}

Value Interpreter::add(const Value& a, const Value& b) { return binary("+", a, b); }

Value Interpreter::binary(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  char o = op[0];
  bool numeric = a.is_number() && b.is_number();
  bool flt = numeric && (a.is_float() || b.is_float());
  if (op == "+") {
    if (numeric) {
      if (flt) return Value::floating(a.as_double() + b.as_double());
      int64_t r;
      if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) fail("integer overflow");
      return Value::integer(r);
    }
    if (a.is_string() && b.is_string()) {
      bool markup = a.is_markup() || b.is_markup();
      std::string l = (markup && !a.is_markup()) ? html_escape(a.str()) : a.str();
      std::string r = (markup && !b.is_markup()) ? html_escape(b.str()) : b.str();
      charge(l.size() + r.size());
      return make_string(l + r, markup);
    }
    if (a.is_list() && b.is_list() && !a.is_iterator() && a.list_data().kind == b.list_data().kind) {
      charge(a.items().size() + b.items().size());
      ValueList out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(out), a.list_data().kind);
    }
    if (a.is_string()) fail("can only concatenate str (not \"{}\") to str", b.type_name());
    if (a.is_list() && !a.is_iterator())
      fail("can only concatenate {} (not \"{}\") to {}", a.type_name(), b.type_name(), a.type_name());
    fail("unsupported operand type(s) for +: '{}' and '{}'", a.type_name(), b.type_name());
  }
  if (op == "-") {
    if (!numeric) fail("unsupported operand type(s) for -: '{}' and '{}'", a.type_name(), b.type_name());
    if (flt) return Value::floating(a.as_double() - b.as_double());
    int64_t r;
    if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) fail("integer overflow");
    return Value::integer(r);
  }
  if (op == "*") {
    if (numeric) {
      if (flt) return Value::floating(a.as_double() * b.as_double());
      int64_t r;
      if (mul_overflow(a.as_int(), b.as_int(), &r)) fail("integer overflow");
      return Value::integer(r);
    }
    const Value* seq = nullptr;
    const Value* count = nullptr;
    if ((a.is_string() || (a.is_list() && !a.is_iterator())) && (b.is_int() || b.is_bool())) seq = &a, count = &b;
    if ((b.is_string() || (b.is_list() && !b.is_iterator())) && (a.is_int() || a.is_bool())) seq = &b, count = &a;
    if (!seq) fail("unsupported operand type(s) for *: '{}' and '{}'", a.type_name(), b.type_name());
    int64_t c = std::max<int64_t>(0, count->as_int());
    size_t unit = seq->is_string() ? seq->str().size() : seq->items().size();
    if (unit && static_cast<uint64_t>(c) > limits_.max_output / unit)
      fail_limit("template made a value over the limit of {} bytes/items", limits_.max_output);
    charge(unit * static_cast<size_t>(c));
    if (seq->is_string()) {
      std::string out;
      out.reserve(unit * static_cast<size_t>(c));
      for (int64_t i = 0; i < c; ++i) out += seq->str();
      return Value::string(std::move(out), seq->is_markup());
    }
    ValueList out;
    for (int64_t i = 0; i < c; ++i) out.insert(out.end(), seq->items().begin(), seq->items().end());
    return Value::list(std::move(out), seq->list_data().kind);
  }
  if (!numeric) {
    if (o == '%' && a.is_string()) fail("printf-style string formatting (str % args) is not supported");
    fail("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name());
  }
  if (op == "/") {
    if (b.as_double() == 0.0) fail("division by zero");
    return Value::floating(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (flt) {
      double x = a.as_double(), y = b.as_double();
      if (y == 0.0) fail("{}", op == "//" ? "float floor division by zero" : "float modulo");
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      if (op == "%") return Value::floating(m);
      return Value::floating(std::floor(x / y));
    }
    int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) fail("{}", op == "//" ? "integer division or modulo by zero" : "integer modulo by zero");
    if (x == INT64_MIN && y == -1) fail("integer overflow");
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) {
      m += y;
      q -= 1;
    }
    return Value::integer(op == "//" ? q : m);
  }
  if (op == "**") {
    if (!flt && b.as_int() >= 0) {
      int64_t base = a.as_int(), e = b.as_int(), r = 1;
      while (e > 0) {
        if (e & 1)
          if (mul_overflow(r, base, &r)) fail("integer overflow");
        e >>= 1;
        if (e > 0 && mul_overflow(base, base, &base)) fail("integer overflow");
      }
      return Value::integer(r);
    }
    double x = a.as_double(), y = b.as_double();
    if (x == 0.0 && y < 0) fail("0.0 cannot be raised to a negative power");
    return Value::floating(std::pow(x, y));
  }
  fail("unknown operator {}", op);
}

// ---------------------------------------------------------------- Template

Template Template::parse(std::string_view source, std::string name, const Limits& limits) {
  if (source.size() > limits.max_source)
    throw TemplateError(ErrorKind::limit, fmt::format("{}: template is {} bytes, over the limit of {}", name, source.size(),
                                                      limits.max_source));
  Template t;
  t.body_ = std::make_shared<const Body>(parse_template(source, name, limits.max_depth));
  t.name_ = std::move(name);
  return t;
}

std::string Template::render(const Value& context, const RenderOptions& options) const {
  Interpreter in(name_, options);
  try {
    return in.render(*body_, context);
  } catch (TemplateError& e) {
    if (e.line() != 0) throw;
    TemplateError named(e.kind(), name_ + ": " + e.what());
    named.set_detail(e.what());
    throw named;
  }
}

Value value_from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::floating(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::floating(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(value_from_json(e));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value d = Value::dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.dict_data().set(Value::string(it.key()), value_from_json(it.value()));
      return d;
    }
    default: return Value::none();
  }
}

std::optional<std::tm> parse_fixed_date(std::string_view s) {
  int y, m, d;
  char tail;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return std::nullopt;
  if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  tm.tm_isdst = -1;
  // Fill in tm_wday / tm_yday (as Python's strptime does) without depending on the time zone.
  std::tm copy = tm;
  time_t t = timegm(&copy);
  std::tm utc{};
  gmtime_r(&t, &utc);
  tm.tm_wday = utc.tm_wday;
  tm.tm_yday = utc.tm_yday;
  return tm;
}

}  // namespace hearth::chat::jinja
