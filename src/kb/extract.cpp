// Format dispatch, file reading (size limit, gzip), encoding detection, and the simple
// line-based formats: plain text, CSV/TSV, JSON.
#include "kb/extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unicode/ucnv.h>
#include <unicode/ucsdet.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "kb/text_builder.h"
#include "util/error.h"

namespace hearth::kb {

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string read_file(const std::string& path, uint64_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_error(errno == ENOENT ? ErrorKind::not_found : ErrorKind::io, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_error(ErrorKind::io, "{}: not a regular file", path);
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    ::close(fd);
    throw_error(ErrorKind::limit, "{}: file is {} bytes, more than the limit of {} bytes (--max-file-size)", path,
                static_cast<uint64_t>(st.st_size), limit);
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw_error(ErrorKind::io, "{}: read failed: {}", path, std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  return data;
}

namespace {

std::string gunzip(std::string_view in, const std::string& name, uint64_t limit) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw_error(ErrorKind::internal, "zlib init failed");
  std::string out;
  char buf[1 << 16];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw_error(ErrorKind::format, "{}: corrupt gzip data ({})", name, zs.msg ? zs.msg : "inflate failed");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > limit) {
      inflateEnd(&zs);
      throw_error(ErrorKind::limit, "{}: decompresses to more than the limit of {} bytes", name, limit);
    }
    if (rc != Z_STREAM_END && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw_error(ErrorKind::format, "{}: truncated gzip data", name);
    }
  }
  inflateEnd(&zs);
  return out;
}

// Share of bytes that are control characters other than whitespace: binary files have many.
bool looks_binary(std::string_view s) {
  size_t n = std::min<size_t>(s.size(), 64 * 1024), ctrl = 0;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return true;
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1b) ++ctrl;
  }
  return n > 0 && ctrl * 100 > n;  // > 1 %
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

std::string convert(std::string_view bytes, const char* charset, const std::string& name) {
  UErrorCode err = U_ZERO_ERROR;
  UConverter* conv = ucnv_open(charset, &err);
  if (U_FAILURE(err)) throw_error(ErrorKind::unsupported, "{}: unsupported text encoding {}", name, charset);
  std::unique_ptr<UConverter, void (*)(UConverter*)> guard(conv, ucnv_close);
  UConverter* utf8 = ucnv_open("UTF-8", &err);
  std::unique_ptr<UConverter, void (*)(UConverter*)> guard8(utf8, ucnv_close);
  std::string out(bytes.size() * 3 + 16, '\0');
  char* target = out.data();
  const char* source = bytes.data();
  ucnv_convertEx(utf8, conv, &target, out.data() + out.size(), &source, bytes.data() + bytes.size(), nullptr,
                 nullptr, nullptr, nullptr, true, true, &err);
  if (U_FAILURE(err)) throw_error(ErrorKind::format, "{}: cannot convert from {}: {}", name, charset, u_errorName(err));
  out.resize(static_cast<size_t>(target - out.data()));
  return out;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::string to_utf8(std::string_view bytes, const std::string& name, std::string* encoding) {
  auto set = [&](const char* e) { if (encoding) *encoding = e; };
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xEF\xBB\xBF") {
    bytes.remove_prefix(3);
    if (!is_valid_utf8(bytes)) throw_error(ErrorKind::format, "{}: invalid UTF-8 after a UTF-8 byte-order mark", name);
    set("UTF-8");
    return std::string(bytes);
  }
  if (bytes.size() >= 2 && bytes.substr(0, 2) == "\xFF\xFE") { set("UTF-16LE"); return convert(bytes.substr(2), "UTF-16LE", name); }
  if (bytes.size() >= 2 && bytes.substr(0, 2) == "\xFE\xFF") { set("UTF-16BE"); return convert(bytes.substr(2), "UTF-16BE", name); }
  if (!has_nul(bytes) && is_valid_utf8(bytes)) {
    if (looks_binary(bytes)) throw_error(ErrorKind::format, "{}: binary data, not text", name);
    set("UTF-8");
    return std::string(bytes);
  }
  // UTF-16 without BOM: many NULs at odd or even positions in mostly-ASCII text.
  if (has_nul(bytes) && bytes.size() >= 4) {
    size_t even = 0, odd = 0, n = std::min<size_t>(bytes.size(), 4096) & ~size_t{1};
    for (size_t i = 0; i < n; i += 2) { even += bytes[i] == 0; odd += bytes[i + 1] == 0; }
    if (odd * 10 > n / 2 * 7 && even == 0) { set("UTF-16LE"); return convert(bytes, "UTF-16LE", name); }
    if (even * 10 > n / 2 * 7 && odd == 0) { set("UTF-16BE"); return convert(bytes, "UTF-16BE", name); }
  }
  if (looks_binary(bytes)) throw_error(ErrorKind::format, "{}: binary data, not text", name);
  UErrorCode err = U_ZERO_ERROR;
  UCharsetDetector* det = ucsdet_open(&err);
  std::unique_ptr<UCharsetDetector, void (*)(UCharsetDetector*)> guard(det, ucsdet_close);
  ucsdet_setText(det, bytes.data(), static_cast<int32_t>(std::min<size_t>(bytes.size(), 1 << 20)), &err);
  int32_t n_matches = 0;
  const UCharsetMatch** matches = ucsdet_detectAll(det, &n_matches, &err);
  if (U_FAILURE(err) || n_matches == 0)
    throw_error(ErrorKind::format, "{}: not valid UTF-8 and the encoding could not be detected", name);
  std::string charset = ucsdet_getName(matches[0], &err);
  int32_t confidence = ucsdet_getConfidence(matches[0], &err);
  if (U_FAILURE(err) || confidence < 10)
    throw_error(ErrorKind::format, "{}: not valid UTF-8 and the encoding could not be detected", name);
  // Short Western European text is often scored as another single-byte Latin code page
  // (ISO-8859-2, windows-1250 …); prefer windows-1252 when it is nearly as likely.
  if (charset.rfind("ISO-8859-", 0) == 0 || charset.rfind("windows-125", 0) == 0) {
    for (int32_t i = 0; i < n_matches; ++i) {
      std::string alt = ucsdet_getName(matches[i], &err);
      if ((alt == "ISO-8859-1" || alt == "windows-1252") && ucsdet_getConfidence(matches[i], &err) + 15 >= confidence) {
        charset = alt;
        break;
      }
    }
  }
  // ISO-8859-1 is better read as its superset windows-1252 (curly quotes in 0x80–0x9F).
  if (charset == "ISO-8859-1") charset = "windows-1252";
  if (encoding) *encoding = charset;
  std::string out = convert(bytes, charset.c_str(), name);
  if (!is_valid_utf8(out)) throw_error(ErrorKind::format, "{}: conversion from {} produced invalid UTF-8", name, charset);
  return out;
}

