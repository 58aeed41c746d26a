// avow/crypto/x509.h — self-signed X.509 certificates: the `x5c` of Avow's signing keys (Entra requires a
// certificate beside every published key) and the `--dev` TLS certificate for localhost.
//
//   Result<Certificate> c = make_self_signed(key, "Avow signing key", {}, std::chrono::days(730));
//   jwk_json["x5c"] = {c->x5c()};  jwk_json["x5t"] = c->x5t();
//
//   CertificateRequest dev{.common_name = "localhost", .dns_sans = {"localhost"},
//                          .ip_sans = {"127.0.0.1", "::1"}, .server_auth = true};
//   Result<Certificate> tls = make_self_signed(key, dev);
//
// Certificates are signed with SHA-256 (RSA PKCS#1 v1.5 or ECDSA), version 3, a random 128-bit serial,
// basicConstraints CA:FALSE, keyUsage digitalSignature (+ keyEncipherment for RSA TLS), and a
// subjectKeyIdentifier.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "crypto/jwk.h"

namespace avow::crypto {

struct CertificateRequest {
  std::string common_name;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;  // textual IPv4 or IPv6 addresses
  std::chrono::seconds validity{std::chrono::hours(24 * 365)};
  // Start of validity, Unix seconds; unset → now minus 5 minutes (clock skew between machines).
  std::optional<std::int64_t> not_before_unix;
  bool server_auth = false;  // adds extendedKeyUsage serverAuth, for TLS
};

class Certificate {
 public:
  // Parses a DER certificate (≤ 64 KiB). kInvalidArgument when it does not parse or has trailing bytes.
  static Result<Certificate> from_der(std::string_view der);
  // Parses the first "CERTIFICATE" block of a PEM text.
  static Result<Certificate> from_pem(std::string_view pem);

  const std::string& der() const { return der_; }
  std::string pem() const;
  std::string x5c() const;       // standard base64 (with padding) of the DER, as JWK "x5c" entries are
  std::string x5t() const;       // base64url SHA-1 of the DER
  std::string x5t_s256() const;  // base64url SHA-256 of the DER
  std::int64_t not_before_unix() const { return not_before_; }
  std::int64_t not_after_unix() const { return not_after_; }

  // The certificate's public key as a public Jwk (kid = its thumbprint). kInvalidArgument when the key
  // is not RSA ≥ 2048 or EC P-256.
  Result<Jwk> public_key() const;

 private:
  std::string der_;
  std::int64_t not_before_ = 0;
  std::int64_t not_after_ = 0;
};

// Issues a certificate for `key` (which must be private; kInvalidArgument otherwise), signed by itself.
// kInvalidArgument for an empty or over-64-byte common name, a malformed IP SAN, a DNS SAN that is empty
// or over 253 characters, or a non-positive validity.
Result<Certificate> make_self_signed(const Jwk& key, const CertificateRequest& request);

// Shorthand for a certificate without IP SANs, valid from now − 5 min.
Result<Certificate> make_self_signed(const Jwk& key, std::string_view common_name, std::vector<std::string> dns_sans,
                                     std::chrono::seconds validity);

}  // namespace avow::crypto
