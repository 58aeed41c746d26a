// avow/domain/hashing.h — how the domain keeps secrets it must recognise but never store.
//
// Scan codes and session tokens are random (256 bits), so one SHA-256 is enough to store them: there is
// nothing to brute-force, and a stolen database yields no usable code or cookie.
//
//   record.code_hash = sha256_hex(code);
#pragma once

#include <string>
#include <string_view>

namespace avow::domain {

// Lowercase hexadecimal SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

// The raw SHA-256 of `data` (32 bytes).
std::string sha256_bytes(std::string_view data);

}  // namespace avow::domain
