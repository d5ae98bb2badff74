// WordPiece ("bert" vocabularies: BERT, BGE, MiniLM, nomic-embed, …).
//
// 1. BERT's basic tokenizer: drop NUL, U+FFFD and control characters; split on whitespace;
//    every punctuation character and every CJK ideograph is a word of its own; for uncased
//    vocabularies lowercase and strip accents (NFD, then drop non-spacing marks).
// 2. Each word is covered greedily by the longest vocabulary piece from the left; a word that
//    cannot be covered completely (or is longer than 100 characters) becomes one [UNK].
//
// GGUF converters rewrite BERT's vocabulary: a word-initial piece "hello" is stored as
// "▁hello" and a continuation piece "##lo" as "lo". Files that kept the original "##" form
// are recognised too (no piece starts with "▁").
#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "tokenizer/factories.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace hearth::tokenizer {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // "▁"
constexpr size_t kMaxWordChars = 100;                 // BERT's max_input_chars_per_word

bool has_prefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string spaced(std::string_view word) {
  std::string s;
  s.reserve(word.size() + 1);
  s += ' ';
  s += word;
  return s;
}

class WordPieceTokenizer final : public Tokenizer {
 public:
  explicit WordPieceTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    const size_t n = vocab_.size();
    bool any_space_prefix = false;
    bool any_upper = false;
    pieces_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const TokenType t = vocab_.types[i];
      if (t != TokenType::normal && t != TokenType::user_defined && t != TokenType::undefined) continue;
      const std::string& s = vocab_.tokens[i];
      pieces_[s] = static_cast<Token>(i);
      max_piece_len_ = std::max(max_piece_len_, s.size());
      if (has_prefix(s, kSpace)) any_space_prefix = true;
      // Uncased vocabularies (bert-base-uncased, BGE, MiniLM) have no capital letters at all.
      if (t == TokenType::normal && std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        any_upper = true;
      }
    }
    if (any_space_prefix) {
      word_prefix_ = kSpace;
    } else {
      continuation_prefix_ = "##";
    }
    uncased_ = !any_upper;
    unk_ = vocab_.unk >= 0 ? vocab_.unk : vocab_.find("[UNK]");
    if (unk_ < 0) {
      throw_error(ErrorKind::format,
                  "WordPiece vocabulary has no unknown token (tokenizer.ggml.unknown_token_id, or a "
                  "'[UNK]' piece): words it cannot cover could not be encoded");
    }
  }
  WordPieceTokenizer(const WordPieceTokenizer&) = delete;  // pieces_ points into vocab_
  WordPieceTokenizer& operator=(const WordPieceTokenizer&) = delete;

  std::string_view kind() const override { return "wordpiece"; }
  bool lossless() const override { return false; }

 protected:
  void encode_fragment(std::string_view text, bool, std::vector<Token>& out) const override {
    std::string word;
    std::string scratch;
    std::u32string normalized;
    const auto flush = [&] {
      if (!word.empty()) encode_word(word, scratch, out);
      word.clear();
    };
    for (size_t at = 0; at < text.size();) {
      const char32_t cp = unicode::next_code_point(text, at);
      if (cp == 0 || cp == unicode::kReplacement || unicode::is_bert_control(cp)) continue;
      if (unicode::is_bert_whitespace(cp)) {
        flush();
        continue;
      }
      normalized.clear();
      if (uncased_) {
        unicode::append_nfd(normalized, unicode::to_lower(cp), /*strip_marks=*/true);
      } else {
        normalized += cp;
      }
      if (unicode::is_cjk_ideograph(cp)) {
        flush();
        for (char32_t d : normalized) unicode::append_utf8(word, d);
        flush();
        continue;
      }
      for (char32_t d : normalized) {
        if (unicode::is_bert_punctuation(d)) {
          flush();
          unicode::append_utf8(word, d);
          flush();
        } else {
          unicode::append_utf8(word, d);
        }
      }
    }
    flush();
  }

  std::string piece_bytes(Token id) const override {
    const std::string& t = vocab_.tokens[static_cast<size_t>(id)];
    switch (vocab_.type(id)) {
      case TokenType::normal:
      case TokenType::undefined:
        // Words are separated by a space; continuation pieces attach to the previous piece.
        if (!word_prefix_.empty()) {
          return has_prefix(t, word_prefix_) ? spaced(std::string_view(t).substr(word_prefix_.size())) : t;
        }
        return has_prefix(t, continuation_prefix_) ? t.substr(continuation_prefix_.size()) : spaced(t);
      case TokenType::user_defined:
        return spaced(t);
      default:
        return {};
    }
  }

  std::string special_text(Token id) const override { return spaced(vocab_.tokens[static_cast<size_t>(id)]); }

  // Drop the separator in front of the first word and undo the spaces WordPiece put before
  // punctuation and contractions (the clean-up the reference decoder applies).
  std::string finish_decode(std::string text, std::span<const Token>) const override {
    if (!text.empty() && text[0] == ' ') text.erase(0, 1);
    static constexpr std::pair<std::string_view, std::string_view> kCleanup[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (const auto& [from, to] : kCleanup) {
      std::string result;
      result.reserve(text.size());
      size_t at = 0;
      for (size_t hit; (hit = text.find(from, at)) != std::string::npos; at = hit + from.size()) {
        result.append(text, at, hit - at);
        result += to;
      }
      result.append(text, at, std::string::npos);
      text = std::move(result);
    }
    return text;
  }

 private:
  // Greedy longest-match-first over the characters of one word.
  void encode_word(const std::string& word, std::string& candidate, std::vector<Token>& out) const {
    std::vector<size_t> bounds;  // byte offset of each character, plus the end
    for (size_t at = 0; at < word.size(); at += std::min(unicode::utf8_len(static_cast<unsigned char>(word[at])),
                                                         word.size() - at)) {
      bounds.push_back(at);
    }
    const size_t n_chars = bounds.size();
    bounds.push_back(word.size());
    if (n_chars > kMaxWordChars) {
      out.push_back(unk_);
      return;
    }
    const size_t mark = out.size();
    for (size_t start = 0; start < n_chars;) {
      const std::string& prefix = start == 0 ? word_prefix_ : continuation_prefix_;
      Token found = -1;
      size_t end = n_chars;
      for (; end > start; --end) {
        const size_t len = bounds[end] - bounds[start];
        if (prefix.size() + len > max_piece_len_) continue;
        candidate.assign(prefix);
        candidate.append(word, bounds[start], len);
        auto it = pieces_.find(candidate);
        if (it != pieces_.end()) {
          found = it->second;
          break;
        }
      }
      if (found < 0) {  // the word cannot be covered: it is unknown as a whole
        out.resize(mark);
        out.push_back(unk_);
        return;
      }
      out.push_back(found);
      start = end;
    }
  }

  std::unordered_map<std::string_view, Token> pieces_;  // views into vocab_.tokens
  size_t max_piece_len_ = 0;
  std::string word_prefix_;          // "▁" in GGUF-converted vocabularies, else empty
  std::string continuation_prefix_;  // "##" in original vocabularies, else empty
  bool uncased_ = true;
  Token unk_ = -1;
};

}  // namespace

std::unique_ptr<Tokenizer> make_wordpiece(Vocab vocab) {
  return std::make_unique<WordPieceTokenizer>(std::move(vocab));
}

}  // namespace hearth::tokenizer
