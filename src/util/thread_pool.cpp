// Workers wait on a generation counter: run() publishes the job, bumps the counter and wakes
// them; each worker runs its share and counts down `pending`. Waiting is a short spin (a
// decode step calls run() a few hundred times per token, and a futex sleep/wake round trip
// per call would cost more than many of the matmuls) followed by a futex wait through
// std::atomic::wait, so idle pools do not burn CPU.
#include "util/thread_pool.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "util/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace hearth {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// Spin until pred() or the spin budget (~50 µs) is used up. Returns pred().
template <typename Pred>
bool spin_until(Pred pred) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::microseconds(50);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (clock::now() >= deadline) return pred();
  }
}

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;
  const std::function<void(int, int)>* job = nullptr;
  std::atomic<uint32_t> generation{0};
  std::atomic<int> pending{0};
  std::atomic<bool> stop{false};

  void worker_main(int ith) {
    uint32_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return generation.load(std::memory_order_acquire) != seen; })) {
        generation.wait(seen, std::memory_order_acquire);
      }
      seen = generation.load(std::memory_order_acquire);
      if (stop.load(std::memory_order_acquire)) return;
      (*job)(ith, n_threads);
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) pending.notify_one();
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  if (n_threads < 1) {
    delete impl_;
    throw_error(ErrorKind::invalid_argument, "thread pool: need at least 1 thread, got {}", n_threads);
  }
  impl_->n_threads = n_threads;
  impl_->workers.reserve(n_threads - 1);
  for (int i = 1; i < n_threads; ++i) impl_->workers.emplace_back([this, i] { impl_->worker_main(i); });
}

ThreadPool::~ThreadPool() {
  impl_->stop.store(true, std::memory_order_release);
  impl_->generation.fetch_add(1, std::memory_order_acq_rel);
  impl_->generation.notify_all();
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

int ThreadPool::size() const { return impl_->n_threads; }

void ThreadPool::run(const std::function<void(int ith, int nth)>& fn) {
  Impl& p = *impl_;
  if (p.n_threads == 1) {
    fn(0, 1);
    return;
  }
  p.job = &fn;
  p.pending.store(p.n_threads - 1, std::memory_order_relaxed);
  p.generation.fetch_add(1, std::memory_order_acq_rel);
  p.generation.notify_all();
  fn(0, p.n_threads);
  if (!spin_until([&] { return p.pending.load(std::memory_order_acquire) == 0; })) {
    for (int left = p.pending.load(std::memory_order_acquire); left != 0;
         left = p.pending.load(std::memory_order_acquire)) {
      p.pending.wait(left, std::memory_order_acquire);
    }
  }
}

}  // namespace hearth
