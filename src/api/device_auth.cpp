#include "api/device_auth.h"

#include <cctype>

#include "common/base64url.h"
#include "crypto/jws.h"

namespace avow::api {
namespace {

using nlohmann::json;

// The reasons a device is told. Short on purpose: they name the rule, nothing the device did not send.
constexpr std::string_view kMalformed = "the request is not a signed device request";
constexpr std::string_view kHeader = "the JWS header must be alg ES256, typ avow-device+jwt, with a kid";
constexpr std::string_view kEnrollHeader = "the enrollment JWS header must carry the device's public P-256 jwk";
constexpr std::string_view kUnknownDevice = "unknown or revoked device";
constexpr std::string_view kBadSignature = "the signature does not verify";
constexpr std::string_view kBinding = "htm/htu do not match this request";
constexpr std::string_view kIat = "iat is missing or outside the accepted window";
constexpr std::string_view kJti = "jti is missing or not base64url of at least 16 bytes";
constexpr std::string_view kReplay = "jti was used before";

tl::unexpected<Error> refuse(std::string_view reason) { return fail(ErrorCode::kUnauthenticated, std::string(reason)); }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "application/jose", optionally with parameters ("; charset=…"), in any case.
bool is_jose_content_type(std::optional<std::string_view> value) {
  if (!value) return false;
  std::string_view v = *value;
  if (const auto semi = v.find(';'); semi != std::string_view::npos) v = v.substr(0, semi);
  return iequals(trim(v), kDeviceJwsContentType);
}

// The JWS a request carries, by its method: the body of a POST, the Authorization credentials otherwise.
Result<std::string_view> carried_token(const SignedRequest& r) {
  if (r.method == "POST") {
    if (r.body.empty() || r.body.size() > kMaxSignedRequestBytes || !is_jose_content_type(r.content_type))
      return refuse(kMalformed);
    return trim(r.body);
  }
  if (!r.body.empty() || !r.authorization) return refuse(kMalformed);
  const std::string_view value = trim(*r.authorization);
  if (value.size() <= kDeviceAuthScheme.size() ||
      !iequals(value.substr(0, kDeviceAuthScheme.size()), kDeviceAuthScheme) || value[kDeviceAuthScheme.size()] != ' ')
    return refuse(kMalformed);
  const std::string_view token = trim(value.substr(kDeviceAuthScheme.size() + 1));
  if (token.empty() || token.size() > kMaxSignedRequestBytes) return refuse(kMalformed);
  return token;
}

bool is_device_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxDeviceIdChars) return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '-' && c != '_') return false;
  return true;
}

bool string_member_is(const json& obj, const char* name, std::string_view want) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() && it->get_ref<const std::string&>() == want;
}

Status check_jti(const json& payload, std::string* out) {
  auto it = payload.find("jti");
  if (it == payload.end() || !it->is_string()) return refuse(kJti);
  const auto& jti = it->get_ref<const std::string&>();
  if (jti.size() > kMaxJtiChars) return refuse(kJti);
  Result<std::string> raw = base64url_decode(jti);
  if (!raw || raw->size() < kMinJtiBytes) return refuse(kJti);
  *out = jti;
  return ok();
}

}  // namespace

Result<crypto::Jwk> parse_device_public_key(const json& jwk) {
  if (!jwk.is_object()) return fail(ErrorCode::kInvalidArgument, "the device key is not a JWK object");
  // Jwk::parse would accept a private key and keep only what it needs; a device must never send one.
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
    if (jwk.contains(member)) return fail(ErrorCode::kInvalidArgument, "the device key has private members");
  Result<crypto::Jwk> key = crypto::Jwk::parse(jwk);
  if (!key) return fail(ErrorCode::kInvalidArgument, "the device key is not a valid JWK");
  if (key->type() != crypto::KeyType::kEcP256 || key->is_private())
    return fail(ErrorCode::kInvalidArgument, "the device key is not a public EC P-256 key");
  return key;
}

