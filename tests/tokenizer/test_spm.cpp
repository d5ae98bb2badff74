// SentencePiece-style tokenizer: special-token partitioning, BOS/EOS, byte fallback, decoding
// (leading-space rule, partial UTF-8), on the real llama / Phi-3 / stories260K vocabularies and on
// small hand-made vocabularies where a rule needs an exact setup.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using hearth::Error;
using hearth::ErrorKind;
using namespace hearth::tokenizer;

namespace {

const std::string kSp = "\xE2\x96\x81";  // "▁"

std::unique_ptr<Tokenizer> load(const std::string& rel) {
  auto f = hearth::gguf::File::open(hearth::test::testdata_file(rel));
  return Tokenizer::from_gguf(f);
}

const Tokenizer& llama() {
  static auto tok = load("vocab/ggml-vocab-llama-spm.gguf");
  return *tok;
}

const Tokenizer& phi3() {
  static auto tok = load("vocab/ggml-vocab-phi-3.gguf");
  return *tok;
}

struct Piece {
  std::string text;
  TokenType type = TokenType::normal;
  float score = 0;
};

// A SentencePiece vocabulary from a list of pieces (ids in order).
Vocab make_vocab(const std::vector<Piece>& pieces) {
  Vocab v;
  v.model = "llama";
  v.pre = "default";
  for (const auto& p : pieces) {
    v.token_to_id[p.text] = static_cast<Token>(v.tokens.size());
    v.tokens.push_back(p.text);
    v.types.push_back(p.type);
    v.scores.push_back(p.score);
  }
  v.unk = 0, v.bos = 1, v.eos = 2;
  v.add_bos = true, v.add_space_prefix = true;
  return v;
}

std::vector<Token> ids(std::initializer_list<Token> l) { return l; }

bool contains(const std::vector<Token>& v, Token t) { return std::find(v.begin(), v.end(), t) != v.end(); }

TEST(Spm, KindAndLossless) {
  EXPECT_EQ(llama().kind(), "spm");
  EXPECT_TRUE(llama().lossless());
}

TEST(Spm, AddSpecialAddsBosOnly) {
  EXPECT_EQ(llama().encode("Hello world", true, false), ids({1, 15043, 3186}));
  EXPECT_EQ(llama().encode("Hello world", false, false), ids({15043, 3186}));
  // The reference: an empty text is [BOS] with add_special, nothing without.
  EXPECT_EQ(llama().encode("", true, false), ids({1}));
  EXPECT_EQ(llama().encode("", false, false), ids({}));
}

TEST(Spm, AddEosWhenTheVocabSaysSo) {
  Vocab v = make_vocab({{"<unk>", TokenType::unknown}, {"<s>", TokenType::control}, {"</s>", TokenType::control},
                        {kSp + "a", TokenType::normal, -1}, {"a"}, {kSp}});
  v.add_eos = true;
  auto tok = Tokenizer::from_vocab(std::move(v));
  EXPECT_EQ(tok->encode("a", true, false), ids({1, 3, 2}));
  EXPECT_EQ(tok->encode("a", false, false), ids({3}));
}

TEST(Spm, ControlTokensParsedOnlyWithParseSpecial) {
  // With parse_special the text "<s>" is BOS, and the text after it gets the space prefix again.
  EXPECT_EQ(llama().encode("<s>Hello", false, true), ids({1, 15043}));
  const std::vector<Token> plain = llama().encode("<s>Hello", false, false);
  EXPECT_FALSE(contains(plain, 1));
  EXPECT_EQ(llama().decode(plain), "<s>Hello");
  // Split in the middle: "Hello" + BOS + "world"; each text fragment gets its own "▁".
  EXPECT_EQ(llama().encode("Hello<s>world", false, true), ids({15043, 1, 3186}));
}

TEST(Spm, ChatTokensOfPhi3) {
  const std::string prompt = "<|user|>\nHi<|end|>\n<|assistant|>";
  // Phi-3's chat tokens swallow the whitespace after them (rstrip), as in the reference: the
  // "\n" after <|user|> and <|end|> is not encoded, and "Hi" gets the space prefix.
  const std::vector<Token> parsed = phi3().encode(prompt, true, true);
  const Token hi = phi3().vocab().find(kSp + "Hi");
  ASSERT_GE(hi, 0);
  EXPECT_EQ(parsed, ids({1, 32010, hi, 32007, 32001}));
  EXPECT_EQ(phi3().decode(parsed, /*render_special=*/true), "<s><|user|> Hi<|end|><|assistant|>");
  // <|endoftext|> is exempt: the newline after it stays.
  EXPECT_EQ(phi3().encode("<|endoftext|>\n", false, true), ids({32000, 29871, 13}));

  const std::vector<Token> text = phi3().encode(prompt, true, false);
  for (Token t : text) EXPECT_LT(t, 32000) << "control token parsed although parse_special is off";
  EXPECT_EQ(phi3().decode(text), prompt);
}

TEST(Spm, UserDefinedTokenIsAlwaysAUnit) {
  // Phi-3's "</s>" is user-defined (type 4): the reference matches it even without parse_special.
  const std::vector<Token> t = phi3().encode("end</s>", false, false);
  EXPECT_TRUE(contains(t, 2));
  EXPECT_EQ(phi3().decode(t), "end</s>");  // user-defined tokens always render
  // In Llama 2's vocabulary "</s>" is a control token: without parse_special it is text.
  EXPECT_FALSE(contains(llama().encode("end</s>", false, false), 2));
  EXPECT_EQ(llama().encode("end</s>", false, true).back(), 2);
}

TEST(Spm, LongestSpecialTokenWins) {
  // Control tokens "ab" and "bcd" overlap in "abcd": the longer one is claimed first, so "a"
  // stays text; "<|x" is a prefix of "<|x|>" and must not be matched inside it.
  Vocab v = make_vocab({{"<unk>", TokenType::unknown}, {"<s>", TokenType::control}, {"</s>", TokenType::control},
                        {"ab", TokenType::control}, {"bcd", TokenType::control}, {"<|x", TokenType::control},
                        {"<|x|>", TokenType::control}, {kSp + "a", TokenType::normal, -1}, {kSp}, {"a"}});
  auto tok = Tokenizer::from_vocab(std::move(v));
  EXPECT_EQ(tok->encode("abcd", false, true), ids({7, 4}));
  EXPECT_EQ(tok->encode("<|x|><|x", false, true), ids({6, 5}));
  EXPECT_EQ(tok->encode("abab", false, true), ids({3, 3}));
}

TEST(Spm, RunsOfUserDefinedTokens) {
  // GPT-NeoX-style vocabularies have user-defined tokens for runs of 2…24 spaces. A long run is
  // cut longest-first; every position of the run matches many of them, which must cost neither
  // quadratic time nor memory per match.
  std::vector<Piece> pieces = {{"<unk>", TokenType::unknown}, {"<s>", TokenType::control},
                               {"</s>", TokenType::control}, {kSp}, {"x", TokenType::normal, -1}};
  for (int n = 2; n <= 24; ++n) pieces.push_back({std::string(static_cast<size_t>(n), ' '), TokenType::user_defined});
  auto tok = Tokenizer::from_vocab(make_vocab(pieces));
  const Token run24 = 5 + 22, run6 = 5 + 4;
  // "▁" "x" | 24 spaces | 6 spaces | "▁" "x" (each text fragment gets the space prefix)
  EXPECT_EQ(tok->encode("x" + std::string(30, ' ') + "x", false, false), ids({3, 4, run24, run6, 3, 4}));

  const std::string text(1 << 20, ' ');
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Token> t = tok->encode(text, false, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(tok->decode(t), text);
  EXPECT_EQ(t.size(), (text.size() + 23) / 24);
  EXPECT_LT(s, 5.0) << "1 MiB of spaces took " << s << " s";
}

TEST(Spm, ByteFallback) {
  // 🦙 (F0 9F A6 99) is no piece: "▁" then one <0xNN> token per byte (id = byte + 3).
  EXPECT_EQ(llama().encode("\xF0\x9F\xA6\x99", false, false), ids({29871, 243, 162, 169, 156}));
  EXPECT_EQ(llama().decode(ids({29871, 243, 162, 169, 156})), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(llama().token_to_piece(13), "\n");  // <0x0A>
}

TEST(Spm, UnknownWithoutBytePieces) {
  Vocab v = make_vocab({{"<unk>", TokenType::unknown}, {"<s>", TokenType::control}, {"</s>", TokenType::control},
                        {kSp + "a", TokenType::normal, -1}, {kSp}, {"a"}});
  auto tok = Tokenizer::from_vocab(std::move(v));
  EXPECT_EQ(tok->encode("a\xC3\xA9", false, false), ids({3, 0, 0}));  // é has two bytes, both <unk>
}

TEST(Spm, MergesFollowScores) {
  // "abc": pieces "ab" (score -5) and "bc" (score -1): bc merges first, leaving a + bc.
  Vocab v = make_vocab({{"<unk>", TokenType::unknown}, {"<s>", TokenType::control}, {"</s>", TokenType::control},
                        {"a", TokenType::normal, -10}, {"b", TokenType::normal, -10}, {"c", TokenType::normal, -10},
                        {"ab", TokenType::normal, -5}, {"bc", TokenType::normal, -1}, {kSp, TokenType::normal, -10}});
  v.add_space_prefix = false;
  auto tok = Tokenizer::from_vocab(std::move(v));
  EXPECT_EQ(tok->encode("abc", false, false), ids({3, 7}));
  // Equal scores: the leftmost pair merges first.
  Vocab w = make_vocab({{"<unk>", TokenType::unknown}, {"<s>", TokenType::control}, {"</s>", TokenType::control},
                        {"a", TokenType::normal, -10}, {"b", TokenType::normal, -10}, {"c", TokenType::normal, -10},
                        {"ab", TokenType::normal, -2}, {"bc", TokenType::normal, -2}});
  w.add_space_prefix = false;
  tok = Tokenizer::from_vocab(std::move(w));
  EXPECT_EQ(tok->encode("abc", false, false), ids({6, 5}));
}

TEST(Spm, DecodeDropsTheSpacePrefixOnce) {
  EXPECT_EQ(llama().decode(ids({15043, 3186})), "Hello world");
  EXPECT_EQ(llama().decode(ids({1, 15043, 3186})), "Hello world");  // BOS renders as nothing
  EXPECT_EQ(llama().decode(ids({1, 15043, 3186}), true), "<s> Hello world");
  EXPECT_EQ(llama().decode(ids({29871, 15043})), " Hello");  // "▁" + "▁Hello": one space is text
  EXPECT_EQ(llama().token_to_piece(15043), " Hello");       // streaming keeps the raw piece
  EXPECT_EQ(llama().token_to_piece(1), "");
  EXPECT_EQ(llama().token_to_piece(1, true), "<s>");
}

TEST(Spm, PartialUtf8Decode) {
  // The first two bytes of 🦙: the bytes so far, not a replacement character.
  EXPECT_EQ(llama().decode(ids({243, 162})), "\xF0\x9F");
  // Streaming piece by piece gives the same bytes as decoding the whole sequence.
  const std::string text = "Ça va? 我想在apple工作 🦙";
  const std::vector<Token> t = llama().encode(text, false, false);
  std::string streamed;
  for (Token id : t) streamed += llama().token_to_piece(id);
  EXPECT_EQ(streamed, " " + text);  // the space prefix, which decode() drops
  EXPECT_EQ(llama().decode(t), text);
}

TEST(Spm, InvalidUtf8IsEncodedAsBytes) {
  for (const std::string bad : {"a\xFF\xC3(b\xE2\x82", "\xC3 x", "x \xE2 y", "\xED\xA0\x80 z \xF4\x90\x80\x80"}) {
    const std::vector<Token> t = llama().encode(bad, false, false);
    EXPECT_EQ(llama().decode(t), bad);
  }
}

TEST(Spm, OutOfRangeIdIsAnError) {
  try {
    llama().decode(ids({15043, 32000}));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("32000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(llama().token_to_piece(-1), Error);
}

TEST(Spm, Stories260KOnceUponATime) {
  // The sample model's 512-piece vocabulary: "Once upon a time" is four whole-word pieces,
  // the prompt of the model's golden continuation (models/stories260K.greedy.txt).
  auto f = hearth::gguf::File::open(hearth::test::testdata_file("models/stories260K.gguf"));
  auto tok = Tokenizer::from_gguf(f);
  const std::vector<Token> t = tok->encode("Once upon a time", true, false);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0], 1);
  const Vocab& v = tok->vocab();
  EXPECT_EQ(v.tokens[static_cast<size_t>(t[1])], kSp + "Once");
  EXPECT_EQ(v.tokens[static_cast<size_t>(t[2])], kSp + "upon");
  EXPECT_EQ(v.tokens[static_cast<size_t>(t[3])], kSp + "a");
  EXPECT_EQ(v.tokens[static_cast<size_t>(t[4])], kSp + "time");
  // The ids llama2.c's reference encoder gives with tok512 (published by several llama2.c
  // ports as their tokenizer check), including a word the vocabulary has to spell out.
  EXPECT_EQ(t, ids({1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->decode(t), "Once upon a time");
  EXPECT_EQ(tok->encode("Once upon a time, there was a little dragon", true, false),
            ids({1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 279, 420, 412, 428, 289}));
  // A word the tiny vocabulary lacks is spelled from smaller pieces and still round-trips.
  const std::string odd = "Zyzzyva's quixotic jukebox: 42!";
  EXPECT_EQ(tok->decode(tok->encode(odd, true, false)), odd);
}

TEST(Spm, LongInputIsNotQuadratic) {
  // 200k characters with no space: one fragment, merged through the priority queue.
  const std::string text(200000, 'a');
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Token> t = llama().encode(text, false, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(llama().decode(t), text);
  EXPECT_LT(t.size(), text.size() / 2);
  EXPECT_LT(s, 5.0) << "encoding 200k characters took " << s << " s";
}

}  // namespace
