// avow/crypto/hash.h — one-shot digests, HMAC and hex.
//
//   std::string d = crypto::sha256("abc");                       // 32 raw bytes
//   std::string h = crypto::hex_encode(d);                       // "ba7816bf…"
//   std::string m = crypto::hmac(HashAlgorithm::kSha1, key, msg); // 20 raw bytes
//
// Results are raw bytes in a std::string; encode them (hex, base64url) where text is needed. These calls
// cannot fail short of the OpenSSL default provider being absent, in which case the process aborts.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace avow::crypto {

enum class HashAlgorithm { kSha1, kSha256, kSha512 };

// Digest length in bytes: 20, 32 or 64.
std::size_t digest_size(HashAlgorithm algorithm);

std::string digest(HashAlgorithm algorithm, std::string_view data);
inline std::string sha1(std::string_view data) { return digest(HashAlgorithm::kSha1, data); }
inline std::string sha256(std::string_view data) { return digest(HashAlgorithm::kSha256, data); }
inline std::string sha512(std::string_view data) { return digest(HashAlgorithm::kSha512, data); }

// HMAC (RFC 2104) of `data` under `key`; any key length is allowed.
std::string hmac(HashAlgorithm algorithm, std::string_view key, std::string_view data);

// Lowercase hexadecimal.
std::string hex_encode(std::string_view bytes);

// Accepts either case; an odd length or a non-hex character → kInvalidArgument.
Result<std::string> hex_decode(std::string_view hex);

}  // namespace avow::crypto
