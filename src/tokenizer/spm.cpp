// SentencePiece-style BPE ("llama" vocabularies: LLaMA 1/2, Mistral v0.1, Phi-3, Baichuan, …).
//
// The text is one string in which spaces are written "▁" (U+2581), with a "▁" in front when the
// vocabulary asks for a space prefix. It starts as one symbol per UTF-8 character; the adjacent
// pair whose concatenation is the highest-scoring vocabulary piece is merged, again and again,
// until no pair forms a piece. Characters that are no piece at all become their UTF-8 bytes as
// "<0xNN>" byte pieces (or <unk> when the vocabulary has none).
//
// Merging uses a priority queue of candidate pairs over a linked list of symbols, so a text of n
// characters costs O(n log n): a queue entry whose symbols have changed since it was pushed is
// recognised as stale by its length and skipped. The text is first cut between two characters
// that no piece contains side by side (mostly before each "▁"): no merge can ever cross such a
// cut, and merges on either side do not influence each other, so each part is merged on its own
// with the same result and a small, cache-friendly queue.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "tokenizer/factories.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace hearth::tokenizer {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // "▁"

class SpmTokenizer final : public Tokenizer {
  struct Symbol {
    uint32_t offset, len;  // bytes of `text`; len 0 once merged into its left neighbour
    int32_t prev, next;
  };
  struct Pair {
    float score;
    int32_t left, right;
    uint32_t len;
    // Highest score first; among equals the leftmost pair, which makes the result unique.
    bool operator<(const Pair& o) const { return score != o.score ? score < o.score : left > o.left; }
  };

