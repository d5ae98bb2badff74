// Syntax tree of a parsed Jinja template (parser.cpp builds it, interpreter.cpp walks it).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/value.h"

namespace hearth::chat::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  constant,   // value
  name,       // name
  getattr,    // a.name
  getitem,    // a[b]
  slice,      // a:b:c (only as the key of getitem; absent parts are null)
  call,       // a(args)
  filter,     // a | name(args); a is null in {% filter %} and {% set x | f %} chains
  test,       // a is [not] name(args)
  neg, pos,   // -a, +a
  not_,       // not a
  binary,     // a op b with op in + - * / // % **
  and_, or_,  // a and b, a or b
  compare,    // items[0] ops[0] items[1] ops[1] items[2] ... (chained as in Python)
  condexpr,   // b if a else c (c may be null)
  list, tuple, dict,  // literals; dict items alternate key, value
  concat,     // items joined with ~
};

struct Arg {
  std::string name;  // empty for a positional argument
  ExprPtr value;
};

struct Expr {
  ExprKind kind;
  int line = 0;
  int column = 0;
  Value value;
  std::string name;  // name / attribute / filter or test name / binary operator
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  std::vector<std::string> ops;
  std::vector<Arg> args;
  ExprPtr star_args, star_kwargs;
  bool negated = false;  // test: "is not"
  int height = 1;        // of this subtree; the parser bounds it so evaluation cannot recurse unboundedly
};

// An assignment target: a name, a tuple of names, or namespace.attr.
struct Target {
  std::vector<std::string> names;
  bool is_tuple = false;
  std::string ns_attr;  // when set: names[0].ns_attr = ...
};

struct Param {
  std::string name;
  ExprPtr default_value;  // may be null
};

enum class StmtKind { output, print, if_, for_, set, set_block, macro, call_block, filter_block, break_, continue_, with, generation };

struct Stmt {
  StmtKind kind;
  int line = 0;
  int column = 0;
  std::string text;                                   // output: the literal text
  ExprPtr expr;                                       // print / set value / for iterable / call-block call
  ExprPtr cond;                                       // for: the "if" filter
  std::vector<std::pair<ExprPtr, Body>> branches;     // if / elif
  Body body, else_body;
  Target target;                                      // for / set / set_block
  std::string name;                                   // macro name
  std::vector<Param> params;                          // macro, call-block caller
  std::vector<ExprPtr> filters;                       // set_block / filter_block chain
  std::vector<std::pair<Target, ExprPtr>> assigns;    // with
  bool recursive = false;                             // for ... recursive
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;  // macro
};

}  // namespace hearth::chat::jinja
