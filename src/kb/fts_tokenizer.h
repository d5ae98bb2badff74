// The FTS5 tokenizer "hearth": ICU word segmentation (dictionary-based for Chinese and
// Japanese, rule-based elsewhere), Unicode case folding and NFKC, punctuation and spaces dropped.
// Registered on each connection by Store; the sqlite3 shell cannot query chunks_fts without it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace hearth::kb {

void register_fts_tokenizer(sqlite3* db);

// The tokens the tokenizer produces for `text` (folded), for building queries and for tests.
std::vector<std::string> segment_words(std::string_view text);

}  // namespace hearth::kb
