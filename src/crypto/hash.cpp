#include "crypto/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>

#include "crypto/detail/openssl_util.h"

namespace avow::crypto {
namespace {

const EVP_MD* md_for(HashAlgorithm a) {
  switch (a) {
    case HashAlgorithm::kSha1:
      return detail::md_sha1();
    case HashAlgorithm::kSha256:
      return detail::md_sha256();
    case HashAlgorithm::kSha512:
      return detail::md_sha512();
  }
  return detail::md_sha256();
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "avow: %s failed inside OpenSSL\n", what);
  std::abort();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::size_t digest_size(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha1:
      return 20;
    case HashAlgorithm::kSha256:
      return 32;
    case HashAlgorithm::kSha512:
      return 64;
  }
  return 0;
}

std::string digest(HashAlgorithm algorithm, std::string_view data) {
  std::string out(digest_size(algorithm), '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), detail::u8(out), &len, md_for(algorithm), nullptr) != 1) die("digest");
  out.resize(len);
  return out;
}

std::string hmac(HashAlgorithm algorithm, std::string_view key, std::string_view data) {
  std::string out(digest_size(algorithm), '\0');
  unsigned int len = 0;
  // HMAC() with an empty key needs a non-null pointer.
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(key.data());
  if (HMAC(md_for(algorithm), k, static_cast<int>(key.size()), detail::u8(data), data.size(), detail::u8(out), &len) ==
      nullptr)
    die("HMAC");
  out.resize(len);
  return out;
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

Result<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return fail(ErrorCode::kInvalidArgument, "hex: odd length");
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return fail(ErrorCode::kInvalidArgument, "hex: invalid character");
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

}  // namespace avow::crypto
