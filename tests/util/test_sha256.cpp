// SHA-256 of bytes and of files read in pieces: FIPS 180-2 test vectors, files larger than the
// 1 MiB read size, abandoning a hash, unreadable files.
#include "util/sha256.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "testdata.h"
#include "util/error.h"

namespace hearth {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex_of(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsWholeAndResets) {
  Sha256 h;
  h.update("ab");
  h.update("");
  h.update("c");
  EXPECT_EQ(h.hex_digest(), sha256_hex_of("abc"));
  // After a digest the hasher starts over.
  h.update("abc");
  EXPECT_EQ(h.hex_digest(), sha256_hex_of("abc"));
}

TEST(Sha256, FileReadInPiecesEqualsBytes) {
  const std::string dir = test::temp_dir();
  // 3 MiB + 7 bytes: several reads and a short last one.
  std::string bytes((size_t{3} << 20) + 7, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string path = dir + "/data.bin";
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_EQ(sha256_file_hex(path).value(), sha256_hex_of(bytes));
  // An empty file.
  std::ofstream(dir + "/empty.bin", std::ios::binary).close();
  EXPECT_EQ(sha256_file_hex(dir + "/empty.bin").value(), sha256_hex_of(""));
}

TEST(Sha256, KeepGoingFalseAbandons) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/data.bin";
  std::ofstream(path, std::ios::binary) << std::string(size_t{3} << 20, 'x');
  int asked = 0;
  const auto d = sha256_file_hex(path, [&] { return ++asked < 2; });  // stops before the 2nd piece
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(asked, 2);
}

TEST(Sha256, MissingFileAndDirectoryAreErrors) {
  const std::string dir = test::temp_dir();
  try {
    (void)sha256_file_hex(dir + "/nope.gguf");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("nope.gguf"), std::string::npos) << e.what();
  }
  try {
    (void)sha256_file_hex(dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth
