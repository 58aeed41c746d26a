// avow/crypto/jws.h — compact JWS (RFC 7515) signing and verification for RS256 and ES256.
//
//   Result<std::string> token = jws::sign(private_key, {{"typ", "JWT"}}, payload_json.dump());
//   Result<jws::VerifiedJws> v = jws::verify(*token, public_key);        // or jws::verify(*token, jwks)
//   if (!v) reject(v.error());           // kUnauthenticated: bad signature; kInvalidArgument: malformed
//   auto claims = nlohmann::json::parse(v->payload);
//
// The key decides the algorithm. A token whose "alg" is not exactly the key's algorithm is refused — so
// "none", HS256 presented against an RSA key (the classic alg-confusion attack) and RS256 against an EC key
// all fail before any signature check. No JWS extension is understood, so any "crit" header is refused.
// ES256 signatures are the 64-byte R‖S of RFC 7518 §3.4, not DER.
//
// Checking claims (exp, aud, iss, nonce…) is the caller's business: this layer only proves who signed the
// bytes. All functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "crypto/jwk.h"

namespace avow::crypto::jws {

// Larger tokens are refused unread (a Microsoft id_token_hint is ~1.5–3 KiB).
inline constexpr std::size_t kMaxTokenSize = 16 * 1024;

struct VerifiedJws {
  nlohmann::json header;  // the protected header, a JSON object
  std::string payload;    // the payload bytes, base64url-decoded
};

// Header and payload of a token whose signature has NOT been checked; use it only to choose the issuer's
// key set (iss, tid, kid), never to trust a claim.
struct UnverifiedJws {
  nlohmann::json header;
  std::string payload;
};

// Signs `payload` (any bytes; usually a JSON text). The header is {"alg": <key's alg>, "kid": <key's kid>}
// merged with `header_extra` (e.g. {"typ":"JWT"}). kInvalidArgument when the key is public only, when
// `header_extra` is not an object (null counts as empty), or when it sets "alg"/"kid" to other values than
// the key's, sets "crit", or holds a string that is not UTF-8. kInternal on an OpenSSL failure.
Result<std::string> sign(const Jwk& private_key, const nlohmann::json& header_extra, std::string_view payload);

// Verifies a compact JWS with `key`. kInvalidArgument (malformed): larger than kMaxTokenSize, not exactly
// three '.'-separated segments, an empty segment, a segment that is not strict base64url, a header that is
// not a JSON object, "alg" missing or not a string, "crit" present. kUnauthenticated: "alg" is "none" or
// differs from the key's algorithm, the signature has the wrong length, or it does not verify.
Result<VerifiedJws> verify(std::string_view token, const Jwk& key);

// As above, with the key picked from `keys` by the header's "kid" (a token without "kid" is accepted only
// when the set holds exactly one key). kNotFound when no key has that kid — callers may refresh the set.
Result<VerifiedJws> verify(std::string_view token, const Jwks& keys);

// Splits and decodes header and payload without checking the signature. Same malformation errors as
// verify (kInvalidArgument); the signature segment must be present, non-empty base64url.
Result<UnverifiedJws> decode_unverified(std::string_view token);

}  // namespace avow::crypto::jws
