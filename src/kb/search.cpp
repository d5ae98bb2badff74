#include "kb/search.h"

#include "kb/fts_tokenizer.h"
#include "util/error.h"

namespace hearth::kb {

std::string build_match_expression(const std::string& query, int64_t kb_id, bool match_all) {
  std::vector<std::string> words = segment_words(query);
  if (words.empty()) return "";
  std::string expr;
  std::vector<std::string> seen;
  for (const auto& w : words) {
    bool dup = false;
    for (const auto& s : seen) dup |= s == w;
    if (dup) continue;
    seen.push_back(w);
    std::string quoted = "\"";
    for (char c : w) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    quoted += "\"";
    if (!expr.empty()) expr += match_all ? " AND " : " OR ";
    expr += quoted;
  }
  return "kb_id : \"" + std::to_string(kb_id) + "\" AND (" + expr + ")";
}

std::vector<SearchHit> search(Store& store, const KbInfo& kb, const std::string& query, const SearchOptions& o) {
  if (o.k < 1 || o.k > 1000) throw_error(ErrorKind::invalid_argument, "-k {}: must be between 1 and 1000", o.k);
  std::string expr = build_match_expression(query, kb.id, o.match_all);
  if (expr.empty()) throw_error(ErrorKind::invalid_argument, "query '{}' has no words to search for", query);
  Stmt q(store.db(),
         "SELECT c.id, c.doc_id, d.path, c.section, c.page, c.page_end, c.ordinal, c.char_start, c.char_end, c.tokens, "
         "  -bm25(chunks_fts, 1.0, 0.0) AS score, snippet(chunks_fts, 0, ?, ?, '…', ?), c.text "
         "FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.doc_id "
         "WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 1.0, 0.0) LIMIT ?");
  q.bind(1, o.mark_open).bind(2, o.mark_close).bind(3, std::max(1, std::min(64, o.snippet_tokens))).bind(4, expr).bind(5, o.k);
  std::vector<SearchHit> hits;
  while (q.step()) {
    SearchHit h;
    h.chunk_id = q.i64(0);
    h.doc_id = q.i64(1);
    h.path = q.str(2);
    h.section = q.str(3);
    h.page = static_cast<int>(q.i64(4));
    h.page_end = static_cast<int>(q.i64(5));
    h.ordinal = static_cast<int>(q.i64(6));
    h.char_start = q.i64(7);
    h.char_end = q.i64(8);
    h.tokens = static_cast<int>(q.i64(9));
    h.score = q.f64(10);
    h.snippet = q.str(11);
    h.text = q.str(12);
    hits.push_back(std::move(h));
  }
  return hits;
}

}  // namespace hearth::kb
