// avow/common/random.h — cryptographically secure randomness (OpenSSL's DRBG) and identifiers.
//
// Use these for every secret, code, token and id; never <random>.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace avow {

// `n` random bytes. Aborts the process if the system's DRBG fails (there is no safe fallback).
std::string random_bytes(std::size_t n);

// A uniformly random integer in [0, bound), without modulo bias. `bound` > 0.
std::uint32_t random_below(std::uint32_t bound);

// An unguessable token: `bytes` random bytes as base64url (32 bytes → 43 characters, 256 bits).
std::string random_token(std::size_t bytes = 32);

// A random RFC 4122 version 4 UUID in lowercase canonical form, used as the primary key of stored objects.
std::string new_id();

// True when `s` is a GUID in canonical 8-4-4-4-12 hexadecimal form (either case), as Entra tenant and
// object ids are.
bool is_guid(std::string_view s);

// Lowercases a GUID already checked by is_guid.
std::string normalize_guid(std::string_view s);

// Constant-time equality for secrets: the time taken depends only on the lengths, never on where the
// inputs first differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace avow
