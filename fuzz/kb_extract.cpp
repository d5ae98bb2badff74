// libFuzzer target: the knowledge-base extractors on arbitrary bytes. The first byte picks the
// format; the rest is the document. Any hearth::Error is a fine answer; a crash, hang, sanitizer
// report or a block outside the text is a bug. PDF is left out (it runs pdftotext).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kb/chunk.h"
#include "kb/extract.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* formats[] = {"markdown", "text", "html", "xml", "docx", "odt", "epub", "csv", "tsv", "json", ""};
  const char* format = formats[data[0] % (sizeof formats / sizeof formats[0])];
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (std::string_view(format).empty() && bytes.substr(0, 5) == "%PDF-") return 0;
  try {
    hearth::kb::Extracted e = hearth::kb::extract_bytes(bytes, format, "fuzz");
    for (const auto& b : e.blocks)
      if (b.start >= b.end || b.end > e.text.size() || b.section >= e.sections.size()) std::abort();
    auto chunks = hearth::kb::chunk_document(e, {hearth::kb::ChunkStrategy::paragraph, 32, 8});
    for (const auto& c : chunks)
      if (c.start >= c.end || c.end > e.text.size()) std::abort();
  } catch (const hearth::Error&) {
  }
  return 0;
}
