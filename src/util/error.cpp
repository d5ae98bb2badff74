#include "util/error.h"

namespace hearth {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::format: return "format";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::io: return "io";
    case ErrorKind::limit: return "limit";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return 2;
    case ErrorKind::not_found: return 3;
    case ErrorKind::format: return 4;
    case ErrorKind::unsupported: return 5;
    case ErrorKind::io: return 6;
    case ErrorKind::limit: return 7;
    case ErrorKind::internal: return 70;
  }
  return 70;
}

}  // namespace hearth
