// Text extraction: every supported document format becomes one UTF-8 string plus the structure
// that was found in it (headings and their path, pages, paragraphs, table rows), as blocks with
// byte offsets into that string. Chunking (chunk.h) cuts along these blocks, so every chunk knows
// its section path, page and offsets.
//
// Invariant (tested): every non-whitespace byte of `text` lies inside some block.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::kb {

enum class BlockKind : uint8_t { heading, paragraph, row, code };

struct Block {
  size_t start = 0;   // byte offset in Extracted::text
  size_t end = 0;     // one past the last byte
  BlockKind kind = BlockKind::paragraph;
  int level = 0;      // heading level (1 = top) for headings
  int page = 0;       // 1-based page (PDF), 0 when the format has no pages
  uint32_t section = 0;  // index into Extracted::sections (0 = the document root, path "")
};

struct Extracted {
  std::string format;                  // "markdown", "pdf", "html", …
  std::string text;                    // the extracted text, UTF-8
  std::vector<Block> blocks;           // in text order, non-overlapping
  std::vector<std::string> sections;   // section paths, "Chapter 2 > Install"; [0] = ""
  int pages = 0;                       // number of pages (PDF), else 0
};

struct ExtractOptions {
  uint64_t max_file_bytes = 256ull << 20;  // larger files are skipped (ErrorKind::limit)
  std::string pdftotext = "pdftotext";     // the poppler-utils tool, run as a subprocess
};

// The format name for a path from its extension ("" when unknown). A trailing ".gz" is looked
// through: "policy.txt.gz" → "text".
std::string format_for_path(std::string_view path);

// Reads and extracts one file. Throws hearth::Error with a message for the user when the file
// cannot be read or is not a usable document (corrupt, encrypted, empty, binary, too large).
Extracted extract_file(const std::string& path, const ExtractOptions& options = {});

// Extracts from bytes already in memory; `format` as returned by format_for_path, or "" to sniff.
Extracted extract_bytes(std::string_view bytes, const std::string& format, const std::string& name,
                        const ExtractOptions& options = {});

// Per-format extractors (ingest_*.cpp). `name` is used in error messages only.
Extracted extract_text(std::string_view bytes, const std::string& name);       // plain text, any encoding
Extracted extract_markdown(std::string_view bytes, const std::string& name);
Extracted extract_html(std::string_view bytes, const std::string& name);
Extracted extract_xml(std::string_view bytes, const std::string& name);
Extracted extract_csv(std::string_view bytes, const std::string& name, char separator);
Extracted extract_json(std::string_view bytes, const std::string& name);
Extracted extract_pdf(std::string_view bytes, const std::string& name, const ExtractOptions& options);
Extracted extract_docx(std::string_view bytes, const std::string& name);
Extracted extract_odt(std::string_view bytes, const std::string& name);
Extracted extract_epub(std::string_view bytes, const std::string& name);

// Any text encoding to UTF-8: BOMs (UTF-8, UTF-16 LE/BE), valid UTF-8, else ICU's charset
// detector (GB18030, Shift_JIS, windows-1252, …). Throws ErrorKind::format for binary data.
// `encoding` (optional) receives the name of the encoding that was used.
std::string to_utf8(std::string_view bytes, const std::string& name, std::string* encoding = nullptr);

bool is_valid_utf8(std::string_view s);

// Reads a whole regular file; throws not_found/io, or limit when it is larger than `limit` bytes.
std::string read_file(const std::string& path, uint64_t limit);

}  // namespace hearth::kb
