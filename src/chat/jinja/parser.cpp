#include "chat/jinja/parser.h"

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <set>

#include "chat/jinja/error.h"
#include "chat/jinja/lexer.h"

namespace hearth::chat::jinja {

bool is_known_filter(const std::string& name) {
  static const std::set<std::string> names = {
      "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
      "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
      "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
      "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
      "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
      "wordwrap", "xmlattr"};
  return names.count(name) > 0;
}

bool is_known_test(const std::string& name) {
  static const std::set<std::string> names = {
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter",
      "float", "ge", "gt", "greaterthan", "in", "integer", "iterable", "le", "lower", "lessthan", "lt",
      "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined",
      "upper", "==", "!=", "<", "<=", ">", ">="};
  return names.count(name) > 0;
}

namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& name, int max_depth)
      : toks_(std::move(tokens)), name_(name), max_depth_(max_depth) {}

  Body parse() {
    std::string end;
    Body body = parse_body({}, &end);
    check_names(body, false);
    return body;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  void advance() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::op && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Tok::name && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }

  [[noreturn]] void error_at(const Token& t, const std::string& msg) {
    TemplateError e(ErrorKind::format, name_ + ":" + std::to_string(t.line) + ":" + std::to_string(t.column) + ": " + msg,
                    t.line, t.column);
    e.set_detail(msg);
    throw e;
  }
  [[noreturn]] void error(const std::string& msg) { error_at(cur(), msg); }

  std::string describe(const Token& t) const {
    switch (t.type) {
      case Tok::eof: return "end of template";
      case Tok::var_end: return "end of print statement";
      case Tok::block_end: return "end of statement block";
      case Tok::data: return "template data";
      case Tok::string: return "string";
      default: return "'" + t.value + "'";
    }
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) error(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Tok::name) error("expected a name, got " + describe(cur()));
    std::string n = cur().value;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().type != Tok::block_end) error("expected end of statement block, got " + describe(cur()));
    advance();
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.max_depth_) {
        TemplateError e(ErrorKind::limit, p.name_ + ":" + std::to_string(p.cur().line) + ":" + std::to_string(p.cur().column) +
                                              ": template nested too deeply (more than " + std::to_string(p.max_depth_) + " levels)",
                        p.cur().line, p.cur().column);
        throw e;
      }
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr make(ExprKind k, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  // Computes e's height from its children; a chain like a+b+c+... or x|f|f|f... is built by a
  // loop, not by recursion, so the tree height is bounded here.
  ExprPtr fin(ExprPtr e) {
    int h = 0;
    auto m = [&](const ExprPtr& c) {
      if (c) h = std::max(h, c->height);
    };
    m(e->a), m(e->b), m(e->c), m(e->star_args), m(e->star_kwargs);
    for (const auto& i : e->items) m(i);
    for (const auto& a : e->args) m(a.value);
    e->height = h + 1;
    if (e->height > max_depth_) {
      TemplateError err(ErrorKind::limit, name_ + ":" + std::to_string(e->line) + ":" + std::to_string(e->column) +
                                              ": expression nested too deeply (more than " + std::to_string(max_depth_) + " levels)",
                        e->line, e->column);
      throw err;
    }
    return e;
  }

  // ---- statements ----
  Body parse_body(std::vector<std::string> ends, std::string* which) {
    DepthGuard g(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::eof) {
        if (!ends.empty()) {
          std::string list;
          for (const auto& e : ends) list += (list.empty() ? "'" : " or '") + e + "'";
          error("unexpected end of template; Jinja was looking for " + list);
        }
        return body;
      }
      if (t.type == Tok::data) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::output;
        s->line = t.line;
        s->column = t.column;
        s->text = t.value;
        body.push_back(std::move(s));
        advance();
        continue;
      }
      if (t.type == Tok::var_begin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::print;
        s->line = t.line;
        s->column = t.column;
        advance();
        s->expr = parse_tuple(true, {}, false);
        if (cur().type != Tok::var_end) error("expected end of print statement, got " + describe(cur()));
        advance();
        body.push_back(std::move(s));
        continue;
      }
      if (t.type == Tok::block_begin) {
        const Token& n = peek();
        if (n.type != Tok::name) error_at(n, "tag name expected");
        for (const auto& e : ends) {
          if (n.value == e) {
            advance();
            advance();
            *which = e;
            return body;
          }
        }
        advance();
        body.push_back(parse_statement());
        continue;
      }
      error("unexpected " + describe(t));
    }
  }

  StmtPtr new_stmt(StmtKind k, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = k;
    s->line = at.line;
    s->column = at.column;
    return s;
  }

  StmtPtr parse_statement() {
    Token t = cur();
    const std::string& w = t.value;
    advance();
    if (w == "if") return parse_if(t);
    if (w == "for") return parse_for(t);
    if (w == "set") return parse_set(t);
    if (w == "macro") return parse_macro(t);
    if (w == "call") return parse_call_block(t);
    if (w == "filter") return parse_filter_block(t);
    if (w == "with") return parse_with(t);
    if (w == "generation") {
      expect_block_end();
      auto s = new_stmt(StmtKind::generation, t);
      std::string end;
      int saved = loop_depth_;
      loop_depth_ = 0;
      s->body = parse_body({"endgeneration"}, &end);
      loop_depth_ = saved;
      expect_block_end();
      return s;
    }
    if (w == "break" || w == "continue") {
      if (loop_depth_ == 0) error_at(t, "'" + w + "' outside of a loop");
      expect_block_end();
      return new_stmt(w == "break" ? StmtKind::break_ : StmtKind::continue_, t);
    }
    static const std::set<std::string> unsupported = {"block", "extends", "include", "import", "from", "autoescape", "do",
                                                      "trans", "pluralize"};
    if (unsupported.count(w)) error_at(t, "the '" + w + "' tag is not supported in chat templates");
    error_at(t, "Encountered unknown tag '" + w + "'");
  }

  StmtPtr parse_if(const Token& t) {
    auto s = new_stmt(StmtKind::if_, t);
    while (true) {
      ExprPtr test = parse_tuple(false, {}, false);
      expect_block_end();
      std::string end;
      Body body = parse_body({"elif", "else", "endif"}, &end);
      s->branches.emplace_back(std::move(test), std::move(body));
      if (end == "elif") continue;
      if (end == "else") {
        expect_block_end();
        s->else_body = parse_body({"endif"}, &end);
      }
      expect_block_end();
      return s;
    }
  }

  StmtPtr parse_for(const Token& t) {
    auto s = new_stmt(StmtKind::for_, t);
    s->target = parse_assign_target(false, "in");
    if (!skip_name("in")) error("expected 'in', got " + describe(cur()));
    s->expr = parse_tuple(false, {"recursive"}, false);
    if (skip_name("if")) s->cond = parse_expression(true);
    if (skip_name("recursive")) s->recursive = true;
    expect_block_end();
    std::string end;
    ++loop_depth_;
    s->body = parse_body({"endfor", "else"}, &end);
    --loop_depth_;
    if (end == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"}, &end);
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_set(const Token& t) {
    Target target = parse_assign_target(true, "");
    if (skip_op("=")) {
      auto s = new_stmt(StmtKind::set, t);
      s->target = std::move(target);
      s->expr = parse_tuple(true, {}, false);
      expect_block_end();
      return s;
    }
    auto s = new_stmt(StmtKind::set_block, t);
    s->target = std::move(target);
    while (skip_op("|")) s->filters.push_back(parse_filter_call(nullptr));
    expect_block_end();
    std::string end;
    s->body = parse_body({"endset"}, &end);
    expect_block_end();
    return s;
  }

  void parse_params(std::vector<Param>& params) {
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      Param p;
      p.name = expect_name();
      if (skip_op("=")) p.default_value = parse_expression(true);
      else if (!params.empty() && params.back().default_value) error("non-default argument follows default argument");
      params.push_back(std::move(p));
    }
    advance();
  }

  StmtPtr parse_macro(const Token& t) {
    auto s = new_stmt(StmtKind::macro, t);
    s->name = expect_name();
    parse_params(s->params);
    expect_block_end();
    std::string end;
    int saved = loop_depth_;
    loop_depth_ = 0;
    size_t first = pos_;
    s->body = parse_body({"endmacro"}, &end);
    for (size_t i = first; i < pos_; ++i) {
      if (toks_[i].type != Tok::name) continue;
      if (toks_[i].value == "varargs") s->uses_varargs = true;
      if (toks_[i].value == "kwargs") s->uses_kwargs = true;
      if (toks_[i].value == "caller") s->uses_caller = true;
    }
    loop_depth_ = saved;
    // An optional name after endmacro is allowed by jinja2 only for blocks; macros take none.
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block(const Token& t) {
    auto s = new_stmt(StmtKind::call_block, t);
    if (is_op("(")) parse_params(s->params);
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::call) error_at(t, "expected call");
    expect_block_end();
    std::string end;
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_body({"endcall"}, &end);
    loop_depth_ = saved;
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block(const Token& t) {
    auto s = new_stmt(StmtKind::filter_block, t);
    s->filters.push_back(parse_filter_call(nullptr));
    while (skip_op("|")) s->filters.push_back(parse_filter_call(nullptr));
    expect_block_end();
    std::string end;
    s->body = parse_body({"endfilter"}, &end);
    expect_block_end();
    return s;
  }

  StmtPtr parse_with(const Token& t) {
    auto s = new_stmt(StmtKind::with, t);
    while (cur().type != Tok::block_end) {
      if (!s->assigns.empty()) expect_op(",");
      Target target = parse_assign_target(false, "");
      expect_op("=");
      s->assigns.emplace_back(std::move(target), parse_expression(true));
    }
    expect_block_end();
    std::string end;
    s->body = parse_body({"endwith"}, &end);
    expect_block_end();
    return s;
  }

  Target parse_assign_target(bool with_namespace, const char* end_name) {
    Target target;
    if (with_namespace && cur().type == Tok::name && peek().type == Tok::op && peek().value == ".") {
      target.names.push_back(cur().value);
      advance();
      advance();
      target.ns_attr = expect_name();
      return target;
    }
    bool parens = skip_op("(");
    while (true) {
      if (cur().type != Tok::name) error("can't assign to " + describe(cur()));
      const std::string& n = cur().value;
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
        error("can't assign to constant '" + n + "'");
      target.names.push_back(n);
      advance();
      if (!is_op(",")) break;
      target.is_tuple = true;
      advance();
      if ((parens && is_op(")")) || (*end_name && is_name(end_name)) || is_op("=")) break;
    }
    if (parens) expect_op(")");
    return target;
  }

  // ---- expressions ----
  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    if (cur().type == Tok::var_end || cur().type == Tok::block_end || cur().type == Tok::eof) return true;
    if (is_op(")")) return true;
    if (cur().type == Tok::name)
      for (const auto& e : extra_end)
        if (cur().value == e) return true;
    return false;
  }

  ExprPtr parse_tuple(bool with_condexpr, std::vector<std::string> extra_end, bool explicit_parens) {
    Token start = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) error("expected an expression, got " + describe(cur()));
    }
    auto e = make(ExprKind::tuple, start);
    e->items = std::move(items);
    return fin(std::move(e));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard g(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    Token start = cur();
    ExprPtr expr1 = parse_or();
    while (skip_name("if")) {
      ExprPtr expr2 = parse_or();
      ExprPtr expr3;
      if (skip_name("else")) {
        DepthGuard g(*this);
        expr3 = parse_condexpr();
      }
      auto e = make(ExprKind::condexpr, start);
      e->a = std::move(expr2);
      e->b = std::move(expr1);
      e->c = std::move(expr3);
      expr1 = fin(std::move(e));
    }
    return expr1;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      Token t = cur();
      advance();
      auto e = make(ExprKind::or_, t);
      e->a = std::move(left);
      e->b = parse_and();
      left = fin(std::move(e));
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      Token t = cur();
      advance();
      auto e = make(ExprKind::and_, t);
      e->a = std::move(left);
      e->b = parse_not();
      left = fin(std::move(e));
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Token t = cur();
      advance();
      DepthGuard g(*this);
      auto e = make(ExprKind::not_, t);
      e->a = parse_not();
      return fin(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    Token start = cur();
    ExprPtr first = parse_math1();
    ExprPtr node;
    while (true) {
      std::string op;
      if (cur().type == Tok::op && (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                                    cur().value == ">" || cur().value == "<=" || cur().value == ">=")) {
        op = cur().value;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().type == Tok::name && peek().value == "in") {
        op = "notin";
        advance();
        advance();
      } else {
        break;
      }
      if (!node) {
        node = make(ExprKind::compare, start);
        node->items.push_back(std::move(first));
      }
      node->ops.push_back(op);
      node->items.push_back(parse_math1());
    }
    return node ? fin(std::move(node)) : std::move(first);
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, const Token& t) {
    auto e = make(ExprKind::binary, t);
    e->name = op;
    e->a = std::move(l);
    e->b = std::move(r);
    return fin(std::move(e));
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      Token t = cur();
      advance();
      left = binary(t.value, std::move(left), parse_concat(), t);
    }
    return left;
  }

  ExprPtr parse_concat() {
    Token start = cur();
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(ExprKind::concat, start);
    e->items.push_back(std::move(first));
    while (skip_op("~")) e->items.push_back(parse_math2());
    return fin(std::move(e));
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      Token t = cur();
      advance();
      left = binary(t.value, std::move(left), parse_pow(), t);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      Token t = cur();
      advance();
      left = binary("**", std::move(left), parse_unary(true), t);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard g(*this);
    Token t = cur();
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      advance();
      node = make(t.value == "-" ? ExprKind::neg : ExprKind::pos, t);
      node->a = parse_unary(false);
      node = fin(std::move(node));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    Token t = cur();
    switch (t.type) {
      case Tok::name: {
        advance();
        if (t.value == "true" || t.value == "True") return constant(Value::boolean(true), t);
        if (t.value == "false" || t.value == "False") return constant(Value::boolean(false), t);
        if (t.value == "none" || t.value == "None") return constant(Value::none(), t);
        auto e = make(ExprKind::name, t);
        e->name = t.value;
        return e;
      }
      case Tok::string: {
        std::string s = t.value;
        advance();
        while (cur().type == Tok::string) {
          s += cur().value;
          advance();
        }
        return constant(Value::string(std::move(s)), t);
      }
      case Tok::integer: {
        advance();
        return constant(Value::integer(parse_int(t)), t);
      }
      case Tok::floating: {
        advance();
        return constant(Value::floating(std::strtod(t.value.c_str(), nullptr)), t);
      }
      case Tok::op:
        if (t.value == "(") {
          advance();
          ExprPtr e = parse_tuple(true, {}, true);
          expect_op(")");
          return e;
        }
        if (t.value == "[") {
          advance();
          auto e = make(ExprKind::list, t);
          while (!is_op("]")) {
            if (!e->items.empty()) expect_op(",");
            if (is_op("]")) break;
            e->items.push_back(parse_expression(true));
          }
          advance();
          return fin(std::move(e));
        }
        if (t.value == "{") {
          advance();
          auto e = make(ExprKind::dict, t);
          while (!is_op("}")) {
            if (!e->items.empty()) expect_op(",");
            if (is_op("}")) break;
            e->items.push_back(parse_expression(true));
            expect_op(":");
            e->items.push_back(parse_expression(true));
          }
          advance();
          return fin(std::move(e));
        }
        break;
      default:
        break;
    }
    error("unexpected " + describe(t));
  }

  int64_t parse_int(const Token& t) {
    const std::string& s = t.value;
    int base = 10;
    size_t off = 0;
    if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, off = 2;
    else if (s.size() > 1 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) base = 8, off = 2;
    else if (s.size() > 1 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) base = 2, off = 2;
    errno = 0;
    long long v = std::strtoll(s.c_str() + off, nullptr, base);
    if (errno == ERANGE) error_at(t, "integer literal too large: " + s);
    return v;
  }

  ExprPtr constant(Value v, const Token& t) {
    auto e = make(ExprKind::constant, t);
    e->value = std::move(v);
    return e;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      Token t = cur();
      if (is_op(".")) {
        advance();
        Token a = cur();
        if (a.type == Tok::name) {
          advance();
          auto e = make(ExprKind::getattr, t);
          e->a = std::move(node);
          e->name = a.value;
          node = fin(std::move(e));
        } else if (a.type == Tok::integer) {
          advance();
          auto e = make(ExprKind::getitem, t);
          e->a = std::move(node);
          e->b = constant(Value::integer(parse_int(a)), a);
          node = fin(std::move(e));
        } else {
          error("expected name or number after '.'");
        }
      } else if (is_op("[")) {
        advance();
        std::vector<ExprPtr> args;
        while (!is_op("]")) {
          if (!args.empty()) {
            expect_op(",");
            if (is_op("]")) break;
          }
          args.push_back(parse_subscribed());
        }
        advance();
        auto e = make(ExprKind::getitem, t);
        e->a = std::move(node);
        if (args.size() == 1) {
          e->b = std::move(args[0]);
        } else {
          if (args.empty()) error_at(t, "expected an expression in subscript");
          e->b = make(ExprKind::tuple, t);
          e->b->items = std::move(args);
          e->b = fin(std::move(e->b));
        }
        node = fin(std::move(e));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscribed() {
    Token t = cur();
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    advance();  // ':'
    auto e = make(ExprKind::slice, t);
    e->a = std::move(start);
    if (!is_op("]") && !is_op(",") && !is_op(":")) e->b = parse_expression(true);
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) e->c = parse_expression(true);
    }
    return fin(std::move(e));
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (skip_op("**")) {
        e.star_kwargs = parse_expression(true);
      } else if (skip_op("*")) {
        e.star_args = parse_expression(true);
      } else if (cur().type == Tok::name && peek().type == Tok::op && peek().value == "=") {
        Arg a;
        a.name = cur().value;
        advance();
        advance();
        a.value = parse_expression(true);
        e.args.push_back(std::move(a));
      } else {
        if (e.star_kwargs || e.star_args) error("invalid syntax for function call expression");
        for (const auto& a : e.args)
          if (!a.name.empty()) error("invalid syntax for function call expression");
        Arg a;
        a.value = parse_expression(true);
        e.args.push_back(std::move(a));
      }
    }
    advance();
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(ExprKind::call, cur());
    e->a = std::move(callee);
    parse_call_args(*e);
    return fin(std::move(e));
  }

  ExprPtr parse_filter_call(ExprPtr input) {
    Token t = cur();
    auto e = make(ExprKind::filter, t);
    e->name = expect_name();
    while (is_op(".")) {
      advance();
      e->name += "." + expect_name();
    }
    e->a = std::move(input);
    if (is_op("(")) parse_call_args(*e);
    return fin(std::move(e));
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        advance();
        node = parse_filter_call(std::move(node));
      } else if (is_name("is")) {
        Token t = cur();
        advance();
        auto e = make(ExprKind::test, t);
        e->negated = skip_name("not");
        e->name = expect_name();
        while (is_op(".")) {
          advance();
          e->name += "." + expect_name();
        }
        e->a = std::move(node);
        if (is_op("(")) {
          parse_call_args(*e);
        } else if ((cur().type == Tok::name || cur().type == Tok::string || cur().type == Tok::integer ||
                    cur().type == Tok::floating || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) error("You cannot chain multiple tests with is");
          Arg a;
          a.value = parse_postfix(parse_primary());
          e->args.push_back(std::move(a));
        }
        node = fin(std::move(e));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // ---- unknown filters / tests: compile-time errors except where jinja2 defers them ----
  void check_expr(const Expr* e, bool soft) {
    if (!e) return;
    if (e->kind == ExprKind::filter && !soft && !is_known_filter(e->name))
      error_at(Token{Tok::name, "", e->line, e->column}, "No filter named '" + e->name + "'.");
    if (e->kind == ExprKind::test && !soft && !is_known_test(e->name))
      error_at(Token{Tok::name, "", e->line, e->column}, "No test named '" + e->name + "'.");
    bool inner_soft = soft || e->kind == ExprKind::condexpr;
    check_expr(e->a.get(), inner_soft);
    check_expr(e->b.get(), inner_soft);
    check_expr(e->c.get(), inner_soft);
    for (const auto& i : e->items) check_expr(i.get(), inner_soft);
    for (const auto& a : e->args) check_expr(a.value.get(), inner_soft);
    check_expr(e->star_args.get(), inner_soft);
    check_expr(e->star_kwargs.get(), inner_soft);
  }

  void check_names(const Body& body, bool soft) {
    for (const auto& s : body) {
      switch (s->kind) {
        case StmtKind::if_:
          for (const auto& [test, b] : s->branches) {
            check_expr(test.get(), true);
            check_names(b, true);
          }
          check_names(s->else_body, true);
          break;
        case StmtKind::for_:
          check_expr(s->expr.get(), soft);
          check_expr(s->cond.get(), false);
          check_names(s->body, false);
          check_names(s->else_body, false);
          break;
        case StmtKind::macro:
          for (const auto& p : s->params) check_expr(p.default_value.get(), false);
          check_names(s->body, false);
          break;
        case StmtKind::call_block:
          check_expr(s->expr.get(), soft);
          for (const auto& p : s->params) check_expr(p.default_value.get(), false);
          check_names(s->body, false);
          break;
        case StmtKind::set_block:
        case StmtKind::filter_block:
          for (const auto& f : s->filters) check_expr(f.get(), false);
          check_names(s->body, false);
          break;
        case StmtKind::with:
          for (const auto& [t, v] : s->assigns) check_expr(v.get(), soft);
          check_names(s->body, false);
          break;
        case StmtKind::generation:
          check_names(s->body, false);
          break;
        default:
          check_expr(s->expr.get(), soft);
      }
    }
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::string name_;
  int max_depth_;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source, const std::string& name, int max_depth) {
  return Parser(tokenize(source, name), name, max_depth).parse();
}

}  // namespace hearth::chat::jinja
