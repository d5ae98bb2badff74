#include "kb/chunk.h"

#include <algorithm>

#include "util/error.h"

namespace hearth::kb {

const char* chunk_strategy_name(ChunkStrategy s) {
  switch (s) {
    case ChunkStrategy::structure: return "structure";
    case ChunkStrategy::paragraph: return "paragraph";
    case ChunkStrategy::fixed: return "fixed";
  }
  return "?";
}

ChunkStrategy parse_chunk_strategy(std::string_view s) {
  if (s == "structure") return ChunkStrategy::structure;
  if (s == "paragraph") return ChunkStrategy::paragraph;
  if (s == "fixed") return ChunkStrategy::fixed;
  throw_error(ErrorKind::invalid_argument, "unknown chunking strategy '{}' (structure, paragraph or fixed)", s);
}

void ChunkConfig::validate() const {
  if (target_tokens < 16 || target_tokens > 100000)
    throw_error(ErrorKind::invalid_argument, "chunk target {} tokens: must be between 16 and 100000", target_tokens);
  if (overlap_tokens < 0 || overlap_tokens * 2 > target_tokens)
    throw_error(ErrorKind::invalid_argument, "chunk overlap {} tokens: must be between 0 and half the target ({})",
                overlap_tokens, target_tokens / 2);
}

namespace {

// Decodes one code point at s[i]; returns its byte length (1 for invalid bytes).
size_t decode(std::string_view s, size_t i, uint32_t& cp) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  if (i + len > s.size()) len = 1;
  if (len == 1) { cp = c; return 1; }
  cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return len;
}

bool is_cjk(uint32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||   // hiragana, katakana
         (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xAC00 && cp <= 0xD7AF) ||   // hangul syllables
         (cp >= 0x20000 && cp <= 0x3FFFF);
}

bool is_word_char(uint32_t cp) {
  return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_' ||
         (cp >= 0x80 && !is_cjk(cp) && !(cp >= 0x2000 && cp <= 0x206F) && !(cp >= 0x3000 && cp <= 0x303F) &&
          !(cp >= 0xFF00 && cp <= 0xFF0F) && cp != 0xA0);
}

bool is_ascii_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool is_space_cp(uint32_t cp) { return cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r' || cp == '\f' || cp == '\v' || cp == 0xA0 || cp == 0x3000; }

// Walks the text and calls f(byte_offset_after, tokens_so_far) after each code point.
template <typename F>
void walk_tokens(std::string_view s, F&& f) {
  int tokens = 0;
  int word_chars = 0;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t len = decode(s, i, cp);
    if (is_word_char(cp)) {
      if (word_chars % 4 == 0) ++tokens;  // a new token every 4 characters of a word
      ++word_chars;
    } else {
      word_chars = 0;
      if (!is_space_cp(cp)) ++tokens;  // CJK character or punctuation
    }
    i += len;
    f(i, tokens, word_chars == 0 && is_space_cp(cp));
  }
}

}  // namespace

int estimate_tokens(std::string_view text) {
  int n = 0;
  walk_tokens(text, [&](size_t, int t, bool) { n = t; });
  return n;
}

namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
// The code point boundary at or after / at or before byte i.
size_t ceil_boundary(std::string_view s, size_t i) {
  while (i < s.size() && is_continuation(s[i])) ++i;
  return std::min(i, s.size());
}
size_t floor_boundary(std::string_view s, size_t i) {
  while (i > 0 && i < s.size() && is_continuation(s[i])) --i;
  return std::min(i, s.size());
}

struct Builder {
  const Extracted& doc;
  TokenCounter count;     // never empty
  bool estimate = true;   // count is estimate_tokens: the fast incremental paths below apply
  std::vector<Chunk> out;

  int tokens_of(size_t start, size_t end) const {
    return count(std::string_view(doc.text).substr(start, end - start));
  }

  // Largest code point boundary `off` of s with count(s[0, off)) <= limit (0 if none). Grows
  // the candidate exponentially, then bisects, so a long text costs O(log n) counts of at most
  // about twice the answer's length (a tokenizer's count grows with the prefix).
  size_t fit_prefix(std::string_view s, int limit) const {
    size_t lo = 0;  // count(s[0, lo)) <= limit
    size_t hi = ceil_boundary(s, std::min(s.size(), static_cast<size_t>(limit) * 8 + 64));
    while (count(s.substr(0, hi)) <= limit) {
      if (hi >= s.size()) return s.size();
      lo = hi;
      hi = ceil_boundary(s, std::min(s.size(), hi * 2));
    }
    while (true) {  // count(s[0, hi)) > limit
      size_t mid = floor_boundary(s, lo + (hi - lo) / 2);
      if (mid <= lo) mid = ceil_boundary(s, lo + 1);
      if (mid >= hi) return lo;
      (count(s.substr(0, mid)) <= limit ? lo : hi) = mid;
    }
  }

