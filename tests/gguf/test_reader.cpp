// Malformed-input tests for the GGUF reader: every corruption must give a hearth::Error that
// names the problem, never a crash. Files are built byte by byte so each field can be broken.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "util/error.h"

using hearth::Error;
using hearth::ErrorKind;
using namespace hearth::gguf;

namespace {

// Little-endian byte builder for hand-made GGUF files.
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  Bytes& put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return put<uint32_t>(0x46554747).put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  }
  Bytes& kv_u32(const std::string& k, uint32_t v) { return str(k).put<uint32_t>(4).put<uint32_t>(v); }
  Bytes& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (auto d : dims) put<uint64_t>(d);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  Bytes& pad(size_t align = 32) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
};

// Parses and returns the error message; fails the test if parsing succeeds.
std::string parse_error(const Bytes& bytes, ErrorKind expected = ErrorKind::format) {
  try {
    File::parse(bytes.b, "test.gguf");
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(expected)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "parse succeeded on malformed input";
  return {};
}

Bytes valid_file() {
  Bytes b;
  b.header(2, 2).kv_u32("general.alignment", 32);
  b.str("general.name").put<uint32_t>(8).str("tiny");
  b.tensor("a", {32, 2}, 0, 0);   // F32, 256 bytes
  b.tensor("b", {32}, 8, 256);    // Q8_0, 34 bytes
  b.pad().zeros(256).zeros(34).pad();
  return b;
}

}  // namespace

TEST(GgufReader, ParsesAValidHandMadeFile) {
  Bytes b = valid_file();
  File f = File::parse(b.b, "test.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_string("general.name"), "tiny");
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[1].type, TensorType::Q8_0);
  EXPECT_EQ(f.tensors()[1].n_bytes, 34u);
  EXPECT_EQ(f.find_tensor("a")->n_elements, 64u);
  EXPECT_EQ(f.find_tensor("a")->shape_string(), "[32, 2]");
  EXPECT_EQ(f.data_offset() % 32, 0u);
}

TEST(GgufReader, EveryTruncationIsAnErrorNotACrash) {
  Bytes b = valid_file();
  // Cutting the file anywhere before the end of its last tensor must be reported.
  for (size_t n = 0; n + 32 <= b.b.size(); ++n) {
    Bytes cut;
    cut.b.assign(b.b.begin(), b.b.begin() + static_cast<long>(n));
    EXPECT_THROW(File::parse(cut.b, "cut.gguf"), Error) << "prefix of " << n << " bytes";
  }
}

TEST(GgufReader, BadMagic) {
  Bytes b = valid_file();
  b.b[0] = 'X';
  EXPECT_NE(parse_error(b).find("bad magic"), std::string::npos);
}

TEST(GgufReader, UnsupportedVersions) {
  Bytes v1;
  v1.header(0, 0, 1);
  EXPECT_NE(parse_error(v1, ErrorKind::unsupported).find("version 1"), std::string::npos);
  Bytes v9;
  v9.header(0, 0, 9);
  EXPECT_NE(parse_error(v9, ErrorKind::unsupported).find("unknown GGUF version 9"), std::string::npos);
  Bytes be;
  be.header(0, 0, 0x03000000);
  EXPECT_NE(parse_error(be, ErrorKind::unsupported).find("big-endian"), std::string::npos);
}

TEST(GgufReader, Version2IsAccepted) {
  Bytes b;
  b.header(0, 1, 2).kv_u32("x", 7);
  EXPECT_EQ(File::parse(b.b, "v2.gguf").get_int("x"), 7);
}

TEST(GgufReader, AbsurdCounts) {
  Bytes t;
  t.header(uint64_t(1) << 40, 0);
  EXPECT_NE(parse_error(t).find("absurd tensor count"), std::string::npos);
  Bytes k;
  k.header(0, uint64_t(1) << 40);
  EXPECT_NE(parse_error(k).find("absurd metadata count"), std::string::npos);
}

TEST(GgufReader, StringLengthPastEnd) {
  Bytes b;
  b.header(0, 1).put<uint64_t>(1000).zeros(10);
  std::string msg = parse_error(b);
  EXPECT_NE(msg.find("metadata key at offset 24 has length 1000"), std::string::npos) << msg;
}

TEST(GgufReader, ArrayLengthThatCannotFit) {
  Bytes b;
  b.header(0, 1).str("arr").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(uint64_t(1) << 50);
  std::string msg = parse_error(b);
  EXPECT_NE(msg.find("'arr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot fit"), std::string::npos) << msg;
}

