// The scheduler's batched decode must give exactly the tokens of serial Context runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/registry.h"
#include "engine/scheduler.h"
#include "model/batch.h"
#include "testdata.h"

namespace hearth::engine {
namespace {

using tokenizer::Token;

std::string sample_model() { return test::source_dir() + "/models/stories260K.gguf"; }

// Greedy continuation with the ordinary single-sequence Context.
std::vector<Token> serial_greedy(const model::Model& m, const std::vector<Token>& prompt, int n) {
  model::Context ctx(m, {.n_ctx = 512, .n_threads = 2});
  sample::SamplerParams sp;
  sp.temperature = 0;
  sample::Sampler s(sp);
  std::span<const float> logits = ctx.eval(prompt);
  std::vector<Token> out;
  for (int i = 0; i < n; ++i) {
    Token t = s.sample(logits);
    if (t == m.tokenizer().vocab().eos) break;
    out.push_back(t);
    logits = ctx.eval({&t, 1});
  }
  return out;
}

std::vector<Token> collect(Generation& g, Event* last = nullptr) {
  std::vector<Token> out;
  Event ev;
  while (g.next(ev)) {
    if (ev.done) {
      if (last) *last = ev;
      for (size_t i = 0; i < ev.tokens.size() && out.size() < static_cast<size_t>(ev.completion_tokens); ++i)
        out.push_back(ev.tokens[i]);
      break;
    }
    out.insert(out.end(), ev.tokens.begin(), ev.tokens.end());
  }
  return out;
}

const char* kPrompts[] = {"Once upon a time", "The little dog", "Lily and Tom went to the park",
                          "One day, a big bear", "She was happy because", "The sun",
                          "There was a girl named Sue", "Tim had a red ball"};

TEST(Batch, RowsMatchSerialForward) {
  auto m = model::Model::load(sample_model());
  const auto& tok = m->tokenizer();
  std::vector<std::vector<Token>> prompts;
  for (const char* p : kPrompts) prompts.push_back(tok.encode(p, true, false));
  std::vector<model::KvCache> caches;
  for (size_t i = 0; i < prompts.size(); ++i) caches.push_back(model::make_kv_cache(*m, 128));
  ThreadPool pool(2);
  auto scratch = model::make_batch_scratch(*m, 256, 128, pool.size());
  std::vector<model::BatchToken> batch;
  for (size_t i = 0; i < prompts.size(); ++i)
    for (size_t j = 0; j < prompts[i].size(); ++j)
      batch.push_back({prompts[i][j], &caches[i], static_cast<int64_t>(j), j + 1 == prompts[i].size()});
  model::forward_llama_batch(*m, batch, scratch, pool);
  const int64_t nv = m->hparams().n_vocab;
  for (size_t i = 0; i < prompts.size(); ++i) {
    model::Context ctx(*m, {.n_ctx = 128, .n_threads = 2});
    auto ref = ctx.eval(prompts[i]);
    for (int64_t k = 0; k < nv; ++k) EXPECT_NEAR(scratch.logits[i * nv + k], ref[k], 1e-4f) << "prompt " << i;
  }
}

TEST(Scheduler, BatchedGreedyEqualsSerial) {
  auto m = model::Model::load(sample_model());
  const auto& tok = m->tokenizer();
  Scheduler sched(*m, {.n_parallel = 4, .n_ctx = 512, .n_threads = 2});
  std::vector<std::shared_ptr<Generation>> gens;
  std::vector<std::vector<Token>> prompts;
  for (const char* p : kPrompts) {
    prompts.push_back(tok.encode(p, true, false));
    Request r;
    r.prompt = prompts.back();
    r.sampling.temperature = 0;
    r.max_tokens = 60;
    gens.push_back(sched.submit(r));
  }
  for (size_t i = 0; i < gens.size(); ++i) {
    Event last;
    auto got = collect(*gens[i], &last);
    EXPECT_EQ(got, serial_greedy(*m, prompts[i], 60)) << kPrompts[i];
    EXPECT_EQ(last.completion_tokens, static_cast<int64_t>(got.size()));
  }
  EXPECT_TRUE(sched.idle());
}

TEST(Scheduler, PromptCacheReusesPrefix) {
  auto m = model::Model::load(sample_model());
  const auto& tok = m->tokenizer();
  Scheduler sched(*m, {.n_parallel = 2, .n_ctx = 512, .n_threads = 2});
  Request r;
  r.prompt = tok.encode("Once upon a time there was a little girl", true, false);
  r.sampling.temperature = 0;
  r.max_tokens = 20;
  Event first;
  auto a = collect(*sched.submit(r), &first);
  EXPECT_EQ(first.cached_tokens, 0);
  // Second turn: the first prompt + its answer + more text.
  Request r2 = r;
  r2.prompt = first.context;
  auto more = tok.encode(" and then", false, false);
  r2.prompt.insert(r2.prompt.end(), more.begin(), more.end());
  Event second;
  auto b = collect(*sched.submit(r2), &second);
  EXPECT_GE(second.cached_tokens, static_cast<int64_t>(r.prompt.size()));
  EXPECT_EQ(b, serial_greedy(*m, r2.prompt, 20));
}

TEST(Scheduler, CancelFreesSlot) {
  auto m = model::Model::load(sample_model());
  Scheduler sched(*m, {.n_parallel = 1, .n_ctx = 512, .n_threads = 1});
  Request r;
  r.prompt = m->tokenizer().encode("Once upon a time", true, false);
  r.max_tokens = -1;
  r.ignore_eos = true;
  auto g = sched.submit(r);
  Event ev;
  ASSERT_TRUE(g->next(ev));
  g->cancel();
  while (g->next(ev)) {
  }
  EXPECT_EQ(ev.finish_reason, "cancelled");
  // The single slot is free again.
  Request r2 = r;
  r2.max_tokens = 3;
  Event last;
  collect(*sched.submit(r2), &last);
  EXPECT_EQ(last.finish_reason, "length");
  EXPECT_EQ(last.completion_tokens, 3);
}

TEST(Scheduler, RejectsTooLongPrompt) {
  auto m = model::Model::load(sample_model());
  Scheduler sched(*m, {.n_parallel = 1, .n_ctx = 16, .n_threads = 1});
  Request r;
  r.prompt.assign(40, 5);
  try {
    sched.submit(r);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::limit);
    EXPECT_NE(std::string(e.what()).find("40"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("16"), std::string::npos);
  }
}

TEST(Registry, LoadsByNameReloadsOnChangeAndUnloads) {
  const std::string dir = test::temp_dir();
  std::filesystem::copy_file(sample_model(), dir + "/a.gguf");
  RegistryOptions options;
  options.models_dir = dir;
  options.keep_alive = std::chrono::seconds(0);
  Registry reg(options);
  EXPECT_THROW(reg.acquire("nope"), Error);
  {
    auto l = reg.acquire("a:latest");
    EXPECT_EQ((*l)->name(), "a");
    EXPECT_EQ(reg.loaded().size(), 1u);
  }
  EXPECT_TRUE(reg.loaded().empty());  // keep_alive 0: unloaded when idle
  auto l1 = reg.acquire("a", {}, std::chrono::seconds(60));
  const LoadedModel* first = &**l1;
  l1.reset();
  auto l2 = reg.acquire("a", {}, std::chrono::seconds(60));
  EXPECT_EQ(&**l2, first);  // kept
  l2.reset();
  auto l3 = reg.acquire("a", {.n_ctx = 256}, std::chrono::seconds(60));
  // other parameters: reloaded with them
  EXPECT_EQ((*l3)->scheduler().n_ctx(), 256);
  l3.reset();
  EXPECT_EQ(reg.loaded().size(), 1u);
  EXPECT_TRUE(reg.unload("a"));
  EXPECT_TRUE(reg.loaded().empty());
}

}  // namespace
}  // namespace hearth::engine
