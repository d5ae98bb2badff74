// `hearth bench MODEL [-p 512] [-n 128] [-r 5] [-t N] [--json]`: prompt-processing and
// generation speed (tokens/s, mean ± stddev over r repetitions, like llama-bench), the memory
// bandwidth of this machine (STREAM triad, and streaming reads alone), and how close generation
// comes to it:
//   efficiency = bytes of weights read per token × tokens/s ÷ bandwidth.
// It is given twice: against the best bandwidth measured at the end (the conservative figure),
// and per repetition against the bandwidth measured right after that repetition. The second
// is the one to read on machines whose memory speed drifts (VMs: the development VM's triad
// moves between about 35 and 60 GB/s from one minute to the next), since a ratio is only
// meaningful between two figures measured at the same time.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "gguf/summary.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "util/bandwidth.h"
#include "util/error.h"
#include "util/mmap.h"

namespace hearth::cli {

namespace {

struct BenchOptions {
  std::string model;
  int n_prompt = 512;
  int n_gen = 128;
  int reps = 5;
  int threads = 0;
  bool json = false;
};

struct Stats {
  double mean = 0, stddev = 0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The cores' own pace at generation: GB/s of weights that one-token products get through when
// the weights are already in cache, so nothing waits on memory. Generation cannot beat it
// however fast the memory is, and on few cores with fast memory it, not the bandwidth, is the
// ceiling (docs/engine.md, "Reading hearth bench"). Each kind of matrix (type and width) is
// timed on its first rows, about kSliceBytes per thread, which most cores' L2 holds; the
// model's matrices are then counted at their kind's pace. (Zen 4, 1 MiB of L2: slices of
// 768 KiB gave 1 % more, 256 KiB 10 % less, the per-call costs — which generation pays too —
// weighing more; 1 MiB, spilling from L2, 15 % less.)
double measure_kernel_speed(const model::Model& m, ThreadPool& pool) {
  constexpr size_t kSliceBytes = size_t(512) << 10;
  constexpr int kWindows = 5;
  constexpr double kWindowSeconds = 0.01;
  const model::Weights& w = m.weights();
  std::vector<const kernels::Weight*> all;
  for (const model::LayerWeights& l : w.layers)
    for (const kernels::Weight* x : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) all.push_back(x);
  all.push_back(&w.output);
  struct Kind {
    gguf::TensorType type;
    int64_t cols;
    double gbps;
  };
  std::vector<Kind> kinds;
  std::vector<float> x, y;
  double bytes = 0, seconds = 0;
  for (const kernels::Weight* mat : all) {
    const double row_bytes = double(gguf::row_bytes(mat->type, uint64_t(mat->cols)));
    auto kind = std::find_if(kinds.begin(), kinds.end(),
                             [&](const Kind& k) { return k.type == mat->type && k.cols == mat->cols; });
    if (kind == kinds.end()) {
      kernels::Weight slice = *mat;
      slice.rows = std::clamp<int64_t>(int64_t(kSliceBytes * size_t(pool.size()) / row_bytes), 2, mat->rows);
      x.assign(size_t(slice.cols), 0.0f);
      for (size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.1 * double(i)));
      y.resize(size_t(slice.rows));
      kernels::matmul(slice, x.data(), 1, y.data(), pool);  // into cache
      // The best of a few short windows: a ceiling, and this VM's cores have hiccups.
      double best = 0;
      for (int window = 0; window < kWindows; ++window) {
        int64_t runs = 0;
        const auto t0 = std::chrono::steady_clock::now();
        double sec = 0;
        do {
          kernels::matmul(slice, x.data(), 1, y.data(), pool);
          ++runs;
          sec = seconds_since(t0);
        } while (sec < kWindowSeconds);
        best = std::max(best, double(runs) * double(slice.rows) * row_bytes / sec / 1e9);
      }
      kinds.push_back({mat->type, mat->cols, best});
      kind = kinds.end() - 1;
    }
    const double b = row_bytes * double(mat->rows);
    bytes += b;
    seconds += b / (kind->gbps * 1e9);
  }
  return seconds > 0 ? bytes / seconds / 1e9 : 0.0;
}

int run_bench(const BenchOptions& o) {
  if (o.n_prompt < 0 || o.n_gen < 0 || o.reps < 1) {
    throw_error(ErrorKind::invalid_argument, "bench: -p and -n must be >= 0 and -r >= 1");
  }
  auto t_load = std::chrono::steady_clock::now();
  auto m = model::Model::load(o.model);
  const double load_s = seconds_since(t_load);
  const auto& hp = m->hparams();
  const int64_t n_ctx = std::max<int64_t>(o.n_prompt + o.n_gen + 1, 16);
  model::Context ctx(*m, {.n_ctx = n_ctx, .n_threads = o.threads});
  fmt::print(stderr, "bench: {} ({} {}), {} threads, kernels {}\n", o.model, hp.arch_name,
             gguf::human_bytes(m->file().file_size()), ctx.n_threads(), kernels::isa_name());

  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> pick(0, static_cast<int>(hp.n_vocab - 1));
  std::vector<tokenizer::Token> prompt(static_cast<size_t>(o.n_prompt));
  for (auto& t : prompt) t = pick(rng);

  // One untimed warm-up pass touches every weight page.
  {
    tokenizer::Token t = pick(rng);
    ctx.eval({&t, 1});
    ctx.truncate(0);
  }
  // Bandwidth right after each generation repetition: 512 MiB (16x a large L3), best of 3.
  constexpr size_t kPairedBytes = size_t(1) << 29;
  ThreadPool pool(ctx.n_threads());
  std::vector<double> pp, tg, paired_triad, paired_reads;
  for (int r = 0; r < o.reps; ++r) {
    fmt::print(stderr, "\rbench: repetition {}/{}", r + 1, o.reps);
    if (o.n_prompt > 0) {
      ctx.truncate(0);
      auto t0 = std::chrono::steady_clock::now();
      ctx.eval(prompt);
      pp.push_back(o.n_prompt / seconds_since(t0));
    }
    if (o.n_gen > 0) {
      ctx.truncate(0);
      tokenizer::Token t = pick(rng);
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < o.n_gen; ++i) {
        ctx.eval({&t, 1});
        t = pick(rng);
      }
      tg.push_back(o.n_gen / seconds_since(t0));
      paired_triad.push_back(measure_triad_bandwidth(pool, kPairedBytes, 3).best_gbps);
      paired_reads.push_back(measure_read_bandwidth(pool, kPairedBytes, 3).best_gbps);
    }
  }
  fmt::print(stderr, "\rbench: measuring memory bandwidth (triad and reads over 1.5 GiB)...\n");
  BandwidthResult bw = measure_triad_bandwidth(pool);
  BandwidthResult rd = measure_read_bandwidth(pool);
  const double kernel_gbps = o.n_gen > 0 ? measure_kernel_speed(*m, pool) : 0.0;
  const Stats pps = stats(pp), tgs = stats(tg);
  const double bytes_per_token = static_cast<double>(m->weights().matrix_bytes);
  const double efficiency = tg.empty() ? 0 : bytes_per_token * tgs.mean / (bw.best_gbps * 1e9);
  const double read_efficiency = tg.empty() ? 0 : bytes_per_token * tgs.mean / (rd.best_gbps * 1e9);
  const double kernel_efficiency = tg.empty() || kernel_gbps <= 0 ? 0 : bytes_per_token * tgs.mean / (kernel_gbps * 1e9);
  std::vector<double> paired_eff, paired_eff_reads;
  for (size_t i = 0; i < tg.size(); ++i) {
    paired_eff.push_back(bytes_per_token * tg[i] / (paired_triad[i] * 1e9));
    paired_eff_reads.push_back(bytes_per_token * tg[i] / (paired_reads[i] * 1e9));
  }
  const Stats pe = stats(paired_eff), per = stats(paired_eff_reads);
  // The share of the file mapped with 2 MiB pages (util/mmap.h): with 4 KiB pages every 4 KiB
  // of weights read per token costs a page-table walk, which shows in generation speed.
  const auto file_bytes = m->file().bytes();
  const std::optional<size_t> huge = huge_page_bytes(file_bytes.data(), file_bytes.size());
  const double huge_fraction = huge && !file_bytes.empty() ? double(*huge) / double(file_bytes.size()) : 0.0;

