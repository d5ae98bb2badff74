// `hearth run MODEL [PROMPT]`: generate a continuation of PROMPT and stream it to stdout.
// Load time, prompt and generation speed (and the share of the weights on 2 MiB pages) go to
// stderr with --verbose. Until chat templates exist, --system text is put before the prompt,
// separated by a blank line.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <optional>

#include "cli/commands.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "sample/sampler.h"
#include "util/error.h"
#include "util/mmap.h"

namespace hearth::cli {

namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string system;
  int n_predict = 256;
  float temperature = 0.8f;
  float top_p = 0.95f;
  int top_k = 40;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  uint64_t seed = 0;
  bool seed_set = false;
  int64_t n_ctx = 0;
  int threads = 0;
  bool verbose = false;
};

// Writes the bytes of generated tokens, holding back an incomplete UTF-8 sequence at the end
// until the token that completes it arrives, so the terminal never shows a broken character.
class Utf8Stream {
 public:
  void write(const std::string& bytes) {
    pending_ += bytes;
    size_t complete = complete_prefix(pending_);
    if (complete > 0) {
      std::fwrite(pending_.data(), 1, complete, stdout);
      std::fflush(stdout);
      pending_.erase(0, complete);
    }
  }
  void finish() {
    if (!pending_.empty()) std::fwrite(pending_.data(), 1, pending_.size(), stdout);
    pending_.clear();
    std::fflush(stdout);
  }

 private:
  static size_t complete_prefix(const std::string& s) {
    // Walk back over at most 3 trailing bytes to find where an incomplete sequence starts.
    size_t n = s.size();
    for (size_t back = 1; back <= 4 && back <= n; ++back) {
      unsigned char c = static_cast<unsigned char>(s[n - back]);
      if ((c & 0xC0) == 0x80) continue;  // continuation byte
      size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
      return back >= len ? n : n - back;
    }
    return n;
  }
  std::string pending_;
};

int run_run(RunOptions o) {
  if (o.prompt.empty() && !isatty(STDIN_FILENO)) {
    o.prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  if (o.prompt.empty()) throw_error(ErrorKind::invalid_argument, "no prompt: give PROMPT or pipe text on stdin");
  if (o.n_predict < 0) throw_error(ErrorKind::invalid_argument, "-n must be >= 0");

  auto t0 = std::chrono::steady_clock::now();
  auto m = model::Model::load(o.model);
  model::Context ctx(*m, {.n_ctx = o.n_ctx, .n_threads = o.threads});
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.verbose) {
    fmt::print(stderr, "loaded {} ({}, {} layers) in {:.3f} s; context {}, {} threads, kernels {}\n", o.model,
               m->hparams().arch_name, m->hparams().n_layer, load_s, ctx.n_ctx(), ctx.n_threads(),
               kernels::isa_name());
  }

  const std::string text = o.system.empty() ? o.prompt : o.system + "\n\n" + o.prompt;
  const tokenizer::Tokenizer& tok = m->tokenizer();
  std::vector<tokenizer::Token> prompt = tok.encode(text, true, false);
  if (static_cast<int64_t>(prompt.size()) >= ctx.n_ctx()) {
    throw_error(ErrorKind::limit, "the prompt is {} tokens but the context holds {}: use --ctx to enlarge it",
                prompt.size(), ctx.n_ctx());
  }

  sample::SamplerParams sp;
  sp.temperature = o.temperature;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.min_p = o.min_p;
  sp.repeat_penalty = o.repeat_penalty;
  sp.seed = o.seed_set ? o.seed : static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  sample::Sampler sampler(sp);
  for (auto t : prompt) sampler.accept(t);

  Utf8Stream out;
  out.write(text);
  auto t_prompt = std::chrono::steady_clock::now();
  std::span<const float> logits = ctx.eval(prompt);
  auto t_gen = std::chrono::steady_clock::now();
  const double prompt_s = std::chrono::duration<double>(t_gen - t_prompt).count();

  const tokenizer::Token eos = tok.vocab().eos;
  const tokenizer::Token eot = tok.vocab().eot;
  std::string reason = "length";
  int generated = 0;
  while (generated < o.n_predict) {
    tokenizer::Token t = sampler.sample(logits);
    sampler.accept(t);
    if (t == eos || (eot >= 0 && t == eot)) {
      reason = "eos";
      break;
    }
    out.write(tok.token_to_piece(t));
    ++generated;
    if (ctx.n_past() >= ctx.n_ctx()) {
      reason = "context full";
      break;
    }
    if (generated < o.n_predict) logits = ctx.eval({&t, 1});
  }
  out.finish();
  std::fputc('\n', stdout);
  if (o.verbose) {
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_gen).count();
    fmt::print(stderr, "prompt: {} tokens in {:.3f} s ({:.1f} tokens/s)\n", prompt.size(), prompt_s,
               prompt.size() / prompt_s);
    fmt::print(stderr, "generation: {} tokens in {:.3f} s ({:.1f} tokens/s); stopped: {}\n", generated, gen_s,
               generated > 0 ? generated / gen_s : 0.0, reason);
    const auto file = m->file().bytes();
    if (const std::optional<size_t> huge = huge_page_bytes(file.data(), file.size()); huge && !file.empty()) {
      fmt::print(stderr, "weights: {:.0f} % of the file mapped with 2 MiB pages (docs/engine.md, \"Huge pages\")\n",
                 100.0 * double(*huge) / double(file.size()));
    }
  } else if (reason == "context full") {
    fmt::print(stderr, "hearth: stopped: the context ({} tokens) is full; use --ctx to enlarge it\n", ctx.n_ctx());
  }
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt and stream it");
  cmd->add_option("model", o->model, "GGUF model file")->required();
  cmd->add_option("prompt", o->prompt, "Prompt (default: read stdin)");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("--temp,--temperature", o->temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling threshold")->capture_default_str();
  cmd->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0: all)")->capture_default_str();
  cmd->add_option("--min-p", o->min_p, "Drop tokens below min-p × the best probability")->capture_default_str();
  cmd->add_option("--repeat-penalty", o->repeat_penalty, "Penalty for repeated tokens (1: none)")->capture_default_str();
  cmd->add_option_function<uint64_t>("--seed", [o](uint64_t s) { o->seed = s; o->seed_set = true; },
                                     "Random seed (same seed, same output)");
  cmd->add_option("--ctx", o->n_ctx, "Context size in tokens (default: min(model, 4096))");
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  cmd->add_option("--system", o->system, "System text put before the prompt");
  cmd->add_flag("-v,--verbose", o->verbose, "Print load time and tokens/s to stderr");
  cmd->callback([&action, o] { action = [o] { return run_run(*o); }; });
}

}  // namespace hearth::cli
