// The JSON recognizer and the token mask built on it (src/sample/json_constraint.h).
#include "sample/json_constraint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

namespace hearth::sample {
namespace {

JsonOptions any_value() { return {.object_only = false, .leading_whitespace = true}; }

// Fed as a whole: accepted as a prefix?
bool prefix_ok(std::string_view s, JsonOptions o = {}) {
  JsonRecognizer r(o);
  return r.feed(s);
}
bool complete(std::string_view s, JsonOptions o = {}) {
  JsonRecognizer r(o);
  return r.feed(s) && r.complete();
}

TEST(JsonRecognizer, CompleteObjects) {
  for (const char* s : {"{}", "{} ", "{\"a\":1}", "{ \"a\" : [ ] }", "{\"a\":{\"b\":{}}}",
                        "{\"k\":[1,2.5,-0.1e+10,0,-0,1E5,2e-3,true,false,null,\"x\"]}",
                        "{\"\":\"\",\"b\":[[],[{}]]}", "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"}",
                        "{\"utf8\":\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"}", "{\n\t\"a\" :\n 1\r}\n"}) {
    EXPECT_TRUE(complete(s)) << s;
    EXPECT_TRUE(nlohmann::json::accept(s)) << s;  // the oracle agrees
  }
}

TEST(JsonRecognizer, ValidPrefixesThatAreNotComplete) {
  for (const char* s : {"", "{", "{\"", "{\"a", "{\"a\"", "{\"a\":", "{\"a\":-", "{\"a\":0.", "{\"a\":1e",
                        "{\"a\":1e+", "{\"a\":1E-", "{\"a\":1", "{\"a\":1.5", "{\"a\":tr", "{\"a\":n", "{\"a\":[",
                        "{\"a\":[1,", "{\"a\":\"\\", "{\"a\":\"\\u00", "{\"a\":\"\\uD83D", "{\"a\":\"\\uD83D\\",
                        "{\"a\":\"\\uD83D\\u", "{\"a\":\"\\uD83D\\uDE", "{\"a\":\"\xe2\x82", "{\"a\":1,"}) {
    JsonRecognizer r;
    EXPECT_TRUE(r.feed(s)) << s;
    EXPECT_FALSE(r.complete()) << s;
    EXPECT_FALSE(r.closed()) << s;
  }
}

TEST(JsonRecognizer, InvalidPrefixes) {
  for (const char* s : {"[", "\"a\"", "1", "true", "x", "}", "{,", "{\"a\",", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1",
                        "{'a'", "{a", "{\"a\":01", "{\"a\":-}", "{\"a\":-a", "{\"a\":0.}", "{\"a\":0.e", "{\"a\":.5",
                        "{\"a\":+1", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":1.e5", "{\"a\":1ee", "{\"a\":--1",
                        "{\"a\":00", "{\"a\":-01", "{\"a\":tru}", "{\"a\":True", "{\"a\":nul ", "{\"a\":\"\\x",
                        "{\"a\":\"\\u12G", "{\"a\":\"\\U0041", "{\"a\":\"\n", "{\"a\":\"\t", "{\"a\":\"\x01",
                        "{\"a\":1}}", "{\"a\":1} x", "{\"a\":1}{", "{\"a\":[1}", "{\"a\":{]", "{\"a\":[,",
                        "{\"a\":[1,]", "{\"a\":1 2"}) {
    EXPECT_FALSE(prefix_ok(s)) << s;
  }
}

TEST(JsonRecognizer, TopLevelValuesWhenNotObjectOnly) {
  const JsonOptions o = any_value();
  EXPECT_TRUE(complete("0", o));
  EXPECT_TRUE(complete("-0", o));
  EXPECT_TRUE(complete("12", o));
  EXPECT_TRUE(complete("1.5e10", o));
  EXPECT_TRUE(complete(" 7 ", o));
  EXPECT_TRUE(complete("\"x\"", o));
  EXPECT_TRUE(complete("[]", o));
  EXPECT_TRUE(complete("null", o));
  EXPECT_FALSE(complete("-", o));
  EXPECT_FALSE(complete("0.", o));
  EXPECT_FALSE(complete("1e", o));
  EXPECT_FALSE(complete("1e-", o));
  EXPECT_FALSE(complete("nul", o));
  EXPECT_FALSE(prefix_ok("01", o));
  EXPECT_FALSE(prefix_ok("1 2", o));
  EXPECT_FALSE(prefix_ok("[] []", o));
  // A number can go on: complete but not closed. A closed value is.
  JsonRecognizer r(o);
  ASSERT_TRUE(r.feed("12"));
  EXPECT_TRUE(r.complete());
  EXPECT_FALSE(r.closed());
  ASSERT_TRUE(r.feed("3 "));
  EXPECT_TRUE(r.closed());
  JsonRecognizer q(o);
  ASSERT_TRUE(q.feed("true"));
  EXPECT_TRUE(q.closed());
}

TEST(JsonRecognizer, Surrogates) {
  EXPECT_TRUE(complete("{\"a\":\"\\ud83d\\ude00\"}"));
  EXPECT_TRUE(complete("{\"a\":\"\\uD7FF\\uE000\"}"));
  EXPECT_FALSE(prefix_ok("{\"a\":\"\\uDE"));        // lone low surrogate
  EXPECT_FALSE(prefix_ok("{\"a\":\"\\uD83D\""));    // high surrogate not followed by \u
  EXPECT_FALSE(prefix_ok("{\"a\":\"\\uD83Dx"));
  EXPECT_FALSE(prefix_ok("{\"a\":\"\\uD83D\\n"));
  EXPECT_FALSE(prefix_ok("{\"a\":\"\\uD83D\\u0"));  // must be a low surrogate
  EXPECT_FALSE(prefix_ok("{\"a\":\"\\uD83D\\uD8"));
}

TEST(JsonRecognizer, RawUtf8InStrings) {
  EXPECT_TRUE(complete("{\"a\":\"\xc3\xa9\xe0\xa0\x80\xed\x9f\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}"));
  for (const char* s : {"{\"a\":\"\x80", "{\"a\":\"\xc0\x80", "{\"a\":\"\xc1", "{\"a\":\"\xe0\x80",
                        "{\"a\":\"\xed\xa0", "{\"a\":\"\xf0\x80", "{\"a\":\"\xf4\x90", "{\"a\":\"\xf5", "{\"a\":\"\xff",
                        "{\"a\":\"\xc3\"", "{\"a\":\"\xe2\x82\""}) {
    EXPECT_FALSE(prefix_ok(s)) << s;
  }
  EXPECT_FALSE(prefix_ok("{\xc3\xa9"));  // outside strings only ASCII
}

TEST(JsonRecognizer, WhitespaceRunsAreLimited) {
  JsonOptions o;
  o.max_whitespace = 4;
  EXPECT_FALSE(prefix_ok(" {", o));  // nothing before the object...
  EXPECT_TRUE(prefix_ok("  {", {.leading_whitespace = true}));  // ...unless asked
  EXPECT_TRUE(prefix_ok("{    \"a\"    :    1    ,    \"b\":2    }    ", o));
  EXPECT_FALSE(prefix_ok("{\"a\":1     ", o));
  EXPECT_FALSE(prefix_ok("{\"a\":1}     ", o));
  EXPECT_TRUE(complete("{\"a\":\"          \"}", o));  // not inside strings
  // At most one line break per run.
  EXPECT_TRUE(prefix_ok("{\n  \"a\":\n1 \n}", o));
  EXPECT_FALSE(prefix_ok("{\n\n", o));
  EXPECT_FALSE(prefix_ok("{ \n \n", o));
  EXPECT_FALSE(prefix_ok("{\r\n", o));
}

TEST(JsonRecognizer, DepthIsLimited) {
  JsonOptions o;
  o.max_depth = 3;
  EXPECT_TRUE(complete("{\"a\":[{}]}", o));
  EXPECT_TRUE(prefix_ok("{\"a\":[[", o));
  EXPECT_FALSE(prefix_ok("{\"a\":[[[", o));
  EXPECT_FALSE(prefix_ok("{\"a\":[{\"b\":{", o));
  JsonOptions deep = any_value();
  std::string s(64, '[');
  EXPECT_TRUE(prefix_ok(s, deep));
  EXPECT_FALSE(prefix_ok(s + "[", deep));
  EXPECT_TRUE(complete(s + std::string(64, ']'), deep));
}

TEST(JsonRecognizer, FailedFeedLeavesTheStateAlone) {
  JsonRecognizer r;
  ASSERT_TRUE(r.feed("{\"a\":"));
  const JsonRecognizer before = r;
  EXPECT_FALSE(r.feed("1}}"));
  EXPECT_EQ(r, before);
  EXPECT_TRUE(r.accepts("1}"));
  EXPECT_EQ(r, before);
  EXPECT_TRUE(r.feed("1}"));
  EXPECT_TRUE(r.closed());
}

TEST(JsonRecognizer, NestingTracksObjectsAndArrays) {
  EXPECT_TRUE(complete("{\"a\":[{\"b\":[[{\"c\":[]}]]}],\"d\":{}}"));
  EXPECT_FALSE(prefix_ok("{\"a\":[{\"b\":[[{\"c\":[]}]]]"));
  EXPECT_FALSE(prefix_ok("{\"a\":[1,2}"));
}

// Every prefix of oracle-serialized JSON is accepted, and the whole is complete.
TEST(JsonRecognizer, AcceptsEveryPrefixOfRandomDocuments) {
  std::mt19937_64 rng(7);
  std::function<nlohmann::json(int)> gen = [&](int depth) -> nlohmann::json {
    const int kind = static_cast<int>(rng() % (depth > 3 ? 5 : 7));
    switch (kind) {
      case 0: return nullptr;
      case 1: return rng() % 2 == 0;
      case 2: return static_cast<int64_t>(rng() % 2001) - 1000;
      case 3: return std::ldexp(static_cast<double>(rng() % 100000) - 50000, static_cast<int>(rng() % 80) - 40);
      case 4: {
        std::string s;
        const char* parts[] = {"a", "\"", "\\", "\n", "\x01", "\xc3\xa9", "\xf0\x9f\x98\x80", " ", "/", "\x7f"};
        for (int i = static_cast<int>(rng() % 6); i > 0; --i) s += parts[rng() % 10];
        return s;
      }
      case 5: {
        nlohmann::json a = nlohmann::json::array();
        for (int i = static_cast<int>(rng() % 4); i > 0; --i) a.push_back(gen(depth + 1));
        return a;
      }
      default: {
        nlohmann::json o = nlohmann::json::object();
        for (int i = static_cast<int>(rng() % 4); i > 0; --i) o["k" + std::to_string(rng() % 10)] = gen(depth + 1);
        return o;
      }
    }
  };
  for (int n = 0; n < 300; ++n) {
    nlohmann::json doc = nlohmann::json::object();
    doc["v"] = gen(0);
    const std::string text = doc.dump(n % 2 ? 1 : -1, ' ', n % 3 == 0);  // compact / indented, ASCII or UTF-8
    JsonRecognizer r;
    for (size_t i = 0; i < text.size(); ++i) {
      ASSERT_TRUE(r.feed(static_cast<uint8_t>(text[i]))) << text << " at byte " << i;
      ASSERT_EQ(r.complete(), i + 1 == text.size()) << text << " at byte " << i;
    }
  }
}

// Random byte soup: whatever the recognizer calls complete, the oracle parses.
TEST(JsonRecognizer, CompleteMeansParseable) {
  std::mt19937_64 rng(11);
  const std::string alphabet = "{}[]\":,0123-.eE+ tfnrulsa\\u\xc3\xa9";
  int completed = 0;
  for (int n = 0; n < 200000; ++n) {
    JsonRecognizer r(any_value());
    std::string text;
    for (int len = 0; len < 24; ++len) {
      const char c = alphabet[rng() % alphabet.size()];
      if (!r.feed(static_cast<uint8_t>(c))) break;
      text += c;
      if (r.complete()) {
        ++completed;
        ASSERT_TRUE(nlohmann::json::accept(text)) << text;
      }
    }
  }
  EXPECT_GT(completed, 1000);
}

// A random walk that stays in accepted states can always be completed (no dead ends): finish it
// by trying bytes in a fixed order of preference.
TEST(JsonRecognizer, EveryAcceptedPrefixCanBeCompleted) {
  std::mt19937_64 rng(3);
  const std::string closers = "\"}]0:dcu\\truefalsn\x80\xa0\x90";
  for (int n = 0; n < 3000; ++n) {
    JsonRecognizer r(JsonOptions{.object_only = n % 2 == 0, .max_whitespace = 3, .max_depth = 8});
    for (int len = static_cast<int>(rng() % 40); len > 0; --len) {
      const uint8_t c = static_cast<uint8_t>(rng() % 256);
      JsonRecognizer copy = r;
      if (copy.feed(c)) r = copy;
    }
    int steps = 0;
    while (!r.complete() && steps < 400) {
      bool moved = false;
      for (char c : closers) {
        JsonRecognizer copy = r;
        if (copy.feed(static_cast<uint8_t>(c))) {
          r = copy;
          moved = true;
          break;
        }
      }
      if (!moved) {
        // Anything at all (e.g. a whitespace-only start needs '{').
        for (int c = 0; c < 256 && !moved; ++c) {
          JsonRecognizer copy = r;
          if (copy.feed(static_cast<uint8_t>(c))) {
            r = copy;
            moved = true;
          }
        }
      }
      ASSERT_TRUE(moved) << "dead end after " << steps << " steps";
      ++steps;
    }
    EXPECT_TRUE(r.complete());
  }
}

// ---- The token mask ----------------------------------------------------------------------

std::shared_ptr<const JsonVocab> toy_vocab() {
  // 0: end, 1: control (empty), then pieces.
  std::vector<std::string> pieces = {"", "", "{", "}", "\"", "a", "\":", " ", "1", "{\"", "\"}", "}}", "x", "  \n",
                                     ",", "[", "]", "\xc3", "\xa9", "true", "\\u00e9"};
  return std::make_shared<const JsonVocab>(pieces, std::vector<int32_t>{0, -1});
}

std::vector<int32_t> allowed_ids(JsonConstraint& c, size_t n) {
  std::vector<float> logits(n, 0.0f);
  c.apply(logits);
  std::vector<int32_t> out;
  for (size_t i = 0; i < n; ++i)
    if (!std::isinf(logits[i])) out.push_back(static_cast<int32_t>(i));
  return out;
}

TEST(JsonConstraint, MasksTokensThatBreakTheJson) {
  auto v = toy_vocab();
  JsonConstraint c(v);
  EXPECT_EQ(allowed_ids(c, v->size() + 2), (std::vector<int32_t>{2, 9}));  // { {"
  ASSERT_TRUE(c.accept(9));   // {"
  EXPECT_EQ(allowed_ids(c, v->size()), (std::vector<int32_t>{2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 19, 20}));
  EXPECT_FALSE(c.accept(0));  // end: not complete
  EXPECT_FALSE(c.accept(1));  // a control token never
  EXPECT_FALSE(c.accept(18)); // a lone continuation byte
  ASSERT_TRUE(c.accept(17));  // first byte of é: only its continuation may follow
  EXPECT_EQ(allowed_ids(c, v->size()), (std::vector<int32_t>{18}));
  ASSERT_TRUE(c.accept(18));
  ASSERT_TRUE(c.accept(6));   // ":
  ASSERT_TRUE(c.accept(8));   // 1
  EXPECT_EQ(allowed_ids(c, v->size()), (std::vector<int32_t>{3, 7, 8, 13, 14}));  // } ␠ 1 ␠␠\n ,
  EXPECT_FALSE(c.allowed(11)); // }} closes one too many
  EXPECT_FALSE(c.accept(11));
}

TEST(JsonConstraint, EndOnlyWhenComplete) {
  auto v = toy_vocab();
  JsonConstraint c(v);
  for (int32_t t : {9, 5, 6, 15, 19, 16, 3}) ASSERT_TRUE(c.accept(t)) << t;  // {"a":[true]}
  EXPECT_TRUE(c.done());
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(allowed_ids(c, v->size()), (std::vector<int32_t>{0}));  // only the end token
  EXPECT_TRUE(c.accept(0));
}

TEST(JsonConstraint, MaskIsStableAcrossTheCache) {
  // The same state reached twice gives the same mask; different states do not share one.
  auto v = toy_vocab();
  JsonConstraint c(v);
  ASSERT_TRUE(c.accept(9));
  const auto in_key = allowed_ids(c, v->size());
  ASSERT_TRUE(c.accept(5));
  EXPECT_EQ(allowed_ids(c, v->size()), in_key);
  ASSERT_TRUE(c.accept(5));
  EXPECT_EQ(allowed_ids(c, v->size()), in_key);
  ASSERT_TRUE(c.accept(6));
  EXPECT_NE(allowed_ids(c, v->size()), in_key);
}

TEST(JsonRecognizer, DistanceCountsTheShortestCompletion) {
  auto dist = [](std::string_view s, JsonOptions o = {}) {
    JsonRecognizer r(o);
    EXPECT_TRUE(r.feed(s)) << s;
    return r.distance();
  };
  EXPECT_EQ(dist(""), 2);                     // {}
  EXPECT_EQ(dist("{"), 1);                    // }
  EXPECT_EQ(dist("{\""), 4);                  // ":0}
  EXPECT_EQ(dist("{\"a\":"), 2);              // 0}
  EXPECT_EQ(dist("{\"a\":[\"x"), 3);          // "]}
  EXPECT_EQ(dist("{\"a\":[\"\\u12"), 5);      // 34"]}
  EXPECT_EQ(dist("{\"a\":[\"\\uD83D"), 9);  // \uDC00"]}
  EXPECT_EQ(dist("{\"a\":1e"), 2);            // 0}
  EXPECT_EQ(dist("{\"a\":fa"), 4);            // lse}
  EXPECT_EQ(dist("{\"a\":{},"), 5);           // "":0}
  EXPECT_EQ(dist("{}"), 0);
  EXPECT_EQ(dist("", any_value()), 1);
}

TEST(JsonConstraint, BudgetClosesTheObjectInTime) {
  // A vocabulary where the "model" always prefers to keep writing: with a budget, the mask
  // still ends in a complete object on the last token.
  std::vector<std::string> pieces = {"", "{", "}", "\"", "a", "b c", ":", "[", "]", ",", "0", "{\"", "[[", "\\", "null"};
  auto v = std::make_shared<const JsonVocab>(pieces, std::vector<int32_t>{0});
  std::mt19937_64 rng(5);
  for (int64_t budget = 2; budget < 40; ++budget) {
    for (int trial = 0; trial < 20; ++trial) {
      JsonConstraint c(v);
      std::string text;
      for (int64_t left = budget; left > 0 && !c.done(); --left) {
        std::vector<float> logits(v->size());
        for (float& l : logits) l = static_cast<float>(rng() % 1000) / 100.0f;
        logits[2] = logits[8] = -5;  // closers are unlikely
        c.apply(logits, left);
        int32_t best = -1;
        for (size_t i = 0; i < logits.size(); ++i)
          if (!std::isinf(logits[i]) && (best < 0 || logits[i] > logits[static_cast<size_t>(best)])) best = static_cast<int32_t>(i);
        ASSERT_GE(best, 0) << "budget " << budget << " left " << left << ": " << text;
        ASSERT_TRUE(c.accept(best));
        text += v->piece(best);
      }
      EXPECT_TRUE(c.done()) << "budget " << budget << ": " << text;
      EXPECT_TRUE(nlohmann::json::accept(text)) << text;
    }
  }
}

}  // namespace
}  // namespace hearth::sample
