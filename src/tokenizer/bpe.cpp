// Byte-level BPE ("gpt2" vocabularies: GPT-2, Llama 3, Qwen 2, DeepSeek, Falcon, MPT, StarCoder, …).
//
// 1. Pre-tokenizer. The text is cut into words by the regular expressions of the vocabulary's
//    `tokenizer.ggml.pre` type (the Split / ByteLevel pre-tokenizers of its tokenizer.json). Some
//    types apply several expressions in sequence: each one cuts every piece the previous one
//    left, and both its matches and the text between them become pieces. Matching is done by
//    PCRE2 (UTF + UCP, JIT-compiled where available) on each piece on its own, so a look-ahead
//    such as `\s+(?!\S)` sees the end of the piece as the end of the text, as the reference does.
// 2. Bytes to symbols. Every byte of a word is one symbol: the vocabulary writes byte b as the
//    printable character GPT-2's bytes_to_unicode table gives it ("Ġ" for a space).
// 3. Merges. The adjacent pair with the lowest merge rank (`tokenizer.ggml.merges`, "left right",
//    rank = position) is replaced by its concatenation, leftmost first among equal ranks, until
//    no pair has a rank. Symbols are interned as ids (the token id where the text is a token),
//    the merge table maps an id pair to (rank, merged id), and a heap of candidate pairs over a
//    linked list of symbols makes a word of n bytes cost O(n log n). Heap entries whose symbols
//    changed since they were pushed are recognised as stale and skipped.
//    Llama-3-style types ("ignore_merges") first look the whole word up in the vocabulary.
// 4. Each final symbol is its token; a symbol that is no token (a merge result missing from the
//    vocabulary) falls back to its bytes' tokens, and bytes with no token are dropped (or become
//    <unk> where the vocabulary has one), as the reference does.
//
// Text that is not valid UTF-8 is still encoded byte for byte: for the regular expressions each
// invalid byte reads as U+FFFD, but the words are cut from the original bytes, so decode gives
// the input back wherever the vocabulary has a token for every byte.
//
// Decoding maps each character of a token back to its byte; user-defined tokens (added
// vocabulary such as MPT's runs of spaces) are raw text and decode as written.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <bit>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "tokenizer/factories.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace hearth::tokenizer {

namespace {

// ---------------------------------------------------------------------------------------------
// GPT-2's bytes_to_unicode: the printable bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for
// themselves (as code points); the other 68 bytes, in order, become U+0100, U+0101, … U+0143.

constexpr char32_t kByteCharEnd = 0x144;  // every byte-level character is below this

struct ByteLevelTable {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, kByteCharEnd> to_byte{};

