// hearth's HTTP server: the OpenAI and Ollama APIs on one port, over the engine's registry.
//
//   engine::Registry reg({.models_dir = "models"});
//   server::Server srv(reg, {.host = "127.0.0.1", .port = 11434});
//   int port = srv.bind();   // throws Error(io) naming --port when the port is taken
//   srv.run();               // until stop()
//
// docs/server.md lists the routes and fields.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "engine/model_digests.h"
#include "engine/registry.h"

namespace httplib {
class Server;
}

namespace hearth::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 11434;                 // 0: any free port (bind() says which)
  std::string api_key;              // non-empty: every route but /health needs "Authorization: Bearer KEY"
  std::string cors_origin;          // empty: no CORS headers; "*" or one origin
  size_t max_body_bytes = 16 << 20; // larger bodies get 413
  int http_threads = 64;            // concurrent connections served
  int read_timeout_s = 60;          // a client that sends nothing for this long is dropped
  int write_timeout_s = 60;
  std::string data_dir;             // knowledge bases (kb.sqlite3); "": $HEARTH_DATA_DIR, XDG data dir
};

struct Metrics;

// "5m", "1h30m", "300" (seconds), "-1" (forever) → seconds (negative: forever).
std::chrono::seconds parse_keep_alive_flag(const std::string& text);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);

class Server {
 public:
  // Throws Error(invalid_argument) for a non-loopback host without an API key.
  Server(engine::Registry& reg, ServerOptions opts);
  ~Server();
  int bind();
  void run();
  void stop();
  std::string url() const;

 private:
  void setup();
  engine::Registry& reg_;
  ServerOptions opts_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<engine::ModelDigests> digests_;  // Ollama's "digest" of each model file
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
};

}  // namespace hearth::server
