// Markdown via md4c (GitHub dialect): headings give the section path; paragraphs, list items,
// code blocks and table rows become blocks. Markup characters are dropped, text is kept.
#include <md4c.h>

#include "kb/extract.h"
#include "kb/text_builder.h"
#include "util/error.h"

namespace hearth::kb {

namespace {

struct MdState {
  TextBuilder tb{"markdown"};
  std::string cur;
  int heading_level = 0;
  bool in_code = false;
  int cell = 0;

  void flush(BlockKind kind = BlockKind::paragraph) {
    if (heading_level > 0) tb.heading(heading_level, cur);
    else tb.block(cur, in_code ? BlockKind::code : kind);
    cur.clear();
  }
};

int enter_block(MD_BLOCKTYPE type, void* detail, void* ud) {
  auto* s = static_cast<MdState*>(ud);
  switch (type) {
    case MD_BLOCK_H:
      s->flush();
      s->heading_level = static_cast<int>(static_cast<MD_BLOCK_H_DETAIL*>(detail)->level);
      break;
    case MD_BLOCK_CODE: s->flush(); s->in_code = true; break;
    case MD_BLOCK_P: case MD_BLOCK_LI: case MD_BLOCK_QUOTE: case MD_BLOCK_HTML: case MD_BLOCK_TABLE:
      s->flush();
      break;
    case MD_BLOCK_TR: s->flush(); s->cell = 0; break;
    case MD_BLOCK_TH: case MD_BLOCK_TD:
      if (s->cell++ > 0) s->cur += " | ";
      break;
    default: break;
  }
  return 0;
}

int leave_block(MD_BLOCKTYPE type, void*, void* ud) {
  auto* s = static_cast<MdState*>(ud);
  switch (type) {
    case MD_BLOCK_H: s->flush(); s->heading_level = 0; break;
    case MD_BLOCK_CODE: s->flush(); s->in_code = false; break;
    case MD_BLOCK_TR: s->flush(BlockKind::row); break;
    case MD_BLOCK_P: case MD_BLOCK_LI: case MD_BLOCK_QUOTE: case MD_BLOCK_HTML: s->flush(); break;
    default: break;
  }
  return 0;
}

int span(MD_SPANTYPE, void*, void*) { return 0; }

int text(MD_TEXTTYPE type, const MD_CHAR* p, MD_SIZE n, void* ud) {
  auto* s = static_cast<MdState*>(ud);
  switch (type) {
    case MD_TEXT_NULLCHAR: s->cur += "\xEF\xBF\xBD"; break;
    case MD_TEXT_BR: case MD_TEXT_SOFTBR: s->cur += '\n'; break;
    case MD_TEXT_ENTITY: s->cur += decode_entity(std::string_view(p, n)); break;
    case MD_TEXT_HTML: {
      // Raw HTML: keep what is not inside a tag (a block of HTML may hold text).
      bool tag = false;
      for (MD_SIZE i = 0; i < n; ++i) {
        if (p[i] == '<') tag = true;
        else if (p[i] == '>') tag = false;
        else if (!tag) s->cur += p[i];
      }
      break;
    }
    default: s->cur.append(p, n); break;
  }
  return 0;
}

}  // namespace

Extracted extract_markdown(std::string_view bytes, const std::string& name) {
  std::string src = to_utf8(bytes, name);
  MdState state;
  MD_PARSER parser{};
  parser.abi_version = 0;
  parser.flags = MD_DIALECT_GITHUB;
  parser.enter_block = enter_block;
  parser.leave_block = leave_block;
  parser.enter_span = span;
  parser.leave_span = span;
  parser.text = text;
  if (md_parse(src.data(), static_cast<MD_SIZE>(src.size()), &parser, &state) != 0)
    throw_error(ErrorKind::format, "{}: Markdown parser failed", name);
  state.flush();
  return state.tb.finish();
}

}  // namespace hearth::kb
