#include "sample/json_constraint.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace hearth::sample {

namespace {

constexpr const char* kLiterals[3] = {"true", "false", "null"};

bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// ---- JsonRecognizer ----------------------------------------------------------------------

JsonRecognizer::JsonRecognizer(const JsonOptions& opts)
    : object_only_(opts.object_only ? 1 : 0),
      max_ws_(static_cast<uint8_t>(std::clamp(opts.max_whitespace, 1, 255))),
      max_depth_(static_cast<uint8_t>(std::clamp(opts.max_depth, 1, 64))),
      leading_ws_(opts.leading_whitespace ? 1 : 0) {}

bool JsonRecognizer::value_done() {
  mode_ = depth_ == 0 ? kDone : kAfter;
  aux_ = count_ = 0;
  return true;
}

bool JsonRecognizer::start_value(uint8_t c) {
  if (depth_ == 0 && object_only_ && c != '{') return false;
  started_ = 1;
  switch (c) {
    case '{':
    case '[':
      if (depth_ >= max_depth_) return false;
      if (c == '{') stack_ |= uint64_t{1} << depth_;
      ++depth_;
      mode_ = c == '{' ? kObjFirst : kArrayFirst;
      return true;
    case '"':
      mode_ = kString;
      aux_ = 0;
      return true;
    case '-':
      mode_ = kMinus;
      return true;
    case '0':
      mode_ = kZero;
      return true;
    case 't':
    case 'f':
    case 'n':
      mode_ = kLiteral;
      aux_ = c == 't' ? 0 : c == 'f' ? 1 : 2;
      count_ = 1;
      return true;
    default:
      if (c >= '1' && c <= '9') {
        mode_ = kInt;
        return true;
      }
      return false;
  }
}

bool JsonRecognizer::after_number(uint8_t c) {
  value_done();
  return feed(c);
}

bool JsonRecognizer::feed(uint8_t c) {
  switch (mode_) {
    case kValue:
    case kArrayFirst:
    case kObjFirst:
    case kObjKey:
    case kColon:
    case kAfter:
    case kDone: {
      if (is_ws(c)) {
        if (ws_ >= max_ws_ || (!started_ && !leading_ws_)) return false;
        if (c == '\n' || c == '\r') {
          if (nl_) return false;
          nl_ = 1;
        }
        ++ws_;
        return true;
      }
      ws_ = nl_ = 0;
      switch (mode_) {
        case kValue:
          return start_value(c);
        case kArrayFirst:
          if (c == ']') {
            --depth_;
            return value_done();
          }
          return start_value(c);
        case kObjFirst:
          if (c == '}') {
            --depth_;
            stack_ &= ~(uint64_t{1} << depth_);
            return value_done();
          }
          [[fallthrough]];
        case kObjKey:
          if (c != '"') return false;
          mode_ = kString;
          aux_ = 1;
          return true;
        case kColon:
          if (c != ':') return false;
          mode_ = kValue;
          return true;
        case kAfter: {
          const bool object = (stack_ >> (depth_ - 1)) & 1;
          if (c == ',') {
            mode_ = object ? kObjKey : kValue;
            return true;
          }
          if (c != (object ? '}' : ']')) return false;
          --depth_;
          stack_ &= ~(uint64_t{1} << depth_);
          return value_done();
        }
        default:  // kDone: only whitespace may follow
          return false;
      }
    }
    case kString:
      if (c == '"') {
        if (aux_) {
          mode_ = kColon;
          aux_ = 0;
          return true;
        }
        return value_done();
      }
      if (c == '\\') {
        mode_ = kEscape;
        return true;
      }
      if (c < 0x20) return false;
      if (c < 0x80) return true;
      // The first byte of a multi-byte UTF-8 character: how many follow, and the range of the
      // next one (which rules out overlong forms, surrogates and code points above U+10FFFF).
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        count_ = 1;
      } else if (c == 0xE0) {
        count_ = 2;
        lo_ = 0xA0;
      } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        count_ = 2;
      } else if (c == 0xED) {
        count_ = 2;
        hi_ = 0x9F;
      } else if (c == 0xF0) {
        count_ = 3;
        lo_ = 0x90;
      } else if (c >= 0xF1 && c <= 0xF3) {
        count_ = 3;
      } else if (c == 0xF4) {
        count_ = 3;
        hi_ = 0x8F;
      } else {
        lo_ = hi_ = 0;
        return false;
      }
      mode_ = kUtf8;
      return true;
    case kUtf8:
      if (c < lo_ || c > hi_) return false;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (--count_ == 0) {
        mode_ = kString;
        lo_ = hi_ = 0;
      }
      return true;
    case kEscape:
      switch (c) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          mode_ = kString;
          return true;
        case 'u':
          mode_ = kHex;
          count_ = 0;
          code_ = 0;
          low_ = 0;
          return true;
        default:
          return false;
      }
    case kHex: {
      const int d = hex_value(c);
      if (d < 0) return false;
      // Surrogates: a high one (D800–DBFF) must be followed by \u and a low one (DC00–DFFF);
      // a low one on its own is refused (strict parsers such as nlohmann::json reject it).
      if (count_ == 0 && low_ && d != 0xD) return false;
      if (count_ == 1 && code_ == 0xD) {
        if (low_ && d < 0xC) return false;
        if (!low_ && d >= 0xC) return false;
      }
      code_ = static_cast<uint16_t>(code_ * 16 + d);
      if (++count_ == 4) {
        const bool high = !low_ && code_ >= 0xD800 && code_ <= 0xDBFF;
        mode_ = high ? kLowBackslash : kString;
        count_ = 0;
        code_ = 0;
        low_ = 0;
      }
      return true;
    }
    case kLowBackslash:
      if (c != '\\') return false;
      mode_ = kLowU;
      return true;
    case kLowU:
      if (c != 'u') return false;
      mode_ = kHex;
      count_ = 0;
      code_ = 0;
      low_ = 1;
      return true;
    case kMinus:
      if (c == '0') mode_ = kZero;
      else if (c >= '1' && c <= '9') mode_ = kInt;
      else return false;
      return true;
    case kZero:
      if (c == '.') mode_ = kDot;
      else if (c == 'e' || c == 'E') mode_ = kExpMark;
      else return after_number(c);  // a digit here (leading zero) is refused by kAfter/kDone
      return true;
    case kInt:
      if (is_digit(c)) return true;
      if (c == '.') mode_ = kDot;
      else if (c == 'e' || c == 'E') mode_ = kExpMark;
      else return after_number(c);
      return true;
    case kDot:
      if (!is_digit(c)) return false;
      mode_ = kFrac;
      return true;
    case kFrac:
      if (is_digit(c)) return true;
      if (c == 'e' || c == 'E') {
        mode_ = kExpMark;
        return true;
      }
      return after_number(c);
    case kExpMark:
      if (c == '+' || c == '-') mode_ = kExpSign;
      else if (is_digit(c)) mode_ = kExpDigits;
      else return false;
      return true;
    case kExpSign:
      if (!is_digit(c)) return false;
      mode_ = kExpDigits;
      return true;
    case kExpDigits:
      if (is_digit(c)) return true;
      return after_number(c);
    case kLiteral: {
      const char* lit = kLiterals[aux_];
      if (c != static_cast<uint8_t>(lit[count_])) return false;
      if (lit[++count_] == '\0') return value_done();
      return true;
    }
    default:
      return false;
  }
}

