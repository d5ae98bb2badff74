// Byte-level BPE: pre-tokenizer choice, merge order, ignore_merges, symbols that are no token,
// invalid UTF-8, decoding, errors — on the real GPT-2 / Llama 3 / Qwen 2 / MPT vocabularies and on
// small hand-made vocabularies where a rule needs an exact setup.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gguf/gguf.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using hearth::Error;
using hearth::ErrorKind;
using namespace hearth::tokenizer;

namespace {

Vocab load_vocab(const std::string& name) {
  auto f = hearth::gguf::File::open(hearth::test::testdata_file("vocab/ggml-vocab-" + name + ".gguf"));
  return Vocab::from_gguf(f);
}

const Tokenizer& gpt2() {
  static auto tok = Tokenizer::from_vocab(load_vocab("gpt-2"));
  return *tok;
}
const Tokenizer& llama3() {
  static auto tok = Tokenizer::from_vocab(load_vocab("llama-bpe"));
  return *tok;
}
const Tokenizer& qwen2() {
  static auto tok = Tokenizer::from_vocab(load_vocab("qwen2"));
  return *tok;
}
const Tokenizer& mpt() {
  static auto tok = Tokenizer::from_vocab(load_vocab("mpt"));
  return *tok;
}

std::vector<Token> ids(std::initializer_list<Token> l) { return l; }

// GPT-2's byte-level spelling of an ASCII letter or space ("Ġ" for ' ').
std::string bl(char c) { return c == ' ' ? std::string("\xC4\xA0") : std::string(1, c); }

// A byte-level vocabulary: the 256 byte characters (token id = byte) followed by `extra` tokens,
// with the given merges.
Vocab make_vocab(const std::string& pre, const std::vector<std::string>& extra, const std::vector<std::string>& merges) {
  Vocab v;
  v.model = "gpt2";
  v.pre = pre;
  const auto add = [&](const std::string& text) {
    v.token_to_id[text] = static_cast<Token>(v.tokens.size());
    v.tokens.push_back(text);
    v.types.push_back(TokenType::normal);
  };
  // bytes_to_unicode: printable bytes stand for themselves, the others count up from U+0100.
  int next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : next++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    add(s);
  }
  for (const auto& t : extra) add(t);
  v.merges = merges;
  return v;
}

std::vector<std::string> texts(const Tokenizer& tok, const std::vector<Token>& t) {
  std::vector<std::string> out;
  for (Token id : t) out.push_back(tok.vocab().tokens[static_cast<size_t>(id)]);
  return out;
}

TEST(Bpe, KindAndLossless) {
  EXPECT_EQ(gpt2().kind(), "bpe");
  EXPECT_TRUE(gpt2().lossless());
}

TEST(Bpe, WellKnownIds) {
  EXPECT_EQ(gpt2().encode("Hello world", false, false), ids({15496, 995}));
  EXPECT_EQ(llama3().encode("Hello world", false, false), ids({9906, 1917}));
  EXPECT_EQ(llama3().encode("Hello world", true, false), ids({128000, 9906, 1917}));  // Llama 3 adds BOS
  EXPECT_EQ(qwen2().encode("Hello world", true, false), ids({9707, 1879}));          // Qwen 2 does not
}

TEST(Bpe, EmptyText) {
  EXPECT_TRUE(gpt2().encode("", false, false).empty());
  EXPECT_TRUE(gpt2().encode("", true, false).empty());
  EXPECT_EQ(llama3().encode("", true, false), ids({128000}));
  EXPECT_EQ(gpt2().decode({}), "");
}

TEST(Bpe, ChineseAndEmojiRoundTrip) {
  const std::string text = "你好，世界！🦙🦙 llamas 👩‍👩‍👧 ½ naïve Ελληνικά\n\t end";
  for (const Tokenizer* tok : {&gpt2(), &llama3(), &qwen2(), &mpt()}) {
    const std::vector<Token> t = tok->encode(text, false, false);
    EXPECT_EQ(tok->decode(t), text) << tok->vocab().pre;
    std::string pieces;
    for (Token id : t) pieces += tok->token_to_piece(id);
    EXPECT_EQ(pieces, text) << tok->vocab().pre;
  }
}

