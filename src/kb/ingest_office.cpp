// Zipped XML formats: DOCX (word/document.xml), ODT (content.xml), EPUB (OPF spine of XHTML
// files), via libzip and pugixml; also generic XML.
#include <zip.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>
#include <pugixml.hpp>

#include "kb/extract.h"
#include "kb/text_builder.h"
#include "util/error.h"

namespace hearth::kb {

namespace {

constexpr uint64_t kMaxEntryBytes = 512ull << 20;  // guard against zip bombs

class Zip {
 public:
  Zip(std::string_view bytes, const std::string& name) : name_(name) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
    if (src == nullptr) throw_error(ErrorKind::internal, "{}: libzip: {}", name, zip_error_strerror(&err));
    za_ = zip_open_from_source(src, ZIP_RDONLY, &err);
    if (za_ == nullptr) {
      zip_source_free(src);
      std::string msg = zip_error_strerror(&err);
      zip_error_fini(&err);
      throw_error(ErrorKind::format, "{}: not a valid ZIP container ({})", name, msg);
    }
  }
  ~Zip() { if (za_) zip_discard(za_); }
  Zip(const Zip&) = delete;
  Zip& operator=(const Zip&) = delete;

  bool has(const std::string& entry) const { return zip_name_locate(za_, entry.c_str(), 0) >= 0; }

  std::string read(const std::string& entry) const {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(za_, entry.c_str(), 0, &st) != 0) throw_error(ErrorKind::format, "{}: missing {}", name_, entry);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
      throw_error(ErrorKind::unsupported, "{}: {} is encrypted", name_, entry);
    if ((st.valid & ZIP_STAT_SIZE) && st.size > kMaxEntryBytes)
      throw_error(ErrorKind::limit, "{}: {} decompresses to {} bytes (limit {})", name_, entry, st.size, kMaxEntryBytes);
    zip_file_t* f = zip_fopen(za_, entry.c_str(), 0);
    if (f == nullptr) throw_error(ErrorKind::format, "{}: cannot open {}: {}", name_, entry, zip_strerror(za_));
    std::string out;
    char buf[1 << 16];
    zip_int64_t n;
    while ((n = zip_fread(f, buf, sizeof buf)) > 0) {
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > kMaxEntryBytes) { zip_fclose(f); throw_error(ErrorKind::limit, "{}: {} too large", name_, entry); }
    }
    zip_fclose(f);
    if (n < 0) throw_error(ErrorKind::format, "{}: corrupt entry {}", name_, entry);
    return out;
  }

 private:
  std::string name_;
  zip_t* za_ = nullptr;
};

pugi::xml_document parse_xml(const std::string& data, const std::string& name, const std::string& entry) {
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(data.data(), data.size(), pugi::parse_default | pugi::parse_ws_pcdata, pugi::encoding_utf8);
  if (!r) throw_error(ErrorKind::format, "{}: {}: invalid XML at offset {}: {}", name, entry, r.offset, r.description());
  return doc;
}

bool is(const pugi::xml_node& n, const char* name) { return std::strcmp(n.name(), name) == 0; }

// ---- DOCX ----
void docx_text(const pugi::xml_node& n, std::string& out) {
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_pcdata) continue;
    if (is(c, "w:t")) out += c.text().get();
    else if (is(c, "w:tab")) out += '\t';
    else if (is(c, "w:br") || is(c, "w:cr")) out += '\n';
    else if (is(c, "w:delText") || is(c, "w:instrText") || is(c, "w:pPr") || is(c, "w:rPr")) continue;
    else docx_text(c, out);
  }
}

int docx_heading_level(const pugi::xml_node& p) {
  pugi::xml_node ppr = p.child("w:pPr");
  if (!ppr) return 0;
  std::string style = ppr.child("w:pStyle").attribute("w:val").value();
  if (style == "Title") return 1;
  if (style.rfind("Heading", 0) == 0 && style.size() > 7 && std::isdigit(static_cast<unsigned char>(style[7])))
    return std::atoi(style.c_str() + 7);
  if (pugi::xml_node ol = ppr.child("w:outlineLvl")) return ol.attribute("w:val").as_int() + 1;
  return 0;
}