Result<VerifiedRequest> verify_device_request(const SignedRequest& request, KeyMode mode, const DeviceKeyLookup& lookup,
                                              const JtiRecorder& record_jti, const Clock& clock,
                                              const VerifyOptions& options) {
  Result<std::string_view> token = carried_token(request);
  AVOW_TRY(token);
  // Split and decode once to learn which key to use; the signature is checked below.
  Result<crypto::jws::UnverifiedJws> unverified = crypto::jws::decode_unverified(*token);
  if (!unverified) return refuse(kMalformed);
  const json& header = unverified->header;
  if (!string_member_is(header, "alg", "ES256") || !string_member_is(header, "typ", kDeviceJwsType))
    return refuse(kHeader);

  VerifiedRequest out;
  std::optional<crypto::Jwk> key;
  if (mode == KeyMode::kDevice) {
    auto kid = header.find("kid");
    if (kid == header.end() || !kid->is_string() || header.contains("jwk")) return refuse(kHeader);
    const auto& device_id = kid->get_ref<const std::string&>();
    if (!is_device_id(device_id)) return refuse(kUnknownDevice);
    Result<DeviceKey> found = lookup(device_id);
    if (!found) {
      if (found.error().code == ErrorCode::kNotFound) return refuse(kUnknownDevice);
      return tl::unexpected(found.error());
    }
    // A revoked device is refused before its signature is even checked: it no longer speaks for anyone.
    if (!found->active) return refuse(kUnknownDevice);
    key = found->key;
    out.device_id = device_id;
    out.last_seen_at = found->last_seen_at;
  } else {
    auto jwk = header.find("jwk");
    if (jwk == header.end()) return refuse(kEnrollHeader);
    Result<crypto::Jwk> parsed = parse_device_public_key(*jwk);
    if (!parsed) return refuse(kEnrollHeader);
    // jws::sign always writes a kid; at enrollment it can only name the key in the header.
    if (auto kid = header.find("kid");
        kid != header.end() && !(kid->is_string() && kid->get_ref<const std::string&>() == parsed->thumbprint()))
      return refuse(kEnrollHeader);
    key = *parsed;
    out.enrollment_key = *parsed;
  }

  // The key decides the algorithm (jws.h): "none", HS256 and RS256 fail here even if the checks above
  // were bypassed.
  Result<crypto::jws::VerifiedJws> verified = crypto::jws::verify(*token, *key);
  if (!verified) return refuse(verified.error().code == ErrorCode::kInvalidArgument ? kMalformed : kBadSignature);

  json payload = json::parse(verified->payload, nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object()) return refuse(kMalformed);
  if (!string_member_is(payload, "htm", request.method) || !string_member_is(payload, "htu", request.target))
    return refuse(kBinding);
  auto iat = payload.find("iat");
  if (iat == payload.end() || !iat->is_number_integer()) return refuse(kIat);
  // Unsigned values above INT64_MAX read as negative here and fail the window like any other far value.
  const std::int64_t signed_at = iat->get<std::int64_t>();
  const std::int64_t now = clock.unix_now();
  if (signed_at < now - options.iat_window_seconds || signed_at > now + options.iat_window_seconds) return refuse(kIat);
  AVOW_TRY(check_jti(payload, &out.jti));
  out.iat = signed_at;

  const std::string subject = mode == KeyMode::kDevice ? out.device_id : "enroll:" + key->thumbprint();
  if (Status recorded = record_jti(subject, out.jti, signed_at); !recorded)
    return tl::unexpected(jti_refusal(recorded.error()));
  out.payload = std::move(payload);
  return out;
}

Error jti_refusal(const Error& error) {
  switch (error.code) {
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
      return refuse(kReplay).value();
    case ErrorCode::kExpired:
      return refuse(kIat).value();
    case ErrorCode::kInvalidArgument:
      return refuse(kJti).value();
    default:
      return error;
  }
}

std::optional<std::string> claimed_device_id(const SignedRequest& request) {
  Result<std::string_view> token = carried_token(request);
  if (!token) return std::nullopt;
  const std::size_t dot = token->find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  Result<std::string> header_text = base64url_decode(token->substr(0, dot));
  if (!header_text) return std::nullopt;
  const json header = json::parse(*header_text, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return std::nullopt;
  auto kid = header.find("kid");
  if (kid == header.end() || !kid->is_string() || !is_device_id(kid->get_ref<const std::string&>()))
    return std::nullopt;
  return kid->get<std::string>();
}

Result<crypto::Jwk> DeviceKeyCache::get(std::string_view device_id, std::string_view jwk_text) {
  {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(std::string(device_id)); it != entries_.end() && it->second.jwk_text == jwk_text) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.key;
    }
  }
  // Parse outside the lock: it is the slow part, and two threads parsing the same key is harmless.
  const json jwk = json::parse(jwk_text, nullptr, /*allow_exceptions=*/false);
  Result<crypto::Jwk> key = parse_device_public_key(jwk);
  AVOW_TRY(key);

  std::lock_guard lock(mu_);
  const std::string id(device_id);
  if (auto it = entries_.find(id); it != entries_.end()) {
    it->second.jwk_text = std::string(jwk_text);
    it->second.key = *key;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return key;
  }
  if (entries_.size() >= capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(id);
  entries_.emplace(id, Entry{std::string(jwk_text), *key, lru_.begin()});
  return key;
}

std::size_t DeviceKeyCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace avow::api
