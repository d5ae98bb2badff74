// Tokenizers built from GGUF metadata: SentencePiece-style (`tokenizer.ggml.model` = "llama"),
// byte-level BPE ("gpt2", with a pre-tokenizer chosen by `tokenizer.ggml.pre`) and WordPiece
// ("bert"). One interface for all; see docs/tokenizer.md.
//
//   auto tok = hearth::tokenizer::Tokenizer::from_gguf(file);
//   std::vector<Token> ids = tok->encode("Hello world", /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok->decode(ids);
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hearth::gguf {
class File;
}

namespace hearth::tokenizer {

using Token = int32_t;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

// Everything the GGUF says about the tokenizer, decoded once.
struct Vocab {
  std::string model;  // tokenizer.ggml.model: "llama", "gpt2", "bert", ...
  std::string pre;    // tokenizer.ggml.pre ("default" when absent)
  std::vector<std::string> tokens;
  std::vector<float> scores;        // empty if absent
  std::vector<TokenType> types;     // same length as tokens (normal when absent)
  std::vector<std::string> merges;  // "left right" pairs, BPE only
  std::unordered_map<std::string, Token> token_to_id;

  Token bos = -1, eos = -1, unk = -1, sep = -1, pad = -1, cls = -1, mask = -1, eot = -1, eom = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: prepend "▁" to the first text fragment
  bool remove_extra_whitespaces = false;
  // Whitespace that a special token found in the text swallows on its left / right (the
  // reference's lstrip/rstrip token attributes; set for Phi-3's chat tokens). Empty when no
  // token strips, else one entry per token: bit 0 = strip left, bit 1 = strip right.
  std::vector<uint8_t> strip;
  static constexpr uint8_t kStripLeft = 1, kStripRight = 2;

  static Vocab from_gguf(const gguf::File& f);
  size_t size() const { return tokens.size(); }
  TokenType type(Token id) const { return types[static_cast<size_t>(id)]; }
  bool is_special(Token id) const;  // control / user_defined / unknown: never split, parsed as a unit
  Token find(std::string_view piece) const;  // -1 if absent
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Picks the implementation from `tokenizer.ggml.model`. Throws hearth::Error(unsupported)
  // for unknown models or `pre` types, Error(format) for inconsistent metadata.
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& f);
  static std::unique_ptr<Tokenizer> from_vocab(Vocab vocab);

  // add_special: BOS/EOS (CLS/SEP for WordPiece) as the vocab's add_bos/add_eos say.
  // parse_special: control tokens written in the text ("<|im_start|>") become their ids;
  // user-defined tokens are always matched as units (as the reference tokenizers do).
  std::vector<Token> encode(std::string_view text, bool add_special, bool parse_special) const;

  // ids → text. Byte tokens and byte-level BPE bytes are reassembled; a sequence that ends in
  // the middle of a UTF-8 character yields the bytes so far (a streaming caller keeps them).
  // Control tokens are rendered as their text only if render_special.
  std::string decode(std::span<const Token> ids, bool render_special = false) const;
  // The raw bytes one token stands for (for streaming output).
  std::string token_to_piece(Token id, bool render_special = false) const;

  const Vocab& vocab() const { return vocab_; }
  virtual std::string_view kind() const = 0;  // "spm", "bpe", "wordpiece"
  // True where decode(encode(x)) == x for every valid UTF-8 x (not WordPiece, which normalizes).
  virtual bool lossless() const = 0;

 protected:
  // Also indexes the vocabulary's special tokens for encode()'s partitioning (tokenizer.cpp).
  explicit Tokenizer(Vocab vocab);
  // Encodes one run of ordinary text (specials already split out). `after_special` is true for
  // the first fragment of the input, or one that follows a special token (SPM's space prefix).
  virtual void encode_fragment(std::string_view text, bool after_special,
                               std::vector<Token>& out) const = 0;
  // The bytes of one token that is not control/unknown (normal, byte, user-defined, unused);
  // token_to_piece handles control and unknown tokens itself.
  virtual std::string piece_bytes(Token id) const = 0;
  // How a control/unknown token reads when decode/token_to_piece render specials (WordPiece
  // puts a word separator in front of "[SEP]").
  virtual std::string special_text(Token id) const { return vocab_.tokens[static_cast<size_t>(id)]; }
  // Hook for decode post-processing (WordPiece joins "##" pieces, SPM strips the leading space).
  virtual std::string finish_decode(std::string text, std::span<const Token> ids) const { return text; }

  Vocab vocab_;

 private:
  struct SpecialIndex;  // tokenizer.cpp: trie of the special tokens, longest-first ranks
  std::shared_ptr<const SpecialIndex> specials_;
};

}  // namespace hearth::tokenizer
