#include "tools/entra-sim/microsoft.h"

#include <algorithm>

#include "common/base64url.h"
#include "crypto/hash.h"
#include "crypto/jws.h"
#include "crypto/x509.h"

namespace avow::entra_sim {

using nlohmann::json;

namespace {

const char* kEamClaims =
    R"({"id_token":{"acr":{"essential":true,"values":["possessionorinherence"]},"amr":{"essential":true,)"
    R"("values":["face","fido","fpt","hwk","iris","otp","pop","retina","sc","sms","swk","tel","vbm"]}}})";

Status broken(std::string rule) { return fail(ErrorCode::kInvalidArgument, std::move(rule)); }

bool string_array_contains(const json& doc, const char* member, std::string_view value) {
  auto it = doc.find(member);
  if (it == doc.end() || !it->is_array()) return false;
  return std::any_of(it->begin(), it->end(),
                     [&](const json& v) { return v.is_string() && v.get<std::string>() == value; });
}

}  // namespace

Result<Tenant> Tenant::create(Cloud cloud) {
  auto key = crypto::Jwk::generate_rsa(2048);
  if (!key) return tl::unexpected(key.error());
  return Tenant(cloud, std::move(*key));
}

Result<Tenant> Tenant::from_key(crypto::Jwk key, Cloud cloud) {
  if (!key.is_private() || key.type() != crypto::KeyType::kRsa)
    return fail(ErrorCode::kInvalidArgument, "Microsoft's hint key must be a private RSA key");
  return Tenant(cloud, std::move(key));
}

json Tenant::jwks() const {
  crypto::PublicJwkOptions o;
  o.use_sig = true;
  return json{{"keys", json::array({key_.to_public_json(o)})}};
}

Result<std::string> Tenant::mint_hint(const HintSpec& spec, std::int64_t now) const {
  const auto& p = entra::profile(cloud_);
  const std::int64_t iat = spec.iat ? spec.iat : now;
  json claims = {
      {"aud", spec.aud},   {"iss", spec.version == 1 ? p.v1_issuer(spec.directory_id) : p.v2_issuer(spec.directory_id)},
      {"iat", iat},        {"nbf", iat},
      {"exp", iat - 60},  // Microsoft issues the hint already expired
      {"name", spec.name}, {"oid", spec.oid},
      {"sub", spec.sub},   {"tid", spec.tid},
  };
  if (spec.issuer_override) claims["iss"] = *spec.issuer_override;
  if (spec.version == 1) {
    claims["ver"] = "1.0";
    claims["upn"] = spec.username;
  } else {
    claims["ver"] = "2.0";
    claims["preferred_username"] = spec.username;
  }
  if (spec.kid_override) return crypto::jws::sign(key_.with_kid(*spec.kid_override), {{"typ", "JWT"}}, claims.dump());
  return crypto::jws::sign(key_, {{"typ", "JWT"}}, claims.dump());
}

FormFields Tenant::authorize_form(const AuthorizeSpec& spec) const {
  const auto& p = entra::profile(cloud_);
  std::string redirect = spec.redirect_uri;
  if (redirect.empty()) redirect = spec.flavor == Flavor::kEam ? p.eam_redirect_uri() : p.custom_control_redirect_uri();
  std::string claims =
      spec.flavor == Flavor::kEam
          ? std::string(kEamClaims)
          : json{{"id_token", {{spec.claim_type, {{"essential", true}, {"value", spec.claim_value}}}}}}.dump();
  FormFields f = {{"scope", "openid"},
                  {"response_type", "id_token"},
                  {"response_mode", "form_post"},
                  {"client_id", spec.client_id},
                  {"redirect_uri", redirect},
                  {"claims", claims},
                  {"nonce", spec.nonce},
                  {"id_token_hint", spec.hint},
                  {"client-request-id", "6f0b1a3e-5d3c-4c2a-9f0e-1b2c3d4e5f60"}};
  if (spec.state) f.emplace_back("state", *spec.state);
  return f;
}

Status validate_discovery(const json& doc, std::string_view discovery_url) {
  constexpr std::string_view kSuffix = "/.well-known/openid-configuration";
  if (!discovery_url.starts_with("https://")) return broken("discovery URL must be https");
  if (!discovery_url.ends_with(kSuffix)) return broken("discovery URL must end in /.well-known/openid-configuration");
  if (!doc.is_object()) return broken("discovery document must be a JSON object");
  const std::string base(discovery_url.substr(0, discovery_url.size() - kSuffix.size()));
  for (const char* m : {"issuer", "authorization_endpoint", "jwks_uri"})
    if (!doc.contains(m) || !doc[m].is_string()) return broken(std::string(m) + " is required");
  if (doc["issuer"].get<std::string>() != base)
    return broken("issuer must equal the discovery base character for character");
  const auto jwks_uri = doc["jwks_uri"].get<std::string>();
  if (!jwks_uri.starts_with("https://") || jwks_uri.find('?') != std::string::npos)
    return broken("jwks_uri must be https without a query");
  if (!doc["authorization_endpoint"].get<std::string>().starts_with("https://"))
    return broken("authorization_endpoint must be https");
  if (!string_array_contains(doc, "scopes_supported", "openid")) return broken("scopes_supported must include openid");
  if (!string_array_contains(doc, "response_types_supported", "id_token"))
    return broken("response_types_supported must include id_token");
  if (!doc.contains("subject_types_supported") || !doc["subject_types_supported"].is_array())
    return broken("subject_types_supported is required");
  if (!string_array_contains(doc, "id_token_signing_alg_values_supported", "RS256"))
    return broken("id_token_signing_alg_values_supported must include RS256");
  if (doc.contains("claim_types_supported") && !string_array_contains(doc, "claim_types_supported", "normal"))
    return broken("claim_types_supported must contain normal");
  return ok();
}

Result<crypto::Jwks> validate_provider_jwks(const json& jwks) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array() || jwks["keys"].empty())
    return fail(ErrorCode::kInvalidArgument, "JWKS must have a non-empty keys array");
  for (const auto& k : jwks["keys"]) {
    for (const char* m : {"kty", "use", "kid", "n", "e", "x5t"})
      if (!k.contains(m) || !k[m].is_string()) return fail(ErrorCode::kInvalidArgument, std::string("JWK lacks ") + m);
    if (k["use"] != "sig") return fail(ErrorCode::kInvalidArgument, "JWK use must be sig");
    if (!k.contains("x5c") || !k["x5c"].is_array() || k["x5c"].empty() || !k["x5c"][0].is_string())
      return fail(ErrorCode::kInvalidArgument, "JWK lacks x5c");
    auto der = base64_decode(k["x5c"][0].get<std::string>());
    if (!der) return fail(ErrorCode::kInvalidArgument, "x5c is not base64");
    auto cert = crypto::Certificate::from_der(*der);
    if (!cert) return fail(ErrorCode::kInvalidArgument, "x5c is not a certificate: " + cert.error().message);
    auto jwk = crypto::Jwk::parse(k);
    if (!jwk) return fail(ErrorCode::kInvalidArgument, "JWK does not parse: " + jwk.error().message);
    auto cert_key = cert->public_key();
    if (!cert_key || !cert_key->same_public_key(*jwk))
      return fail(ErrorCode::kInvalidArgument, "x5c certificate holds another key than n/e");
    if (k["x5t"].get<std::string>() != cert->x5t())
      return fail(ErrorCode::kInvalidArgument, "x5t is not the SHA-1 of x5c");
  }
  return crypto::Jwks::parse(jwks);
}

