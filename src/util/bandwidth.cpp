#include "util/bandwidth.h"

#include <chrono>
#include <vector>

#include "util/mmap.h"

namespace hearth {

namespace {

// Thread ith's share [lo, hi) of n elements.
void slice(size_t n, int ith, int nth, size_t& lo, size_t& hi) {
  lo = n * static_cast<size_t>(ith) / static_cast<size_t>(nth);
  hi = n * static_cast<size_t>(ith + 1) / static_cast<size_t>(nth);
}

// Float arrays on 2 MiB pages where the kernel gives them: model weights map that way too
// (util/mmap.h), and with 4 KiB pages the page walks alone cost this VM 15-25 % of its read
// bandwidth, which would understate the memory's speed and so overstate generation efficiency.
struct FloatArray {
  HugePageBuffer buf;
  explicit FloatArray(size_t n) : buf(n * sizeof(float)) {}
  float* get() const { return reinterpret_cast<float*>(buf.data()); }
  float& operator[](size_t i) const { return get()[i]; }
};

// Runs `pass` (one parallel sweep) reps times and turns the times into GB/s.
template <typename Pass>
BandwidthResult time_passes(size_t bytes_per_pass, int reps, Pass pass) {
  BandwidthResult r;
  r.bytes_per_pass = bytes_per_pass;
  double sum = 0;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    pass();
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gbps = static_cast<double>(bytes_per_pass) / sec / 1e9;
    sum += gbps;
    if (gbps > r.best_gbps) r.best_gbps = gbps;
  }
  r.mean_gbps = sum / reps;
  return r;
}

}  // namespace

BandwidthResult measure_triad_bandwidth(ThreadPool& pool, size_t total_bytes, int reps) {
  const size_t n = total_bytes / (3 * sizeof(float));
  FloatArray a(n), b(n), c(n);
  pool.run([&](int ith, int nth) {
    size_t lo, hi;
    slice(n, ith, nth, lo, hi);
    for (size_t i = lo; i < hi; ++i) {
      a[i] = 0.0f;
      b[i] = 1.0f;
      c[i] = 2.0f;
    }
  });
  const float s = 3.0f;
  BandwidthResult r = time_passes(3 * n * sizeof(float), reps, [&] {
    pool.run([&](int ith, int nth) {
      size_t lo, hi;
      slice(n, ith, nth, lo, hi);
      float* __restrict pa = a.get();
      const float* __restrict pb = b.get();
      const float* __restrict pc = c.get();
      for (size_t i = lo; i < hi; ++i) pa[i] = pb[i] + s * pc[i];
    });
  });
  // Keep the result observable so the loops are not optimized away.
  volatile float sink = a[n / 2];
  (void)sink;
  return r;
}

BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t total_bytes, int reps) {
  const size_t n = total_bytes / sizeof(float);
  FloatArray a(n);
  pool.run([&](int ith, int nth) {
    size_t lo, hi;
    slice(n, ith, nth, lo, hi);
    for (size_t i = lo; i < hi; ++i) a[i] = 1.0f;
  });
  std::vector<float> sums(static_cast<size_t>(pool.size()));
  BandwidthResult r = time_passes(n * sizeof(float), reps, [&] {
    pool.run([&](int ith, int nth) {
      size_t lo, hi;
      slice(n, ith, nth, lo, hi);
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
  });
  volatile float sink = sums[0];
  (void)sink;
  return r;
}

}  // namespace hearth
