#include "domain/hashing.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace avow::domain {

std::string sha256_bytes(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    // SHA-256 cannot fail short of a broken OpenSSL; storing an unhashed secret is not an option.
    std::fputs("avow: SHA-256 failed\n", stderr);
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string sha256_hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string md = sha256_bytes(data);
  std::string out;
  out.reserve(64);
  for (unsigned char c : md) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace avow::domain
