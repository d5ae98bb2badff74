#include "engine/registry.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace hearth::engine {

std::string default_models_dir() {
  if (const char* e = std::getenv("HEARTH_MODELS"); e && *e) return e;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/hearth/models";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/hearth/models";
  return "models";
}


namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

uint64_t estimate_memory(const model::Model& m, uint64_t file_size, int64_t n_ctx, int n_parallel) {
  const model::HParams& hp = m.hparams();
  const uint64_t kv = static_cast<uint64_t>(n_ctx) * static_cast<uint64_t>(hp.n_embd_kv()) *
                      static_cast<uint64_t>(hp.n_layer) * 2 /*K,V*/ * 2 /*F16*/;
  return file_size + kv * static_cast<uint64_t>(std::max(1, n_parallel));
}

uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (in >> key >> value >> unit)
    if (key == "MemAvailable:") return value * 1024;
  return 0;
}

std::chrono::system_clock::time_point LoadedModel::expires_at() const {
  if (leases_ > 0 || keep_alive_.count() < 0) return std::chrono::system_clock::time_point::max();
  const auto left = last_used_ + keep_alive_ - SteadyClock::now();
  return std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
}

Lease::~Lease() {
  if (reg_ != nullptr) reg_->release(m_.get());
}

Registry::Registry(RegistryOptions opts) : opts_(std::move(opts)) {
  if (opts_.memory_budget == 0) {
    const uint64_t avail = available_memory();
    opts_.memory_budget = avail > 0 ? avail / 10 * 8 : (uint64_t(8) << 30);
  }
  if (opts_.defaults.n_parallel <= 0) opts_.defaults.n_parallel = 4;
  reaper_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::seconds(1));
      if (stop_) break;
      lock.unlock();
      reap();
      lock.lock();
    }
  });
}

Registry::~Registry() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  reaper_.join();
  models_.clear();
}

namespace {

ModelFile describe(const fs::path& p) {
  ModelFile f;
  f.name = p.stem().string();
  f.path = fs::absolute(p).lexically_normal().string();
  std::error_code ec;
  f.size = fs::file_size(p, ec);
  f.mtime = fs::last_write_time(p, ec);
  return f;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

ModelFile Registry::resolve(const std::string& name_or_path) const {
  if (name_or_path.empty()) throw_error(ErrorKind::invalid_argument, "no model given");
  // A path (contains a slash or ends in .gguf) is used as it is.
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".gguf")) {
    if (is_file(name_or_path)) return describe(name_or_path);
    throw_error(ErrorKind::not_found, "model '{}' not found (no such file)", name_or_path);
  }
  std::string name = name_or_path;
  if (name.ends_with(":latest")) name.resize(name.size() - 7);
  if (name.find("..") == std::string::npos && !opts_.models_dir.empty()) {
    const fs::path p = fs::path(opts_.models_dir) / (name + ".gguf");
    if (is_file(p)) return describe(p);
  }
  for (const std::string& p : opts_.model_paths)
    if (fs::path(p).stem() == name && is_file(p)) return describe(p);
  // A model loaded by path earlier is also known by its name.
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [path, m] : models_)
      if (m->name_ == name) return describe(m->path_);
  }
  throw_error(ErrorKind::not_found, "model '{}' not found in {} (GET /api/tags lists the models)", name_or_path,
              opts_.models_dir);
}

std::vector<ModelFile> Registry::list() const {
  std::vector<ModelFile> out;
  std::error_code ec;
  if (!opts_.models_dir.empty() && fs::is_directory(opts_.models_dir, ec)) {
    for (const auto& e : fs::directory_iterator(opts_.models_dir, ec))
      if (e.path().extension() == ".gguf" && is_file(e.path())) out.push_back(describe(e.path()));
  }
  auto add = [&](const std::string& path) {
    const ModelFile f = describe(path);
    if (std::none_of(out.begin(), out.end(), [&](const ModelFile& o) { return o.path == f.path; })) out.push_back(f);
  };
  for (const std::string& p : opts_.model_paths)
    if (is_file(p)) add(p);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [path, m] : models_) add(path);
  }
  std::sort(out.begin(), out.end(), [](const ModelFile& a, const ModelFile& b) { return a.name < b.name; });
  return out;
}

LoadParams Registry::effective(LoadParams p) const {
  if (p.n_ctx <= 0) p.n_ctx = opts_.defaults.n_ctx;
  if (p.n_threads <= 0) p.n_threads = opts_.defaults.n_threads;
  if (p.n_parallel <= 0) p.n_parallel = opts_.defaults.n_parallel;
  return p;
}

