// BM25 search over a knowledge base's chunks (SQLite FTS5 with the "hearth" tokenizer): the
// query is segmented like the documents (ICU words, case-folded), so a Chinese query matches
// Chinese passages word by word.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kb/store.h"

namespace hearth::kb {

struct SearchOptions {
  int k = 10;
  bool match_all = false;       // every query word must occur (default: any, ranked by BM25)
  std::string mark_open = "[";  // highlight markers in snippets
  std::string mark_close = "]";
  int snippet_tokens = 32;
};

struct SearchHit {
  int64_t chunk_id = 0;
  int64_t doc_id = 0;
  std::string path;
  std::string section;
  int page = 0, page_end = 0;
  int ordinal = 0;
  int64_t char_start = 0, char_end = 0;
  int tokens = 0;
  double score = 0;  // BM25, higher is better
  std::string snippet;
  std::string text;
};

// The FTS5 MATCH expression for `query` restricted to knowledge base `kb_id`; "" when the query
// has no words.
std::string build_match_expression(const std::string& query, int64_t kb_id, bool match_all);

std::vector<SearchHit> search(Store& store, const KbInfo& kb, const std::string& query, const SearchOptions& options = {});

}  // namespace hearth::kb