  // Smallest code point boundary `off` <= cut with count(s[off, cut)) <= limit.
  size_t fit_suffix(std::string_view s, size_t cut, int limit) const {
    size_t lo = 0, hi = cut;  // count(s[hi, cut)) <= limit
    if (count(s.substr(0, cut)) <= limit) return 0;
    while (true) {  // count(s[lo, cut)) > limit
      size_t mid = floor_boundary(s, lo + (hi - lo) / 2);
      if (mid <= lo) mid = ceil_boundary(s, lo + 1);
      if (mid >= hi) return hi;
      (count(s.substr(mid, cut - mid)) <= limit ? hi : lo) = mid;
    }
  }

  Chunk make(size_t start, size_t end, int page, int page_end, uint32_t section) {
    Chunk c;
    c.start = start;
    c.end = end;
    c.page = page;
    c.page_end = page_end;
    c.section = doc.sections[section];
    c.tokens = tokens_of(start, end);
    return c;
  }

  // Fixed windows over [start, end): cut after `target` tokens at the last whitespace (or at a
  // code point boundary when there is none), next window starts `overlap` tokens earlier.
  void windows(size_t start, size_t end, int target, int overlap, int page, int page_end, uint32_t section) {
    if (!estimate) return counted_windows(start, end, target, overlap, page, page_end, section);
    std::string_view all(doc.text);
    while (start < end) {
      std::string_view rest = all.substr(start, end - start);
      size_t cut = rest.size(), last_space = 0;
      std::vector<std::pair<size_t, int>> marks;  // (offset, tokens) at code point boundaries
      bool done = false;
      walk_tokens(rest, [&](size_t off, int t, bool space) {
        if (done) return;
        if (t > target) { cut = marks.empty() ? off : marks.back().first; done = true; return; }
        marks.emplace_back(off, t);
        if (space) last_space = off;
      });
      if (done && last_space > cut / 2) cut = last_space;
      if (cut == 0) cut = marks.empty() ? rest.size() : marks.front().first;
      // trim leading/trailing whitespace of the window (offsets stay exact)
      size_t b = 0, e = cut;
      while (b < e && is_ascii_space((rest[b]))) ++b;
      while (e > b && is_ascii_space((rest[e - 1]))) --e;
      if (e > b) out.push_back(make(start + b, start + e, page, page_end, section));
      if (cut >= rest.size()) break;
      // step back by `overlap` tokens from the cut
      size_t next = cut;
      if (overlap > 0) {
        int cut_tokens = 0;
        for (auto& [off, t] : marks) if (off <= cut) cut_tokens = t;
        for (auto& [off, t] : marks) {
          if (t >= cut_tokens - overlap && off < cut) { next = off; break; }
        }
        // start the overlap at a word boundary
        while (next < cut && !is_ascii_space((rest[next])) && next > 0 &&
               !is_ascii_space((rest[next - 1])))
          ++next;
        if (next == 0) next = cut;
      }
      start += next;
    }
  }

  // windows() for any counter: the same cuts, found by counting prefixes and suffixes of the
  // window (fit_prefix, fit_suffix) instead of walking the estimate.
  void counted_windows(size_t start, size_t end, int target, int overlap, int page, int page_end, uint32_t section) {
    std::string_view all(doc.text);
    while (start < end) {
      std::string_view rest = all.substr(start, end - start);
      size_t cut = fit_prefix(rest, target);
      if (cut < rest.size()) {  // prefer to cut after whitespace in the second half of the window
        size_t last_space = cut;
        while (last_space > 0 && !is_ascii_space(rest[last_space - 1])) --last_space;
        if (last_space > cut / 2) cut = last_space;
      }
      if (cut == 0) cut = ceil_boundary(rest, 1);  // one code point over the target: take it anyway
      size_t b = 0, e = cut;
      while (b < e && is_ascii_space(rest[b])) ++b;
      while (e > b && is_ascii_space(rest[e - 1])) --e;
      // a tokenizer may count the trimmed window differently from the prefix: make it fit
      while (e > b && ceil_boundary(rest, b + 1) < e && count(rest.substr(b, e - b)) > target) {
        e = floor_boundary(rest, b + (e - b) * 15 / 16);
        if (e <= b) e = ceil_boundary(rest, b + 1);
        cut = e;
        while (e > b && is_ascii_space(rest[e - 1])) --e;
      }
      if (e > b) out.push_back(make(start + b, start + e, page, page_end, section));
      if (cut >= rest.size()) break;
      size_t next = cut;
      if (overlap > 0) {
        next = fit_suffix(rest, cut, overlap);
        while (next < cut && !is_ascii_space(rest[next]) && next > 0 && !is_ascii_space(rest[next - 1])) ++next;
        if (next == 0) next = cut;
      }
      start += next;
    }
  }