std::unique_ptr<Lease> Registry::acquire(const std::string& name_or_path, LoadParams params,
                                         std::optional<std::chrono::seconds> keep_alive) {
  const ModelFile f = resolve(name_or_path);
  params = effective(params);
  const auto ka = keep_alive.value_or(opts_.keep_alive);
  auto take = [&](const std::shared_ptr<LoadedModel>& m) {
    ++m->leases_;
    m->keep_alive_ = ka;
    m->last_used_ = SteadyClock::now();
    return std::make_unique<Lease>(this, m);
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(f.path);
    if (it != models_.end() && it->second->file_size_ == f.size && it->second->mtime_ == f.mtime &&
        it->second->params_ == params)
      return take(it->second);
  }
  // Load (one at a time; another request may have loaded it meanwhile).
  std::lock_guard<std::mutex> load_lock(load_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(f.path);
    if (it != models_.end() && it->second->file_size_ == f.size && it->second->mtime_ == f.mtime &&
        it->second->params_ == params)
      return take(it->second);
    // A stale entry (file changed, other parameters) leaves the table; requests still using it
    // keep it alive until they end.
    if (it != models_.end()) models_.erase(it);
  }
  const auto t0 = SteadyClock::now();
  auto m = std::make_shared<LoadedModel>();
  m->name_ = f.name;
  m->path_ = f.path;
  m->file_size_ = f.size;
  m->mtime_ = f.mtime;
  m->params_ = params;
  m->model_ = model::Model::load(f.path);
  const int64_t n_ctx_model = std::min<int64_t>(m->model_->hparams().n_ctx_train > 0 ? m->model_->hparams().n_ctx_train : 4096, 4096);
  m->memory_ = estimate_memory(*m->model_, f.size, params.n_ctx > 0 ? params.n_ctx : n_ctx_model, params.n_parallel);
  // Make room: unload idle models, least recently used first.
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (;;) {
      uint64_t used = 0;
      for (const auto& [p, lm] : models_) used += lm->memory_;
      if (used + m->memory_ <= opts_.memory_budget) break;
      std::shared_ptr<LoadedModel> victim;
      for (const auto& [p, lm] : models_)
        if (lm->leases_ == 0 && (victim == nullptr || lm->last_used_ < victim->last_used_)) victim = lm;
      if (victim == nullptr) {
        if (models_.empty()) break;  // alone it may exceed the estimate's budget: try anyway
        throw_error(ErrorKind::limit,
                    "not enough memory for {} ({} MiB): {} MiB of the {} MiB budget are used by models that are busy",
                    f.name, m->memory_ >> 20, used >> 20, opts_.memory_budget >> 20);
      }
      models_.erase(victim->path_);
    }
  }
  SchedulerOptions so;
  so.n_parallel = params.n_parallel;
  so.n_ctx = params.n_ctx;
  so.n_threads = params.n_threads;
  so.max_queue = opts_.max_queue;
  m->scheduler_ = std::make_unique<Scheduler>(*m->model_, so);
  m->load_s_ = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  std::lock_guard<std::mutex> lock(mu_);
  models_[f.path] = m;
  return take(m);
}

void Registry::release(LoadedModel* m) {
  std::shared_ptr<LoadedModel> drop;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    --m->leases_;
    m->last_used_ = SteadyClock::now();
    if (m->leases_ == 0 && m->keep_alive_.count() == 0) {
      auto it = models_.find(m->path_);
      if (it != models_.end() && it->second.get() == m) {
        drop = it->second;
        models_.erase(it);
      }
    }
  }
}

bool Registry::unload(const std::string& name_or_path) {
  const ModelFile f = resolve(name_or_path);
  std::shared_ptr<LoadedModel> drop;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(f.path);
  if (it == models_.end()) return false;
  if (it->second->leases_ > 0) {
    it->second->keep_alive_ = std::chrono::seconds(0);  // unloads when the last request ends
    return false;
  }
  drop = it->second;
  models_.erase(it);
  return true;
}

void Registry::reap() {
  std::vector<std::shared_ptr<LoadedModel>> drop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = SteadyClock::now();
    for (auto it = models_.begin(); it != models_.end();) {
      const LoadedModel& m = *it->second;
      if (m.leases_ == 0 && m.keep_alive_.count() >= 0 && now >= m.last_used_ + m.keep_alive_) {
        drop.push_back(it->second);
        it = models_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

std::vector<Registry::Loaded> Registry::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Loaded> out;
  for (const auto& [path, m] : models_) {
    out.push_back({m->name_, m->path_, m->memory_, m->scheduler_->n_ctx(), m->scheduler_->n_parallel(), m->leases_,
                   m->expires_at(), m->scheduler_->stats()});
  }
  return out;
}

}  // namespace hearth::engine
