// Kernel throughput per weight type and instruction set, as GB/s of weight bytes.
//
//   build/release/bench/bench_kernels_dot [--benchmark_filter=Q4_0]
//
//   vec_dot/<type>/<isa>           one 4096-value row against one activation row, in cache:
//                                  the raw speed of the dot kernel
//   vec_dot4/<type>/<isa>          the same row against four activation rows at once (weight
//                                  bytes counted once: 4x vec_dot's speed would be free batching)
//   matvec/<type>/<isa>/threads:N  a 4096 x 4096 matrix times one token (token generation),
//                                  rotating over copies totalling > 128 MB so every call reads
//                                  its weights from DRAM: compare with the triad bandwidth
//                                  printed first
//   matmul/<type>/<isa>/tokens:N   4096 x 4096 times N tokens: 4 (batched decode of four
//                                  streams, weights from DRAM as in matvec) and 128 (prompt
//                                  processing); also reports tokens/s
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "util/bandwidth.h"
#include "util/thread_pool.h"

namespace {

using hearth::ThreadPool;
using hearth::gguf::TensorType;
namespace k = hearth::kernels;

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                             TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                             TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A weight matrix in `type`, quantized from random floats (quantizing is slow, so one
// matrix is made and copied).
std::vector<uint8_t> make_weight(TensorType type, int64_t rows, int64_t cols) {
  const auto f = random_floats(size_t(cols), 1);
  const size_t rb = hearth::gguf::row_bytes(type, uint64_t(cols));
  std::vector<uint8_t> row(rb), out(rb * size_t(rows));
  k::quantize_row(type, f.data(), row.data(), cols);
  for (int64_t r = 0; r < rows; ++r) std::copy(row.begin(), row.end(), out.begin() + r * rb);
  return out;
}

int n_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

ThreadPool& pool_of(int n) {
  static std::unique_ptr<ThreadPool> pools[256];
  if (!pools[n]) pools[n] = std::make_unique<ThreadPool>(n);
  return *pools[n];
}

void bm_vec_dot(benchmark::State& state, TensorType type, k::Isa isa) {
  const int64_t n = 4096;
  const k::KernelTable& t = k::table_for(isa);
  const auto w = make_weight(type, 1, n);
  const auto x = random_floats(size_t(n), 2);
  const k::Act at = t.act[int(type)];
  std::vector<uint8_t> a(k::act_row_bytes(at, n));
  if (at == k::Act::F32) {
    std::memcpy(a.data(), x.data(), a.size());
  } else {
    k::quantizer(t, at)(x.data(), a.data(), n);
  }
  for (auto _ : state) {
    float r = t.vec_dot[int(type)](n, w.data(), a.data());
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(w.size()));
}

// Four activation rows against one weight row (the batched-decode and prompt kernel), in cache;
// bytes counted once per weight row, so compare with vec_dot: 4× the tokens per weight byte.
void bm_vec_dot4(benchmark::State& state, TensorType type, k::Isa isa) {
  const int64_t n = 4096;
  const k::KernelTable& t = k::table_for(isa);
  if (t.vec_dot4[int(type)] == nullptr) {
    state.SkipWithError("no vec_dot4 kernel for this type");
    return;
  }
  const auto w = make_weight(type, 1, n);
  const auto x = random_floats(size_t(4 * n), 2);
  const k::Act at = t.act[int(type)];
  const size_t stride = k::act_row_bytes(at, n);
  std::vector<uint8_t> a(4 * stride);
  for (int tok = 0; tok < 4; ++tok) {
    if (at == k::Act::F32) {
      std::memcpy(a.data() + tok * stride, x.data() + tok * n, stride);
    } else {
      k::quantizer(t, at)(x.data() + tok * n, a.data() + tok * stride, n);
    }
  }
  float out[4];
  for (auto _ : state) {
    t.vec_dot4[int(type)](n, w.data(), a.data(), stride, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(w.size()));
}

void bm_matmul(benchmark::State& state, TensorType type, k::Isa isa, int64_t n_tokens, int threads) {
  const int64_t rows = 4096, cols = 4096;
  const k::KernelTable& t = k::table_for(isa);
  const auto one = make_weight(type, rows, cols);
  // Enough copies that the set does not fit in any cache (for the one-token case).
  const size_t copies = n_tokens <= 4 ? std::max<size_t>(2, (size_t(128) << 20) / one.size() + 1) : 1;
  std::vector<std::vector<uint8_t>> ws(copies, one);
  const auto x = random_floats(size_t(cols * n_tokens), 3);
  std::vector<float> y(size_t(rows * n_tokens));
  ThreadPool& pool = pool_of(threads);
  size_t i = 0;
  for (auto _ : state) {
    const k::Weight w{type, ws[i].data(), rows, cols};
    k::matmul_with(t, w, x.data(), n_tokens, y.data(), pool);
    benchmark::ClobberMemory();
    i = (i + 1) % copies;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(one.size()));
  if (n_tokens > 1) {
    state.counters["tokens/s"] = benchmark::Counter(double(state.iterations() * n_tokens), benchmark::Counter::kIsRate);
    state.counters["GFLOP"] = benchmark::Counter(2e-9 * double(rows * cols * n_tokens) * double(state.iterations()),
                                                   benchmark::Counter::kIsRate);
  }
}

const int registered = [] {
  for (k::Isa isa : k::available_isas()) {
    const std::string in = k::isa_name(isa);
    for (TensorType type : kTypes) {
      const std::string tn(hearth::gguf::tensor_type_name(type));
      benchmark::RegisterBenchmark(("vec_dot/" + tn + "/" + in).c_str(), bm_vec_dot, type, isa);
      if (k::table_for(isa).vec_dot4[int(type)] != nullptr)
        benchmark::RegisterBenchmark(("vec_dot4/" + tn + "/" + in).c_str(), bm_vec_dot4, type, isa);
    }
  }
  for (k::Isa isa : k::available_isas()) {
    const std::string in = k::isa_name(isa);
    for (TensorType type : kTypes) {
      const std::string tn(hearth::gguf::tensor_type_name(type));
      for (int th : {1, n_threads()}) {
        if (th == 1 && n_threads() == 1) continue;
        benchmark::RegisterBenchmark(("matvec/" + tn + "/" + in + "/threads:" + std::to_string(th)).c_str(), bm_matmul,
                                     type, isa, int64_t(1), th)
            ->UseRealTime();
      }
    }
  }
  for (k::Isa isa : k::available_isas()) {
    const std::string in = k::isa_name(isa);
    for (TensorType type : kTypes) {
      const std::string tn(hearth::gguf::tensor_type_name(type));
      for (int64_t tokens : {4, 128})
        benchmark::RegisterBenchmark(("matmul/" + tn + "/" + in + "/tokens:" + std::to_string(tokens)).c_str(), bm_matmul,
                                     type, isa, tokens, n_threads())
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}();

// Prints the machine's memory bandwidth (the ceiling for matvec) before the benchmarks run.
const int bandwidth_note = [] {
  const char* skip = std::getenv("HEARTH_BENCH_NO_TRIAD");
  if (skip != nullptr && *skip != '\0') return 0;
  hearth::ThreadPool& pool = pool_of(n_threads());
  const auto bw = hearth::measure_triad_bandwidth(pool, size_t(3) << 28, 3);
  std::fprintf(stderr, "memory bandwidth (triad, %d threads): %.1f GB/s; kernels: best %s\n", n_threads(),
               bw.best_gbps, k::isa_name(k::best_table().isa));
  return 0;
}();

}  // namespace