void docx_body(const pugi::xml_node& n, TextBuilder& tb, int depth) {
  if (depth > 64) return;
  for (pugi::xml_node c : n.children()) {
    if (is(c, "w:p")) {
      std::string t;
      docx_text(c, t);
      if (int level = docx_heading_level(c)) tb.heading(level, t);
      else tb.block(t);
    } else if (is(c, "w:tbl")) {
      for (pugi::xml_node tr : c.children("w:tr")) {
        std::string row;
        int cell = 0;
        for (pugi::xml_node tc : tr.children("w:tc")) {
          std::string t;
          for (pugi::xml_node p : tc.children("w:p")) { docx_text(p, t); t += ' '; }
          if (cell++ > 0) row += " | ";
          row += collapse_whitespace(t);
        }
        tb.block(row, BlockKind::row);
      }
    } else if (is(c, "w:sdt") || is(c, "w:sdtContent") || is(c, "w:customXml")) {
      docx_body(c, tb, depth + 1);
    }
  }
}

// ---- ODT ----
void odt_text(const pugi::xml_node& n, std::string& out) {
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) out += c.value();
    else if (is(c, "text:s")) out.append(static_cast<size_t>(std::max(1, c.attribute("text:c").as_int(1))), ' ');
    else if (is(c, "text:tab")) out += '\t';
    else if (is(c, "text:line-break")) out += '\n';
    else if (is(c, "office:annotation")) continue;
    else odt_text(c, out);
  }
}

void odt_body(const pugi::xml_node& n, TextBuilder& tb, int depth) {
  if (depth > 64) return;
  for (pugi::xml_node c : n.children()) {
    if (is(c, "text:h")) {
      std::string t;
      odt_text(c, t);
      tb.heading(c.attribute("text:outline-level").as_int(1), t);
    } else if (is(c, "text:p")) {
      std::string t;
      odt_text(c, t);
      tb.block(t);
    } else if (is(c, "table:table-row")) {
      std::string row;
      int cell = 0;
      for (pugi::xml_node tc : c.children("table:table-cell")) {
        std::string t;
        odt_text(tc, t);
        if (cell++ > 0) row += " | ";
        row += collapse_whitespace(t);
      }
      tb.block(row, BlockKind::row);
    } else if (c.type() == pugi::node_element) {
      odt_body(c, tb, depth + 1);  // lists, sections, tables, frames
    }
  }
}

// ---- generic XML ----
bool has_direct_text(const pugi::xml_node& n) {
  for (pugi::xml_node c : n.children())
    if ((c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) && collapse_whitespace(c.value()).size())
      return true;
  return false;
}

