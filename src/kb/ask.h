// Ask: answers a question from a knowledge base, citing its sources.
//
//   1. retrieve the top-k chunks for the question (search.h, BM25);
//   2. build the prompt: a system instruction (answer only from the sources, cite them like [2])
//      and a user message with the numbered sources ("[1] file — § section, p. 3" and the chunk
//      text) followed by the question, formatted with the model's chat template;
//   3. fit it into the token budget, counting with the model's tokenizer: sources are taken in
//      rank order and one that does not fit is dropped (and reported, never silently);
//   4. generate through engine::TextModel, streaming the answer;
//   5. map the citations [n] (also [1, 3] and [2-4]) in the answer back to file + section/page.
//
// The prompt the model sees is AskPrompt::text, exactly (`kb ask --show-context` prints it).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/generate.h"
#include "kb/search.h"
#include "kb/store.h"

namespace hearth::kb {

// The instruction given to the model as its system message.
extern const char* const kAskSystemPrompt;

struct AskOptions {
  int k = 8;                        // chunks retrieved
  int64_t max_context_tokens = 0;   // most tokens the prompt may take; 0: the model's context minus
                                    // the room kept for the answer
  int64_t max_answer_tokens = 512;  // most tokens generated (also limited by the context left)
};

struct AskSource {
  int number = 0;  // [n] in the prompt (1-based, in rank order); 0 for a dropped source
  int rank = 0;    // 1-based position in the search results
  SearchHit hit;
  int64_t tokens = 0;   // tokens its block adds to the prompt (model's tokenizer)
  bool cited = false;   // the answer cites it
};

struct AskPrompt {
  std::string question;
  std::string system;   // the system message
  std::string user;     // the user message (sources + question)
  std::string text;     // the rendered prompt, exactly as the model sees it
  int64_t prompt_tokens = 0;
  int64_t budget = 0;             // most prompt tokens allowed
  int64_t max_answer_tokens = 0;  // generation limit left after the prompt
  std::vector<AskSource> sources;  // in the prompt, numbered 1..n
  std::vector<AskSource> dropped;  // retrieved but did not fit (number 0)
};

struct Citation {
  int number = 0;          // n of [n]
  size_t offset = 0;       // byte offset of its bracket in the answer
  int source = -1;         // index into AskPrompt::sources; -1: no such source
};

struct AskResult {
  std::string answer;
  engine::GenerateResult generation;
  std::vector<Citation> citations;
};

// "[n] file — § section, p. 3" + newline + chunk text: one source as the prompt shows it.
std::string source_block(int number, const SearchHit& hit);
// The user message: the numbered source blocks, then the question.
std::string ask_user_message(const std::vector<std::string>& blocks, const std::string& question);

// Fits the retrieved hits into the budget (see AskOptions) and renders the prompt. Throws
// Error(limit) when even the prompt without sources does not fit.
AskPrompt build_prompt(const engine::TextModel& model, const std::string& question, const std::vector<SearchHit>& hits,
                       const AskOptions& options);

// Retrieval + build_prompt.
AskPrompt prepare_ask(Store& store, const KbInfo& kb, const engine::TextModel& model, const std::string& question,
                      const AskOptions& options);

// Every citation in `answer`: [n], [n, m, …], [n-m] (ranges expanded), [n][m]. Numbers are
// matched against prompt.sources.
std::vector<Citation> find_citations(const std::string& answer, const AskPrompt& prompt);

// Generates the answer (streamed to `sink`), finds its citations and marks the cited sources.
AskResult run_ask(engine::TextModel& model, AskPrompt& prompt, const engine::GenerateOptions& options,
                  const engine::TextSink& sink = {});

// Human-readable location: "§ Intro › Setup, p. 3" / "pp. 3–4" / "" when neither is known.
std::string source_location(const SearchHit& hit);

// JSON shapes shared by `kb ask --json`, `kb search --json` and the HTTP routes (docs/kb.md).
//   hit:    {chunk_id, path, section, page, page_end, ordinal, start, end, tokens, score, snippet[, text]}
//   source: {number, rank, path, section, page, page_end, location, chunk_id, score, tokens, cited}
//   dropped: like source without number/cited
//   summary: {sources, dropped, citations: [{number, offset, path, section, page, location} or
//             {number, offset, error}], prompt_tokens, budget, completion_tokens, finish_reason}
nlohmann::json hit_json(const SearchHit& hit, bool with_text);
nlohmann::json ask_summary_json(const AskPrompt& prompt, const AskResult& result);

}  // namespace hearth::kb
