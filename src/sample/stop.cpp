#include "sample/stop.h"

#include <algorithm>

namespace hearth::sample {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) continue;
    stops_.push_back(std::move(stops[i]));
    index_.push_back(static_cast<int>(i));
  }
}

void StopMatcher::reset() {
  held_.clear();
  stopped_index_ = -1;
}

bool StopMatcher::feed(std::string_view piece, std::string& out) {
  if (stopped()) return true;
  if (stops_.empty()) {
    out.append(piece);
    return false;
  }
  held_.append(piece);

  // A complete stop string anywhere in the held text: the earliest one wins (at equal start,
  // the one listed first). Held text never contains a complete stop string from an earlier
  // call, so only matches reaching into the new piece can appear — but searching the whole
  // held text is simpler and it is short (at most the longest stop string plus one piece).
  size_t best_pos = std::string::npos;
  int best = -1;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t pos = held_.find(stops_[i]);
    if (pos != std::string::npos && pos < best_pos) {
      best_pos = pos;
      best = static_cast<int>(i);
    }
  }
  if (best >= 0) {
    out.append(held_, 0, best_pos);
    held_.clear();
    stopped_index_ = index_[static_cast<size_t>(best)];
    return true;
  }

  // Hold back the longest tail of the text that is a proper prefix of some stop string: only
  // that part could still become a stop string with the next piece.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    const size_t max_len = std::min(s.size() - 1, held_.size());
    for (size_t len = max_len; len > keep; --len) {
      if (std::string_view(held_).substr(held_.size() - len) == std::string_view(s).substr(0, len)) {
        keep = len;
        break;
      }
    }
  }
  const size_t release = held_.size() - keep;
  out.append(held_, 0, release);
  held_.erase(0, release);
  return false;
}

void StopMatcher::flush(std::string& out) {
  if (!stopped()) out.append(held_);
  held_.clear();
}

}  // namespace hearth::sample
