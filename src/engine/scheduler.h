// The scheduler of one loaded model: continuous batching over a fixed set of slots.
//
// A slot is one sequence's KV cache. Requests wait in a queue; between decode steps the
// scheduler gives each free slot the waiting request whose prompt shares the longest prefix
// with the slot's cached tokens (that prefix's KV is reused: multi-turn chat does not
// reprocess its history). Every step evaluates, in one batched forward pass, one token of
// each generating slot plus a chunk of each new prompt; finished and cancelled requests leave
// between steps.
//
//   auto gen = scheduler.submit(std::move(req));       // throws Busy when the queue is full
//   Event ev;
//   while (gen->next(ev)) send(ev.text);                // blocks until the next event
//   // ev.done: finish_reason, usage, timings; gen->cancel() stops it within one step
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/batch.h"
#include "model/model.h"
#include "sample/json_constraint.h"
#include "sample/sampler.h"
#include "util/error.h"

namespace hearth::engine {

// Thrown by submit() when the queue is full (HTTP 503 with Retry-After).
class Busy : public Error {
 public:
  explicit Busy(std::string msg) : Error(ErrorKind::limit, std::move(msg)) {}
};

struct Request {
  std::vector<tokenizer::Token> prompt;  // must be non-empty and shorter than the context
  sample::SamplerParams sampling;
  int64_t max_tokens = 128;              // < 0: until the context is full
  std::vector<std::string> stop;         // stop strings (not part of the output)
  bool ignore_eos = false;
  int top_logprobs = -1;                 // -1: no logprobs; 0..20: the token's logprob + that many alternatives
  bool cache_prompt = true;              // false: evaluate the whole prompt (no reuse of a slot's KV)
  std::vector<tokenizer::Token> keep_special;  // control tokens whose text goes into the output
                                              // (tool-call markers such as "[TOOL_CALLS]")
  // JSON mode (docs/engine.md, "Sampling"): every token is sampled under a mask that keeps the
  // output a prefix of a JSON object; the request ends with "stop" once the object is closed.
  bool json_mode = false;
};

struct TokenLogprob {
  tokenizer::Token token = 0;
  float logprob = 0;
};

struct Event {
  std::string text;  // whole UTF-8 characters; may be empty
  std::vector<tokenizer::Token> tokens;          // the tokens behind this event's text
  std::vector<float> logprobs;                   // per token (when asked)
  std::vector<std::vector<TokenLogprob>> top;    // per token (when asked)
  bool done = false;
  // Only on the final event:
  std::string finish_reason;  // "stop" (end of sequence or stop string), "length", "cancelled", "error"
  std::string error;          // finish_reason "error": what happened
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double queue_s = 0, prompt_s = 0, gen_s = 0;   // waiting, prompt evaluation, generation
  std::vector<tokenizer::Token> context;         // prompt + generated tokens
};

// The client's handle on one request.
class Generation {
 public:
  // Waits for the next event; false once the final event has been returned.
  bool next(Event& ev);
  // Like next, but gives up after `timeout` (returns false and sets *timed_out).
  bool next_for(Event& ev, std::chrono::milliseconds timeout, bool* timed_out);
  // Asks the scheduler to stop; the slot is freed at the next step.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class Scheduler;
  void push(Event ev);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  bool finished_ = false;  // the final event was returned by next()
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  int n_parallel = 4;      // slots
  int64_t n_ctx = 0;       // per slot; 0: min(model context, 4096)
  int n_threads = 0;       // 0: all cores
  int64_t n_batch = 256;   // most prompt tokens evaluated in one step (all slots together)
  size_t max_queue = 256;  // waiting requests beyond this → Busy
};

struct SchedulerStats {
  int active = 0, queued = 0;
  uint64_t steps = 0, tokens_generated = 0, tokens_prompt = 0, tokens_cached = 0;
};

class Scheduler {
 public:
  Scheduler(const model::Model& m, SchedulerOptions opts);
  ~Scheduler();  // cancels everything and joins the worker
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. Throws Error(invalid_argument) for an empty prompt, Error(limit) for a
  // prompt that does not fit the context (its length and the limit in the message), Busy when
  // the queue is full.
  std::shared_ptr<Generation> submit(Request req);

  int64_t n_ctx() const { return n_ctx_; }
  int n_parallel() const { return opts_.n_parallel; }
  int n_threads() const { return pool_.size(); }
  SchedulerStats stats() const;
  // True when no request is queued or running.
  bool idle() const;

 private:
  struct Slot;
  struct Pending {
    Request req;
    std::shared_ptr<Generation> gen;
    std::chrono::steady_clock::time_point queued_at;
  };
  void loop();
  void admit();
  bool step();
  void finish(Slot& s, const std::string& reason, const std::string& error = {});

  const model::Model& model_;
  SchedulerOptions opts_;
  int64_t n_ctx_ = 0;
  ThreadPool pool_;
  model::Context::Scratch scratch_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<model::BatchToken> batch_;
  std::shared_ptr<const sample::JsonVocab> json_vocab_;  // built at the first JSON-mode request

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  int active_ = 0;
  SchedulerStats stats_;
  std::thread worker_;
};

}  // namespace hearth::engine
