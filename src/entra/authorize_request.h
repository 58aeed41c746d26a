// avow/entra/authorize_request.h — the authorize POST that Entra's browser sends, parsed and bounded.
//
// This is the first gate of the flow: it checks the shape of the request (fields present, sizes bounded,
// OIDC parameters exactly what Microsoft sends, redirect URI one of Microsoft's) before any key is fetched
// or any hint signature is checked. A refusal here is answered with HTTP 400 JSON
// `{"error":"invalid_request",…}` and nothing is posted anywhere.
//
//   auto req = parse_authorize_request(form_fields, Cloud::kGlobal, /*extra_redirect=*/"");
//   if (!req) return bad_request(req.error().message);
//   if (req->flavor == Flavor::kCustomControl) … req->custom_claim->type …
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "entra/cloud.h"

namespace avow::entra {

// Per-field upper bounds. Entra's whole form is about 3 KB; these leave room without inviting abuse.
struct AuthorizeLimits {
  std::size_t max_hint = 16 * 1024;
  std::size_t max_state = 4096;
  std::size_t max_nonce = 512;
  std::size_t max_claims = 4096;
  std::size_t max_other = 1024;
};

// The claim a custom control asks for, e.g. {"AvowMfa": "MfaDone"}.
struct RequestedClaim {
  std::string type;
  std::string value;
};

struct AuthorizeRequest {
  Flavor flavor = Flavor::kEam;
  std::string client_id;
  std::string redirect_uri;
  std::string nonce;
  std::optional<std::string> state;  // echoed when present
  std::string id_token_hint;
  // EAM: the acr and amr values Entra will accept, in the order it sent them.
  std::vector<std::string> acr_values;
  std::vector<std::string> amr_values;
  // Custom control: the claim to echo in the id_token.
  std::optional<RequestedClaim> custom_claim;
};

using FormFields = std::vector<std::pair<std::string, std::string>>;

// Validates and extracts the authorize request. Fails with kInvalidArgument and an operator-readable
// description when a required field is missing or repeated, a field is over its bound, scope lacks
// `openid`, response_type is not `id_token`, response_mode is not `form_post`, the redirect URI is not one
// of Microsoft's for `cloud` (see classify_redirect_uri), or `claims` is not the JSON the flavour implies.
// Unknown fields are ignored, as Entra sends extras.
Result<AuthorizeRequest> parse_authorize_request(const FormFields& fields, Cloud cloud,
                                                 std::string_view extra_redirect_uri = {},
                                                 const AuthorizeLimits& limits = {});

// The acr/amr pair to put in the id_token for a sign-in completed with `method` (an RFC 8176 amr value
// such as "swk" or "otp"): `method` must be among the requested amr values (when any were requested) and
// the acr is the first requested value that covers the method's class (possession or inherence).
// Fails with kConflict when Entra's request leaves no acceptable pair.
Result<std::pair<std::string, std::string>> choose_acr_amr(const AuthorizeRequest& req, std::string_view method);

}  // namespace avow::entra