std::string format_for_path(std::string_view path) {
  std::string p = lower(path);
  size_t slash = p.rfind('/');
  if (slash != std::string::npos) p = p.substr(slash + 1);
  if (ends_with(p, ".gz")) p.resize(p.size() - 3);
  size_t dot = p.rfind('.');
  std::string ext = dot == std::string::npos ? "" : p.substr(dot + 1);
  if (ext == "md" || ext == "markdown" || ext == "mdown" || ext == "mkd") return "markdown";
  if (ext == "txt" || ext == "text" || ext == "rst" || ext == "log" || ext == "org" || ext == "adoc") return "text";
  if (ext == "html" || ext == "htm" || ext == "xhtml") return "html";
  if (ext == "xml") return "xml";
  if (ext == "pdf") return "pdf";
  if (ext == "docx") return "docx";
  if (ext == "odt") return "odt";
  if (ext == "epub") return "epub";
  if (ext == "csv") return "csv";
  if (ext == "tsv" || ext == "tab") return "tsv";
  if (ext == "json") return "json";
  return "";
}

Extracted extract_bytes(std::string_view bytes, const std::string& format, const std::string& name,
                        const ExtractOptions& options) {
  std::string inflated;
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f && static_cast<unsigned char>(bytes[1]) == 0x8b) {
    inflated = gunzip(bytes, name, options.max_file_bytes);
    bytes = inflated;
  }
  std::string fmt = format;
  if (fmt.empty()) {
    if (bytes.substr(0, 5) == "%PDF-") fmt = "pdf";
    else fmt = "text";  // extract_text rejects binary data
  }
  if (bytes.empty()) throw_error(ErrorKind::format, "{}: empty file", name);
  Extracted e;
  if (fmt == "markdown") e = extract_markdown(bytes, name);
  else if (fmt == "text") e = extract_text(bytes, name);
  else if (fmt == "html") e = extract_html(bytes, name);
  else if (fmt == "xml") e = extract_xml(bytes, name);
  else if (fmt == "pdf") e = extract_pdf(bytes, name, options);
  else if (fmt == "docx") e = extract_docx(bytes, name);
  else if (fmt == "odt") e = extract_odt(bytes, name);
  else if (fmt == "epub") e = extract_epub(bytes, name);
  else if (fmt == "csv") e = extract_csv(bytes, name, ',');
  else if (fmt == "tsv") e = extract_csv(bytes, name, '\t');
  else if (fmt == "json") e = extract_json(bytes, name);
  else throw_error(ErrorKind::unsupported, "{}: unsupported format '{}'", name, fmt);
  if (e.blocks.empty()) throw_error(ErrorKind::format, "{}: no text found", name);
  return e;
}

