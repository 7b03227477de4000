// tools/fetch/sha256.hpp — a SHA-256 digest fed piece by piece, as a body
// streams in (OpenSSL's EVP interface; OpenSSL stays out of this header).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace weft_fetch {

// Invariant: until hex_digest() is called, the digest covers exactly the
// bytes given to update(), in order. Not thread-safe; one per body.
class Sha256 {
 public:
  // Throws std::runtime_error if OpenSSL cannot set up the digest.
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const char* data, std::size_t n);
  // The digest of every byte given, as 64 lower-case hex digits. Ends the
  // digest: call it once.
  std::string hex_digest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace weft_fetch
