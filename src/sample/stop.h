// Stop strings over streamed text. Generated text arrives in pieces (one token's bytes at a
// time) and a stop string may straddle pieces, so the matcher holds back any tail of the text
// that could still grow into a stop string, and releases it once it cannot.
//
//   hearth::sample::StopMatcher stop({"\nUser:", "</s>"});
//   std::string out;
//   for each piece:  if (stop.feed(piece, out)) { send(out); break; }  else { send(out); out.clear(); }
//   at the end:      stop.flush(out); send(out);
//
// Text before a stop string is released; the stop string itself and anything after it are not.
// Matching is on bytes (UTF-8 in, UTF-8 out: a stop string is itself whole characters, so a cut
// before it never splits a character that the model finished).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hearth::sample {

class StopMatcher {
 public:
  // Empty strings in `stops` are ignored (they would match everywhere).
  explicit StopMatcher(std::vector<std::string> stops = {});

  // Appends piece to the held text. Appends to `out` the text that is now certain not to be part
  // of a stop string. Returns true when a stop string has been completed: `out` then got the
  // text up to (not including) it, and the matcher ignores further pieces until reset().
  bool feed(std::string_view piece, std::string& out);

  // End of generation: appends the held-back text to `out` (it never completed a stop string).
  void flush(std::string& out);

  bool stopped() const { return stopped_index_ >= 0; }
  // Which stop string matched (index into the constructor's list), or -1.
  int stopped_index() const { return stopped_index_; }
  // Bytes currently held back.
  size_t held() const { return held_.size(); }
  void reset();

 private:
  std::vector<std::string> stops_;
  std::vector<int> index_;  // stops_[i] came from the constructor's list at index_[i]
  std::string held_;        // reused buffer: text not yet released
  int stopped_index_ = -1;
};

}  // namespace hearth::sample
