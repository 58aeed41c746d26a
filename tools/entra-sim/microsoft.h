// tools/entra-sim/microsoft.h — Microsoft's side of the Entra ⇄ provider contract, for tests and demos.
//
// `Tenant` plays Entra ID: it owns RSA signing keys published as a JWKS, mints id_token_hints exactly as
// Microsoft issues them (v1 or v2 issuer forms, already expired), builds the authorize form, and checks a
// provider the way Entra does — its discovery document, its JWKS, and the id_token it posts back.
//
//   Tenant entra(Cloud::kGlobal);
//   std::string hint = entra.mint_hint({.directory_id = dir, .tid = dir, .oid = oid, .aud = app_id});
//   FormFields form = entra.authorize_form(AuthorizeSpec{.client_id = cid, .hint = hint, .nonce = n, .state = s});
//   Status ok = validate_discovery(doc, discovery_url);
//   Result<nlohmann::json> claims = validate_id_token(token, provider_jwks, expectation, now);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "crypto/jwk.h"
#include "entra/authorize_request.h"
#include "entra/cloud.h"

namespace avow::entra_sim {

using entra::Cloud;
using entra::Flavor;
using entra::FormFields;

struct HintSpec {
  std::string directory_id;  // the tenant the user signed in to: names the issuer
  std::string tid;           // the user's home tenant (≠ directory_id for a B2B guest)
  std::string oid;
  std::string sub = "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ";
  std::string aud;  // the provider's App ID
  std::string name = "Adele Vance";
  std::string username = "adele@contoso.example";
  int version = 2;       // 1: https://sts.windows.net/{tid}/ form; 2: …/v2.0
  std::int64_t iat = 0;  // 0 → now
  std::optional<std::string> kid_override;
  // Replaces the issuer the cloud and version imply (tests of a foreign or look-alike issuer host).
  std::optional<std::string> issuer_override;
};

struct AuthorizeSpec {
  Flavor flavor = Flavor::kEam;
  std::string client_id;
  std::string hint;
  std::string nonce;
  std::optional<std::string> state;
  std::string claim_type = "AvowMfa";  // custom control
  std::string claim_value = "MfaDone";
  std::string redirect_uri;  // empty → Microsoft's for the flavour and cloud
};

class Tenant {
 public:
  // Generates one RSA-2048 key. kInternal if OpenSSL fails.
  static Result<Tenant> create(Cloud cloud = Cloud::kGlobal);
  // A tenant signing with `key` (a private RSA key, e.g. loaded from the simulator's state directory).
  // kInvalidArgument when the key is public only or not RSA: Microsoft signs hints with RS256.
  static Result<Tenant> from_key(crypto::Jwk key, Cloud cloud = Cloud::kGlobal);

  Cloud cloud() const { return cloud_; }
  const crypto::Jwk& key() const { return key_; }
  // The public JWKS Microsoft would serve at its keys URL.
  nlohmann::json jwks() const;

  // A signed hint as Microsoft issues it: RS256 with `kid`, exp before iat.
  Result<std::string> mint_hint(const HintSpec& spec, std::int64_t now) const;

  // The urlencoded-form fields Entra's browser POSTs to the authorization endpoint.
  FormFields authorize_form(const AuthorizeSpec& spec) const;

 private:
  Tenant(Cloud cloud, crypto::Jwk key) : cloud_(cloud), key_(std::move(key)) {}
  Cloud cloud_;
  crypto::Jwk key_;
};

// Entra's checks of a provider's discovery document fetched from `discovery_url`: https, URL ending in
// /.well-known/openid-configuration, issuer equal character for character to the base, required members
// present, jwks_uri https without query, RS256 supported, claim_types_supported containing "normal" if
// present. kInvalidArgument naming the first rule broken.
Status validate_discovery(const nlohmann::json& doc, std::string_view discovery_url);

// Entra's checks of the provider's JWKS: each key has kty, use=sig, kid, n, e, x5c (whose first
// certificate holds the same public key) and x5t (= base64url SHA-1 of that certificate).
Result<crypto::Jwks> validate_provider_jwks(const nlohmann::json& jwks);

struct IdTokenExpectation {
  std::string issuer;
  std::string client_id;
  std::string sub;
  std::string nonce;
  Flavor flavor = Flavor::kEam;
  std::vector<std::string> acr_values{"possessionorinherence"};
  std::vector<std::string> amr_values{"face",   "fido", "fpt", "hwk", "iris", "otp", "pop",
                                      "retina", "sc",   "sms", "swk", "tel",  "vbm"};
  std::string claim_type = "AvowMfa";
  std::string claim_value = "MfaDone";
  std::int64_t max_lifetime = 3600;
  std::int64_t clock_skew = 300;
};

// Entra's checks of the id_token the provider posts back: RS256 with a kid of the JWKS, iss, aud, sub,
// nonce, iat/exp sane and current, and per flavour exactly one acr among the requested and an amr array of
// exactly one requested method (EAM) or the requested claim echoed (custom control). Returns the claims.
Result<nlohmann::json> validate_id_token(std::string_view token, const crypto::Jwks& provider_keys,
                                         const IdTokenExpectation& expect, std::int64_t now);

}  // namespace avow::entra_sim
