// Vocab::from_gguf: the tokenizer.ggml.* keys of a GGUF file, checked and decoded once.
//
// Keys that a converter left out get the defaults the reference implementation (llama.cpp)
// uses for that model family, so that files written by older converters still tokenize the
// way their authors saw them tokenize.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace hearth::tokenizer {

namespace {

constexpr const char* kModel = "tokenizer.ggml.model";
constexpr const char* kPre = "tokenizer.ggml.pre";
constexpr const char* kTokens = "tokenizer.ggml.tokens";
constexpr const char* kScores = "tokenizer.ggml.scores";
constexpr const char* kTokenType = "tokenizer.ggml.token_type";
constexpr const char* kMerges = "tokenizer.ggml.merges";

// Defaults of one family, applied before the file's own keys.
struct FamilyDefaults {
  Token bos = -1, eos = -1, unk = -1, sep = -1, pad = -1, cls = -1, mask = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
};

FamilyDefaults defaults_for(const std::string& model, const std::string& pre) {
  FamilyDefaults d;
  if (model == "llama") {
    // SentencePiece: <unk> <s> </s> are the first three pieces; BOS and the "▁" prefix are
    // added by default (sentencepiece's add_dummy_prefix).
    d.unk = 0, d.bos = 1, d.eos = 2;
    d.add_bos = true, d.add_space_prefix = true;
  } else if (model == "bert") {
    // bert-base-uncased's layout: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103;
    // add_special wraps the input in [CLS] … [SEP].
    d.pad = 0, d.unk = 100, d.cls = 101, d.sep = 102, d.mask = 103;
    d.add_bos = true, d.add_eos = true;
  } else if (model == "gpt2") {
    // Byte-level BPE: only Llama 3 style vocabularies add a BOS by default.
    d.add_bos = pre == "llama-bpe" || pre == "llama3";
  }
  return d;
}

// A special-token id from `key`: absent → default; -1 or 0xFFFFFFFF (both written by converters
// to mean "none") → -1; anything else must index the vocabulary.
Token special_id(const gguf::File& f, const char* key, Token fallback, size_t n_tokens) {
  std::optional<int64_t> v = f.find_int(key);
  if (!v) return fallback < static_cast<int64_t>(n_tokens) ? fallback : -1;
  if (*v == -1 || *v == 0xFFFFFFFFll) return -1;
  if (*v < 0 || *v >= static_cast<int64_t>(n_tokens)) {
    throw_error(ErrorKind::format, "{}: metadata key '{}' is {}, outside the vocabulary of {} tokens",
                f.name(), key, *v, n_tokens);
  }
  return static_cast<Token>(*v);
}

// The end-of-turn token of chat models that do not name it: the first of these texts that the
// vocabulary has (order matters: Phi-3 has both <|end|> and <|endoftext|>, and <|end|> ends a turn).
constexpr const char* kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                     "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"};

bool is_byte_piece(const std::string& s) {
  // "<0xNN>" with two uppercase hex digits, as sentencepiece writes its byte pieces.
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(s[3])) && std::isxdigit(static_cast<unsigned char>(s[4]));
}

// Phi-3's tokenizer.json marks its special tokens rstrip: "<|user|>\nHi" is "<|user|>" "Hi".
// GGUF has no key for it, so the reference recognises the model by name; so do we.
void set_strip_attributes(Vocab& v, std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return;
  if (v.model != "llama") return;
  v.strip.assign(v.size(), 0);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v.is_special(static_cast<Token>(i))) v.strip[i] = Vocab::kStripRight;
  }
  for (const char* text : {"<unk>", "<s>", "<|endoftext|>"}) {
    if (Token id = v.find(text); id >= 0) v.strip[static_cast<size_t>(id)] = 0;
  }
}

}  // namespace

