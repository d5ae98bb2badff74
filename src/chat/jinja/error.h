// Errors of the chat-template interpreter. Every one is a hearth::Error; the message starts
// with "NAME:LINE:COLUMN: " (1-based) when the position in the template is known.
//   syntax errors                         → ErrorKind::format
//   runtime errors, raise_exception(msg)  → ErrorKind::invalid_argument (the template rejected
//                                            the messages, or failed on them)
//   a bound of Limits was hit             → ErrorKind::limit
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>

#include "util/error.h"

namespace hearth::chat::jinja {

class TemplateError : public hearth::Error {
 public:
  TemplateError(ErrorKind kind, std::string message, int line = 0, int column = 0)
      : hearth::Error(kind, std::move(message)), line_(line), column_(column) {}
  int line() const { return line_; }
  int column() const { return column_; }
  // The message without the location prefix.
  const std::string& detail() const { return detail_; }
  void set_detail(std::string d) { detail_ = std::move(d); }

 private:
  int line_;
  int column_;
  std::string detail_;
};

// A runtime failure whose location the interpreter fills in.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw TemplateError(ErrorKind::invalid_argument, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail_limit(fmt::format_string<Args...> f, Args&&... args) {
  throw TemplateError(ErrorKind::limit, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace hearth::chat::jinja