Extracted extract_file(const std::string& path, const ExtractOptions& options) {
  std::string data = read_file(path, options.max_file_bytes);
  std::string fmt = format_for_path(path);
  return extract_bytes(data, fmt, path, options);
}

// Plain text: paragraphs are separated by blank lines; a form feed starts a new page.
Extracted extract_text(std::string_view bytes, const std::string& name) {
  std::string text = to_utf8(bytes, name);
  TextBuilder tb("text");
  bool paged = text.find('\f') != std::string::npos;
  if (paged) tb.set_page(1);
  size_t i = 0, para_start = 0;
  auto flush = [&](size_t end) {
    tb.block(std::string_view(text).substr(para_start, end - para_start));
  };
  while (i < text.size()) {
    size_t eol = text.find('\n', i);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line = std::string_view(text).substr(i, eol - i);
    size_t ff = line.find('\f');
    if (ff != std::string_view::npos) {
      flush(i + ff);
      tb.set_page(tb.page() + 1);
      para_start = i + ff + 1;
      i = para_start;
      continue;
    }
    bool blank = line.find_first_not_of(" \t\r") == std::string_view::npos;
    if (blank) {
      flush(i);
      para_start = eol;
    }
    i = eol + 1;
  }
  flush(text.size());
  return tb.finish();
}

// CSV/TSV (RFC 4180 quoting): the first row is the header; each further row becomes one block
// "header1: value1 | header2: value2", so that a chunk of rows still says what each value is.
Extracted extract_csv(std::string_view bytes, const std::string& name, char sep) {
  std::string text = to_utf8(bytes, name);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') { field += '"'; ++i; }
        else quoted = false;
      } else field += c;
      continue;
    }
    if (c == '"' && field.empty()) { quoted = true; any = true; }
    else if (c == sep) { row.push_back(std::move(field)); field.clear(); any = true; }
    else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) { row.push_back(std::move(field)); rows.push_back(std::move(row)); }
      row.clear(); field.clear(); any = false;
    } else { field += c; any = true; }
  }
  if (any || !field.empty()) { row.push_back(std::move(field)); rows.push_back(std::move(row)); }
  TextBuilder tb(sep == '\t' ? "tsv" : "csv");
  if (rows.empty()) return tb.finish();
  const auto& header = rows[0];
  tb.block(collapse_whitespace([&] {
    std::string h;
    for (size_t k = 0; k < header.size(); ++k) h += (k ? " | " : "") + header[k];
    return h;
  }()), BlockKind::row);
  for (size_t r = 1; r < rows.size(); ++r) {
    std::string line;
    for (size_t k = 0; k < rows[r].size(); ++k) {
      std::string v = collapse_whitespace(rows[r][k]);
      if (v.empty()) continue;
      if (!line.empty()) line += " | ";
      if (k < header.size() && !header[k].empty()) line += collapse_whitespace(header[k]) + ": ";
      line += v;
    }
    tb.block(line, BlockKind::row);
  }
  return tb.finish();
}

namespace {
void json_walk(const nlohmann::json& j, const std::string& path, TextBuilder& tb, int depth) {
  if (depth > 64) return;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) json_walk(it.value(), path.empty() ? it.key() : path + "." + it.key(), tb, depth + 1);
  } else if (j.is_array()) {
    size_t i = 0;
    for (const auto& v : j) json_walk(v, path + "[" + std::to_string(i++) + "]", tb, depth + 1);
  } else if (!j.is_null()) {
    std::string v = j.is_string() ? j.get<std::string>() : j.dump();
    tb.block((path.empty() ? "" : path + ": ") + v, BlockKind::row);
  }
}
}  // namespace

// JSON: one block per scalar, "path.to[0].key: value".
Extracted extract_json(std::string_view bytes, const std::string& name) {
  std::string text = to_utf8(bytes, name);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw_error(ErrorKind::format, "{}: invalid JSON", name);
  TextBuilder tb("json");
  json_walk(j, "", tb, 0);
  return tb.finish();
}

}  // namespace hearth::kb
