// Stop strings over streamed pieces: what is released, what is held back, where it stops.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sample/stop.h"

using hearth::sample::StopMatcher;

namespace {

// Feeds pieces one by one; returns everything released and whether a stop string matched.
std::pair<std::string, bool> stream(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) {
    if (m.feed(p, out)) return {out, true};
  }
  m.flush(out);
  return {out, false};
}

}  // namespace

TEST(StopMatcher, NoStopsPassesEverythingThrough) {
  StopMatcher m;
  std::string out;
  EXPECT_FALSE(m.feed("hello", out));
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(m.held(), 0u);
}

TEST(StopMatcher, StopStringSplitAcrossPieces) {
  StopMatcher m({"\nUser:"});
  auto [out, stopped] = stream(m, {"Sure, here", " it is.\n", "Us", "er: next"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "Sure, here it is.");
  EXPECT_EQ(m.stopped_index(), 0);
}

TEST(StopMatcher, HoldsBackOnlyAPossiblePrefix) {
  StopMatcher m({"</s>"});
  std::string out;
  EXPECT_FALSE(m.feed("abc<", out));
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(m.held(), 1u);
  out.clear();
  EXPECT_FALSE(m.feed("b>", out));  // "<b>" cannot become "</s>": released
  EXPECT_EQ(out, "<b>");
  EXPECT_EQ(m.held(), 0u);
}

TEST(StopMatcher, FalseStartIsReleasedAtTheEnd) {
  StopMatcher m({"STOP"});
  auto [out, stopped] = stream(m, {"a ST", "O"});
  EXPECT_FALSE(stopped);
  EXPECT_EQ(out, "a STO");
}

TEST(StopMatcher, EarliestStopWinsAndReportsItsIndex) {
  StopMatcher m({"", "xyz", "b"});  // the empty string is ignored, indices stay as given
  auto [out, stopped] = stream(m, {"aaxyzb"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "aa");
  EXPECT_EQ(m.stopped_index(), 1);
  std::string more;
  EXPECT_TRUE(m.feed("anything", more));  // stays stopped until reset
  EXPECT_TRUE(more.empty());
  m.reset();
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, OverlappingPrefixesAcrossManyPieces) {
  StopMatcher m({"aab"});
  // "aaab" contains "aab" starting at 1; the first 'a' must come out, the rest must not.
  auto [out, stopped] = stream(m, {"a", "a", "a", "b", "c"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "a");
}

TEST(StopMatcher, MultibyteCharactersStayWhole) {
  StopMatcher m({"。"});
  auto [out, stopped] = stream(m, {"你好", "\xE3\x80", "\x82再见"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "你好");
}
