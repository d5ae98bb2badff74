// Helper shared by the extractors: appends blocks of text to an Extracted, separated by blank
// lines, and keeps the heading stack so that each block gets its section path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kb/extract.h"

namespace hearth::kb {

class TextBuilder {
 public:
  explicit TextBuilder(std::string format);

  // A heading of `level` (1 = top): closes deeper headings, becomes its own block.
  void heading(int level, std::string_view text);
  // A block of text. Leading/trailing whitespace is trimmed; empty blocks are dropped.
  void block(std::string_view text, BlockKind kind = BlockKind::paragraph);
  void set_page(int page) { page_ = page; }
  int page() const { return page_; }

  Extracted finish();

 private:
  uint32_t section_index();

  Extracted out_;
  std::vector<std::pair<int, std::string>> stack_;  // (level, title)
  uint32_t section_ = 0;
  bool section_dirty_ = false;
  int page_ = 0;
};

// Collapses runs of whitespace (ASCII and U+00A0/U+3000) to one space and trims.
std::string collapse_whitespace(std::string_view s);

}  // namespace hearth::kb

namespace hearth::kb {
// Appends code point `cp` as UTF-8 (invalid code points become U+FFFD).
void append_utf8(std::string& out, uint32_t cp);
// "&amp;", "&#233;", "&#x4E2D;" → UTF-8; unknown entities are returned unchanged.
std::string decode_entity(std::string_view entity);
}  // namespace hearth::kb

namespace hearth::kb {
// Parses one HTML/XHTML document (libxml2's forgiving HTML parser) into `tb`: h1–h6 become
// headings, block elements become blocks, table rows become rows with " | " between cells.
void append_html(TextBuilder& tb, std::string_view bytes, const std::string& name);
}  // namespace hearth::kb
