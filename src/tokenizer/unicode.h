// Small Unicode helpers for the tokenizers: UTF-8 stepping that never fails (bad bytes become
// U+FFFD, as the reference tokenizers treat them) and the character classes BERT's basic
// tokenizer is defined by. Character data comes from utf8proc, so there are no tables here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hearth::tokenizer::unicode {

inline constexpr char32_t kReplacement = 0xFFFD;

// Length of the UTF-8 sequence a lead byte announces (1 for ASCII and for stray continuation
// bytes, so that any byte string can be walked), not checked against what follows.
inline size_t utf8_len(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Decodes the code point at s[i] and advances i past it. Malformed, truncated, over-long or
// surrogate sequences yield U+FFFD and consume one byte, so every byte is visited once.
char32_t next_code_point(std::string_view s, size_t& i);

// Appends the UTF-8 encoding of cp (U+FFFD for values that are not scalar values).
void append_utf8(std::string& out, char32_t cp);

// BERT's classes (Google's BasicTokenizer as the HF tokenizers library implements it):
// whitespace = space, \t, \n, \r and the separators Zs, Zl, Zp;
bool is_bert_whitespace(char32_t cp);
// control = every "other" category (Cc, Cf, Cs, Co, Cn) except \t, \n, \r: removed from the
// text before anything else (so \v, \f and U+0085 vanish rather than separate words);
bool is_bert_control(char32_t cp);
// punctuation = every ASCII non-alphanumeric printable character, and categories P*;
bool is_bert_punctuation(char32_t cp);
// CJK ideographs (the CJK Unified Ideographs blocks and compatibility ideographs), each of
// which BERT treats as a word of its own. Hiragana, katakana and hangul are not included.
bool is_cjk_ideograph(char32_t cp);

// Simple (one-to-one) lowercase mapping.
char32_t to_lower(char32_t cp);

// Appends the canonical decomposition (NFD) of cp; with strip_marks, non-spacing marks (Mn)
// are dropped, which is BERT's "strip accents" (é → e, ử → u).
void append_nfd(std::u32string& out, char32_t cp, bool strip_marks);

}  // namespace hearth::tokenizer::unicode
