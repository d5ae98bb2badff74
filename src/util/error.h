// hearth::Error — the one exception type of the project.
//
// Every error carries a category (what kind of failure, used to pick an exit code or an HTTP
// status at the boundary) and a message written for the user: it names the file, the field
// and the offset, or the flag, so that the user can act on it without reading the code.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace hearth {

enum class ErrorKind {
  invalid_argument,  // bad flag, bad request field            → exit 2 / HTTP 400
  not_found,         // missing file, unknown model or key     → exit 3 / HTTP 404
  format,            // a file that is malformed or corrupt    → exit 4 / HTTP 422
  unsupported,       // well-formed but not (yet) handled      → exit 5 / HTTP 501
  io,                // read/write/mmap failure, disk full     → exit 6 / HTTP 500
  limit,             // a resource bound was hit               → exit 7 / HTTP 413
  internal,          // a bug in hearth                        → exit 70 / HTTP 500
};

const char* error_kind_name(ErrorKind kind);
int exit_code_for(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Shorthand: throw_error(ErrorKind::format, "{}: bad magic {:#x}", path, magic);
template <typename... Args>
[[noreturn]] void throw_error(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(kind, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace hearth