Vocab Vocab::from_gguf(const gguf::File& f) {
  Vocab v;
  std::optional<std::string> model = f.find_string(kModel);
  if (!model) {
    throw_error(ErrorKind::format, "{}: metadata key '{}' is missing: the file has no tokenizer",
                f.name(), kModel);
  }
  v.model = *model;
  v.pre = f.find_string(kPre).value_or("default");
  if (v.pre.empty()) v.pre = "default";

  if (!f.has(kTokens)) {
    throw_error(ErrorKind::format, "{}: metadata key '{}' is missing (tokenizer '{}')", f.name(), kTokens,
                v.model);
  }
  v.tokens = f.get_string_array(kTokens);
  const size_t n = v.tokens.size();
  if (n == 0) throw_error(ErrorKind::format, "{}: metadata key '{}' is an empty array", f.name(), kTokens);
  if (n > static_cast<size_t>(INT32_MAX)) {
    throw_error(ErrorKind::format, "{}: metadata key '{}' has {} tokens, more than token ids can number",
                f.name(), kTokens, n);
  }
  for (size_t i = 0; i < n; ++i) {
    if (v.tokens[i].empty()) {
      throw_error(ErrorKind::format, "{}: metadata key '{}': token {} is an empty string", f.name(), kTokens, i);
    }
  }

  if (f.has(kScores)) {
    v.scores = f.get_float_array(kScores);
    if (v.scores.size() != n) {
      throw_error(ErrorKind::format, "{}: metadata key '{}' has {} entries but '{}' has {}", f.name(), kScores,
                  v.scores.size(), kTokens, n);
    }
  }

  if (f.has(kTokenType)) {
    std::vector<int64_t> types = f.get_int_array(kTokenType);
    if (types.size() != n) {
      throw_error(ErrorKind::format, "{}: metadata key '{}' has {} entries but '{}' has {}", f.name(),
                  kTokenType, types.size(), kTokens, n);
    }
    v.types.resize(n);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > static_cast<int64_t>(TokenType::byte)) {
        throw_error(ErrorKind::format, "{}: metadata key '{}': token {} ('{}') has unknown type {}", f.name(),
                    kTokenType, i, v.tokens[i], types[i]);
      }
      v.types[i] = static_cast<TokenType>(types[i]);
    }
  } else {
    // Without types, a SentencePiece vocabulary's "<0xNN>" pieces are still its byte pieces.
    v.types.assign(n, TokenType::normal);
    if (v.model == "llama") {
      for (size_t i = 0; i < n; ++i) {
        if (is_byte_piece(v.tokens[i])) v.types[i] = TokenType::byte;
      }
    }
  }

  if (f.has(kMerges)) v.merges = f.get_string_array(kMerges);

  // Later duplicates win, as in the reference; ids stay addressable either way.
  v.token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) v.token_to_id[v.tokens[i]] = static_cast<Token>(i);

  const FamilyDefaults d = defaults_for(v.model, v.pre);
  v.bos = special_id(f, "tokenizer.ggml.bos_token_id", d.bos, n);
  v.eos = special_id(f, "tokenizer.ggml.eos_token_id", d.eos, n);
  v.unk = special_id(f, "tokenizer.ggml.unknown_token_id", d.unk, n);
  v.sep = special_id(f, "tokenizer.ggml.seperator_token_id", d.sep, n);  // sic: the GGUF spelling
  v.pad = special_id(f, "tokenizer.ggml.padding_token_id", d.pad, n);
  v.cls = special_id(f, "tokenizer.ggml.cls_token_id", d.cls, n);
  v.mask = special_id(f, "tokenizer.ggml.mask_token_id", d.mask, n);
  v.eot = special_id(f, "tokenizer.ggml.eot_token_id", -1, n);
  v.eom = special_id(f, "tokenizer.ggml.eom_token_id", -1, n);
  if (v.eot < 0 && !f.has("tokenizer.ggml.eot_token_id")) {
    for (const char* text : kEotTexts) {
      if (Token id = v.find(text); id >= 0 && v.type(id) != TokenType::normal) {
        v.eot = id;
        break;
      }
    }
  }
  if (v.eom < 0 && !f.has("tokenizer.ggml.eom_token_id")) {
    if (Token id = v.find("<|eom_id|>"); id >= 0 && v.type(id) != TokenType::normal) v.eom = id;
  }

  v.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(d.add_bos);
  if (v.model == "bert") {
    // BERT has no EOS; what gets appended is [SEP]. Newer converters say so with add_sep_token.
    v.add_eos = f.find_bool("tokenizer.ggml.add_sep_token").value_or(d.add_eos);
  } else {
    v.add_eos = f.find_bool("tokenizer.ggml.add_eos_token").value_or(d.add_eos);
  }
  v.add_space_prefix = f.find_bool("tokenizer.ggml.add_space_prefix").value_or(d.add_space_prefix);
  v.remove_extra_whitespaces = f.find_bool("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
  set_strip_attributes(v, f.find_string("general.name").value_or(""));
  return v;
}

bool Vocab::is_special(Token id) const {
  if (id < 0 || static_cast<size_t>(id) >= types.size()) return false;
  const TokenType t = types[static_cast<size_t>(id)];
  return t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown;
}

Token Vocab::find(std::string_view piece) const {
  auto it = token_to_id.find(std::string(piece));
  return it == token_to_id.end() ? -1 : it->second;
}

}  // namespace hearth::tokenizer