void xml_body(const pugi::xml_node& n, TextBuilder& tb, int depth) {
  if (depth > 128) return;
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      tb.block(collapse_whitespace(c.value()));
      continue;
    }
    if (c.type() != pugi::node_element) continue;
    std::string local = c.name();
    if (size_t colon = local.find(':'); colon != std::string::npos) local = local.substr(colon + 1);
    if (local == "title" || local == "heading" || local == "head") {
      std::string t;
      odt_text(c, t);
      tb.heading(std::max(1, depth), t);
    } else if (has_direct_text(c)) {
      std::string t;
      odt_text(c, t);  // all text below, in document order
      tb.block(collapse_whitespace(t));
    } else {
      xml_body(c, tb, depth + 1);
    }
  }
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// "a/b/../c%20d.xhtml" → "a/c d.xhtml"
std::string normalize_href(const std::string& base, std::string href) {
  if (size_t hash = href.find('#'); hash != std::string::npos) href.resize(hash);
  std::string dec;
  for (size_t i = 0; i < href.size(); ++i) {
    if (href[i] == '%' && i + 2 < href.size() && std::isxdigit(static_cast<unsigned char>(href[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(href[i + 2]))) {
      dec += static_cast<char>(std::stoi(href.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else dec += href[i];
  }
  std::string full = dec.rfind('/', 0) == 0 ? dec.substr(1) : base + dec;
  std::vector<std::string> parts;
  size_t s = 0;
  while (s <= full.size()) {
    size_t e = full.find('/', s);
    if (e == std::string::npos) e = full.size();
    std::string part = full.substr(s, e - s);
    if (part == "..") { if (!parts.empty()) parts.pop_back(); }
    else if (!part.empty() && part != ".") parts.push_back(part);
    s = e + 1;
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

}  // namespace

Extracted extract_docx(std::string_view bytes, const std::string& name) {
  Zip zip(bytes, name);
  if (!zip.has("word/document.xml")) {
    if (zip.has("EncryptionInfo")) throw_error(ErrorKind::unsupported, "{}: password-protected document", name);
    throw_error(ErrorKind::format, "{}: not a DOCX file (no word/document.xml)", name);
  }
  std::string xml = zip.read("word/document.xml");
  pugi::xml_document doc = parse_xml(xml, name, "word/document.xml");
  TextBuilder tb("docx");
  docx_body(doc.child("w:document").child("w:body"), tb, 0);
  return tb.finish();
}

Extracted extract_odt(std::string_view bytes, const std::string& name) {
  // An encrypted ODF package still has a readable ZIP directory but content.xml is ciphertext.
  if (bytes.substr(0, 2) != "PK") {
    if (bytes.substr(0, 8) == "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")
      throw_error(ErrorKind::unsupported, "{}: password-protected or legacy binary document", name);
  }
  Zip zip(bytes, name);
  std::string xml = zip.read("content.xml");
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata);
  if (!r) {
    if (zip.has("META-INF/manifest.xml") && zip.read("META-INF/manifest.xml").find("encryption-data") != std::string::npos)
      throw_error(ErrorKind::unsupported, "{}: password-protected document", name);
    throw_error(ErrorKind::format, "{}: content.xml: invalid XML at offset {}: {}", name, r.offset, r.description());
  }
  TextBuilder tb("odt");
  odt_body(doc.child("office:document-content").child("office:body").child("office:text"), tb, 0);
  return tb.finish();
}

Extracted extract_epub(std::string_view bytes, const std::string& name) {
  Zip zip(bytes, name);
  std::string container = zip.read("META-INF/container.xml");
  pugi::xml_document cdoc = parse_xml(container, name, "META-INF/container.xml");
  std::string opf_path =
      cdoc.select_node("//*[local-name()='rootfile']").node().attribute("full-path").value();
  if (opf_path.empty()) throw_error(ErrorKind::format, "{}: META-INF/container.xml names no rootfile", name);
  pugi::xml_document opf = parse_xml(zip.read(opf_path), name, opf_path);
  std::string base = dir_of(opf_path);
  std::map<std::string, std::string> manifest;
  for (auto x : opf.select_nodes("//*[local-name()='manifest']/*[local-name()='item']"))
    manifest[x.node().attribute("id").value()] = x.node().attribute("href").value();
  TextBuilder tb("epub");
  size_t n_items = 0;
  for (auto x : opf.select_nodes("//*[local-name()='spine']/*[local-name()='itemref']")) {
    auto it = manifest.find(x.node().attribute("idref").value());
    if (it == manifest.end()) continue;
    std::string entry = normalize_href(base, it->second);
    if (!zip.has(entry)) continue;
    append_html(tb, zip.read(entry), name + ":" + entry);
    ++n_items;
  }
  if (n_items == 0) throw_error(ErrorKind::format, "{}: EPUB spine lists no readable documents", name);
  return tb.finish();
}

Extracted extract_xml(std::string_view bytes, const std::string& name) {
  std::string text = to_utf8(bytes, name);
  pugi::xml_document doc = parse_xml(text, name, "document");
  TextBuilder tb("xml");
  xml_body(doc, tb, 0);
  return tb.finish();
}

}  // namespace hearth::kb
