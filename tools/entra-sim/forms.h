// tools/entra-sim/forms.h — application/x-www-form-urlencoded, both ways, as a browser writes it.
//
//   std::string body = form_encode({{"scope", "openid"}, {"state", "a b"}});   // "scope=openid&state=a+b"
//   Result<FormFields> fields = parse_form(body);
//   std::optional<std::string> state = form_value(*fields, "state");
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "tools/entra-sim/microsoft.h"

namespace avow::entra_sim {

// Encodes as the HTML form algorithm does: unreserved characters as is, space as '+', all else %XX.
std::string form_encode(const FormFields& fields);

// Decodes a urlencoded body in order, keeping repeated names. kInvalidArgument for a malformed escape or
// more than `max_fields` fields.
Result<FormFields> parse_form(std::string_view body, std::size_t max_fields = 64);

// The first value named `name`, or nullopt.
std::optional<std::string> form_value(const FormFields& fields, std::string_view name);

}  // namespace avow::entra_sim
