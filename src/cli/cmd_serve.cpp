// `hearth serve`: the OpenAI- and Ollama-compatible HTTP server (docs/server.md).
#include <fmt/format.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "engine/registry.h"
#include "server/server.h"
#include "util/error.h"

namespace hearth::cli {

namespace {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 11434;
  std::string models_dir;
  std::vector<std::string> models;
  int parallel = 4;
  int64_t n_ctx = 0;
  int threads = 0;
  std::string api_key;
  std::string cors;
  std::string keep_alive = "5m";
  size_t max_queue = 256;
  size_t max_body_mb = 16;
  uint64_t memory_mb = 0;
  std::string data_dir;
};

int run_serve(ServeOptions o) {
  if (o.api_key.empty())
    if (const char* k = std::getenv("HEARTH_API_KEY"); k && *k) o.api_key = k;
  if (o.models_dir.empty()) o.models_dir = engine::default_models_dir();
  if (o.parallel < 1 || o.parallel > 64) throw_error(ErrorKind::invalid_argument, "--parallel must be 1..64");
  if (o.n_ctx < 0) throw_error(ErrorKind::invalid_argument, "--ctx must be >= 0");

  engine::RegistryOptions ro;
  ro.models_dir = o.models_dir;
  ro.keep_alive = server::parse_keep_alive_flag(o.keep_alive);
  ro.defaults = {.n_ctx = o.n_ctx, .n_threads = o.threads, .n_parallel = o.parallel};
  ro.max_queue = o.max_queue;
  ro.memory_budget = o.memory_mb << 20;
  for (const auto& m : o.models)
    if (m.find('/') != std::string::npos || m.ends_with(".gguf")) ro.model_paths.push_back(m);
  engine::Registry reg(ro);

  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_key = o.api_key;
  so.cors_origin = o.cors;
  so.max_body_bytes = o.max_body_mb << 20;
  so.data_dir = o.data_dir;
  server::Server srv(reg, so);

  // SIGINT/SIGTERM stop the server from a thread of their own; a closed client socket must not
  // kill the process.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  srv.bind();
  // Models named on the command line are loaded before the URL is printed.
  std::vector<std::unique_ptr<engine::Lease>> preload;
  for (const auto& m : o.models) preload.push_back(reg.acquire(m));
  preload.clear();

  std::thread sig([&srv, set] {
    int signo = 0;
    sigwait(&set, &signo);
    srv.stop();
  });
  fmt::print("hearth serve: listening on {} (models: {}; {} slots per model)\n", srv.url(), o.models_dir, o.parallel);
  if (!o.api_key.empty()) fmt::print("hearth serve: API key required (Authorization: Bearer …)\n");
  std::fflush(stdout);
  srv.run();
  // Stopped by a signal: the signal thread has returned. (If run() ended otherwise, wake it.)
  pthread_kill(sig.native_handle(), SIGTERM);
  sig.join();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve models over the OpenAI and Ollama HTTP APIs");
  cmd->add_option("--host", o->host, "Address to listen on (non-loopback needs an API key)")->capture_default_str();
  cmd->add_option("--port", o->port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--models-dir", o->models_dir,
                  "Directory of .gguf models, addressed by file stem (default: $HEARTH_MODELS or "
                  "~/.local/share/hearth/models)");
  cmd->add_option("--model", o->models, "Model name or path to load at start (repeatable)");
  cmd->add_option("--parallel", o->parallel, "Concurrent sequences per model (continuous batching slots)")
      ->capture_default_str();
  cmd->add_option("--ctx", o->n_ctx, "Context size per sequence (default: min(model, 4096))");
  cmd->add_option("-t,--threads", o->threads, "Compute threads per model (default: all cores)");
  cmd->add_option("--api-key", o->api_key, "Require \"Authorization: Bearer KEY\" (also HEARTH_API_KEY)");
  cmd->add_option("--cors", o->cors, "Allow browser requests from this origin (\"*\": any)");
  cmd->add_option("--keep-alive", o->keep_alive, "How long an idle model stays loaded (\"5m\", \"0\", \"-1\": forever)")
      ->capture_default_str();
  cmd->add_option("--max-queue", o->max_queue, "Waiting requests per model before 503")->capture_default_str();
  cmd->add_option("--memory-mb", o->memory_mb,
                  "Memory for loaded models; idle ones are unloaded to make room (default: 80% of available)");
  cmd->add_option("--data-dir", o->data_dir,
                  "Data folder of the knowledge bases (default $HEARTH_DATA_DIR, $XDG_DATA_HOME/hearth, ~/.local/share/hearth)");
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body in MiB")->capture_default_str();
  cmd->callback([&action, o] { action = [o] { return run_serve(*o); }; });
}

}  // namespace hearth::cli
