// Vocab::from_gguf on the real vocabularies (defaults per family, special ids) and on
// synthetic GGUF files broken one key at a time: every inconsistency is a hearth::Error that
// names the key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "testdata.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using hearth::Error;
using hearth::ErrorKind;
using namespace hearth::gguf;
using namespace hearth::tokenizer;

namespace {

Value strings(const std::vector<std::string>& v) {
  Array a;
  a.type = ValueType::STRING;
  for (const auto& s : v) a.items.emplace_back(s);
  return Value(std::move(a));
}

template <typename T>
Value numbers(ValueType type, const std::vector<T>& v) {
  Array a;
  a.type = type;
  for (T x : v) a.items.emplace_back(x);
  return Value(std::move(a));
}

// A small, valid SentencePiece vocabulary in a GGUF held in memory.
struct MiniGguf {
  Writer w;
  std::vector<uint8_t> bytes;

  MiniGguf() {
    w.set("general.architecture", "llama");
    w.set("tokenizer.ggml.model", "llama");
    w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a"}));
    w.set("tokenizer.ggml.scores", numbers<float>(ValueType::FLOAT32, {0, 0, 0, -1, -2, -3, -0.5f}));
    w.set("tokenizer.ggml.token_type", numbers<int32_t>(ValueType::INT32, {2, 3, 3, 1, 1, 1, 1}));
  }
  File file() {
    bytes = w.write_to_memory();
    return File::parse(bytes, "mini.gguf");
  }
  Vocab vocab() {
    File f = file();
    return Vocab::from_gguf(f);
  }
};

// Expects Vocab::from_gguf to fail with `kind` and a message containing `needle`.
void expect_error(MiniGguf& g, ErrorKind kind, const std::string& needle) {
  File f = g.file();
  try {
    Vocab::from_gguf(f);
    ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mini.gguf"), std::string::npos) << e.what();
  }
}

Vocab load(const std::string& rel) {
  File f = File::open(hearth::test::testdata_file(rel));
  return Vocab::from_gguf(f);
}

TEST(Vocab, LlamaSpmFromTestdata) {
  Vocab v = load("vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(v.pre, "default");
  ASSERT_EQ(v.size(), 32000u);
  EXPECT_EQ(v.scores.size(), 32000u);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_EQ(v.unk, 0);
  EXPECT_EQ(v.sep, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);  // not in the file: the SentencePiece default
  EXPECT_EQ(v.type(3), TokenType::byte);
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.type(0), TokenType::unknown);
  EXPECT_TRUE(v.is_special(1));
  EXPECT_FALSE(v.is_special(3));
  EXPECT_EQ(v.find("\xE2\x96\x81" "Hello"), 15043);
  EXPECT_EQ(v.find("no such piece"), -1);
}

TEST(Vocab, BertUsesClsAndSep) {
  Vocab v = load("vocab/ggml-vocab-bert-bge.gguf");
  EXPECT_EQ(v.model, "bert");
  EXPECT_EQ(v.pre, "bert-bge");
  EXPECT_EQ(v.cls, 101);
  EXPECT_EQ(v.sep, 102);  // from tokenizer.ggml.seperator_token_id (sic)
  EXPECT_EQ(v.unk, 100);
  EXPECT_EQ(v.pad, 0);
  EXPECT_EQ(v.mask, 103);
  EXPECT_EQ(v.bos, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_TRUE(v.add_eos);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_TRUE(v.scores.empty());
}

TEST(Vocab, NoneMarkerIsUnset) {
  // stories260K writes 0xFFFFFFFF for its separator and padding ids.
  Vocab v = load("models/stories260K.gguf");
  EXPECT_EQ(v.size(), 512u);
  EXPECT_EQ(v.sep, -1);
  EXPECT_EQ(v.pad, -1);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.pre, "default");
}

TEST(Vocab, EndOfTurnFoundByText) {
  // Phi-3 names no eot id: <|end|> ends a turn, <|endoftext|> (eos) ends the text.
  Vocab v = load("vocab/ggml-vocab-phi-3.gguf");
  EXPECT_EQ(v.eos, 32000);
  EXPECT_EQ(v.eot, 32007);
  EXPECT_EQ(v.tokens[32007], "<|end|>");
  EXPECT_EQ(v.type(2), TokenType::user_defined);
}

TEST(Vocab, Phi3SpecialTokensStripWhitespaceOnTheRight) {
  Vocab phi = load("vocab/ggml-vocab-phi-3.gguf");  // general.name "Phi3"
  ASSERT_EQ(phi.strip.size(), phi.size());
  EXPECT_EQ(phi.strip[32010], Vocab::kStripRight);  // <|user|>
  EXPECT_EQ(phi.strip[2], Vocab::kStripRight);      // </s>
  EXPECT_EQ(phi.strip[1], 0);                       // <s>
  EXPECT_EQ(phi.strip[32000], 0);                   // <|endoftext|>
  EXPECT_EQ(phi.strip[100], 0);                     // an ordinary piece
  EXPECT_TRUE(load("vocab/ggml-vocab-llama-spm.gguf").strip.empty());
}

TEST(Vocab, MiniDefaultsAndOverrides) {
  MiniGguf g;
  Vocab v = g.vocab();
  EXPECT_EQ(v.size(), 7u);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_EQ(v.unk, 0);
  EXPECT_TRUE(v.add_bos);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_FALSE(v.remove_extra_whitespaces);

  g.w.set("tokenizer.ggml.add_space_prefix", false);
  g.w.set("tokenizer.ggml.add_bos_token", false);
  g.w.set("tokenizer.ggml.add_eos_token", true);
  g.w.set("tokenizer.ggml.eos_token_id", uint32_t{6});
  g.w.set("tokenizer.ggml.padding_token_id", int32_t{-1});
  v = g.vocab();
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_FALSE(v.add_bos);
  EXPECT_TRUE(v.add_eos);
  EXPECT_EQ(v.eos, 6);
  EXPECT_EQ(v.pad, -1);
}

TEST(Vocab, BytePiecesInferredWithoutTypes) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "<0x41>", "<0xZZ>", "a", "b"}));
  g.w.set("tokenizer.ggml.token_type", numbers<int32_t>(ValueType::INT32, {}));
  // A zero-length type array disagrees with the tokens: that is an error, not "absent".
  expect_error(g, ErrorKind::format, "tokenizer.ggml.token_type");

  MiniGguf h;
  h.w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "<0x41>", "<0xZZ>", "a", "b"}));
  Writer w2;
  File hf = h.file();
  for (const auto& kv : hf.metadata()) {
    if (kv.key != "tokenizer.ggml.token_type") w2.set(kv.key, kv.value);
  }
  std::vector<uint8_t> bytes = w2.write_to_memory();
  File f = File::parse(bytes, "mini.gguf");
  Vocab v = Vocab::from_gguf(f);
  EXPECT_EQ(v.type(3), TokenType::byte);
  EXPECT_EQ(v.type(4), TokenType::normal);
  EXPECT_EQ(v.type(5), TokenType::normal);
}

