// WordPiece (BERT): basic-tokenizer normalization, greedy longest match, [UNK], [CLS]/[SEP],
// decoding, on the real BGE vocabulary and on a small vocabulary in BERT's original "##" form.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using namespace hearth::tokenizer;

namespace {

const Tokenizer& bge() {
  static auto tok = [] {
    auto f = hearth::gguf::File::open(hearth::test::testdata_file("vocab/ggml-vocab-bert-bge.gguf"));
    return Tokenizer::from_gguf(f);
  }();
  return *tok;
}

std::vector<Token> ids(std::initializer_list<Token> l) { return l; }

// Token texts, to read failures easily.
std::vector<std::string> pieces(const Tokenizer& tok, const std::vector<Token>& t) {
  std::vector<std::string> out;
  for (Token id : t) out.push_back(tok.vocab().tokens[static_cast<size_t>(id)]);
  return out;
}

const std::string kSp = "\xE2\x96\x81";  // "▁"

TEST(WordPiece, KindAndLossless) {
  EXPECT_EQ(bge().kind(), "wordpiece");
  EXPECT_FALSE(bge().lossless());
}

TEST(WordPiece, ClsAndSepAroundTheText) {
  EXPECT_EQ(bge().encode("Hello, world!", true, false), ids({101, 7592, 1010, 2088, 999, 102}));
  EXPECT_EQ(bge().encode("Hello, world!", false, false), ids({7592, 1010, 2088, 999}));
  EXPECT_EQ(bge().encode("", true, false), ids({101, 102}));
}

TEST(WordPiece, LowercaseAndStripAccents) {
  EXPECT_EQ(bge().encode("HELLO", false, false), bge().encode("hello", false, false));
  EXPECT_EQ(bge().encode("café", false, false), bge().encode("cafe", false, false));
  // Combining marks written separately are stripped too (e + U+0301).
  EXPECT_EQ(bge().encode("cafe\xCC\x81", false, false), bge().encode("cafe", false, false));
  EXPECT_EQ(pieces(bge(), bge().encode("Äpfel", false, false)),
            (std::vector<std::string>{kSp + "ap", "fe", "l"}));
}

TEST(WordPiece, PunctuationAndCjkAreWordsOfTheirOwn) {
  EXPECT_EQ(pieces(bge(), bge().encode("a-b", false, false)),
            (std::vector<std::string>{kSp + "a", kSp + "-", kSp + "b"}));
  // ASCII symbols count as punctuation in BERT ($ and + are not Unicode punctuation).
  EXPECT_EQ(pieces(bge(), bge().encode("1+1=$2", false, false)),
            (std::vector<std::string>{kSp + "1", kSp + "+", kSp + "1", kSp + "=", kSp + "$", kSp + "2"}));
  // Each ideograph is a word: 我 is a piece, 想 is not (→ [UNK]), and they do not merge.
  EXPECT_EQ(bge().encode("我想", false, false), ids({1855, 100}));
}

TEST(WordPiece, ControlCharactersAreRemoved) {
  EXPECT_EQ(bge().encode("hel\x01lo\xE2\x80\x8B", false, false), bge().encode("hello", false, false));
  EXPECT_EQ(bge().encode("\t hello \r\n", false, false), bge().encode("hello", false, false));
  // \v and \f are control characters, not whitespace; private-use characters go too.
  EXPECT_EQ(bge().encode("hel\vlo\f\xEE\x80\x80", false, false), bge().encode("hello", false, false));
  // The line separator U+2028 separates words.
  EXPECT_EQ(bge().encode("hello\xE2\x80\xA8world", false, false), bge().encode("hello world", false, false));
}

TEST(WordPiece, UnknownWords) {
  // A word with one uncoverable character is one [UNK] as a whole, not a partial match.
  EXPECT_EQ(bge().encode("ab\xF0\x9F\xA6\x99" "cd", false, false), ids({100}));
  // Words over 100 characters are [UNK] without trying (BERT's max_input_chars_per_word).
  EXPECT_EQ(bge().encode(std::string(101, 'a'), false, false), ids({100}));
  EXPECT_NE(bge().encode(std::string(100, 'a'), false, false), ids({100}));
}

TEST(WordPiece, SpecialTokens) {
  EXPECT_EQ(bge().encode("[CLS] hi [SEP]", false, true), ids({101, 7632, 102}));
  const std::vector<Token> plain = bge().encode("[CLS] hi [SEP]", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 101), 0);
  EXPECT_GT(plain.size(), 3u);
}

TEST(WordPiece, Decode) {
  EXPECT_EQ(bge().decode(bge().encode("Hello, world!", true, false)), "hello, world!");
  EXPECT_EQ(bge().decode(bge().encode("I'm sure it isn't.", true, false)), "i'm sure it isn't.");
  EXPECT_EQ(bge().decode(bge().encode("Äpfel 3333", false, false)), "apfel 3333");
  EXPECT_EQ(bge().decode(bge().encode("Hello", true, false), /*render_special=*/true), "[CLS] hello [SEP]");
  EXPECT_EQ(bge().token_to_piece(7592), " hello");
  EXPECT_EQ(bge().token_to_piece(2050), "a");  // a continuation piece attaches to the previous one
}

TEST(WordPiece, OriginalHashHashVocabulary) {
  // BERT's own vocabulary form: word-initial pieces bare, continuations "##"-prefixed; a cased
  // vocabulary (it has capitals) is neither lowercased nor stripped of accents.
  Vocab v;
  v.model = "bert";
  v.pre = "default";
  const std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able",
                                           "Un", "!", "caf", "##é", "##e"};
  for (const auto& t : tokens) {
    v.token_to_id[t] = static_cast<Token>(v.tokens.size());
    v.tokens.push_back(t);
    v.types.push_back(t[0] == '[' ? TokenType::control : TokenType::normal);
  }
  v.pad = 0, v.unk = 1, v.cls = 2, v.sep = 3;
  v.add_bos = v.add_eos = true;
  auto tok = Tokenizer::from_vocab(std::move(v));
  EXPECT_EQ(tok->encode("unaffable!", true, false), ids({2, 4, 5, 6, 8, 3}));
  EXPECT_EQ(tok->encode("Un café", false, false), ids({7, 9, 10}));  // cased: é stays
  EXPECT_EQ(tok->encode("unable", false, false), ids({4, 6}));        // "##able" may follow any piece,
  EXPECT_EQ(tok->encode("affable", false, false), ids({1}));          // but no word starts with "aff"
  EXPECT_EQ(tok->decode(tok->encode("unaffable! Un", true, false)), "unaffable! Un");
}

}  // namespace