  constexpr ByteLevelTable() {
    for (auto& b : to_byte) b = -1;
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_char[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
      to_byte[to_char[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    }
  }
};

constexpr ByteLevelTable kByteLevel{};
static_assert(kByteLevel.to_char[' '] == 0x120 && kByteLevel.to_char['\n'] == 0x10A &&
              kByteLevel.to_char[0xAD] == 0x143);

// Appends the byte-level spelling of raw bytes ("Ġthe" for " the").
void append_byte_level(std::string& out, std::string_view raw) {
  for (char c : raw) unicode::append_utf8(out, kByteLevel.to_char[static_cast<unsigned char>(c)]);
}

// The raw bytes a byte-level spelled text stands for; characters outside the table (text of
// tokens that are not byte-level, such as some added tokens) are kept as they are.
std::string from_byte_level(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    const size_t start = at;
    const char32_t cp = unicode::next_code_point(text, at);
    if (cp < kByteCharEnd && kByteLevel.to_byte[cp] >= 0) {
      out += static_cast<char>(kByteLevel.to_byte[cp]);
    } else {
      out.append(text, start, at - start);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer expressions, as the models' tokenizer.json files define them (written here in
// PCRE2 syntax; \x{…} spells out the code points of the DeepSeek character classes).

constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kQwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// BLOOM / Poro / GPT-3 Finnish: everything up to whitespace or sentence punctuation.
constexpr const char* kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

// DeepSeek LLM's "cased letters" class (Unicode LC of the time), ASCII/full-width punctuation,
// and CJK / Hangul runs.
constexpr const char* kDeepseekLetters =
    R"(\s?[\x{41}-\x{5A}\x{61}-\x{7A}\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF})"
    R"(\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386})"
    R"(\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D})"
    R"(\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3})"
    R"(\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
    R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D})"
    R"(\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184})"
    R"(\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D})"
    R"(\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF})"
    R"(\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})"
    R"(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
    R"(\x{1E900}-\x{1E943}]+)";
constexpr const char* kDeepseekPunct = R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
constexpr const char* kDeepseekCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";

constexpr const char* kDeepseekV3Rest =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct PreTokenizerSpec {
  std::vector<const char*> patterns;
  bool ignore_merges = false;  // a word that is a token as a whole is that token
};

struct PreTokenizerFamily {
  std::vector<std::string_view> names;  // values of tokenizer.ggml.pre
  PreTokenizerSpec spec;
};

const std::vector<PreTokenizerFamily>& pre_tokenizer_families() {
  static const std::vector<PreTokenizerFamily> families = {
      {{"default", "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
        "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion", "granite-docling"},
       {{kGpt2}, false}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"}, {{kLlama3}, true}},
      {{"dbrx", "smaug-bpe", "chatglm-bpe"}, {{kLlama3}, false}},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan"}, {{kQwen2}, false}},
      {{"qwen35"}, {{kQwen35}, false}},
      {{"tekken"}, {{kTekken}, true}},
      {{"gpt-4o", "llama4"}, {{kGpt4o}, false}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {{R"(\p{N})", kGpt2}, false}},
      {{"falcon"}, {{R"([\p{P}$+<=>^~|`]+)", kGpt2, R"([0-9][0-9][0-9])"}, false}},
      {{"deepseek-llm"},
       {{R"([\r\n])", kDeepseekLetters, kDeepseekPunct, R"(\s+$)", kDeepseekCjk, R"(\p{N}+)"}, false}},
      {{"deepseek-coder"}, {{R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"}, false}},
      {{"deepseek-v3"}, {{R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)", kDeepseekV3Rest}, false}},
      {{"bloom", "poro-chat", "gpt3-finnish"}, {{kBloom}, false}},
      {{"viking"}, {{kBloom, R"(\p{N})"}, false}},
  };
  return families;
}

const PreTokenizerSpec& pre_tokenizer_spec(const std::string& pre) {
  for (const auto& family : pre_tokenizer_families()) {
    for (std::string_view name : family.names) {
      if (name == pre) return family.spec;
    }
  }
  std::string known;
  for (const auto& family : pre_tokenizer_families()) {
    for (std::string_view name : family.names) known += (known.empty() ? "" : ", ") + std::string(name);
  }
  throw_error(ErrorKind::unsupported,
              "byte-level BPE pre-tokenizer '{}' (tokenizer.ggml.pre) is not supported; supported: {}", pre, known);
}

// ---------------------------------------------------------------------------------------------
// A compiled PCRE2 expression (immutable; matching uses per-call match data, so it is shared by
// all threads).

class Regex {
 public:
  explicit Regex(const char* pattern) {
    const std::string translated = with_unicode_whitespace(pattern);
    int code = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.c_str()), translated.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &offset, nullptr);
    if (code_ == nullptr) {
      throw_error(ErrorKind::internal, "pre-tokenizer expression does not compile at offset {}: {} ({})", offset,
                  message(code), translated);
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // a failure leaves the interpreter, which is fine
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  const pcre2_code* get() const { return code_; }

  // The reference engines read \s as Unicode's White_Space property; PCRE2's \s (with UCP) also
  // takes U+180E (MONGOLIAN VOWEL SEPARATOR, a format character since Unicode 6.3). Spell the
  // property out: tab..CR, U+0085 and the separators Z (Zs, Zl, Zp) — exactly White_Space.
  static std::string with_unicode_whitespace(std::string_view pattern) {
    constexpr std::string_view kSpace = R"(\t-\r\x{85}\p{Z})";
    std::string out;
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
      const char c = pattern[i];
      if (c == '\\' && i + 1 < pattern.size()) {
        const char e = pattern[++i];
        if (e == 's') {
          out += in_class ? std::string(kSpace) : fmt::format("[{}]", kSpace);
        } else if (e == 'S' && !in_class) {
          out += fmt::format("[^{}]", kSpace);
        } else if (e == 'S') {
          throw_error(ErrorKind::internal, "pre-tokenizer expression uses \\S inside a class: {}", pattern);
        } else {
          out += c;
          out += e;
        }
        continue;
      }
      if (c == '[' && !in_class) {
        in_class = true;
        out += c;
        if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
        continue;
      }
      if (c == ']' && in_class) in_class = false;
      out += c;
    }
    return out;
  }

  static std::string message(int code) {
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(code, buf, sizeof buf) < 0) return fmt::format("PCRE2 error {}", code);
    return reinterpret_cast<const char*>(buf);
  }

 private:
  pcre2_code* code_ = nullptr;
};

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(uint32_t pairs) : md(pcre2_match_data_create(pairs, nullptr)) {
    if (md == nullptr) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

struct Span {
  uint32_t begin, end;
};

// ---------------------------------------------------------------------------------------------
// Text → symbol id while the tokenizer is built (a few hundred thousand lookups for Llama 3's
// merges): open addressing over ids, the texts themselves stay where they are.

class SymbolIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  explicit SymbolIndex(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, Slot{0, kNone});
    mask_ = cap - 1;
  }

  template <class TextOf>
  uint32_t find(std::string_view text, const TextOf& text_of) const {
    const uint32_t h = hash(text);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id == kNone) return kNone;
      if (s.hash == h && text_of(s.id) == text) return s.id;
    }
  }

  // A text already present gets the new id (later duplicates win, as in Vocab).
  template <class TextOf>
  void insert(std::string_view text, uint32_t id, const TextOf& text_of) {
    if (++size_ * 2 > slots_.size()) grow(text_of);
    const uint32_t h = hash(text);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id == kNone || (s.hash == h && text_of(s.id) == text)) {
        if (s.id != kNone) --size_;
        s = {h, id};
        return;
      }
    }
  }

 private:
  struct Slot {
    uint32_t hash, id;
  };

  static uint32_t hash(std::string_view s) {  // FNV-1a, then mixed so that the low bits spread
    uint64_t h = 0xCBF29CE484222325ull;
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
    return static_cast<uint32_t>((h * 0x9E3779B97F4A7C15ull) >> 32);
  }

  template <class TextOf>
  void grow(const TextOf& text_of) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{0, kNone});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.id == kNone) continue;
      size_t i = s.hash & mask_;
      while (slots_[i].id != kNone) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Merge table: (left symbol, right symbol) → (rank, merged symbol), open addressing.

class MergeTable {
 public:
  struct Entry {
    uint64_t key;
    uint32_t rank;
    uint32_t result;
  };

  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n + n / 2) cap <<= 1;
    slots_.assign(cap, Entry{kEmpty, 0, 0});
    mask_ = cap - 1;
    shift_ = 64 - static_cast<int>(std::countr_zero(cap));
  }

  // Keeps the first (lowest) rank of a pair listed twice.
  void insert(uint32_t left, uint32_t right, uint32_t rank, uint32_t result) {
    const uint64_t key = make_key(left, right);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == kEmpty) {
        slots_[i] = {key, rank, result};
        return;
      }
      if (slots_[i].key == key) return;
    }
  }

  const Entry* find(uint32_t left, uint32_t right) const {
    const uint64_t key = make_key(left, right);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t make_key(uint32_t l, uint32_t r) { return (uint64_t{l} << 32) | r; }
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_; }

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
};