bool JsonRecognizer::feed(std::string_view bytes) {
  JsonRecognizer copy = *this;
  for (char ch : bytes)
    if (!copy.feed(static_cast<uint8_t>(ch))) return false;
  *this = copy;
  return true;
}

bool JsonRecognizer::accepts(std::string_view bytes) const {
  JsonRecognizer copy = *this;
  for (char ch : bytes)
    if (!copy.feed(static_cast<uint8_t>(ch))) return false;
  return true;
}

bool JsonRecognizer::complete() const {
  if (mode_ == kDone) return true;
  if (depth_ != 0 || !started_) return false;
  return mode_ == kZero || mode_ == kInt || mode_ == kFrac || mode_ == kExpDigits;
}

int JsonRecognizer::distance() const {
  // Bytes to finish the innermost value (reaching a point where a closer may follow), plus one
  // closer per open container. Strings close with '"'; a key also needs ':' and a value ('0').
  const int string_rest = aux_ ? 3 : 1;
  int rest = 0;
  switch (mode_) {
    case kDone: return 0;
    case kAfter: case kArrayFirst: case kObjFirst: rest = 0; break;
    case kObjKey: rest = 4; break;      // "":0
    case kColon: rest = 2; break;       // :0
    case kValue: rest = depth_ == 0 && object_only_ ? 2 : 1; break;  // {} or 0
    case kString: rest = string_rest; break;
    case kEscape: rest = 1 + string_rest; break;
    case kHex: rest = 4 - count_ + string_rest; break;
    case kLowBackslash: rest = 6 + string_rest; break;  // \uDC00
    case kLowU: rest = 5 + string_rest; break;
    case kUtf8: rest = count_ + string_rest; break;
    case kMinus: case kDot: case kExpMark: case kExpSign: rest = 1; break;
    case kZero: case kInt: case kFrac: case kExpDigits: rest = 0; break;
    case kLiteral: rest = static_cast<int>(std::char_traits<char>::length(kLiterals[aux_])) - count_; break;
    default: break;
  }
  return rest + depth_;
}

bool JsonRecognizer::closed() const { return mode_ == kDone; }

bool JsonRecognizer::empty() const { return !started_; }

uint64_t JsonRecognizer::hash() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
  };
  mix(stack_);
  mix(depth_ | uint64_t{mode_} << 8 | uint64_t{aux_} << 16 | uint64_t{count_} << 24 | uint64_t{lo_} << 32 |
      uint64_t{hi_} << 40 | uint64_t{ws_} << 48 | uint64_t{low_} << 56);
  mix(code_ | uint64_t{started_} << 16 | uint64_t{object_only_} << 24 | uint64_t{max_ws_} << 32 |
      uint64_t{max_depth_} << 40 | uint64_t{leading_ws_} << 48 | uint64_t{nl_} << 56);
  return h;
}

