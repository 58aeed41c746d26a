// avow/entra/hint.h — validation of the id_token_hint Entra sends, by every rule of the contract.
//
//   HintPolicy policy{.cloud = Cloud::kGlobal, .directory_id = integration.directory_id,
//                     .audiences = {integration.app_id, integration.client_id}};
//   Result<HintClaims> hint = validate_hint(token, microsoft_keys, policy, clock);
//   if (!hint && hint.error().code == ErrorCode::kNotFound) { refresh the key set once, try again }
//
// Rules (shared/reference/entra-protocol.md §1–2):
// - signed by a key of Microsoft's set, chosen by `kid`; the key decides the algorithm (RS256);
// - `iss` is this cloud's v1 or v2 issuer, and its tenant is the integration's Directory ID;
// - `tid` is a GUID: equal to the Directory ID for a member, another tenant for a B2B guest (whether the
//   integration admits that guest is domain::check_guest_policy's call, made by the flow);
// - `aud` is the App ID or the Client ID, nothing else;
// - the hint is issued already expired, so `exp` is ignored; its age is bounded by `iat` instead, and
//   neither `iat` nor `nbf` may lie in the future beyond the clock skew;
// - `sub` and `oid` are present (`oid` a GUID), and every string claim is bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/jwk.h"
#include "entra/cloud.h"

namespace avow::entra {

struct HintPolicy {
  Cloud cloud = Cloud::kGlobal;
  std::string directory_id;            // lowercase GUID
  std::vector<std::string> audiences;  // App ID and Client ID
  std::chrono::seconds max_age{10 * 60};
  std::chrono::seconds clock_skew{5 * 60};
};

struct HintClaims {
  int version = 2;        // issuer form: 1 or 2
  std::string tenant_id;  // `tid`, lowercase: the user's home tenant
  std::string object_id;  // `oid`, lowercase
  std::string subject;    // `sub`, echoed in the response id_token
  std::string name;       // display name, may be empty
  std::string username;   // `preferred_username` (v2) or `upn`/`unique_name` (v1), may be empty
  std::int64_t issued_at = 0;
  bool is_guest = false;  // tid differs from the Directory ID
};

// Validates `token` against `microsoft_keys` and `policy`. Errors: kInvalidArgument for a malformed token
// or claim set; kNotFound when no key has the token's `kid` (refresh the key set, then retry once);
// kUnauthenticated for a bad signature or a wrong alg, issuer, tenant or audience; kExpired when too old
// or not yet valid.
Result<HintClaims> validate_hint(std::string_view token, const crypto::Jwks& microsoft_keys, const HintPolicy& policy,
                                 const Clock& clock);

}  // namespace avow::entra
