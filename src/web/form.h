// avow/web/form.h — the bodies and cookies browsers send, parsed with bounds.
//
// Entra's browser POSTs the authorize request as `application/x-www-form-urlencoded`; the MFA page carries
// its flow secret in a cookie. Both arrive from anyone on the internet, so both parsers bound what they
// accept and refuse malformed input instead of guessing.
//
//   Result<FormFields> form = parse_form(req.body);
//   if (!form) return bad_request(form.error().message);      // kInvalidArgument
//   for (const auto& [name, value] : *form) …                 // repeated names kept, in order
//
//   std::optional<std::string_view> secret = cookie_value(req.header("cookie").value_or(""), "avow_flow");
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace avow::web {

// Name/value pairs in the order received. Same shape as entra::FormFields.
using FormFields = std::vector<std::pair<std::string, std::string>>;

struct FormLimits {
  std::size_t max_body_bytes = 32 * 1024;
  std::size_t max_fields = 64;
  std::size_t max_name_bytes = 256;  // after decoding
};

// Parses an application/x-www-form-urlencoded body: `name=value` pairs separated by '&', '+' decoded as a
// space and `%XX` as a byte. A pair without '=' has an empty value; empty pairs (`a=1&&b=2`, a trailing
// '&') are skipped, as browsers do. Repeated names are all kept, in order. Values are bytes: whether they
// are valid UTF-8 is for the consumer to judge.
// kInvalidArgument (naming the problem, never echoing the input) for a body over `max_body_bytes`, more
// than `max_fields` pairs, an empty or over-long name, or a malformed escape (`%` not followed by two hex
// digits).
Result<FormFields> parse_form(std::string_view body, const FormLimits& limits = {});

// The value of cookie `name` in a `Cookie` request header (`a=1; b=2`), or nullopt when absent. The first
// occurrence wins (a browser sends the cookie with the most specific path first). Values are returned as
// sent (no decoding); surrounding double quotes are removed. Headers over 8 KiB are not searched.
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace avow::web