// ---- JsonVocab ---------------------------------------------------------------------------

JsonVocab::JsonVocab(std::vector<std::string> pieces, std::vector<int32_t> end_tokens)
    : pieces_(std::move(pieces)) {
  for (int32_t t : end_tokens)
    if (t >= 0 && static_cast<size_t>(t) < pieces_.size() && std::find(end_.begin(), end_.end(), t) == end_.end())
      end_.push_back(t);
  // Counting sort of the non-empty, non-end tokens by first byte.
  std::array<size_t, 257> count{};
  for (size_t i = 0; i < pieces_.size(); ++i)
    if (!pieces_[i].empty() && !is_end(static_cast<int32_t>(i))) ++count[static_cast<uint8_t>(pieces_[i][0]) + 1];
  for (size_t b = 0; b < 256; ++b) count[b + 1] += count[b];
  start_ = count;
  ids_.resize(start_[256]);
  std::array<size_t, 257> pos = start_;
  for (size_t i = 0; i < pieces_.size(); ++i)
    if (!pieces_[i].empty() && !is_end(static_cast<int32_t>(i)))
      ids_[pos[static_cast<uint8_t>(pieces_[i][0])]++] = static_cast<int32_t>(i);
}

bool JsonVocab::is_end(int32_t id) const { return std::find(end_.begin(), end_.end(), id) != end_.end(); }

// ---- JsonConstraint ----------------------------------------------------------------------

JsonConstraint::JsonConstraint(std::shared_ptr<const JsonVocab> vocab, JsonOptions opts)
    : vocab_(std::move(vocab)), rec_(opts) {}

const JsonConstraint::CacheEntry& JsonConstraint::allow_set() {
  for (const CacheEntry& e : cache_)
    if (e.state == rec_) return e;
  constexpr size_t kCacheSize = 8;
  CacheEntry* entry;
  if (cache_.size() < kCacheSize) {
    entry = &cache_.emplace_back();
  } else {
    entry = &cache_[next_evict_];
    next_evict_ = (next_evict_ + 1) % kCacheSize;
  }
  entry->state = rec_;
  entry->max_distance = 0;
  std::vector<uint64_t>& bits = entry->allow;
  bits.assign((vocab_->size() + 63) / 64, 0);
  auto set = [&](int32_t id) { bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); };
  if (rec_.complete())
    for (int32_t t : vocab_->end_tokens()) set(t);
  if (!rec_.closed()) {
    for (int b = 0; b < 256; ++b) {
      JsonRecognizer first = rec_;
      if (!first.feed(static_cast<uint8_t>(b))) continue;
      for (int32_t id : vocab_->by_first_byte(static_cast<uint8_t>(b))) {
        const std::string& p = vocab_->piece(id);
        JsonRecognizer r = first;
        size_t i = 1;
        while (i < p.size() && r.feed(static_cast<uint8_t>(p[i]))) ++i;
        if (i == p.size()) {
          set(id);
          entry->max_distance = std::max(entry->max_distance, r.distance());
        }
      }
    }
  }
  return *entry;
}

void JsonConstraint::apply(std::span<float> logits, int64_t budget) {
  const CacheEntry& entry = allow_set();
  const std::vector<uint64_t>& bits = entry.allow;
  const size_t n = std::min(logits.size(), vocab_->size());
  for (size_t i = 0; i < n; ++i)
    if (!((bits[i >> 6] >> (i & 63)) & 1)) logits[i] = -INFINITY;
  for (size_t i = n; i < logits.size(); ++i) logits[i] = -INFINITY;
  if (budget < 0 || budget - 1 >= entry.max_distance) return;
  // Near the end of the budget: also ban tokens after which the value cannot be finished in
  // time. Only the allowed tokens are walked again, and only in these last steps.
  int best = std::numeric_limits<int>::max();
  dist_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (std::isinf(logits[i]) && logits[i] < 0) continue;
    const auto id = static_cast<int32_t>(i);
    if (vocab_->is_end(id)) {
      dist_[i] = 0;  // allowed only when complete
    } else {
      JsonRecognizer r = rec_;
      r.feed(std::string_view(vocab_->piece(id)));
      dist_[i] = r.distance();
    }
    best = std::min(best, dist_[i]);
  }
  const int limit = std::max<int64_t>(best, budget - 1) > std::numeric_limits<int>::max()
                        ? std::numeric_limits<int>::max()
                        : static_cast<int>(std::max<int64_t>(best, budget - 1));
  for (size_t i = 0; i < n; ++i)
    if (dist_[i] > limit) logits[i] = -INFINITY;
}

bool JsonConstraint::allowed(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_->size()) return false;
  if (vocab_->is_end(id)) return rec_.complete();
  const std::string& p = vocab_->piece(id);
  return !p.empty() && !rec_.closed() && rec_.accepts(p);
}

bool JsonConstraint::accept(int32_t token) {
  if (!allowed(token)) return false;
  if (vocab_->is_end(token)) return true;
  return rec_.feed(std::string_view(vocab_->piece(token)));
}

}  // namespace hearth::sample
