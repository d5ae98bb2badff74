// The bandwidth probes `hearth bench` divides by: both measure what they say over buffers
// larger than the caches, and give plausible figures (a machine reads at more than
// 0.1 GB/s and less than 10 TB/s).
#include <gtest/gtest.h>

#include <cmath>

#include "util/bandwidth.h"
#include "util/thread_pool.h"

namespace hearth {
namespace {

TEST(Bandwidth, TriadAndReadsArePlausible) {
  ThreadPool pool(2);
  const size_t bytes = size_t(96) << 20;
  for (const BandwidthResult& r : {measure_triad_bandwidth(pool, bytes, 3), measure_read_bandwidth(pool, bytes, 3)}) {
    EXPECT_GT(r.bytes_per_pass, bytes - 64);
    EXPECT_LE(r.bytes_per_pass, bytes);
    EXPECT_TRUE(std::isfinite(r.best_gbps));
    EXPECT_GT(r.best_gbps, 0.1);
    EXPECT_LT(r.best_gbps, 10000.0);
    EXPECT_GE(r.best_gbps, r.mean_gbps);
  }
}

}  // namespace
}  // namespace hearth