TEST(Vocab, MissingModelKey) {
  Writer w;
  w.set("tokenizer.ggml.tokens", strings({"a"}));
  std::vector<uint8_t> bytes = w.write_to_memory();
  File f = File::parse(bytes, "mini.gguf");
  try {
    Vocab::from_gguf(f);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::format);
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.model"), std::string::npos) << e.what();
  }
}

TEST(Vocab, MissingTokens) {
  MiniGguf g;
  Writer w;
  w.set("tokenizer.ggml.model", "llama");
  g.w = w;
  expect_error(g, ErrorKind::format, "tokenizer.ggml.tokens");
}

TEST(Vocab, EmptyTokenList) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.tokens", strings({}));
  expect_error(g, ErrorKind::format, "tokenizer.ggml.tokens");
}

TEST(Vocab, EmptyTokenText) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "", "a", "b", "c"}));
  expect_error(g, ErrorKind::format, "token 3 is an empty string");
}

TEST(Vocab, ScoresLengthMismatch) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.scores", numbers<float>(ValueType::FLOAT32, {0, 0, 0}));
  expect_error(g, ErrorKind::format, "tokenizer.ggml.scores");
}

TEST(Vocab, ScoresOfWrongType) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.scores", strings({"x", "y", "z", "a", "b", "c", "d"}));
  expect_error(g, ErrorKind::format, "tokenizer.ggml.scores");
}

TEST(Vocab, TokenTypeLengthMismatch) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.token_type", numbers<int32_t>(ValueType::INT32, {1, 1}));
  expect_error(g, ErrorKind::format, "tokenizer.ggml.token_type");
}

TEST(Vocab, TokenTypeOutOfRange) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.token_type", numbers<int32_t>(ValueType::INT32, {2, 3, 3, 1, 1, 9, 1}));
  expect_error(g, ErrorKind::format, "unknown type 9");
}

TEST(Vocab, SpecialIdOutOfRange) {
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                          "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",
                          "tokenizer.ggml.mask_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"}) {
    SCOPED_TRACE(key);
    MiniGguf g;
    g.w.set(key, uint32_t{7});  // one past the last of 7 tokens
    expect_error(g, ErrorKind::format, key);
    MiniGguf h;
    h.w.set(key, int32_t{-5});
    expect_error(h, ErrorKind::format, key);
  }
}

TEST(Vocab, SpecialIdOfWrongType) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.bos_token_id", "one");
  expect_error(g, ErrorKind::format, "tokenizer.ggml.bos_token_id");
}

TEST(Vocab, MergesOfWrongType) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.merges", numbers<int32_t>(ValueType::INT32, {1, 2}));
  expect_error(g, ErrorKind::format, "tokenizer.ggml.merges");
}

TEST(Vocab, UnsupportedModel) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.model", "t5");
  File f = g.file();
  try {
    Tokenizer::from_gguf(f);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("'t5'"), std::string::npos) << e.what();
  }
}

TEST(Vocab, ModelWithoutTokenizer) {
  MiniGguf g;
  g.w.set("tokenizer.ggml.model", "none");
  File f = g.file();
  EXPECT_THROW(Tokenizer::from_gguf(f), Error);
}

}  // namespace
