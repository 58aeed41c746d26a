// avow/crypto/jwk.h — JSON Web Keys (RFC 7517) for the two algorithms Avow speaks: RS256 and ES256.
//
//   Result<Jwk> key = Jwk::generate_rsa();                  // private RSA-2048, kid = RFC 7638 thumbprint
//   nlohmann::json pub = key->to_public_json({.use_sig = true, .alg = true});
//   Result<Jwk> peer = Jwk::parse(R"({"kty":"EC","crv":"P-256","x":"…","y":"…"})");
//   Result<Jwks> set = Jwks::parse(http_body);             // e.g. Microsoft's discovery keys
//   const Jwk* k = set->find(kid);
//
// A `Jwk` holds a parsed OpenSSL key (public, or private with its public half), so signing and verifying
// never re-parse it. Copies share that key and are cheap; a Jwk is immutable and safe to use from many
// threads at once. The key decides the algorithm: RSA → "RS256", EC P-256 → "ES256"; nothing else is
// accepted (RSA moduli under 2048 bits, other curves, "oct" and "OKP" keys are rejected).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>
#include <nlohmann/json.hpp>

#include "common/result.h"

namespace avow::crypto {

enum class KeyType { kRsa, kEcP256 };

// Bounds on untrusted key material.
inline constexpr std::size_t kMaxJwkTextSize = 16 * 1024;    // one JWK as text
inline constexpr std::size_t kMaxJwksTextSize = 256 * 1024;  // one JWK Set as text
inline constexpr std::size_t kMaxJwksKeys = 64;
inline constexpr std::size_t kMaxKidSize = 256;
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

// Members added by `Jwk::to_public_json`. x5c is the certificate chain as standard base64 DER strings.
struct PublicJwkOptions {
  bool use_sig = false;  // "use":"sig"
  bool alg = false;      // "alg":"RS256"/"ES256"
  std::vector<std::string> x5c;
  std::string x5t;  // base64url SHA-1 of the first certificate's DER; omitted when empty
};

class Jwk {
 public:
  // Parses one JWK. Accepts public and private RSA and EC P-256 keys. Returns kInvalidArgument when a
  // required member (kty, n, e / crv, x, y) is missing, not a string, not strict base64url, of the wrong
  // length, when the RSA modulus is under 2048 or over 8192 bits, the exponent is even or < 3, the EC point
  // is not on P-256, kty/crv is unknown, "alg" is present but not the key's algorithm, "use" is present
  // but not "sig", a private key's members do not belong to its public key, or the text is larger than
  // kMaxJwkTextSize. "kid" (≤ kMaxKidSize) is kept; without one the kid is the RFC 7638 thumbprint.
  static Result<Jwk> parse(const nlohmann::json& json);
  static Result<Jwk> parse(std::string_view text);
  // Text overloads; without them a std::string would convert to either of the above.
  static Result<Jwk> parse(const std::string& text) { return parse(std::string_view(text)); }
  static Result<Jwk> parse(const char* text) { return parse(std::string_view(text)); }

  // Fresh keys; kid = thumbprint. `bits` must be in [2048, 8192] and a multiple of 8 (else kInvalidArgument).
  static Result<Jwk> generate_rsa(int bits = 2048);
  static Result<Jwk> generate_ec_p256();

  // PEM: "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY", "EC PRIVATE KEY" or "PUBLIC KEY" (SubjectPublicKeyInfo).
  // DER: PKCS#8 PrivateKeyInfo or SubjectPublicKeyInfo. Encrypted keys, other key types and undersized RSA
  // keys → kInvalidArgument. kid = thumbprint.
  static Result<Jwk> from_pem(std::string_view pem);
  static Result<Jwk> from_der(std::string_view der);

  // Takes a reference on `pkey` (the caller keeps its own) after the same checks as from_der.
  static Result<Jwk> from_evp_pkey(EVP_PKEY* pkey);

  KeyType type() const { return type_; }
  std::string_view kty() const { return type_ == KeyType::kRsa ? "RSA" : "EC"; }
  std::string_view alg() const { return type_ == KeyType::kRsa ? "RS256" : "ES256"; }
  const std::string& kid() const { return kid_; }
  bool is_private() const { return private_; }
  int bits() const;

  // The same key under another kid.
  Jwk with_kid(std::string kid) const;
  // The public half (same kid). A public key returns a copy of itself.
  Jwk public_key() const;

  // RFC 7638 JWK thumbprint: base64url(SHA-256 of the canonical required members).
  const std::string& thumbprint() const { return thumbprint_; }

  // {"kty","kid","n","e"} or {"kty","kid","crv","x","y"} plus the requested optional members.
  nlohmann::json to_public_json(const PublicJwkOptions& options = {}) const;
  // The public members plus d (and p, q, dp, dq, qi for RSA). kInvalidArgument for a public key.
  Result<nlohmann::json> to_private_json() const;

  // Exports. Private exports need a private key (else kInvalidArgument).
  Result<std::string> private_pem() const;  // PKCS#8 "PRIVATE KEY"
  Result<std::string> private_der() const;  // PKCS#8 PrivateKeyInfo
  Result<std::string> public_pem() const;   // "PUBLIC KEY"
  Result<std::string> public_der() const;   // SubjectPublicKeyInfo

  // True when both hold the same public key (kid is ignored).
  bool same_public_key(const Jwk& other) const;

  // The parsed OpenSSL key, borrowed: valid while this Jwk (or a copy) lives. Do not modify it.
  EVP_PKEY* evp_pkey() const { return pkey_.get(); }

  // Public members as base64url, for JWK output and thumbprints: n,e (RSA) or x,y (EC).
  const std::string& public_member_1() const { return pub1_; }
  const std::string& public_member_2() const { return pub2_; }

 private:
  Jwk() = default;
  static Result<Jwk> adopt(std::shared_ptr<EVP_PKEY> pkey, bool is_private, std::string kid);

  std::shared_ptr<EVP_PKEY> pkey_;
  KeyType type_ = KeyType::kRsa;
  bool private_ = false;
  std::string kid_;
  std::string thumbprint_;
  std::string pub1_, pub2_;
};

// A JWK Set (RFC 7517 §5).
class Jwks {
 public:
  Jwks() = default;
  explicit Jwks(std::vector<Jwk> keys);

  // Parses {"keys":[…]}. Keys that Avow cannot use (other kty/crv, small RSA, "use":"enc", malformed) are
  // skipped and counted in skipped(), as are later keys repeating a kid, so one exotic key in a provider's
  // set does not hide the others. The set itself not being an object with a "keys" array, more than
  // kMaxJwksKeys keys, or text over kMaxJwksTextSize → kInvalidArgument.
  static Result<Jwks> parse(const nlohmann::json& json);
  static Result<Jwks> parse(std::string_view text);
  static Result<Jwks> parse(const std::string& text) { return parse(std::string_view(text)); }
  static Result<Jwks> parse(const char* text) { return parse(std::string_view(text)); }

  // nullptr when no key has this kid.
  const Jwk* find(std::string_view kid) const;
  const std::vector<Jwk>& keys() const { return keys_; }
  std::size_t skipped() const { return skipped_; }
  bool empty() const { return keys_.empty(); }

  // Adds `key`; kAlreadyExists when its kid is taken.
  Status add(Jwk key);

  // {"keys":[public JWKs with the given options]}.
  nlohmann::json to_json(const PublicJwkOptions& options = {}) const;

 private:
  std::vector<Jwk> keys_;
  std::size_t skipped_ = 0;
};

}  // namespace avow::crypto
