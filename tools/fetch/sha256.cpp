// tools/fetch/sha256.cpp — Sha256 over OpenSSL's EVP digest interface.
#include "tools/fetch/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace weft_fetch {

struct Sha256::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : context_(new Context()) {
  if (context_->ctx == nullptr || EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256: OpenSSL could not set up the digest");
  }
}

Sha256::~Sha256() = default;

void Sha256::update(const char* data, std::size_t n) {
  // Only a context that was never initialised makes this fail.
  EVP_DigestUpdate(context_->ctx, data, n);
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(context_->ctx, digest, &size);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace weft_fetch
