// `kb add --watch`: follows folders (and files) with inotify and keeps a knowledge base current.
// Every folder below the roots is watched (new folders as they appear); changes are collected
// until nothing has happened for `debounce`, then only the affected paths are ingested again:
// created or changed files are (re-)ingested, deleted or moved-away files and folders removed,
// new folders ingested whole. Files ingest_paths would pass over (hidden, excluded, ignored
// extensions) are passed over here too.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "kb/ingest.h"
#include "kb/store.h"

namespace hearth::kb {

struct WatchOptions {
  IngestOptions ingest;
  std::chrono::milliseconds debounce{500};
};

// Runs until `stop` becomes true (checked at least every 100 ms). `log` receives one line per
// thing done ("updated /notes/a.md (3 chunks)"). Throws Error(io) when inotify is unavailable.
void watch_paths(Store& store, const KbInfo& kb, const std::vector<std::string>& roots, const WatchOptions& options,
                 const std::atomic<bool>& stop, const std::function<void(const std::string&)>& log);

}  // namespace hearth::kb
