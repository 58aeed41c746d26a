// avow/common/base64url.h — RFC 4648 §5 base64url without padding, as JOSE uses it.
//
// Decoding is strict: padding, whitespace, characters outside the URL-safe alphabet, an impossible
// length (n % 4 == 1) and non-zero trailing bits are all rejected, so one value has one spelling.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace avow {

std::string base64url_encode(std::string_view bytes);
std::string base64url_encode(std::span<const std::uint8_t> bytes);
Result<std::string> base64url_decode(std::string_view text);

// Standard base64 with padding (RFC 4648 §4), as X.509 `x5c` uses.
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace avow