TEST(Bpe, InvalidUtf8RoundTrips) {
  // Stray continuation bytes, a truncated sequence, bytes that never occur in UTF-8, an
  // over-long encoding, a lone surrogate; GPT-2 and Llama 3 have a token for every byte.
  const std::string text = std::string("ab\x80\xBF cd \xC3( \xE2\x82 x\xFF\xFE\xC0\xAF \xED\xA0\x80 ok") + '\0' + "!";
  for (const Tokenizer* tok : {&gpt2(), &llama3(), &qwen2()}) {
    const std::vector<Token> t = tok->encode(text, false, false);
    EXPECT_EQ(tok->decode(t), text) << tok->vocab().pre;
  }
  // The valid text around the bad bytes is split as usual.
  const std::vector<Token> t = gpt2().encode("\xFF Hello world", false, false);
  ASSERT_GE(t.size(), 3u);
  EXPECT_EQ(std::vector<Token>(t.end() - 2, t.end()), ids({18435, 995}));
}

TEST(Bpe, BytesWithoutATokenAreDropped) {
  // MPT's vocabulary has no token for 0xFF (never part of UTF-8) and no <unk>.
  EXPECT_EQ(mpt().decode(mpt().encode("a\xFF" "b", false, false)), "ab");
}

TEST(Bpe, PartialUtf8Decode) {
  // "🦙" is four bytes and no GPT-2 token: the first token holds only part of it.
  const std::string llama = "\xF0\x9F\xA6\x99";
  const std::vector<Token> t = gpt2().encode(llama, false, false);
  ASSERT_GT(t.size(), 1u);
  const std::string first = gpt2().token_to_piece(t[0]);
  EXPECT_LT(first.size(), llama.size());
  EXPECT_EQ(llama.compare(0, first.size(), first), 0);
  EXPECT_EQ(gpt2().decode(t), llama);
}

TEST(Bpe, DecodeMapsByteCharactersBack) {
  EXPECT_EQ(gpt2().vocab().tokens[995], "\xC4\xA0world");  // "Ġworld"
  EXPECT_EQ(gpt2().token_to_piece(995), " world");
  EXPECT_EQ(gpt2().decode(gpt2().encode("line\n\n\ttab", false, false)), "line\n\n\ttab");
}

TEST(Bpe, UserDefinedTokensDecodeAsWritten) {
  // MPT's added runs of spaces are raw text (not byte-level spelled) and always units.
  const Token four = mpt().vocab().find("    ");
  ASSERT_GE(four, 0);
  EXPECT_EQ(mpt().vocab().type(four), TokenType::user_defined);
  EXPECT_EQ(mpt().token_to_piece(four), "    ");
  const std::string code = "if x:\n        return 1";
  EXPECT_EQ(mpt().decode(mpt().encode(code, false, false)), code);
}

