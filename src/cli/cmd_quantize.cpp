// `hearth quantize IN OUT TYPE [-t N]`: convert a model's weight matrices from F32/F16/BF16 to
// TYPE, with a progress line per tensor and a summary of sizes (model/quantize.h).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "cli/commands.h"
#include "gguf/summary.h"
#include "model/quantize.h"
#include "util/error.h"

namespace hearth::cli {

namespace {

struct QuantizeOptions {
  std::string in, out, type;
  int threads = 0;
};

int run_quantize(const QuantizeOptions& o) {
  const auto target = gguf::tensor_type_from_name(o.type);
  if (!target || !model::is_quantize_target(*target)) {
    throw_error(ErrorKind::invalid_argument,
                "quantize: unknown target type '{}'; choose one of F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K",
                o.type);
  }
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool tty = isatty(STDERR_FILENO) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, std::vector<std::string>>> notes;  // note → tensor names
  auto progress = [&](size_t i, size_t n, const model::QuantizeReport::Tensor& t) {
    if (!t.note.empty()) {
      auto it = std::find_if(notes.begin(), notes.end(), [&](const auto& p) { return p.first == t.note; });
      if (it == notes.end()) it = notes.insert(notes.end(), {t.note, {}});
      it->second.push_back(t.name);
    }
    const std::string line = fmt::format("quantize: [{}/{}] {} {} -> {}", i + 1, n, t.name,
                                         gguf::tensor_type_name(t.from), gguf::tensor_type_name(t.to));
    if (tty) {
      fmt::print(stderr, "\r\033[K{}", line);
      if (i + 1 == n) fmt::print(stderr, "\n");
    } else {
      fmt::print(stderr, "{}\n", line);
    }
  };
  const model::QuantizeReport r = model::quantize_file(o.in, o.out, *target, threads, progress);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& [note, names] : notes) {
    fmt::print(stderr, "note: {}: {}{}\n", names.front(), note,
               names.size() > 1 ? fmt::format(" (and {} more tensors like it)", names.size() - 1) : "");
  }
  fmt::print("{}: {} tensors, {} -> {} ({:.2f}x smaller) in {:.1f} s\n", o.out, r.tensors.size(),
             gguf::human_bytes(r.bytes_in), gguf::human_bytes(r.bytes_out),
             r.bytes_out > 0 ? double(r.bytes_in) / double(r.bytes_out) : 0.0, secs);
  return 0;
}

}  // namespace

void add_quantize_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "Convert a model's weights to a quantized type (e.g. Q4_K)");
  cmd->add_option("input", o->in, "GGUF model with F32, F16 or BF16 weights")->required();
  cmd->add_option("output", o->out, "GGUF file to write")->required();
  cmd->add_option("type", o->type, "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K")->required();
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  cmd->callback([&action, o] { action = [o] { return run_quantize(*o); }; });
}

}  // namespace hearth::cli