// ---------------------------------------------------------------------------------------------

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
    const PreTokenizerSpec& spec = pre_tokenizer_spec(vocab_.pre);
    ignore_merges_ = spec.ignore_merges;
    for (const char* p : spec.patterns) {
      regexes_.push_back(std::make_unique<Regex>(p));
      uint32_t captures = 0;
      pcre2_pattern_info(regexes_.back()->get(), PCRE2_INFO_CAPTURECOUNT, &captures);
      match_pairs_ = std::max(match_pairs_, captures + 1);
    }

    // Symbols: the token id where a text is a token, else an id past the vocabulary.
    const size_t n = vocab_.size();
    std::deque<std::string> extra_texts;  // byte-level texts of the symbols past the vocabulary
    const auto text_of = [&](uint32_t id) -> std::string_view {
      return id < n ? std::string_view(vocab_.tokens[id]) : std::string_view(extra_texts[id - n]);
    };
    SymbolIndex index(n + vocab_.merges.size() / 8 + 512);
    for (size_t i = 0; i < n; ++i) index.insert(vocab_.tokens[i], static_cast<uint32_t>(i), text_of);  // later duplicates win
    const auto symbol = [&](std::string_view text) -> uint32_t {
      if (const uint32_t id = index.find(text, text_of); id != SymbolIndex::kNone) return id;
      const auto id = static_cast<uint32_t>(n + extra_raw_.size());
      extra_texts.emplace_back(text);
      extra_raw_.push_back(from_byte_level(text));
      index.insert(text, id, text_of);
      return id;
    };

    for (int b = 0; b < 256; ++b) {
      std::string ch;
      unicode::append_utf8(ch, kByteLevel.to_char[static_cast<size_t>(b)]);
      byte_symbol_[b] = symbol(ch);
      byte_token_[b] = byte_symbol_[b] < n ? static_cast<Token>(byte_symbol_[b]) : vocab_.unk;
    }

    merges_.reserve(vocab_.merges.size());
    std::string joined;
    for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) {
      const std::string& m = vocab_.merges[rank];
      // "left right"; the left part is never empty, so the separator is the first space after it.
      const size_t sep = m.find(' ', 1);
      if (sep == std::string::npos || sep + 1 >= m.size()) {
        throw_error(ErrorKind::format, "tokenizer.ggml.merges: entry {} ('{}') is not two symbols separated by a space",
                    rank, m);
      }
      const std::string_view left = std::string_view(m).substr(0, sep), right = std::string_view(m).substr(sep + 1);
      joined.assign(left);
      joined += right;
      const uint32_t l = symbol(left), r = symbol(right), result = symbol(joined);
      merges_.insert(l, r, static_cast<uint32_t>(rank), result);
    }
  }
  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

  std::string_view kind() const override { return "bpe"; }
  bool lossless() const override { return true; }

 protected:
  void encode_fragment(std::string_view fragment, bool /*after_special*/, std::vector<Token>& out) const override {
    if (fragment.empty()) return;

    // The expressions need valid UTF-8: invalid bytes read as U+FFFD there, and `raw_at` maps
    // offsets in that copy back to the fragment.
    std::string_view subject = fragment;
    std::string sanitized;
    std::vector<uint32_t> raw_at;
    if (!is_valid_utf8(fragment)) {
      sanitized.reserve(fragment.size() + 16);
      raw_at.reserve(fragment.size() + 16);
      for (size_t at = 0; at < fragment.size();) {
        const size_t start = at;
        const char32_t cp = unicode::next_code_point(fragment, at);
        if (cp == unicode::kReplacement && at - start == 1) {
          unicode::append_utf8(sanitized, unicode::kReplacement);
        } else {
          sanitized.append(fragment, start, at - start);
        }
        raw_at.resize(sanitized.size(), static_cast<uint32_t>(start));  // only code point starts are read
      }
      raw_at.push_back(static_cast<uint32_t>(fragment.size()));
      subject = sanitized;
    }

    std::vector<Span> words;
    pre_tokenize(subject, words);

    Scratch scratch;
    for (const Span& w : words) {
      const size_t begin = raw_at.empty() ? w.begin : raw_at[w.begin];
      const size_t end = raw_at.empty() ? w.end : raw_at[w.end];
      encode_word(fragment.substr(begin, end - begin), scratch, out);
    }
  }

  std::string piece_bytes(Token id) const override {
    const std::string& t = vocab_.tokens[static_cast<size_t>(id)];
    switch (vocab_.type(id)) {
      case TokenType::user_defined:
        return t;  // added vocabulary is raw text, matched in the text as written
      case TokenType::unused:
        return {};
      default:
        return from_byte_level(t);
    }
  }

 private:
  struct Symbol {
    uint32_t id;    // kGone once merged into its left neighbour
    int32_t prev, next;
  };
  struct Candidate {
    uint32_t rank;
    int32_t left;
    uint32_t left_id, right_id, result;
    // std heap is a max-heap: the lowest rank, then the leftmost pair, comes out first.
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  struct Scratch {
    std::vector<Symbol> sym;
    std::vector<Candidate> heap;
    std::string spelled;
  };
  static constexpr uint32_t kGone = UINT32_MAX;

  static bool is_valid_utf8(std::string_view s) {
    for (size_t at = 0; at < s.size();) {
      if (static_cast<unsigned char>(s[at]) < 0x80) {
        ++at;
        continue;
      }
      const size_t start = at;
      if (unicode::next_code_point(s, at) == unicode::kReplacement && at - start == 1) return false;
    }
    return true;
  }

  // Cuts valid UTF-8 text into words with the expressions in sequence.
  void pre_tokenize(std::string_view text, std::vector<Span>& words) const {
    MatchData md(match_pairs_);
    words.clear();
    words.push_back({0, static_cast<uint32_t>(text.size())});
    std::vector<Span> next;
    for (const auto& re : regexes_) {
      next.clear();
      next.reserve(words.size() * 2);
      for (const Span& piece : words) split(*re, text, piece, md.md, next);
      words.swap(next);
    }
  }

  // Appends the matches of `re` in the piece and the runs of text between them.
  static void split(const Regex& re, std::string_view text, Span piece, pcre2_match_data* md, std::vector<Span>& out) {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.begin);
    const size_t len = piece.end - piece.begin;
    size_t at = 0, gap = 0;
    while (at < len) {
      int rc = pcre2_match(re.get(), subject, len, at, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        // The JIT's stack is small; the interpreter keeps its backtracking state on the heap.
        rc = pcre2_match(re.get(), subject, len, at, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          throw_error(ErrorKind::limit, "pre-tokenizing a word of {} bytes failed: {}", len, Regex::message(rc));
        }
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const size_t s = ov[0], e = ov[1];
      if (e <= s) {  // an empty match (none of our expressions has one): step one character on
        if (s >= len) break;
        at = s + unicode::utf8_len(static_cast<unsigned char>(subject[s]));
        continue;
      }
      if (s > gap) out.push_back({piece.begin + static_cast<uint32_t>(gap), piece.begin + static_cast<uint32_t>(s)});
      out.push_back({piece.begin + static_cast<uint32_t>(s), piece.begin + static_cast<uint32_t>(e)});
      gap = at = e;
    }
    if (gap < len) out.push_back({piece.begin + static_cast<uint32_t>(gap), piece.end});
  }

  void encode_word(std::string_view word, Scratch& s, std::vector<Token>& out) const {
    if (word.size() == 1) {
      emit(byte_symbol_[static_cast<unsigned char>(word[0])], out);
      return;
    }
    if (ignore_merges_) {
      s.spelled.clear();
      append_byte_level(s.spelled, word);
      if (auto it = vocab_.token_to_id.find(s.spelled); it != vocab_.token_to_id.end()) {
        out.push_back(it->second);
        return;
      }
    }

    auto& sym = s.sym;
    auto& heap = s.heap;
    const auto n = static_cast<int32_t>(word.size());
    sym.resize(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
      sym[static_cast<size_t>(i)] = {byte_symbol_[static_cast<unsigned char>(word[static_cast<size_t>(i)])], i - 1,
                                     i + 1 < n ? i + 1 : -1};
    }
    heap.clear();
    for (int32_t i = 0; i + 1 < n; ++i) {
      const uint32_t l = sym[static_cast<size_t>(i)].id, r = sym[static_cast<size_t>(i) + 1].id;
      if (const auto* m = merges_.find(l, r)) heap.push_back({m->rank, i, l, r, m->result});
    }
    std::make_heap(heap.begin(), heap.end());
    const auto push = [&](int32_t left) {
      if (left < 0) return;
      const Symbol& a = sym[static_cast<size_t>(left)];
      if (a.next < 0) return;
      const uint32_t r = sym[static_cast<size_t>(a.next)].id;
      if (const auto* m = merges_.find(a.id, r)) {
        heap.push_back({m->rank, left, a.id, r, m->result});
        std::push_heap(heap.begin(), heap.end());
      }
    };
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      const Candidate c = heap.back();
      heap.pop_back();
      Symbol& left = sym[static_cast<size_t>(c.left)];
      // Stale: the left symbol was merged away or changed, or its right neighbour changed.
      if (left.id != c.left_id || left.next < 0 || sym[static_cast<size_t>(left.next)].id != c.right_id) continue;
      Symbol& right = sym[static_cast<size_t>(left.next)];
      left.id = c.result;
      right.id = kGone;
      left.next = right.next;
      if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = c.left;
      push(left.prev);
      push(c.left);
    }
    for (int32_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next) emit(sym[static_cast<size_t>(i)].id, out);
  }

  // The token of a symbol; a symbol that is no token gives its bytes' tokens.
  void emit(uint32_t symbol, std::vector<Token>& out) const {
    if (symbol < vocab_.size()) {
      out.push_back(static_cast<Token>(symbol));
      return;
    }
    for (char c : extra_raw_[symbol - vocab_.size()]) {
      const Token t = byte_token_[static_cast<unsigned char>(c)];
      if (t >= 0) out.push_back(t);
    }
  }

  std::vector<std::unique_ptr<Regex>> regexes_;
  uint32_t match_pairs_ = 1;  // match data size: the most capture groups of an expression, + 1
  bool ignore_merges_ = false;
  MergeTable merges_;
  uint32_t byte_symbol_[256];
  Token byte_token_[256];  // the token of one byte: its character's token, else <unk>, else -1
  std::vector<std::string> extra_raw_;  // raw bytes of the symbols numbered from vocab_.size()
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe(Vocab vocab) { return std::make_unique<BpeTokenizer>(std::move(vocab)); }

}  // namespace hearth::tokenizer
