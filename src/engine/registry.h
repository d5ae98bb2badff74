// The model registry: which models are loaded, for how long, and under what memory budget.
//
// A model is addressed by name (the file stem of a .gguf in the models directory; an Ollama
// style ":latest" tag is ignored) or by path. It is loaded on first use with its scheduler
// and kept for its keep_alive after the last request ends (default 5 min; 0 unloads as soon as
// it is idle; negative keeps it forever). A file that changed on disk (size or mtime) or
// different load parameters (context, threads, slots) reload it on the next request. Several
// models can be loaded at once; when a load would exceed the memory budget, idle models are
// unloaded, least recently used first.
//
//   Registry reg({.models_dir = "models"});
//   auto lease = reg.acquire("stories260K");    // loads if needed
//   auto gen = lease->scheduler().submit(req);  // the model stays loaded while `lease` lives
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <condition_variable>
#include <vector>

#include "engine/scheduler.h"
#include "model/model.h"

namespace hearth::engine {

struct LoadParams {
  int64_t n_ctx = 0;     // 0: the registry's default
  int n_threads = 0;     // 0: the registry's default
  int n_parallel = 0;    // 0: the registry's default
  bool operator==(const LoadParams&) const = default;
};

// Where models live when no --models-dir is given: $HEARTH_MODELS, else
// $XDG_DATA_HOME/hearth/models, else ~/.local/share/hearth/models ("models" without a HOME).
std::string default_models_dir();

struct RegistryOptions {
  std::string models_dir = "models";
  std::chrono::seconds keep_alive{300};
  uint64_t memory_budget = 0;  // bytes; 0: 80% of the memory available at start
  LoadParams defaults{.n_ctx = 0, .n_threads = 0, .n_parallel = 4};
  size_t max_queue = 256;
  std::vector<std::string> model_paths;  // files outside models_dir, also known by their stem
};

// A model found in the models directory (or named by path).
struct ModelFile {
  std::string name;  // file stem
  std::string path;
  uint64_t size = 0;
  std::filesystem::file_time_type mtime{};
};

class LoadedModel {
 public:
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  const model::Model& model() const { return *model_; }
  Scheduler& scheduler() { return *scheduler_; }
  const LoadParams& params() const { return params_; }
  uint64_t memory_bytes() const { return memory_; }
  std::chrono::system_clock::time_point expires_at() const;  // max() while in use or forever
  double load_seconds() const { return load_s_; }

 private:
  friend class Registry;
  std::string name_, path_;
  uint64_t file_size_ = 0;
  std::filesystem::file_time_type mtime_{};
  LoadParams params_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<Scheduler> scheduler_;
  uint64_t memory_ = 0;
  double load_s_ = 0;
  // Guarded by the registry's mutex:
  int leases_ = 0;
  std::chrono::steady_clock::time_point last_used_{};
  std::chrono::seconds keep_alive_{300};
};

class Registry;

// Keeps a model loaded while alive; release (destruction) starts its keep-alive clock.
class Lease {
 public:
  Lease(Registry* reg, std::shared_ptr<LoadedModel> m) : reg_(reg), m_(std::move(m)) {}
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  LoadedModel* operator->() const { return m_.get(); }
  LoadedModel& operator*() const { return *m_; }

 private:
  Registry* reg_;
  std::shared_ptr<LoadedModel> m_;
};

class Registry {
 public:
  explicit Registry(RegistryOptions opts);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Finds the file for a name or path. Throws Error(not_found) naming what was looked for.
  ModelFile resolve(const std::string& name_or_path) const;
  // The .gguf files of the models directory, by name.
  std::vector<ModelFile> list() const;

  // Loads (or reloads) the model if needed and returns a lease on it. keep_alive: how long to
  // keep it after this lease ends (nullopt: the registry's default). Throws Error(not_found)
  // for an unknown model, the loader's errors for a bad file, Error(limit) when it cannot fit.
  std::unique_ptr<Lease> acquire(const std::string& name_or_path, LoadParams params = {},
                                 std::optional<std::chrono::seconds> keep_alive = std::nullopt);
  // Unloads a model now if no request uses it (Ollama's keep_alive 0 with no prompt).
  bool unload(const std::string& name_or_path);

  struct Loaded {
    std::string name, path;
    uint64_t memory_bytes;
    int64_t n_ctx;
    int n_parallel;
    int leases;
    std::chrono::system_clock::time_point expires_at;  // max(): in use or kept forever
    SchedulerStats stats;
  };
  std::vector<Loaded> loaded() const;
  uint64_t memory_budget() const { return opts_.memory_budget; }
  const RegistryOptions& options() const { return opts_; }

  // Unloads models whose keep-alive has passed (also done by a background thread each second).
  void reap();

 private:
  friend class Lease;
  void release(LoadedModel* m);
  LoadParams effective(LoadParams p) const;

  RegistryOptions opts_;
  mutable std::mutex mu_;
  std::mutex load_mu_;  // one load at a time
  std::map<std::string, std::shared_ptr<LoadedModel>> models_;  // by path
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread reaper_;
};

// Estimated resident bytes of a model loaded with these parameters: the file (mapped) plus
// the KV caches of its slots.
uint64_t estimate_memory(const model::Model& m, uint64_t file_size, int64_t n_ctx, int n_parallel);
// MemAvailable from /proc/meminfo (0 if unknown).
uint64_t available_memory();

}  // namespace hearth::engine
