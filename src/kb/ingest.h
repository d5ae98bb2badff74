// Ingest: walks files and folders, extracts, chunks and stores each document in its own
// transaction. Incremental: unchanged files (same size and mtime, or same SHA-256) are skipped,
// changed ones re-chunked, and files that disappeared from the given folders removed. A file
// that cannot be used is recorded with its reason (status error/skipped) and the ingest goes on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kb/extract.h"
#include "kb/store.h"

namespace hearth::kb {

struct IngestOptions {
  ExtractOptions extract;
  std::vector<std::string> include;  // globs (fnmatch) on the file name or the path below the root; empty = all
  std::vector<std::string> exclude;  // globs; matched against names of folders too
  bool remove_missing = true;        // remove documents under the given folders that are gone
  bool include_hidden = false;       // files and folders whose name starts with '.'
  bool progress = false;             // progress line on stderr
  // Counts chunk tokens; empty = ingest_paths builds it from the knowledge base's tokenizer
  // (KbInfo::tokenizer, make_token_counter, token_counter.h) before it touches any document. `kb add`
  // builds it once and keeps it for --watch.
  TokenCounter count_tokens;
};

struct IngestReport {
  int64_t files = 0;       // files considered
  int64_t added = 0, updated = 0, unchanged = 0, removed = 0, failed = 0, skipped = 0;
  int64_t bytes = 0;       // bytes of the files that were read
  int64_t chunks = 0;      // chunks written
  double seconds = 0;
};

IngestReport ingest_paths(Store& store, const KbInfo& kb, const std::vector<std::string>& paths,
                          const IngestOptions& options);

// Whether ingest_paths(root) would take `path` (absolute, below root): no hidden name on the
// way, no exclude glob matching, and for a file an extension that is not ignored and a match
// of the include globs. Used by `kb add --watch` for files that change.
bool wanted_below(const IngestOptions& options, const std::string& root, const std::string& path, bool is_dir);

}  // namespace hearth::kb
