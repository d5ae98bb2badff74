// JSON mode: constrained sampling that keeps the generated text a prefix of valid JSON.
//
// JsonRecognizer is an incremental recognizer (a pushdown automaton over bytes) for RFC 8259
// JSON text: objects, arrays, strings (escapes, \u sequences with surrogate pairs checked,
// raw UTF-8 validated), numbers, true/false/null and whitespace. Its whole state is a small
// trivially copyable value, so "would these bytes keep the text a valid prefix?" is answered by
// copying it and feeding the bytes to the copy. It only accepts prefixes that can still be
// completed, so a constrained generation never paints itself into a corner. Beyond the RFC it
// limits nesting depth (64) and whitespace outside strings (runs of at most 16 bytes with at
// most one line break, none before the top-level value: a model cannot loop on spaces or
// newlines), and can require the top-level value to be an object (OpenAI json_object, Ollama
// format "json").
//
// JsonVocab holds every token's bytes (token_to_piece, built once per tokenizer by the
// caller) bucketed by first byte. JsonConstraint is one sequence's constraint: apply() sets the
// logit of every token that would break the JSON to -inf (end-of-generation tokens are allowed
// only once the value is complete; once a container value is closed, only they are), accept()
// advances it by the token chosen.
//
//   auto vocab = std::make_shared<const JsonVocab>(pieces, std::vector<int32_t>{eos});
//   JsonConstraint c(vocab);
//   c.apply(logits);                  // logits: mutable n_vocab floats
//   int32_t t = sampler.sample(logits);
//   c.accept(t);
//   if (c.done()) ...                 // the top-level value is complete: stop
//
// Cost of apply() (documented choice): every token of the vocabulary is checked, but
//  * only tokens whose first byte the current state accepts are walked (outside strings that
//    is a handful of bytes, so few tokens), each from a copied state with an early out on the
//    first invalid byte;
//  * the resulting allow-set is memoized per exact recognizer state (a small cache per
//    constraint): the common long-running states — inside a string, after a value — repeat
//    token after token, and then apply() is one pass setting -inf from a bitset.
// We do not check only the top candidates by logit: the sampler's penalties and bias reorder
// them afterwards, and the cache already makes the steady state a bitset pass.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::sample {

struct JsonOptions {
  bool object_only = true;   // the top-level value must be an object
  int max_whitespace = 16;   // longest run of whitespace bytes outside strings (1..255); a
                             // run also holds at most one line break (\n or \r)
  bool leading_whitespace = false;  // allow whitespace before the top-level value
  int max_depth = 64;        // deepest nesting of objects/arrays (1..64)
};

class JsonRecognizer {
 public:
  explicit JsonRecognizer(const JsonOptions& opts = {});

  // Feeds one byte. Returns false (the state is then unspecified: feed copies) if the text
  // would stop being a prefix of a valid JSON value under the options.
  bool feed(uint8_t c);
  // Feeds bytes; on failure returns false and leaves the state as it was.
  bool feed(std::string_view bytes);
  // Whether the bytes would be accepted, without changing the state.
  bool accepts(std::string_view bytes) const;

  // The text so far is a complete JSON value (possibly with trailing whitespace).
  bool complete() const;
  // Complete and no byte other than whitespace can follow (the value ended with } ] " or a
  // literal): generation should stop here. A top-level number is complete but not closed.
  bool closed() const;
  // Nothing but whitespace has been fed yet.
  bool empty() const;
  int depth() const { return depth_; }
  // The fewest bytes that complete the value from here (0 once complete). Every accepted
  // state has a next byte that lowers it by one, so a generation that has at least this many
  // tokens left can always finish.
  int distance() const;

  bool operator==(const JsonRecognizer&) const = default;
  uint64_t hash() const;

  enum Mode : uint8_t {
    kValue,       // a value must start (top level, after ':' or after ',' in an array)
    kArrayFirst,  // after '[': a value or ']'
    kObjFirst,    // after '{': a key or '}'
    kObjKey,      // after ',' in an object: a key
    kColon,       // after a key
    kAfter,       // after a value inside a container: ',' or the closing bracket
    kDone,        // the top-level value is complete
    kString,      // inside a string (aux_: 1 = object key)
    kEscape,      // after '\'
    kHex,         // inside \uXXXX (count_ digits so far, code_ the value)
    kLowBackslash,// after a high surrogate: '\' must follow
    kLowU,        // after a high surrogate and '\': 'u' must follow
    kUtf8,        // inside a raw multi-byte UTF-8 character (count_ bytes left, lo_..hi_ next)
    kMinus, kZero, kInt, kDot, kFrac, kExpMark, kExpSign, kExpDigits,  // numbers
    kLiteral,     // inside true/false/null (aux_ which, count_ bytes matched)
  };

