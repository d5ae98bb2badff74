// Memory bandwidth as the STREAM "triad" measures it (a[i] = b[i] + s * c[i]) over arrays much
// larger than any cache. Token generation reads every weight once per token, so this figure is
// the ceiling that `hearth bench` compares generation speed against. The arrays ask for 2 MiB
// pages, as model mappings do (util/mmap.h), so both sides of that comparison read alike.
#pragma once

#include <cstddef>

#include "util/thread_pool.h"

namespace hearth {

struct BandwidthResult {
  double best_gbps = 0;   // best of the repetitions, GB/s (10^9 bytes)
  double mean_gbps = 0;
  size_t bytes_per_pass = 0;
};

// Runs the triad `reps` times over three float arrays totalling `total_bytes`, split across the
// pool's threads (each thread touches its own slice first, so pages are local to it).
BandwidthResult measure_triad_bandwidth(ThreadPool& pool, size_t total_bytes = size_t(3) << 29, int reps = 5);

// Streaming reads only (a sum over one array of `total_bytes`), the access pattern of token
// generation. On some machines (VMs especially) this is well below the triad figure, and it is
// the closer ceiling for generation; `hearth bench` prints both.
BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t total_bytes = size_t(3) << 29, int reps = 5);

}  // namespace hearth
