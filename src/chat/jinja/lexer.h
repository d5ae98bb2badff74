// Lexer for Jinja templates, with the settings transformers uses for chat templates:
// trim_blocks (drop the first newline after a block or comment tag), lstrip_blocks (drop the
// spaces and tabs before a block or comment tag that starts a line), keep_trailing_newline off
// (one trailing newline of the source is dropped), "\r\n" and "\r" read as "\n".
// Whitespace control: "{%-"/"-%}" (and {{- -}}, {#- -#}) strip all whitespace on that side;
// "{%+" and "+%}" turn lstrip_blocks / trim_blocks off for that tag. {% raw %} is supported.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hearth::chat::jinja {

enum class Tok { data, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };

struct Token {
  Tok type;
  std::string value;  // data text, name, decoded string literal, number text, operator
  int line = 1;
  int column = 1;
};

// Throws TemplateError (ErrorKind::format) with "NAME:LINE:COL: ..." on malformed input.
std::vector<Token> tokenize(std::string_view source, const std::string& name);

}  // namespace hearth::chat::jinja
