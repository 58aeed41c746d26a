// avow/domain/validation.h — checks for values that come from admins, browsers and Entra.
//
// Every check bounds the input's size first, then its content, and returns the value in its one stored
// spelling (trimmed, lowercased GUIDs and emails) or kInvalidArgument with a message an admin can act on,
// which starts with the field's name:
//
//   Result<std::string> name = validate_name("name", form["name"], kMaxNameChars);
//   if (!name) show(name.error().message);   // "name must not be empty"
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/records.h"

namespace avow::domain {

inline constexpr std::size_t kMaxNameChars = 100;   // org, integration, admin and device names
inline constexpr std::size_t kMaxEmailBytes = 254;  // RFC 5321 path limit
inline constexpr std::size_t kMaxClaimTypeBytes = 64;
inline constexpr std::size_t kMaxClaimValueBytes = 64;
inline constexpr std::size_t kMaxGuestTenants = 100;

// `s` without leading and trailing ASCII whitespace.
std::string_view trim(std::string_view s);

// Trimmed, non-empty, valid UTF-8 without control characters, at most `max_chars` code points.
Result<std::string> validate_name(std::string_view field, std::string_view value,
                                  std::size_t max_chars = kMaxNameChars);

// A GUID in canonical 8-4-4-4-12 form (surrounding whitespace ignored), returned lowercase.
Result<std::string> validate_guid(std::string_view field, std::string_view value);

// Like validate_guid, but an empty (or all-whitespace) value is "none".
Result<std::optional<std::string>> validate_optional_guid(std::string_view field, std::string_view value);

// "global" | "usgov" | "china" (case-insensitive, trimmed).
Result<store::Cloud> parse_cloud(std::string_view value);

// "any" | "members" | "list" (case-insensitive, trimmed).
Result<store::GuestPolicy> parse_guest_policy(std::string_view value);

// The custom-control claim name: a letter, then letters, digits, '_', '.', '-'; at most 64 bytes.
Result<std::string> validate_claim_type(std::string_view value);

// The custom-control claim value: letters, digits, '_', '.', ':', '-'; 1 to 64 bytes.
Result<std::string> validate_claim_value(std::string_view value);

// A plausible address: one '@' with non-empty sides, no whitespace or control characters, at most 254
// bytes; returned trimmed and lowercased (admins sign in with their device, the address is a contact).
Result<std::string> validate_email(std::string_view value);

}  // namespace avow::domain
