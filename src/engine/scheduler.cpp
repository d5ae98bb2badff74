#include "engine/scheduler.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "sample/stop.h"

namespace hearth::engine {

using tokenizer::Token;
using Clock = std::chrono::steady_clock;

// ---- Generation --------------------------------------------------------------------------

void Generation::push(Event ev) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

bool Generation::next(Event& ev) {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_) return false;
  cv_.wait(lock, [&] { return !events_.empty(); });
  ev = std::move(events_.front());
  events_.pop_front();
  if (ev.done) finished_ = true;
  return true;
}

bool Generation::next_for(Event& ev, std::chrono::milliseconds timeout, bool* timed_out) {
  std::unique_lock<std::mutex> lock(mu_);
  *timed_out = false;
  if (finished_) return false;
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) {
    *timed_out = true;
    return false;
  }
  ev = std::move(events_.front());
  events_.pop_front();
  if (ev.done) finished_ = true;
  return true;
}

// ---- Slots -------------------------------------------------------------------------------

namespace {

// Length of the longest prefix of s that does not end inside a UTF-8 character.
size_t complete_utf8_prefix(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    return back >= len ? n : n - back;
  }
  return n;  // only continuation bytes: not ours to fix
}

size_t common_prefix(const std::vector<Token>& a, const std::vector<Token>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

struct Scheduler::Slot {
  model::KvCache kv;
  std::vector<Token> cached;  // tokens whose K/V are in kv, at positions 0..size-1
  Clock::time_point last_used{};

  bool busy = false;
  Request req;
  std::shared_ptr<Generation> gen;
  std::unique_ptr<sample::Sampler> sampler;
  std::unique_ptr<sample::StopMatcher> stop;
  std::unique_ptr<sample::JsonConstraint> json;  // JSON mode
  std::vector<float> masked;                     // JSON mode: the logits with the mask applied
  size_t n_eval = 0;        // prompt tokens whose K/V are in the cache
  int64_t n_cached = 0;     // of those, reused from an earlier request
  bool generating = false;  // the prompt is done; next_token is the token to feed
  Token next_token = 0;
  int64_t generated = 0;
  std::string utf8_pending;  // bytes of an unfinished UTF-8 character
  std::vector<Token> out_tokens;
  Event ev;                  // tokens/logprobs waiting for their text
  Clock::time_point queued_at{}, started_at{}, first_token_at{};
};

Scheduler::Scheduler(const model::Model& m, SchedulerOptions opts)
    : model_(m), opts_(opts), pool_(opts.n_threads > 0 ? opts.n_threads
                                                        : std::max(1u, std::thread::hardware_concurrency())) {
  const model::HParams& hp = m.hparams();
  opts_.n_parallel = std::max(1, opts_.n_parallel);
  n_ctx_ = opts.n_ctx > 0 ? opts.n_ctx : std::min<int64_t>(hp.n_ctx_train, 4096);
  if (n_ctx_ <= 0) n_ctx_ = 4096;
  opts_.n_batch = std::clamp<int64_t>(opts_.n_batch, 1, n_ctx_);
  scratch_ = model::make_batch_scratch(m, opts_.n_batch + opts_.n_parallel, n_ctx_, pool_.size());
  for (int i = 0; i < opts_.n_parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->kv = model::make_kv_cache(m, n_ctx_);
    slots_.push_back(std::move(s));
  }
  worker_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

std::shared_ptr<Generation> Scheduler::submit(Request req) {
  if (req.prompt.empty()) throw_error(ErrorKind::invalid_argument, "the prompt is empty");
  if (static_cast<int64_t>(req.prompt.size()) >= n_ctx_)
    throw_error(ErrorKind::limit, "the prompt is {} tokens but the context holds {} (prompt + output)",
                req.prompt.size(), n_ctx_);
  for (Token t : req.prompt)
    if (t < 0 || t >= model_.hparams().n_vocab)
      throw_error(ErrorKind::invalid_argument, "token id {} is outside the vocabulary (0..{})", t,
                  model_.hparams().n_vocab - 1);
  if (req.top_logprobs > 20) throw_error(ErrorKind::invalid_argument, "top_logprobs must be at most 20");
  sample::Sampler check(req.sampling);  // throws for parameters out of range
  auto gen = std::make_shared<Generation>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= opts_.max_queue)
      throw Busy(fmt::format("the server is busy: {} requests are waiting; retry shortly", queue_.size()));
    queue_.push_back({std::move(req), gen, Clock::now()});
    stats_.queued = static_cast<int>(queue_.size());
  }
  cv_.notify_all();
  return gen;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s = stats_;
  s.active = active_;
  s.queued = static_cast<int>(queue_.size());
  return s;
}