TEST(Bpe, LowestRankMergesFirstLeftmostOnTies) {
  // "abc": "b c" (rank 0) beats "a b" (rank 1), so no "ab" forms.
  auto tok = Tokenizer::from_vocab(make_vocab("gpt-2", {"ab", "bc", "aa"}, {"b c", "a b", "a a"}));
  EXPECT_EQ(texts(*tok, tok->encode("abc", false, false)), (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(texts(*tok, tok->encode("abd", false, false)), (std::vector<std::string>{"ab", "d"}));
  // Equal ranks: the leftmost pair first.
  EXPECT_EQ(texts(*tok, tok->encode("aaa", false, false)), (std::vector<std::string>{"aa", "a"}));
  EXPECT_EQ(texts(*tok, tok->encode("aaaa", false, false)), (std::vector<std::string>{"aa", "aa"}));
}

TEST(Bpe, IgnoreMergesTakesWholeWords) {
  // "abc" is a token, but no merge path leads to it ("b c", then nothing joins "a" + "bc").
  const std::vector<std::string> extra = {"bc", "abc"}, merges = {"b c"};
  auto gpt = Tokenizer::from_vocab(make_vocab("gpt-2", extra, merges));
  auto l3 = Tokenizer::from_vocab(make_vocab("llama-bpe", extra, merges));
  EXPECT_EQ(texts(*gpt, gpt->encode("abc", false, false)), (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(texts(*l3, l3->encode("abc", false, false)), (std::vector<std::string>{"abc"}));
}

TEST(Bpe, MergeResultsThatAreNoTokens) {
  // "x y" makes "xy", which is no token; "xy z" then makes the token "xyz". Alone, "xy" falls
  // back to the tokens of its bytes.
  auto tok = Tokenizer::from_vocab(make_vocab("gpt-2", {"xyz"}, {"x y", "xy z"}));
  EXPECT_EQ(texts(*tok, tok->encode("xyz", false, false)), (std::vector<std::string>{"xyz"}));
  EXPECT_EQ(texts(*tok, tok->encode("xy", false, false)), (std::vector<std::string>{"x", "y"}));
}

TEST(Bpe, PreTokenizerSplitsBeforeMerging) {
  // A merge across a word boundary never happens: " b" is its own word under GPT-2's rules.
  auto tok = Tokenizer::from_vocab(make_vocab("gpt-2", {"a" + bl(' ')}, {"a " + bl(' ')}));
  EXPECT_EQ(texts(*tok, tok->encode("a b", false, false)), (std::vector<std::string>{"a", bl(' '), "b"}));
  // StarCoder-style: every digit is a word of its own; Llama 3: up to three digits.
  EXPECT_EQ(load_vocab("starcoder").pre, "starcoder");
  EXPECT_EQ(llama3().encode("12345", false, false).size(), 2u);
  EXPECT_EQ(qwen2().encode("12345", false, false).size(), 5u);
}

TEST(Bpe, UnknownPreTypeIsAClearError) {
  Vocab v = load_vocab("gpt-2");
  v.pre = "my-new-model";
  try {
    Tokenizer::from_vocab(std::move(v));
    FAIL() << "expected Error(unsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("'my-new-model'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.pre"), std::string::npos) << e.what();
  }
}

TEST(Bpe, DefaultPreTypeIsGpt2) {
  Vocab v = load_vocab("gpt-2");
  v.pre = "default";
  auto tok = Tokenizer::from_vocab(std::move(v));
  const std::string text = "Hello, y'all! 3333 tokens   here\n";
  EXPECT_EQ(tok->encode(text, false, false), gpt2().encode(text, false, false));
}

TEST(Bpe, MalformedMergeIsAFormatError) {
  try {
    Tokenizer::from_vocab(make_vocab("gpt-2", {}, {"a b", "nospace"}));
    FAIL() << "expected Error(format)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::format);
    EXPECT_NE(std::string(e.what()).find("merges"), std::string::npos) << e.what();
  }
}

TEST(Bpe, EveryPreTypeCompiles) {
  // The expressions of every supported type compile and split text without error.
  const std::string text = "Hello, y'all! 你好 123456 ΑΒΓ camelCaseWord  \n\n x\xFF";
  for (const char* pre : {"gpt-2", "llama-bpe", "dbrx", "qwen2", "qwen35", "tekken", "gpt-4o", "starcoder",
                          "falcon", "deepseek-llm", "deepseek-coder", "deepseek-v3", "bloom", "viking"}) {
    Vocab v = load_vocab("gpt-2");
    v.pre = pre;
    auto tok = Tokenizer::from_vocab(std::move(v));
    EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text) << pre;
  }
}

TEST(Bpe, LongInputIsNotQuadratic) {
  // 200k letters with no space: one word, merged through the priority queue; under Tekken's and
  // GPT-4o's expressions (look-aheads in repeated groups) the match also has to outgrow the JIT's
  // small stack.
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "ab";
  for (const char* pre : {"gpt-2", "tekken", "gpt-4o"}) {
    Vocab v = load_vocab("gpt-2");
    v.pre = pre;
    auto tok = Tokenizer::from_vocab(std::move(v));
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Token> t = tok->encode(text, false, false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(tok->decode(t), text) << pre;
    EXPECT_LE(t.size(), text.size() / 2) << pre;
    EXPECT_LT(s, 5.0) << pre << ": encoding 200k characters took " << s << " s";
  }
}

TEST(Bpe, ConcurrentEncodesAgree) {
  const std::string text = "The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸 🦊 1234567\n";
  const std::vector<Token> expected = llama3().encode(text, true, false);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      bool same = true;
      for (int k = 0; k < 200; ++k) same = same && llama3().encode(text, true, false) == expected;
      ok[static_cast<size_t>(i)] = same ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

}  // namespace
