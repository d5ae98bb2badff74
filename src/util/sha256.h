// SHA-256 (OpenSSL's libcrypto) of bytes, incrementally, or of a whole file read in pieces so
// that a multi-gigabyte model never has to be in memory at once.
//
//   Sha256 h;  h.update(a);  h.update(b);  std::string hex = h.hex_digest();
//   std::string d = sha256_file_hex("model.gguf");   // 64 lowercase hex digits
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hearth {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // The digest of everything given so far as 64 lowercase hex digits; the hasher is then reset.
  std::string hex_digest();

 private:
  void* ctx_;  // EVP_MD_CTX
};

// SHA-256 of `bytes` as 64 lowercase hex digits.
std::string sha256_hex_of(std::string_view bytes);

// SHA-256 of the file at `path`, read 1 MiB at a time. `keep_going` (if given) is asked before
// each piece; when it says false the hash is abandoned and nullopt returned. Throws
// hearth::Error (not_found / io) naming the file when it cannot be opened or read.
std::optional<std::string> sha256_file_hex(const std::string& path, const std::function<bool()>& keep_going = {});

}  // namespace hearth