bool Scheduler::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.empty() && active_ == 0;
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || active_ > 0; });
      if (stop_) break;
    }
    admit();
    step();
  }
  // Shutting down: everything still running or waiting ends as cancelled.
  for (auto& s : slots_)
    if (s->busy) finish(*s, "cancelled");
  std::lock_guard<std::mutex> lock(mu_);
  for (Pending& p : queue_) {
    Event ev;
    ev.done = true;
    ev.finish_reason = "cancelled";
    p.gen->push(std::move(ev));
  }
  queue_.clear();
}

// Gives free slots to waiting requests, in arrival order; each takes the free slot whose
// cached tokens share the longest prefix with its prompt (ties: the least recently used).
void Scheduler::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!queue_.empty()) {
    Pending& p = queue_.front();
    if (p.gen->cancelled()) {
      Event ev;
      ev.done = true;
      ev.finish_reason = "cancelled";
      p.gen->push(std::move(ev));
      queue_.pop_front();
      continue;
    }
    Slot* best = nullptr;
    size_t best_len = 0;
    for (auto& s : slots_) {
      if (s->busy) continue;
      const size_t len = common_prefix(s->cached, p.req.prompt);
      if (best == nullptr || len > best_len || (len == best_len && s->last_used < best->last_used)) {
        best = s.get();
        best_len = len;
      }
    }
    if (best == nullptr) break;
    Slot& s = *best;
    // At least the last prompt token is evaluated again: its logits start the generation.
    const size_t reuse = p.req.cache_prompt ? std::min(best_len, p.req.prompt.size() - 1) : 0;
    s.cached.resize(reuse);
    s.busy = true;
    s.req = std::move(p.req);
    s.gen = std::move(p.gen);
    s.queued_at = p.queued_at;
    s.started_at = Clock::now();
    s.sampler = std::make_unique<sample::Sampler>(s.req.sampling);
    for (Token t : s.req.prompt) s.sampler->accept(t);
    s.stop = std::make_unique<sample::StopMatcher>(s.req.stop);
    s.json.reset();
    if (s.req.json_mode) {
      if (!json_vocab_) {
        // Every token's output bytes, once per model (the worker thread is the only user).
        const tokenizer::Tokenizer& tok = model_.tokenizer();
        const tokenizer::Vocab& v = tok.vocab();
        std::vector<std::string> pieces(v.size());
        for (size_t i = 0; i < v.size(); ++i) pieces[i] = tok.token_to_piece(static_cast<Token>(i));
        json_vocab_ = std::make_shared<const sample::JsonVocab>(std::move(pieces), std::vector<int32_t>{v.eos, v.eot, v.eom});
      }
      s.json = std::make_unique<sample::JsonConstraint>(json_vocab_);
    }
    s.n_eval = reuse;
    s.n_cached = static_cast<int64_t>(reuse);
    s.generating = false;
    s.generated = 0;
    s.utf8_pending.clear();
    s.out_tokens.clear();
    s.ev = Event{};
    queue_.pop_front();
    ++active_;
    stats_.tokens_cached += reuse;
  }
}

void Scheduler::finish(Slot& s, const std::string& reason, const std::string& error) {
  Event ev = std::move(s.ev);
  ev.done = true;
  if (reason != "cancelled" && reason != "error") {
    // Text held back (an unfinished character, a possible stop-string start) is released.
    std::string text;
    if (!s.stop->stopped()) {
      s.stop->feed(s.utf8_pending, text);
      s.stop->flush(text);
    }
    ev.text += text;
  }
  s.utf8_pending.clear();
  ev.finish_reason = reason;
  ev.error = error;
  const auto now = Clock::now();
  const auto first = s.first_token_at == Clock::time_point{} ? now : s.first_token_at;
  ev.prompt_tokens = static_cast<int64_t>(s.req.prompt.size());
  ev.cached_tokens = s.n_cached;
  ev.completion_tokens = s.generated;
  ev.queue_s = std::chrono::duration<double>(s.started_at - s.queued_at).count();
  ev.prompt_s = std::chrono::duration<double>(first - s.started_at).count();
  ev.gen_s = std::chrono::duration<double>(now - first).count();
  ev.context = s.req.prompt;
  ev.context.insert(ev.context.end(), s.out_tokens.begin(), s.out_tokens.end());
  s.gen->push(std::move(ev));
  s.gen.reset();
  s.busy = false;
  s.last_used = now;
  s.first_token_at = {};
  std::lock_guard<std::mutex> lock(mu_);
  --active_;
}