Result<json> validate_id_token(std::string_view token, const crypto::Jwks& provider_keys,
                               const IdTokenExpectation& expect, std::int64_t now) {
  auto unverified = crypto::jws::decode_unverified(token);
  if (!unverified) return tl::unexpected(unverified.error());
  if (unverified->header.value("alg", "") != "RS256")
    return fail(ErrorCode::kUnauthenticated, "id_token alg must be RS256");
  if (!unverified->header.contains("kid")) return fail(ErrorCode::kUnauthenticated, "id_token header lacks kid");
  auto verified = crypto::jws::verify(token, provider_keys);
  if (!verified) return tl::unexpected(verified.error());
  json c = json::parse(verified->payload, nullptr, false);
  if (!c.is_object()) return fail(ErrorCode::kInvalidArgument, "id_token payload is not an object");
  auto expect_eq = [&](const char* claim, const std::string& want) -> Status {
    if (!c.contains(claim) || !c[claim].is_string() || c[claim].get<std::string>() != want)
      return fail(ErrorCode::kUnauthenticated, std::string("id_token ") + claim + " is wrong");
    return ok();
  };
  AVOW_TRY(expect_eq("iss", expect.issuer));
  AVOW_TRY(expect_eq("aud", expect.client_id));
  AVOW_TRY(expect_eq("sub", expect.sub));
  AVOW_TRY(expect_eq("nonce", expect.nonce));
  if (!c.contains("iat") || !c["iat"].is_number_integer() || !c.contains("exp") || !c["exp"].is_number_integer())
    return fail(ErrorCode::kInvalidArgument, "id_token needs integer iat and exp");
  const auto iat = c["iat"].get<std::int64_t>(), exp = c["exp"].get<std::int64_t>();
  if (iat > now + expect.clock_skew) return fail(ErrorCode::kExpired, "id_token iat is in the future");
  if (exp <= now - expect.clock_skew) return fail(ErrorCode::kExpired, "id_token has expired");
  if (exp - iat > expect.max_lifetime) return fail(ErrorCode::kInvalidArgument, "id_token lifetime is too long");
  if (expect.flavor == Flavor::kEam) {
    if (!c.contains("acr") || !c["acr"].is_string() ||
        std::find(expect.acr_values.begin(), expect.acr_values.end(), c["acr"].get<std::string>()) ==
            expect.acr_values.end())
      return fail(ErrorCode::kUnauthenticated, "id_token acr must be exactly one requested value");
    if (!c.contains("amr") || !c["amr"].is_array() || c["amr"].size() != 1 || !c["amr"][0].is_string() ||
        std::find(expect.amr_values.begin(), expect.amr_values.end(), c["amr"][0].get<std::string>()) ==
            expect.amr_values.end())
      return fail(ErrorCode::kUnauthenticated, "id_token amr must hold exactly one requested method");
  } else {
    AVOW_TRY(expect_eq(expect.claim_type.c_str(), expect.claim_value));
  }
  return c;
}

}  // namespace avow::entra_sim
