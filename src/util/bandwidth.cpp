#include "util/bandwidth.h"

#include <chrono>
#include <memory>
#include <vector>

namespace hearth {

BandwidthResult measure_triad_bandwidth(ThreadPool& pool, size_t total_bytes, int reps) {
  const size_t n = total_bytes / (3 * sizeof(float));
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
  auto slice = [n](int ith, int nth, size_t& lo, size_t& hi) {
    lo = n * static_cast<size_t>(ith) / static_cast<size_t>(nth);
    hi = n * static_cast<size_t>(ith + 1) / static_cast<size_t>(nth);
  };
  pool.run([&](int ith, int nth) {
    size_t lo, hi;
    slice(ith, nth, lo, hi);
    for (size_t i = lo; i < hi; ++i) {
      a[i] = 0.0f;
      b[i] = 1.0f;
      c[i] = 2.0f;
    }
  });
  BandwidthResult r;
  r.bytes_per_pass = 3 * n * sizeof(float);
  double sum = 0;
  const float s = 3.0f;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int ith, int nth) {
      size_t lo, hi;
      slice(ith, nth, lo, hi);
      float* __restrict pa = a.get();
      const float* __restrict pb = b.get();
      const float* __restrict pc = c.get();
      for (size_t i = lo; i < hi; ++i) pa[i] = pb[i] + s * pc[i];
    });
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gbps = static_cast<double>(r.bytes_per_pass) / sec / 1e9;
    sum += gbps;
    if (gbps > r.best_gbps) r.best_gbps = gbps;
  }
  r.mean_gbps = sum / reps;
  // Keep the result observable so the loops are not optimized away.
  volatile float sink = a[n / 2];
  (void)sink;
  return r;
}

BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t total_bytes, int reps) {
  const size_t n = total_bytes / sizeof(float);
  std::unique_ptr<float[]> a(new float[n]);
  auto slice = [n](int ith, int nth, size_t& lo, size_t& hi) {
    lo = n * static_cast<size_t>(ith) / static_cast<size_t>(nth);
    hi = n * static_cast<size_t>(ith + 1) / static_cast<size_t>(nth);
  };
  pool.run([&](int ith, int nth) {
    size_t lo, hi;
    slice(ith, nth, lo, hi);
    for (size_t i = lo; i < hi; ++i) a[i] = 1.0f;
  });
  BandwidthResult r;
  r.bytes_per_pass = n * sizeof(float);
  std::vector<float> sums(static_cast<size_t>(pool.size()));
  double sum = 0;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int ith, int nth) {
      size_t lo, hi;
      slice(ith, nth, lo, hi);
      const float* __restrict pa = a.get();
      // Eight independent sums, so the loop is bound by loads rather than by add latency.
      float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      size_t i = lo;
      for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; ++k) s[k] += pa[i + static_cast<size_t>(k)];
      for (; i < hi; ++i) s[0] += pa[i];
      float t = 0;
      for (float v : s) t += v;
      sums[static_cast<size_t>(ith)] = t;
    });
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gbps = static_cast<double>(r.bytes_per_pass) / sec / 1e9;
    sum += gbps;
    if (gbps > r.best_gbps) r.best_gbps = gbps;
  }
  r.mean_gbps = sum / reps;
  volatile float sink = sums[0];
  (void)sink;
  return r;
}

}  // namespace hearth
