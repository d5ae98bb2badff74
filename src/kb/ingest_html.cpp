// HTML via libxml2's HTML parser (recovers from broken markup, never fetches anything).
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include <cstring>
#include <memory>

#include "kb/extract.h"
#include "kb/text_builder.h"
#include "util/error.h"

namespace hearth::kb {

namespace {

// Sphinx and similar generators put a "¶" permalink into every heading.
bool is_permalink(xmlNode* n) {
  if (std::strcmp(reinterpret_cast<const char*>(n->name), "a") != 0) return false;
  xmlChar* cls = xmlGetProp(n, reinterpret_cast<const xmlChar*>("class"));
  bool yes = cls != nullptr && std::strstr(reinterpret_cast<const char*>(cls), "headerlink") != nullptr;
  xmlFree(cls);
  return yes;
}

bool name_in(const char* n, std::initializer_list<const char*> names) {
  for (const char* x : names) if (std::strcmp(n, x) == 0) return true;
  return false;
}

struct HtmlWalker {
  TextBuilder& tb;
  std::string cur;
  int cell = 0;

  void flush(BlockKind kind = BlockKind::paragraph) {
    std::string t = kind == BlockKind::code ? cur : collapse_whitespace(cur);
    tb.block(t, kind);
    cur.clear();
  }

  static void text_of(xmlNode* n, std::string& out, int depth) {
    if (depth > 200) return;
    for (xmlNode* c = n->children; c; c = c->next) {
      if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
        if (c->content) out += reinterpret_cast<const char*>(c->content);
      } else if (c->type == XML_ELEMENT_NODE) {
        const char* cn = reinterpret_cast<const char*>(c->name);
        if (name_in(cn, {"script", "style"}) || is_permalink(c)) continue;
        if (name_in(cn, {"br"})) out += ' ';
        text_of(c, out, depth + 1);
      }
    }
  }

  void walk(xmlNode* n, int depth) {
    if (depth > 200) return;
    for (xmlNode* c = n->children; c; c = c->next) {
      if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
        if (c->content) cur += reinterpret_cast<const char*>(c->content);
        continue;
      }
      if (c->type != XML_ELEMENT_NODE) continue;
      const char* name = reinterpret_cast<const char*>(c->name);
      if (name_in(name, {"script", "style", "noscript", "template", "head", "svg", "math", "select", "button"}) ||
          is_permalink(c))
        continue;
      if (name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && name[2] == '\0') {
        flush();
        std::string t;
        text_of(c, t, 0);
        tb.heading(name[1] - '0', t);
        continue;
      }
      if (std::strcmp(name, "pre") == 0) {
        flush();
        text_of(c, cur, 0);
        flush(BlockKind::code);
        continue;
      }
      if (std::strcmp(name, "br") == 0) { cur += '\n'; continue; }
      if (std::strcmp(name, "tr") == 0) {
        flush();
        cell = 0;
        walk(c, depth + 1);
        flush(BlockKind::row);
        continue;
      }
      if (name_in(name, {"td", "th"})) {
        if (cell++ > 0) cur += " | ";
        walk(c, depth + 1);
        continue;
      }
      bool is_block = name_in(name, {"p", "div", "li", "dt", "dd", "blockquote", "table", "section", "article",
                                     "header", "footer", "nav", "aside", "ul", "ol", "dl", "figure", "figcaption",
                                     "form", "hr", "caption", "address", "main", "body", "tbody", "thead", "center",
                                     "details", "summary", "fieldset", "legend"});
      if (is_block) flush();
      walk(c, depth + 1);
      if (is_block) flush();
    }
  }
};

}  // namespace

void append_html(TextBuilder& tb, std::string_view bytes, const std::string& name) {
  const char* enc = is_valid_utf8(bytes) ? "UTF-8" : nullptr;
  htmlDocPtr doc = htmlReadMemory(bytes.data(), static_cast<int>(bytes.size()), nullptr, enc,
                                  HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                                      HTML_PARSE_NOBLANKS);
  if (doc == nullptr) throw_error(ErrorKind::format, "{}: not parseable as HTML", name);
  std::unique_ptr<xmlDoc, void (*)(xmlDocPtr)> guard(doc, xmlFreeDoc);
  xmlNode* root = xmlDocGetRootElement(doc);
  if (root == nullptr) return;
  HtmlWalker w{tb, {}, 0};
  w.walk(root, 0);
  w.flush();
}

Extracted extract_html(std::string_view bytes, const std::string& name) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw_error(ErrorKind::limit, "{}: HTML file too large", name);
  if (bytes.find('\0') != std::string_view::npos && !(bytes.size() > 1 && (bytes[0] == '\xFF' || bytes[0] == '\xFE')))
    throw_error(ErrorKind::format, "{}: binary data, not HTML", name);
  TextBuilder tb("html");
  append_html(tb, bytes, name);
  return tb.finish();
}

}  // namespace hearth::kb
