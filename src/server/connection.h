// Is the client of a request still there? cpp-httplib 0.11 gives a plain handler no access to
// its socket, and its DataSink::is_writable() only asks whether a write would block — true for
// a connection the client has closed. A handler that computes for a long time before it answers
// (a non-streaming generation) finds its socket here instead: the descriptor of this process
// whose local and remote addresses are the request's (Linux: /proc/self/fd). gone() then asks
// the kernel whether the peer has closed or reset the connection, without reading anything.
//
//   ClientConnection client(req);
//   while (working) { ...; if (client.gone()) { cancel(); break; } }
#pragma once

#include <httplib.h>

#include <stdexcept>

namespace hearth::server {

class ClientConnection {
 public:
  ClientConnection() = default;  // watches nothing: gone() is always false
  // Finds the request's socket; when it cannot be found (no /proc, a non-TCP transport)
  // nothing is watched and gone() is always false.
  explicit ClientConnection(const httplib::Request& req);

  // True once the client has closed its end (FIN), reset the connection or the socket is in
  // error. Data the client sent ahead (a pipelined request) does not count as gone. A client
  // that half-closes its side after sending the request counts as gone.
  bool gone() const;
  bool watching() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Thrown by a handler whose client went away before the answer was ready; the error boundary
// (guarded) counts it as a cancellation, not an error, and sends nothing anyone will read.
class ClientGone : public std::runtime_error {
 public:
  ClientGone() : std::runtime_error("the client closed the connection") {}
};

}  // namespace hearth::server
