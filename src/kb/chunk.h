// Chunking: cuts an Extracted document into chunks along its blocks. Three strategies, chosen
// per knowledge base:
//   structure  — sections (a heading and what follows it up to the next heading), small
//                neighbouring sections merged up to the target, big ones cut by paragraphs;
//   paragraph  — paragraphs packed up to the target, each chunk starting with the last
//                paragraphs of the previous one (up to `overlap` tokens);
//   fixed      — windows of `target` tokens over the whole text, `overlap` tokens shared.
// Every chunk is a contiguous byte range [start, end) of the extracted text, so nothing is
// rewritten; together the chunks cover every block (nothing is lost).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kb/extract.h"

namespace hearth::kb {

enum class ChunkStrategy { structure, paragraph, fixed };

const char* chunk_strategy_name(ChunkStrategy s);
ChunkStrategy parse_chunk_strategy(std::string_view s);  // throws invalid_argument

struct ChunkConfig {
  ChunkStrategy strategy = ChunkStrategy::structure;
  int target_tokens = 400;
  int overlap_tokens = 50;   // paragraph and fixed strategies
  void validate() const;     // throws invalid_argument
};

struct Chunk {
  size_t start = 0, end = 0;  // byte range in the extracted text
  int page = 0, page_end = 0; // 0 = no pages
  std::string section;        // section path of the chunk's first block
  int tokens = 0;             // token count (of the counter chunk_document was given)
};

// Token estimate used when no tokenizer is configured: one token per CJK ideograph, kana or
// hangul syllable; ~4 characters per token for other words (at least one per word);
// punctuation counts one token per character.
int estimate_tokens(std::string_view text);

// Counts the tokens of a piece of text. Every size decision of chunk_document and
// Chunk::tokens go through it.
using TokenCounter = std::function<int(std::string_view)>;

// Chunks `doc`; `count_tokens` empty = estimate_tokens. (A knowledge base names its tokenizer
// in KbInfo::tokenizer; ingest builds the counter once, make_token_counter in token_counter.h.)
std::vector<Chunk> chunk_document(const Extracted& doc, const ChunkConfig& config,
                                  const TokenCounter& count_tokens = {});

}  // namespace hearth::kb