  if (o.json) {
    nlohmann::json j = {
        {"model", o.model}, {"architecture", hp.arch_name}, {"file_size", m->file().file_size()},
        {"threads", ctx.n_threads()}, {"kernels", kernels::isa_name()}, {"load_seconds", load_s},
        {"n_prompt", o.n_prompt}, {"n_gen", o.n_gen}, {"repetitions", o.reps},
        {"pp_tokens_per_s", {{"mean", pps.mean}, {"stddev", pps.stddev}, {"samples", pp}}},
        {"tg_tokens_per_s", {{"mean", tgs.mean}, {"stddev", tgs.stddev}, {"samples", tg}}},
        {"bandwidth_gb_per_s", bw.best_gbps}, {"weight_bytes_per_token", bytes_per_token},
        {"generation_efficiency", efficiency}, {"read_bandwidth_gb_per_s", rd.best_gbps},
        {"generation_efficiency_reads", read_efficiency},
        {"kernel_gb_per_s", kernel_gbps}, {"generation_efficiency_kernels", kernel_efficiency},
        {"huge_page_fraction", huge ? nlohmann::json(huge_fraction) : nlohmann::json()},
        {"paired",
         {{"triad_gb_per_s", paired_triad},
          {"read_gb_per_s", paired_reads},
          {"generation_efficiency", {{"mean", pe.mean}, {"stddev", pe.stddev}, {"samples", paired_eff}}},
          {"generation_efficiency_reads", {{"mean", per.mean}, {"stddev", per.stddev}, {"samples", paired_eff_reads}}}}}};
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("| model | size | threads | kernels | test | t/s |\n|---|---|---|---|---|---|\n");
  if (!pp.empty())
    fmt::print("| {} | {} | {} | {} | pp{} | {:.2f} ± {:.2f} |\n", hp.arch_name, gguf::human_bytes(m->file().file_size()),
               ctx.n_threads(), kernels::isa_name(), o.n_prompt, pps.mean, pps.stddev);
  if (!tg.empty())
    fmt::print("| {} | {} | {} | {} | tg{} | {:.2f} ± {:.2f} |\n", hp.arch_name, gguf::human_bytes(m->file().file_size()),
               ctx.n_threads(), kernels::isa_name(), o.n_gen, tgs.mean, tgs.stddev);
  fmt::print("\nload time            {:.3f} s\n", load_s);
  fmt::print("memory bandwidth     {:.2f} GB/s (triad, best of 5)\n", bw.best_gbps);
  fmt::print("read bandwidth       {:.2f} GB/s (streaming reads only, best of 5)\n", rd.best_gbps);
  fmt::print("weights per token    {}\n", gguf::human_bytes(static_cast<uint64_t>(bytes_per_token)));
  if (huge) {
    fmt::print("huge pages           {:.0f} % of the file mapped with 2 MiB pages{}\n", 100 * huge_fraction,
               huge_fraction < 0.5 ? " (the kernel caches it in small pages; see docs/engine.md, \"Huge pages\")" : "");
  }
  if (!tg.empty()) {
    fmt::print("kernel speed         {:.2f} GB/s of weights (one-token products on cached weights: the cores' ceiling)\n",
               kernel_gbps);
    fmt::print("generation efficiency {:.2f} (weight bytes/token × tokens/s ÷ bandwidth); {:.2f} of the read bandwidth; "
               "{:.2f} of the kernel speed\n",
               efficiency, read_efficiency, kernel_efficiency);
    fmt::print("  per repetition, against the bandwidth measured right after it: {:.2f} ± {:.2f} of the triad "
               "({:.1f}–{:.1f} GB/s), {:.2f} ± {:.2f} of reads\n",
               pe.mean, pe.stddev, *std::min_element(paired_triad.begin(), paired_triad.end()),
               *std::max_element(paired_triad.begin(), paired_triad.end()), per.mean, per.stddev);
    if (kernel_gbps > 0 && kernel_gbps < rd.best_gbps)
      fmt::print("  the kernels alone are slower than this machine's streaming reads: the cores, not the memory, "
                 "bound generation here\n");
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt and generation speed against memory bandwidth");
  cmd->add_option("model", o->model, "GGUF model file")->required();
  cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens per repetition")->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen, "Generated tokens per repetition")->capture_default_str();
  cmd->add_option("-r,--repetitions", o->reps, "Repetitions")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([&action, o] { action = [o] { return run_bench(*o); }; });
}

}  // namespace hearth::cli
