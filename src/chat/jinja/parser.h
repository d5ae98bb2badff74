// Parser: tokens → syntax tree, with Jinja's grammar and operator precedence.
#pragma once

#include <string>
#include <string_view>

#include "chat/jinja/ast.h"

namespace hearth::chat::jinja {

// Throws TemplateError (ErrorKind::format, "NAME:LINE:COL: ...") on a syntax error, an unknown
// tag, or an unknown filter/test outside an {% if %} / inline if (as jinja2 does at compile time;
// inside those it fails only when evaluated). Nesting deeper than max_depth is a limit error.
Body parse_template(std::string_view source, const std::string& name, int max_depth);

// Filter and test names jinja2 knows (some are implemented only as "unsupported" errors).
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

}  // namespace hearth::chat::jinja
