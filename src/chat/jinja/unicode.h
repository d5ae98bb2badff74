// UTF-8 helpers for the Jinja interpreter: Python's str works on code points, so length,
// indexing, slicing, strip(), split() and case mapping go through these.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::chat::jinja::unicode {

// Decodes UTF-8; an invalid byte decodes to itself as a code point (U+0080..U+00FF), so
// decoding then encoding round-trips ASCII and valid UTF-8 exactly.
std::vector<char32_t> decode(std::string_view s);
void append_utf8(std::string& out, char32_t cp);
std::string encode(const std::vector<char32_t>& cps, size_t begin, size_t end);
size_t length(std::string_view s);  // in code points
bool is_ascii(std::string_view s);

bool is_space(char32_t c);      // str.isspace()
bool is_printable(char32_t c);  // str.isprintable()
bool is_linebreak(char32_t c);  // a str.splitlines() boundary
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_cased_lower(char32_t c);
bool is_cased_upper(char32_t c);
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
char32_t to_title(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);

}  // namespace hearth::chat::jinja::unicode
