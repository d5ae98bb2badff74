#include "server/server.h"

#include <httplib.h>

#include "server/routes.h"

namespace hearth::server {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

namespace {

const char* openai_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 503: return "server_overloaded";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

int status_for(ErrorKind k) {
  switch (k) {
    case ErrorKind::invalid_argument: return 400;
    case ErrorKind::not_found: return 404;
    case ErrorKind::format: return 422;
    case ErrorKind::unsupported: return 501;
    case ErrorKind::limit: return 503;
    case ErrorKind::io:
    case ErrorKind::internal: return 500;
  }
  return 500;
}

Api api_of(const std::string& path) {
  if (path.starts_with("/v1/")) return Api::openai;
  if (path.starts_with("/api/")) return Api::ollama;
  return Api::plain;
}

}  // namespace

void send_error(httplib::Response& res, Api api, int status, const std::string& message, const std::string& param) {
  res.status = status;
  json j;
  if (api == Api::openai) {
    j = {{"error",
          {{"message", message}, {"type", openai_type(status)}, {"param", param.empty() ? json(nullptr) : json(param)},
           {"code", status == 404 ? json("model_not_found") : json(nullptr)}}}};
  } else {
    j = {{"error", message}};
  }
  if (status == 503) res.set_header("Retry-After", "1");
  res.set_content(dump(j), "application/json");
}

httplib::Server::Handler guarded(Api api, Metrics& metrics,
                                 std::function<void(const httplib::Request&, httplib::Response&)> fn) {
  return [api, &metrics, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
    ++metrics.requests;
    try {
      fn(req, res);
      return;
    } catch (const ClientGone&) {
      // Nobody will read the answer; the generation has been cancelled.
      ++metrics.cancelled;
      send_error(res, api, 499, "the client closed the connection before the answer was ready");
      return;
    } catch (const RequestError& e) {
      send_error(res, api, e.status(), e.what(), e.param());
    } catch (const Error& e) {
      send_error(res, api, status_for(e.kind()), e.what());
    } catch (const std::bad_alloc&) {
      send_error(res, api, 503, "out of memory");
    } catch (const std::exception& e) {
      send_error(res, api, 500, std::string("internal error: ") + e.what());
    }
    ++metrics.errors;
  };
}

std::chrono::seconds parse_keep_alive_flag(const std::string& text) {
  json v = text;
  char* end = nullptr;
  const double d = std::strtod(text.c_str(), &end);
  if (!text.empty() && end != nullptr && *end == '\0') v = d;
  return parse_keep_alive(v, "--keep-alive");
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

Server::Server(engine::Registry& reg, ServerOptions opts)
    : reg_(reg),
      opts_(std::move(opts)),
      metrics_(std::make_unique<Metrics>()),
      digests_(std::make_unique<engine::ModelDigests>(engine::default_digest_cache_file())),
      http_(std::make_unique<httplib::Server>()) {
  if (!is_loopback(opts_.host) && opts_.api_key.empty())
    throw_error(ErrorKind::invalid_argument,
                "refusing to listen on {} without an API key: anyone on the network could use it. Set "
                "HEARTH_API_KEY or --api-key (clients then send \"Authorization: Bearer KEY\"), or use --host 127.0.0.1",
                opts_.host);
  setup();
}

Server::~Server() = default;

void Server::setup() {
  httplib::Server& http = *http_;
  const int threads = std::max(4, opts_.http_threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(opts_.max_body_bytes);
  http.set_read_timeout(opts_.read_timeout_s, 0);
  http.set_write_timeout(opts_.write_timeout_s, 0);
  http.set_keep_alive_timeout(5);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
  // server share a port that is already in use instead of failing.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });

  const std::string key = opts_.api_key, cors = opts_.cors_origin;
  http.set_pre_routing_handler([key, cors](const httplib::Request& req, httplib::Response& res) {
    if (!cors.empty()) {
      res.set_header("Access-Control-Allow-Origin", cors);
      if (cors != "*") res.set_header("Vary", "Origin");
      if (req.method == "OPTIONS") {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Max-Age", "600");
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!key.empty() && req.path != "/health") {
      const std::string auth = req.get_header_value("Authorization");
      if (auth != "Bearer " + key) {
        send_error(res, api_of(req.path), 401,
                   auth.empty() ? "missing API key: send \"Authorization: Bearer KEY\""
                                : "invalid API key");
        res.set_header("WWW-Authenticate", "Bearer");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg;
    switch (res.status) {
      case 404: msg = "no route for " + req.method + " " + req.path; break;
      case 413: msg = "the request body is too large"; break;
      case 405: msg = "method not allowed"; break;
      default: msg = "HTTP error " + std::to_string(res.status);
    }
    send_error(res, api_of(req.path), res.status, msg);
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    send_error(res, api_of(req.path), 500, "internal error");
  });

  Metrics& metrics = *metrics_;
  engine::Registry& reg = reg_;
  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hearth is running\n", "text/plain");
  });
  http.Get("/metrics", [&metrics, &reg](const httplib::Request&, httplib::Response& res) {
    std::string out;
    auto counter = [&](const char* name, const char* help, uint64_t v) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v);
    };
    auto gauge = [&](const char* name, const char* help, double v) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, v);
    };
    counter("hearth_requests_total", "HTTP requests to the API routes.", metrics.requests.load());
    counter("hearth_request_errors_total", "API requests answered with an error.", metrics.errors.load());
    counter("hearth_prompt_tokens_total", "Prompt tokens of finished generations.", metrics.prompt_tokens.load());
    counter("hearth_generated_tokens_total", "Tokens generated.", metrics.generated_tokens.load());
    counter("hearth_cancelled_total", "Generations cancelled (client gone).", metrics.cancelled.load());
    const auto loaded = reg.loaded();
    int queued = 0, active = 0;
    for (const auto& l : loaded) {
      queued += l.stats.queued;
      active += l.stats.active;
    }
    gauge("hearth_queue_depth", "Requests waiting for a slot.", queued);
    gauge("hearth_active_generations", "Generations running.", active);
    gauge("hearth_models_loaded", "Models in memory.", static_cast<double>(loaded.size()));
    {
      std::lock_guard<std::mutex> lock(metrics.mu);
      gauge("hearth_tokens_per_second", "Generation speed of the last finished request.",
            metrics.last_tokens_per_second);
    }
    const double gen_s = static_cast<double>(metrics.gen_ns.load()) / 1e9;
    gauge("hearth_generation_seconds_total", "Time spent generating (summed over requests).", gen_s);
    out += "# HELP hearth_model_memory_bytes Estimated memory of each loaded model.\n"
           "# TYPE hearth_model_memory_bytes gauge\n";
    for (const auto& l : loaded)
      out += fmt::format("hearth_model_memory_bytes{{model=\"{}\"}} {}\n", l.name, l.memory_bytes);
    res.set_content(out, "text/plain; version=0.0.4");
  });
  add_openai_routes(http, reg, metrics);
  add_ollama_routes(http, reg, metrics, *digests_);
  add_kb_routes(http, reg, metrics, opts_.data_dir);
}

int Server::bind() {
  if (opts_.port < 0 || opts_.port > 65535)
    throw_error(ErrorKind::invalid_argument, "--port {} is not a port number (0..65535)", opts_.port);
  if (opts_.port == 0) {
    port_ = http_->bind_to_any_port(opts_.host);
    if (port_ < 0) throw_error(ErrorKind::io, "cannot listen on {}: no free port", opts_.host);
  } else {
    if (!http_->bind_to_port(opts_.host, opts_.port))
      throw_error(ErrorKind::io,
                  "cannot listen on {}:{}: the port is in use (another hearth or ollama?) or the address is not "
                  "available; choose another with --port",
                  opts_.host, opts_.port);
    port_ = opts_.port;
  }
  return port_;
}

void Server::run() { http_->listen_after_bind(); }

void Server::stop() { http_->stop(); }

std::string Server::url() const {
  const bool v6 = opts_.host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}", v6 ? "[" : "", opts_.host, v6 ? "]" : "", port_);
}

}  // namespace hearth::server