  // Packs blocks [first, last) into chunks of up to `target` tokens; with overlap, each chunk
  // starts with trailing blocks of the previous chunk. Blocks larger than the target are cut
  // into windows.
  void pack(size_t first, size_t last, int target, int overlap) {
    std::vector<int> tok(last - first);
    for (size_t i = first; i < last; ++i) {
      const Block& b = doc.blocks[i];
      tok[i - first] = tokens_of(b.start, b.end);
    }
    size_t i = first;
    size_t prev_end = first;  // blocks before this index were already emitted
    while (i < last) {
      const Block& b0 = doc.blocks[i];
      if (tok[i - first] > target) {
        windows(b0.start, b0.end, target, overlap, b0.page, b0.page, b0.section);
        prev_end = ++i;
        continue;
      }
      size_t j = i;
      int sum = 0;
      while (j < last && tok[j - first] <= target && sum + tok[j - first] <= target) sum += tok[j++ - first];
      // never emit a chunk made only of overlap blocks
      if (j <= prev_end && j < last) { i = prev_end; continue; }
      // a chunk should not end with a heading when more follows
      while (j > i + 1 && j < last && doc.blocks[j - 1].kind == BlockKind::heading) --j;
      if (!estimate) {
        // A tokenizer's count of the joined blocks is not the sum of theirs (the blank lines
        // between them are tokens too): drop trailing blocks until the chunk itself fits.
        while (j > i + 1 && tokens_of(b0.start, doc.blocks[j - 1].end) > target) {
          --j;
          while (j > i + 1 && j < last && doc.blocks[j - 1].kind == BlockKind::heading) --j;
        }
        if (j <= prev_end && j < last) { i = prev_end; continue; }
      }
      const Block& bl = doc.blocks[j - 1];
      // the chunk's section: that of its first heading, else that of its first block
      size_t sec_block = i;
      for (size_t h = i; h < j; ++h)
        if (doc.blocks[h].kind == BlockKind::heading) { sec_block = h; break; }
      out.push_back(make(b0.start, bl.end, b0.page, bl.page, doc.blocks[sec_block].section));
      prev_end = j;
      if (j >= last) break;
      // overlap: step back over trailing blocks whose total stays within `overlap`
      size_t k = j;
      int ov = 0;
      while (overlap > 0 && k > i + 1 && ov + tok[k - 1 - first] <= overlap) ov += tok[--k - first];
      i = k;
    }
  }
};

}  // namespace

std::vector<Chunk> chunk_document(const Extracted& doc, const ChunkConfig& config, const TokenCounter& count_tokens) {
  config.validate();
  Builder b{doc, count_tokens ? count_tokens : TokenCounter(estimate_tokens), !count_tokens, {}};
  const size_t n = doc.blocks.size();
  switch (config.strategy) {
    case ChunkStrategy::fixed: {
      if (n == 0) break;
      // windows between page boundaries so that each chunk keeps its page number
      size_t i = 0;
      while (i < n) {
        size_t j = i;
        while (j < n && doc.blocks[j].page == doc.blocks[i].page) ++j;
        b.windows(doc.blocks[i].start, doc.blocks[j - 1].end, config.target_tokens, config.overlap_tokens,
                  doc.blocks[i].page, doc.blocks[j - 1].page, doc.blocks[i].section);
        i = j;
      }
      // fixed windows cross headings: give each chunk the section of the block it starts in
      size_t bi = 0;
      for (auto& c : b.out) {
        while (bi + 1 < n && doc.blocks[bi + 1].start <= c.start) ++bi;
        c.section = doc.sections[doc.blocks[bi].section];
      }
      break;
    }
    case ChunkStrategy::paragraph:
      b.pack(0, n, config.target_tokens, config.overlap_tokens);
      break;
    case ChunkStrategy::structure: {
      // sections: a heading and the blocks up to the next heading of the same or higher level
      std::vector<std::pair<size_t, size_t>> sections;
      size_t i = 0;
      while (i < n) {
        size_t j = i + 1;
        while (j < n && doc.blocks[j].kind != BlockKind::heading) ++j;
        sections.emplace_back(i, j);
        i = j;
      }
      // merge neighbouring small sections up to the target; cut big ones by paragraphs
      size_t s = 0;
      while (s < sections.size()) {
        size_t first = sections[s].first, last = sections[s].second;
        int sum = 0;
        for (size_t k = first; k < last; ++k) {
          const Block& blk = doc.blocks[k];
          sum += b.tokens_of(blk.start, blk.end);
        }
        size_t t = s + 1;
        if (sum <= config.target_tokens) {
          while (t < sections.size()) {
            int add = 0;
            for (size_t k = sections[t].first; k < sections[t].second; ++k) {
              const Block& blk = doc.blocks[k];
              add += b.tokens_of(blk.start, blk.end);
            }
            if (sum + add > config.target_tokens) break;
            sum += add;
            last = sections[t].second;
            ++t;
          }
        }
        b.pack(first, last, config.target_tokens, 0);
        s = t;
      }
      break;
    }
  }
  return std::move(b.out);
}

}  // namespace hearth::kb
