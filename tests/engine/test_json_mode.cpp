// JSON mode through the scheduler: the sample model never writes JSON on its own, yet every
// constrained generation (greedy and sampled, several seeds) parses as a JSON object.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/scheduler.h"
#include "testdata.h"

namespace hearth::engine {
namespace {

std::string sample_model() { return test::source_dir() + "/models/stories260K.gguf"; }

struct Result {
  std::string text;
  Event last;
};

Result run(Scheduler& sched, Request r) {
  auto g = sched.submit(std::move(r));
  Result out;
  Event ev;
  while (g->next(ev)) {
    out.text += ev.text;
    if (ev.done) out.last = ev;
  }
  return out;
}

TEST(JsonMode, UnconstrainedOutputIsNotJson) {
  auto m = model::Model::load(sample_model());
  Scheduler sched(*m, {.n_parallel = 1, .n_ctx = 512, .n_threads = 2});
  Request r;
  r.prompt = m->tokenizer().encode("Once upon a time", true, false);
  r.sampling.temperature = 0;
  r.max_tokens = 60;
  EXPECT_FALSE(nlohmann::json::accept(run(sched, r).text));
}

TEST(JsonMode, GreedyAndSampledOutputParses) {
  auto m = model::Model::load(sample_model());
  Scheduler sched(*m, {.n_parallel = 4, .n_ctx = 1024, .n_threads = 2});
  const char* prompts[] = {"Once upon a time", "The little dog", "Reply in JSON:"};
  int n = 0;
  for (const char* p : prompts) {
    for (int seed = -1; seed < 4; ++seed) {  // -1: greedy
      Request r;
      r.prompt = m->tokenizer().encode(p, true, false);
      r.sampling.temperature = seed < 0 ? 0.0f : 0.9f;
      r.sampling.seed = static_cast<uint64_t>(seed);
      r.max_tokens = 40 + 20 * (seed + 1);
      r.json_mode = true;
      const Result res = run(sched, r);
      SCOPED_TRACE(std::string(p) + " seed " + std::to_string(seed) + ": " + res.text);
      EXPECT_EQ(res.last.finish_reason, "stop");
      ASSERT_TRUE(nlohmann::json::accept(res.text));
      EXPECT_TRUE(nlohmann::json::parse(res.text).is_object());
      ++n;
    }
  }
  EXPECT_EQ(n, 15);
}

TEST(JsonMode, ConcurrentWithPlainRequests) {
  // A JSON-mode slot and a plain slot share the batch; only the first is constrained.
  auto m = model::Model::load(sample_model());
  Scheduler sched(*m, {.n_parallel = 2, .n_ctx = 1024, .n_threads = 2});
  Request plain;
  plain.prompt = m->tokenizer().encode("Once upon a time", true, false);
  plain.sampling.temperature = 0;
  plain.max_tokens = 40;
  Request js = plain;
  js.json_mode = true;
  js.max_tokens = 50;
  auto g1 = sched.submit(plain);
  auto g2 = sched.submit(js);
  std::string t1, t2;
  Event ev;
  while (g1->next(ev)) t1 += ev.text;
  while (g2->next(ev)) t2 += ev.text;
  EXPECT_EQ(t1, run(sched, plain).text);
  EXPECT_TRUE(nlohmann::json::accept(t2)) << t2;
}

}  // namespace
}  // namespace hearth::engine