TEST(GgufReader, NestedArraysAreBounded) {
  Bytes b;
  b.header(0, 1).str("deep").put<uint32_t>(9);
  for (int i = 0; i < 20; ++i) b.put<uint32_t>(9).put<uint64_t>(1);
  b.put<uint32_t>(0).put<uint64_t>(0);
  EXPECT_NE(parse_error(b).find("nested deeper"), std::string::npos);
}

TEST(GgufReader, NestedArraysWithinTheBoundParse) {
  Bytes b;
  b.header(0, 1).str("nest").put<uint32_t>(9);
  b.put<uint32_t>(9).put<uint64_t>(2);                      // array of 2 arrays
  b.put<uint32_t>(4).put<uint64_t>(2).put<uint32_t>(1).put<uint32_t>(2);
  b.put<uint32_t>(8).put<uint64_t>(1).str("x");
  File f = File::parse(b.b, "nest.gguf");
  const Array& a = f.get_array("nest");
  ASSERT_EQ(a.items.size(), 2u);
  EXPECT_EQ(a.items[0].as_array()->items[1].as_int(), 2);
  EXPECT_EQ(*a.items[1].as_array()->items[0].as_string(), "x");
}

TEST(GgufReader, UnknownValueType) {
  Bytes b;
  b.header(0, 1).str("k").put<uint32_t>(77);
  EXPECT_NE(parse_error(b).find("unknown value type 77"), std::string::npos);
}

TEST(GgufReader, BoolOutOfRange) {
  Bytes b;
  b.header(0, 1).str("flag").put<uint32_t>(7).put<uint8_t>(2);
  EXPECT_NE(parse_error(b).find("bool"), std::string::npos);
}

TEST(GgufReader, DuplicateKey) {
  Bytes b;
  b.header(0, 2).kv_u32("same", 1).kv_u32("same", 2);
  EXPECT_NE(parse_error(b).find("duplicate metadata key 'same'"), std::string::npos);
}

TEST(GgufReader, BadAlignment) {
  Bytes b;
  b.header(0, 1).kv_u32("general.alignment", 24);
  EXPECT_NE(parse_error(b).find("power-of-two"), std::string::npos);
  Bytes z;
  z.header(0, 1).kv_u32("general.alignment", 0);
  EXPECT_NE(parse_error(z).find("power-of-two"), std::string::npos);
}

TEST(GgufReader, TensorProblems) {
  {
    Bytes b;  // unknown tensor type
    b.header(1, 0).tensor("w", {32}, 99, 0).pad().zeros(64);
    EXPECT_NE(parse_error(b).find("tensor 'w' at offset 24 has unknown type 99"), std::string::npos);
  }
  {
    Bytes b;  // too many dims
    b.header(1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0).pad().zeros(64);
    EXPECT_NE(parse_error(b).find("5 dimensions"), std::string::npos);
  }
  {
    Bytes b;  // row not a multiple of the block size
    b.header(1, 0).tensor("w", {33}, 8, 0).pad().zeros(64);
    EXPECT_NE(parse_error(b).find("not a multiple of the Q8_0 block size 32"), std::string::npos);
  }
  {
    Bytes b;  // misaligned offset
    b.header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {8}, 0, 40).pad().zeros(128);
    EXPECT_NE(parse_error(b).find("'b': data offset 40 is not a multiple of the alignment 32"),
              std::string::npos);
  }
  {
    Bytes b;  // data past the end
    b.header(1, 0).tensor("big", {1024}, 0, 0).pad().zeros(100);
    std::string msg = parse_error(b);
    EXPECT_NE(msg.find("'big' (4096 bytes at data offset 0) extends past the end"), std::string::npos) << msg;
  }
  {
    Bytes b;  // overlapping tensors
    b.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad().zeros(128);
    EXPECT_NE(parse_error(b).find("overlap"), std::string::npos);
  }
  {
    Bytes b;  // duplicate names
    b.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad().zeros(64);
    EXPECT_NE(parse_error(b).find("duplicate tensor name 'a'"), std::string::npos);
  }
  {
    Bytes b;  // dimension product overflows
    b.header(1, 0).tensor("w", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0).pad().zeros(64);
    EXPECT_NE(parse_error(b).find("overflow"), std::string::npos);
  }
}

