// Batched forward pass over several sequences at once (continuous batching).
//
// Each row of a batch is one token of one sequence: it brings its own KV cache and position.
// The matrix products run once for all rows of the step, so a decode step of N sequences
// reads every weight once instead of N times; attention runs per row against its own cache.
//
//   std::vector<BatchToken> b = {{.token = t0, .kv = &kv0, .pos = 17, .logits = true},
//                                {.token = t1, .kv = &kv1, .pos = 3, .logits = true}};
//   forward_llama_batch(model, b, scratch, pool);   // scratch.logits: [2][n_vocab]
//
// Rows of one sequence must be at consecutive positions in batch order (a prompt chunk). The
// logits of the rows with .logits set are written to scratch.logits in batch order.
#pragma once

#include <cstdint>
#include <span>

#include "model/model.h"

namespace hearth::model {

// A KV cache for one sequence of up to n_ctx tokens (zeroed).
KvCache make_kv_cache(const Model& m, int64_t n_ctx);
// Scratch buffers for batches of up to n_rows rows over caches of at most n_ctx positions,
// with a pool of n_threads threads.
Context::Scratch make_batch_scratch(const Model& m, int64_t n_rows, int64_t n_ctx, int n_threads);

// Evaluates every row of `batch` (at most the n_rows the scratch was made for) and writes the
// rows' K/V into their caches. Throws Error(invalid_argument) for a token outside the
// vocabulary or a position outside its cache (before evaluating anything).
void forward_llama_batch(const Model& m, std::span<const BatchToken> batch, Context::Scratch& s,
                         ThreadPool& pool);

}  // namespace hearth::model
