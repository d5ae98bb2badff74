// util::ThreadPool: every thread index runs exactly once per run(), runs do not overlap, and
// a pool can be created, used hard and destroyed repeatedly.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "util/error.h"
#include "util/thread_pool.h"

namespace hearth {
namespace {

TEST(ThreadPool, EachIndexOncePerRun) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    EXPECT_EQ(pool.size(), n);
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (int run = 0; run < 2000; ++run) {
      pool.run([&](int ith, int nth) {
        EXPECT_EQ(nth, n);
        hits[size_t(ith)].fetch_add(1);
      });
    }
    for (auto& h : hits) EXPECT_EQ(h.load(), 2000);
  }
}

TEST(ThreadPool, RunWaitsForAllWork) {
  ThreadPool pool(3);
  std::vector<int> slots(3 * 1000, 0);
  for (int run = 1; run <= 200; ++run) {
    pool.run([&](int ith, int nth) {
      for (size_t i = size_t(ith); i < slots.size(); i += size_t(nth)) slots[i] = run;
    });
    // Everything written by the workers is visible once run() returns.
    for (int v : slots) ASSERT_EQ(v, run);
  }
}

TEST(ThreadPool, CreateAndDestroyRepeatedly) {
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(2);
    std::atomic<int> sum{0};
    pool.run([&](int ith, int) { sum += ith + 1; });
    EXPECT_EQ(sum.load(), 3);
  }
}

TEST(ThreadPool, RejectsZeroThreads) {
  EXPECT_THROW(ThreadPool(0), Error);
}

}  // namespace
}  // namespace hearth