bool Scheduler::step() {
  // Cancelled requests leave before the step.
  for (auto& s : slots_)
    if (s->busy && s->gen->cancelled()) finish(*s, "cancelled");

  // One row per generating slot, then prompt chunks within the n_batch budget.
  batch_.clear();
  std::vector<Slot*> with_logits;
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.busy || !s.generating) continue;
    batch_.push_back({s.next_token, &s.kv, static_cast<int64_t>(s.cached.size()), true});
    s.cached.push_back(s.next_token);
    with_logits.push_back(&s);
  }
  int64_t budget = opts_.n_batch;
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.busy || s.generating || budget <= 0) continue;
    const size_t n = std::min<size_t>(s.req.prompt.size() - s.n_eval, static_cast<size_t>(budget));
    for (size_t j = 0; j < n; ++j) {
      const Token t = s.req.prompt[s.n_eval + j];
      const bool last = s.n_eval + j + 1 == s.req.prompt.size();
      batch_.push_back({t, &s.kv, static_cast<int64_t>(s.cached.size()), last});
      s.cached.push_back(t);
      if (last) with_logits.push_back(&s);
    }
    s.n_eval += n;
    budget -= static_cast<int64_t>(n);
  }
  if (batch_.empty()) return false;

  try {
    model::forward_llama_batch(model_, batch_, scratch_, pool_);
  } catch (const std::exception& e) {
    for (auto& s : slots_)
      if (s->busy) {
        s->cached.clear();
        finish(*s, "error", e.what());
      }
    return false;
  }

  // with_logits is in batch order (generating slots first, then finished prompts), which is
  // the order of the logits rows.
  const tokenizer::Tokenizer& tok = model_.tokenizer();
  const int64_t n_vocab = model_.hparams().n_vocab;
  uint64_t n_generated = 0;
  for (size_t r = 0; r < with_logits.size(); ++r) {
    Slot& s = *with_logits[r];
    std::span<const float> logits(scratch_.logits.data() + r * n_vocab, static_cast<size_t>(n_vocab));
    const auto now = Clock::now();
    if (!s.generating) {
      s.generating = true;
      s.first_token_at = now;
    }
    Token t;
    try {
      if (s.json) {
        s.masked.assign(logits.begin(), logits.end());
        // Tokens this request may still produce (this one included): near the end the mask
        // also steers to a closed object instead of one cut off by the length limit.
        int64_t budget = n_ctx_ - static_cast<int64_t>(s.cached.size()) + 1;
        if (s.req.max_tokens >= 0) budget = std::min(budget, s.req.max_tokens - s.generated);
        s.json->apply(s.masked, budget);
        t = s.sampler->sample(s.masked);
      } else {
        t = s.sampler->sample(logits);
      }
    } catch (const std::exception& e) {
      finish(s, "error", e.what());
      continue;
    }
    s.sampler->accept(t);
    if (s.json) s.json->accept(t);  // allowed by the mask, so it always advances
    if (s.req.top_logprobs >= 0) {
      // Log-probabilities of the model's distribution (before sampling adjustments).
      float mx = -INFINITY;
      for (float v : logits) mx = std::max(mx, v);
      double sum = 0;
      for (float v : logits) sum += std::exp(static_cast<double>(v - mx));
      const float lse = mx + static_cast<float>(std::log(sum));
      s.ev.tokens.push_back(t);
      s.ev.logprobs.push_back(logits[t] - lse);
      std::vector<TokenLogprob> top;
      if (s.req.top_logprobs > 0) {
        std::vector<Token> ids(static_cast<size_t>(n_vocab));
        for (int64_t i = 0; i < n_vocab; ++i) ids[i] = static_cast<Token>(i);
        const size_t k = std::min<size_t>(static_cast<size_t>(s.req.top_logprobs), ids.size());
        std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                          [&](Token a, Token b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
        for (size_t i = 0; i < k; ++i) top.push_back({ids[i], logits[ids[i]] - lse});
      }
      s.ev.top.push_back(std::move(top));
    } else {
      s.ev.tokens.push_back(t);
    }
    const auto& v = tok.vocab();
    if (!s.req.ignore_eos && (t == v.eos || (v.eot >= 0 && t == v.eot) || (v.eom >= 0 && t == v.eom))) {
      finish(s, "stop");
      continue;
    }
    ++s.generated;
    ++n_generated;
    s.out_tokens.push_back(t);
    const bool keep = !s.req.keep_special.empty() &&
                      std::find(s.req.keep_special.begin(), s.req.keep_special.end(), t) != s.req.keep_special.end();
    s.utf8_pending += tok.token_to_piece(t, keep);
    const size_t complete = complete_utf8_prefix(s.utf8_pending);
    std::string text;
    const bool stopped = s.stop->feed(std::string_view(s.utf8_pending).substr(0, complete), text);
    s.utf8_pending.erase(0, complete);
    s.ev.text += text;
    if (stopped || (s.json && s.json->done())) {  // JSON mode: the object is closed
      finish(s, "stop");
      continue;
    }
    if ((s.req.max_tokens >= 0 && s.generated >= s.req.max_tokens) ||
        static_cast<int64_t>(s.cached.size()) >= n_ctx_) {
      finish(s, "length");
      continue;
    }
    s.next_token = t;
    s.gen->push(std::move(s.ev));
    s.ev = Event{};
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.steps;
  stats_.tokens_generated += n_generated;
  stats_.tokens_prompt += static_cast<uint64_t>(opts_.n_batch - budget);
  return true;
}

}  // namespace hearth::engine
