// avow/http/request_id.h — the id that ties a request's log line, response and downstream work together.
//
//   std::string id = accept_or_generate_request_id(req_header("X-Request-Id"));
//
// An incoming id is echoed and logged, so it is untrusted text: only short ids made of safe characters are
// accepted; anything else is replaced by a fresh random id (never rejected — the header is advisory).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace avow::http {

inline constexpr std::size_t kMaxRequestIdLength = 64;

// True when `id` is 1..64 characters of [A-Za-z0-9._:-].
bool is_acceptable_request_id(std::string_view id);

// A new random id: 16 random bytes as base64url (22 characters).
std::string new_request_id();

// `incoming` when acceptable, else a new id.
std::string accept_or_generate_request_id(std::optional<std::string_view> incoming);

}  // namespace avow::http
