// A fixed pool of worker threads for one model's compute. The calling thread takes part, so a
// pool of n threads starts n-1 workers. Work is handed out without allocation, so the decode
// loop can call run() every layer.
#pragma once

#include <functional>

namespace hearth {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1, including the caller
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  // Calls fn(ith, nth) once on each of the nth threads (ith = 0 is the caller) and returns when
  // all have finished. fn must not throw.
  void run(const std::function<void(int ith, int nth)>& fn);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace hearth
