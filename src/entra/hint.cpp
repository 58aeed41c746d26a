#include "entra/hint.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/random.h"
#include "crypto/jws.h"

namespace avow::entra {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxClaimLength = 512;

Result<std::string> string_claim(const json& claims, const char* name, bool required) {
  auto it = claims.find(name);
  if (it == claims.end() || it->is_null()) {
    if (required) return fail(ErrorCode::kInvalidArgument, std::string("hint has no ") + name);
    return std::string();
  }
  if (!it->is_string()) return fail(ErrorCode::kInvalidArgument, std::string("hint ") + name + " is not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxClaimLength)
    return fail(ErrorCode::kInvalidArgument, std::string("hint ") + name + " is too long");
  if (required && s.empty()) return fail(ErrorCode::kInvalidArgument, std::string("hint ") + name + " is empty");
  return s;
}

Result<std::int64_t> time_claim(const json& claims, const char* name, bool required) {
  auto it = claims.find(name);
  if (it == claims.end()) {
    if (required) return fail(ErrorCode::kInvalidArgument, std::string("hint has no ") + name);
    return std::int64_t{0};
  }
  if (!it->is_number_integer() && !it->is_number_unsigned())
    return fail(ErrorCode::kInvalidArgument, std::string("hint ") + name + " is not an integer");
  return it->get<std::int64_t>();
}

bool audience_matches(const json& aud, const std::vector<std::string>& accepted) {
  auto one = [&](const json& v) {
    return v.is_string() && !v.get_ref<const std::string&>().empty() &&
           std::find(accepted.begin(), accepted.end(), v.get_ref<const std::string&>()) != accepted.end();
  };
  if (aud.is_string()) return one(aud);
  return aud.is_array() && aud.size() == 1 && one(aud[0]);
}

}  // namespace

Result<HintClaims> validate_hint(std::string_view token, const crypto::Jwks& microsoft_keys, const HintPolicy& policy,
                                 const Clock& clock) {
  auto verified = crypto::jws::verify(token, microsoft_keys);
  if (!verified) return tl::unexpected(verified.error());
  const json claims = json::parse(verified->payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return fail(ErrorCode::kInvalidArgument, "hint payload is not a JSON object");

  auto iss = string_claim(claims, "iss", true);
  if (!iss) return tl::unexpected(iss.error());
  auto issuer = parse_hint_issuer(policy.cloud, *iss);
  if (!issuer) return tl::unexpected(issuer.error());
  if (issuer->tenant != policy.directory_id)
    return fail(ErrorCode::kUnauthenticated, "hint issuer names another tenant than the integration's Directory ID");

  auto it = claims.find("aud");
  if (it == claims.end() || !audience_matches(*it, policy.audiences))
    return fail(ErrorCode::kUnauthenticated, "hint audience is neither the integration's App ID nor its Client ID");

  auto iat = time_claim(claims, "iat", true);
  if (!iat) return tl::unexpected(iat.error());
  auto nbf = time_claim(claims, "nbf", false);
  if (!nbf) return tl::unexpected(nbf.error());
  const std::int64_t now = clock.unix_now();
  const std::int64_t skew = policy.clock_skew.count();
  if (*iat > now + skew || *nbf > now + skew) return fail(ErrorCode::kExpired, "hint is not valid yet");
  if (now - *iat > policy.max_age.count()) return fail(ErrorCode::kExpired, "hint is too old");

  HintClaims out;
  out.version = issuer->version;
  out.issued_at = *iat;
  auto tid = string_claim(claims, "tid", true);
  if (!tid) return tl::unexpected(tid.error());
  if (!is_guid(*tid)) return fail(ErrorCode::kInvalidArgument, "hint tid is not a GUID");
  out.tenant_id = normalize_guid(*tid);
  auto oid = string_claim(claims, "oid", true);
  if (!oid) return tl::unexpected(oid.error());
  if (!is_guid(*oid)) return fail(ErrorCode::kInvalidArgument, "hint oid is not a GUID");
  out.object_id = normalize_guid(*oid);
  auto sub = string_claim(claims, "sub", true);
  if (!sub) return tl::unexpected(sub.error());
  out.subject = std::move(*sub);
  auto name = string_claim(claims, "name", false);
  if (!name) return tl::unexpected(name.error());
  out.name = std::move(*name);
  for (const char* key : {"preferred_username", "upn", "unique_name", "email"}) {
    auto v = string_claim(claims, key, false);
    if (!v) return tl::unexpected(v.error());
    if (!v->empty()) {
      out.username = std::move(*v);
      break;
    }
  }

  out.is_guest = out.tenant_id != policy.directory_id;
  return out;
}

}  // namespace avow::entra