TEST(GgufReader, TypesWeCannotComputeAreStillKnown) {
  Bytes b;  // IQ2_XXS tensor: 256 elements = 66 bytes
  b.header(1, 0).tensor("iq", {256}, 16, 0).pad().zeros(96);
  File f = File::parse(b.b, "iq.gguf");
  EXPECT_EQ(tensor_type_name(f.tensors()[0].type), "IQ2_XXS");
  EXPECT_EQ(f.tensors()[0].n_bytes, 66u);
}

TEST(GgufReader, TypedGettersNameTheKey) {
  Bytes b;
  b.header(0, 2).kv_u32("n", 5).str("s").put<uint32_t>(8).str("text");
  File f = File::parse(b.b, "k.gguf");
  EXPECT_EQ(f.get_int("n"), 5);
  EXPECT_EQ(f.get_float("n"), 5.0);
  EXPECT_FALSE(f.find_int("missing").has_value());
  try {
    f.get_int("s");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metadata key 's' is a string"), std::string::npos) << e.what();
  }
  try {
    f.get_string("missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("'missing' is missing"), std::string::npos);
  }
}

TEST(GgufWriter, RoundTripsEveryValueType) {
  Writer w;
  w.set("u8", uint8_t(200));
  w.set("i8", int8_t(-5));
  w.set("u16", uint16_t(60000));
  w.set("i16", int16_t(-30000));
  w.set("u32", uint32_t(4000000000u));
  w.set("i32", int32_t(-2000000000));
  w.set("f32", 1.5f);
  w.set("bool", true);
  w.set("str", "héllo 世界");
  w.set("u64", uint64_t(1) << 60);
  w.set("i64", int64_t(-1) << 60);
  w.set("f64", 2.25);
  Array strings{ValueType::STRING, {Value("a"), Value(""), Value("ccc")}};
  w.set("arr", strings);
  w.set("general.alignment", uint32_t(64));
  std::vector<float> data(64);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.5f;
  w.add_tensor("t", TensorType::F32, {64},
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), 256));
  auto bytes = w.write_to_memory();
  File f = File::parse(bytes, "mem.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.get_int("u8"), 200);
  EXPECT_EQ(f.get_int("i16"), -30000);
  EXPECT_EQ(f.get_int("u32"), 4000000000);
  EXPECT_EQ(f.get_int("i64"), int64_t(-1) << 60);
  EXPECT_EQ(f.get_float("f32"), 1.5);
  EXPECT_EQ(f.get_bool("bool"), true);
  EXPECT_EQ(f.get_string("str"), "héllo 世界");
  EXPECT_EQ(f.get_string_array("arr"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f.data_offset() % 64, 0u);
  const float* back = reinterpret_cast<const float*>(f.tensor_data(f.tensors()[0]));
  EXPECT_EQ(back[63], 31.5f);
  // Writing what we read gives the same bytes.
  Writer w2;
  w2.copy_from(f);
  EXPECT_EQ(w2.write_to_memory(), bytes);
}

TEST(GgufWriter, RejectsInconsistentTensors) {
  Writer w;
  std::vector<uint8_t> data(10);
  EXPECT_THROW(w.add_tensor("t", TensorType::F32, {4}, data), Error);
  EXPECT_THROW(w.add_tensor("t", TensorType::Q8_0, {16}, data), Error);
  w.set("bad", Array{ValueType::UINT32, {Value("not a number")}});
  EXPECT_THROW(w.write_to_memory(), Error);
}

TEST(GgufTypes, BlockLayouts) {
  EXPECT_EQ(block_size(TensorType::Q4_K), 256u);
  EXPECT_EQ(type_size(TensorType::Q4_K), 144u);
  EXPECT_EQ(type_size(TensorType::Q6_K), 210u);
  EXPECT_EQ(type_size(TensorType::Q8_0), 34u);
  EXPECT_EQ(type_size(TensorType::BF16), 2u);
  EXPECT_EQ(tensor_type_from_name("IQ4_XS"), TensorType::IQ4_XS);
  EXPECT_FALSE(tensor_type_info(4).has_value());
  EXPECT_FALSE(tensor_type_info(40).has_value());
  size_t n = 0;
  const TensorType* all = all_tensor_types(&n);
  EXPECT_EQ(n, 38u);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(tensor_type_from_name(tensor_type_name(all[i])), all[i]);
}