 private:
  bool value_done();     // a value just ended
  bool start_value(uint8_t c);
  bool after_number(uint8_t c);  // a byte that ends a number

  uint64_t stack_ = 0;   // bit i: container at depth i+1 is an object (1) or array (0)
  uint8_t depth_ = 0;
  uint8_t mode_ = kValue;
  uint8_t aux_ = 0;      // kString/kEscape/kHex/kUtf8/kLow*: string is a key; kLiteral: which
  uint8_t count_ = 0;
  uint8_t lo_ = 0, hi_ = 0;  // kUtf8: range of the next continuation byte
  uint8_t ws_ = 0;       // current whitespace run outside strings
  uint8_t nl_ = 0;       // the run holds a line break
  uint8_t low_ = 0;      // kHex: this escape must be a low surrogate
  uint16_t code_ = 0;    // kHex: value so far
  uint8_t started_ = 0;  // a non-whitespace byte was fed
  // Options (part of the value so a copy is self-contained).
  uint8_t object_only_ = 1, max_ws_ = 16, max_depth_ = 64, leading_ws_ = 0;
};

// Every token's bytes, for one tokenizer.
class JsonVocab {
 public:
  // pieces[i]: token i's bytes as it appears in the output (empty: control tokens, which are
  // never allowed). end_tokens: EOS/EOT/EOM, allowed once the value is complete.
  JsonVocab(std::vector<std::string> pieces, std::vector<int32_t> end_tokens);

  size_t size() const { return pieces_.size(); }
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  bool is_end(int32_t id) const;
  std::span<const int32_t> end_tokens() const { return end_; }
  std::span<const int32_t> by_first_byte(uint8_t b) const {
    return {ids_.data() + start_[b], start_[b + 1] - start_[b]};
  }

 private:
  std::vector<std::string> pieces_;
  std::vector<int32_t> end_;
  std::vector<int32_t> ids_;               // non-empty tokens grouped by first byte
  std::array<size_t, 257> start_{};        // bucket b is ids_[start_[b], start_[b+1])
};

// One sequence's constraint.
class JsonConstraint {
 public:
  explicit JsonConstraint(std::shared_ptr<const JsonVocab> vocab, JsonOptions opts = {});

  // Sets logits[i] = -inf for every token i that would break the JSON. logits.size() may
  // exceed the vocabulary (extra entries are banned). At least one token stays allowed for a
  // vocabulary that has single-byte tokens for ASCII (every SPM-with-byte-fallback and
  // byte-level BPE vocabulary) or an end token.
  //
  // budget ≥ 0: the most tokens the generation may still produce, this one included. Tokens
  // after which the value could not be completed within budget - 1 more tokens are banned too
  // (so a length limit closes the JSON instead of cutting it): each step then lowers
  // distance() by at least one. When even that is impossible (a budget below distance()), the
  // tokens that leave the shortest completion stay allowed. budget < 0: no limit.
  void apply(std::span<float> logits, int64_t budget = -1);
  // Advances by a chosen token. Returns false (state unchanged) if the token breaks the JSON.
  bool accept(int32_t token);
  // Whether token `id` is allowed now (the same test apply() uses).
  bool allowed(int32_t id) const;

  bool complete() const { return rec_.complete(); }
  bool done() const { return rec_.closed(); }
  const JsonRecognizer& recognizer() const { return rec_; }

 private:
  struct CacheEntry {
    JsonRecognizer state;
    std::vector<uint64_t> allow;  // bitset over the vocabulary
    int max_distance = 0;         // the largest distance() after an allowed token
  };
  const CacheEntry& allow_set();

  std::shared_ptr<const JsonVocab> vocab_;
  JsonRecognizer rec_;
  std::vector<CacheEntry> cache_;
  size_t next_evict_ = 0;
  std::vector<int> dist_;  // apply() scratch: distance() after each token
};

}  // namespace hearth::sample
