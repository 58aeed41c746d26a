// avow/authenticator/otpauth.h — TOTP accounts as other sites hand them out: Google Authenticator key URIs
// (https://github.com/google/google-authenticator/wiki/Key-Uri-Format) and Google Authenticator's
// `otpauth-migration://offline?data=…` export.
//
//   Result<OtpAccount> a = parse_otpauth_uri("otpauth://totp/ACME:alice@acme.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME");
//   a->label();                        // "ACME:alice@acme.com"
//   crypto::totp_at(a->secret, now, a->period, a->digits, a->algorithm);
//   std::string uri = format_otpauth_uri(*a);   // back to a URI, for export
//
//   Result<KeyImport> batch = parse_key_uri(text);   // either kind of URI; batch->skipped says what was left out
//
// Only TOTP (time-based) accounts are accepted: an `otpauth://hotp/…` URI is refused with a message saying
// so, and HOTP entries in a migration export are skipped and listed in `KeyImport::skipped`. Every input is
// untrusted (a QR code from anywhere): sizes are bounded, every malformed part is refused with
// kInvalidArgument and a message naming the part, and labels with control characters are refused because
// they end up on a terminal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "crypto/otp.h"

namespace avow::device {

inline constexpr std::size_t kMaxOtpauthUriSize = 4096;
inline constexpr std::size_t kMaxMigrationUriSize = 256 * 1024;
inline constexpr std::size_t kMaxMigrationAccounts = 1000;
inline constexpr std::size_t kMaxLabelPartSize = 256;  // an issuer or an account name, in bytes (decoded)
inline constexpr std::size_t kMinOtpSecretSize = 10;   // bytes: 80 bits, the shortest secret sites still issue
inline constexpr int kMaxTotpPeriod = 86400;           // seconds

// One TOTP account. Destroying it wipes the secret's bytes.
struct OtpAccount {
  std::string issuer;   // who issued it ("ACME"); may be empty
  std::string account;  // the user's name there ("alice@acme.com"); never empty
  std::string secret;   // raw bytes (not base32)
  crypto::OtpAlgorithm algorithm = crypto::OtpAlgorithm::kSha1;
  int digits = 6;
  int period = 30;

  OtpAccount() = default;
  OtpAccount(const OtpAccount&) = default;
  OtpAccount(OtpAccount&&) = default;
  OtpAccount& operator=(const OtpAccount&) = default;
  OtpAccount& operator=(OtpAccount&&) = default;
  ~OtpAccount();

  // "Issuer:account", or "account" when there is no issuer.
  std::string label() const;
};

// Parses an `otpauth://totp/LABEL?PARAMETERS` URI. LABEL is `account` or `Issuer:account` (percent-encoded;
// spaces after the colon are dropped). Parameters: `secret` (required; base32, any case, optional `=`
// padding, spaces ignored, at least kMinOtpSecretSize and at most crypto::kMaxOtpSecretSize bytes),
// `issuer` (when the label has an issuer prefix too they must be equal), `algorithm` (SHA1 default, SHA256,
// SHA512), `digits` (6 default, 7, 8), `period` (30 default, 1..kMaxTotpPeriod). Other parameters (`image`,
// `counter`, …) are ignored; a repeated parameter is refused. kInvalidArgument, naming the part at fault,
// for anything else: not otpauth://, `hotp` or another type, a bad percent escape, an empty account, an
// issuer mismatch, an over-long URI or label, control characters in the label or issuer.
Result<OtpAccount> parse_otpauth_uri(std::string_view uri);

// What a key URI or export carried.
struct KeyImport {
  std::vector<OtpAccount> accounts;
  std::vector<std::string> skipped;  // one line per entry left out and why ("ACME:bob: HOTP is not supported")
};

// Parses Google Authenticator's export `otpauth-migration://offline?data=BASE64` (a protobuf
// MigrationPayload; the period is always 30 s there). Entries that are HOTP or use an unsupported algorithm
// or digit count are skipped and listed. kInvalidArgument when the URI or the payload is malformed, larger
// than kMaxMigrationUriSize, holds more than kMaxMigrationAccounts entries, or holds no TOTP entry at all.
Result<KeyImport> parse_migration_uri(std::string_view uri);

// Either kind of URI, chosen by its scheme: an otpauth:// URI gives one account.
Result<KeyImport> parse_key_uri(std::string_view uri);

// The account as an otpauth://totp URI that parse_otpauth_uri reads back to an equal account (the same
// label() in the one case the format cannot tell apart: no issuer and a ':' in the account); algorithm,
// digits and period are always written out.
std::string format_otpauth_uri(const OtpAccount& account);

// Lenient base32 as authenticator apps read it: any case, spaces, '-' and '=' padding ignored, trailing bits
// dropped. kInvalidArgument on any other character.
Result<std::string> decode_base32_secret(std::string_view text);

}  // namespace avow::device