 public:
  explicit SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    // Pieces a merge may produce: ordinary (and user-defined) pieces, never control, byte or
    // unused ones, the way sentencepiece only merges into its normal pieces.
    const size_t n = vocab_.size();
    pieces_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const TokenType t = vocab_.types[i];
      if (t == TokenType::normal || t == TokenType::user_defined || t == TokenType::undefined) {
        const std::string& piece = vocab_.tokens[i];
        pieces_[piece] = static_cast<Token>(i);  // later duplicates win, as in Vocab
        max_piece_len_ = std::max(max_piece_len_, piece.size());
        size_t at = 0;
        uint32_t prev = symbol_key(piece, at);
        while (at < piece.size()) {
          const uint32_t key = symbol_key(piece, at);
          joinable_.insert(pair_key(prev, key));
          prev = key;
        }
      }
    }
    for (int b = 0; b < 256; ++b) {
      byte_token_[b] = vocab_.find(fmt::format("<0x{:02X}>", b));
      if (byte_token_[b] >= 0 && vocab_.type(byte_token_[b]) != TokenType::byte) byte_token_[b] = -1;
      if (byte_token_[b] < 0) byte_token_[b] = vocab_.unk;
    }
    if (vocab_.unk < 0 && std::find(std::begin(byte_token_), std::end(byte_token_), -1) != std::end(byte_token_)) {
      throw_error(ErrorKind::format,
                  "SentencePiece vocabulary has neither all 256 byte pieces <0x00>..<0xFF> nor an unknown "
                  "token (tokenizer.ggml.unknown_token_id): some text could not be encoded");
    }
    has_scores_ = !vocab_.scores.empty();
  }
  SpmTokenizer(const SpmTokenizer&) = delete;  // pieces_ points into vocab_
  SpmTokenizer& operator=(const SpmTokenizer&) = delete;

  std::string_view kind() const override { return "spm"; }
  bool lossless() const override { return true; }

 protected:
  void encode_fragment(std::string_view fragment, bool after_special, std::vector<Token>& out) const override {
    // The working text: optional "▁" prefix, spaces escaped as "▁".
    std::string text;
    text.reserve(fragment.size() + 3 + fragment.size() / 4);
    if (vocab_.add_space_prefix && after_special) text += kSpace;
    for (char c : fragment) {
      if (c == ' ') {
        text += kSpace;
      } else {
        text += c;
      }
    }
    if (text.empty()) return;

    // One symbol per UTF-8 character. A byte that does not start a valid sequence is a symbol
    // of its own, so that a stray lead byte cannot swallow the "▁" after it (valid text is
    // split exactly as the reference splits it).
    std::vector<Symbol> sym;
    sym.reserve(text.size());
    uint32_t prev_key = 0;
    size_t segment = 0;
    std::vector<Pair> heap;
    for (size_t at = 0; at < text.size();) {
      const size_t start = at;
      const uint32_t key = symbol_key(text, at);
      const auto i = static_cast<int32_t>(sym.size());
      // No piece contains this pair of characters, so no merge will ever join them: the text
      // before is finished independently (same result, and the queue stays small).
      if (i > 0 && !joinable_.contains(pair_key(prev_key, key))) {
        merge_segment(text, sym, segment, sym.size(), heap, out);
        segment = sym.size();
      }
      sym.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(at - start), i - 1, i + 1});
      prev_key = key;
    }
    merge_segment(text, sym, segment, sym.size(), heap, out);
  }

  // Runs the merges on the symbols [begin, end) and appends their tokens.
  void merge_segment(const std::string& text, std::vector<Symbol>& sym, size_t begin, size_t end,
                     std::vector<Pair>& heap, std::vector<Token>& out) const {
    if (begin >= end) return;
    sym[begin].prev = -1;
    sym[end - 1].next = -1;

    // A binary max-heap of candidate pairs; the initial pairs are heapified at once (O(n)).
    heap.clear();
    const auto find_pair = [&](int32_t left, int32_t right, Pair& p) {
      if (left < 0 || right < 0) return false;
      const uint32_t len = sym[static_cast<size_t>(left)].len + sym[static_cast<size_t>(right)].len;
      if (len > max_piece_len_) return false;
      auto it = pieces_.find(std::string_view(text).substr(sym[static_cast<size_t>(left)].offset, len));
      if (it == pieces_.end()) return false;
      p = {score(it->second), left, right, len};
      return true;
    };
    const auto try_pair = [&](int32_t left, int32_t right) {
      Pair p;
      if (!find_pair(left, right, p)) return;
      heap.push_back(p);
      std::push_heap(heap.begin(), heap.end());
    };
    for (size_t i = begin + 1; i < end; ++i) {
      Pair p;
      if (find_pair(static_cast<int32_t>(i - 1), static_cast<int32_t>(i), p)) heap.push_back(p);
    }
    std::make_heap(heap.begin(), heap.end());

    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      const Pair p = heap.back();
      heap.pop_back();
      Symbol& left = sym[static_cast<size_t>(p.left)];
      Symbol& right = sym[static_cast<size_t>(p.right)];
      // Stale: one side was merged away or grew since this pair was queued.
      if (left.len == 0 || right.len == 0 || left.len + right.len != p.len) continue;
      left.len += right.len;
      right.len = 0;
      left.next = right.next;
      if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = p.left;
      try_pair(left.prev, p.left);
      try_pair(p.left, left.next);
    }

    for (auto i = static_cast<int32_t>(begin); i >= 0; i = sym[static_cast<size_t>(i)].next) {
      const Symbol& s = sym[static_cast<size_t>(i)];
      const std::string_view piece = std::string_view(text).substr(s.offset, s.len);
      auto it = pieces_.find(piece);
      if (it != pieces_.end()) {
        out.push_back(it->second);
        continue;
      }
      // Only single characters can be unknown (merges always produce pieces): byte fallback.
      for (char c : piece) out.push_back(byte_token_[static_cast<unsigned char>(c)]);
    }
  }

  std::string piece_bytes(Token id) const override {
    const std::string& t = vocab_.tokens[static_cast<size_t>(id)];
    switch (vocab_.type(id)) {
      case TokenType::normal:
      case TokenType::undefined: {
        std::string s;
        s.reserve(t.size());
        for (size_t at = 0; at < t.size();) {
          if (t.compare(at, kSpace.size(), kSpace) == 0) {
            s += ' ';
            at += kSpace.size();
          } else {
            s += t[at++];
          }
        }
        return s;
      }
      case TokenType::byte: {
        // "<0xNN>" → the byte NN.
        unsigned value = 0;
        if (t.size() == 6 && std::sscanf(t.c_str(), "<0x%2x>", &value) == 1) {
          return std::string(1, static_cast<char>(value));
        }
        return t;  // a byte-typed token that is not "<0xNN>": show it as written
      }
      case TokenType::user_defined:
        return t;
      default:  // unused: nothing, like control tokens
        return {};
    }
  }

  // The space prefix added at encode time is not part of the text: drop it from the first
  // piece (leading control tokens, which render as nothing by default, do not count).
  std::string finish_decode(std::string text, std::span<const Token> ids) const override {
    if (!vocab_.add_space_prefix || text.empty() || text[0] != ' ') return text;
    for (Token id : ids) {
      const TokenType t = vocab_.type(id);
      if (t == TokenType::control || t == TokenType::unknown) continue;
      const std::string& piece = vocab_.tokens[static_cast<size_t>(id)];
      if ((t == TokenType::normal || t == TokenType::undefined) && piece.compare(0, kSpace.size(), kSpace) == 0) {
        text.erase(0, 1);
      }
      break;
    }
    return text;
  }

 private:
  float score(Token id) const { return has_scores_ ? vocab_.scores[static_cast<size_t>(id)] : 0.0f; }

  // A symbol's identity for joinable_: its code point, or 0x110000 + the byte for a byte that is
  // not valid UTF-8 (which decodes to U+FFFD like a real U+FFFD would).
  static uint32_t symbol_key(std::string_view s, size_t& at) {
    const size_t start = at;
    const char32_t cp = unicode::next_code_point(s, at);
    if (cp == unicode::kReplacement && at - start == 1) return 0x110000u + static_cast<unsigned char>(s[start]);
    return static_cast<uint32_t>(cp);
  }
  static uint64_t pair_key(uint32_t a, uint32_t b) { return (uint64_t{a} << 32) | b; }

  std::unordered_map<std::string_view, Token> pieces_;  // views into vocab_.tokens
  std::unordered_set<uint64_t> joinable_;  // adjacent symbol pairs that occur inside some piece
  size_t max_piece_len_ = 0;
  Token byte_token_[256];
  bool has_scores_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm(Vocab vocab) { return std::make_unique<SpmTokenizer>(std::move(vocab)); }

}  // namespace hearth::tokenizer
