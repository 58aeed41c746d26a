// avow/crypto/otp.h — HOTP (RFC 4226), TOTP (RFC 6238) and the base32 (RFC 4648 §6) their secrets travel in.
//
//   Result<std::string> secret = base32_decode("JBSWY3DPEHPK3PXP");       // from an otpauth:// URI
//   Result<std::string> code = totp_at(*secret, clock.unix_now());        // "492039"
//   std::optional<std::int64_t> step = totp_verify(*secret, typed, clock.unix_now(), /*window_steps=*/1);
//   if (!step || *step <= last_used_step) reject();                      // refuse a replayed code
//   last_used_step = *step;
//
// `secret` is always raw bytes (decode base32 first). Codes are compared in constant time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace avow::crypto {

enum class OtpAlgorithm { kSha1, kSha256, kSha512 };

// "SHA1" | "SHA256" | "SHA512" (as otpauth URIs spell them; case-insensitive) → algorithm.
std::optional<OtpAlgorithm> parse_otp_algorithm(std::string_view name);
std::string_view to_string(OtpAlgorithm algorithm);

inline constexpr int kMinOtpDigits = 6;
inline constexpr int kMaxOtpDigits = 8;
inline constexpr std::size_t kMaxOtpSecretSize = 1024;
inline constexpr int kMaxTotpWindowSteps = 10;

// The `digits`-long, zero-padded code for `counter`. kInvalidArgument when digits ∉ [6, 8] or the secret
// is empty or longer than kMaxOtpSecretSize.
Result<std::string> hotp(std::string_view secret, std::uint64_t counter, int digits = 6,
                         OtpAlgorithm algorithm = OtpAlgorithm::kSha1);

// The time step containing `unix_time`: floor((unix_time − t0) / period). nullopt when period ≤ 0 or
// unix_time < t0.
std::optional<std::int64_t> totp_step(std::int64_t unix_time, std::int64_t period = 30, std::int64_t t0 = 0);

// The TOTP code at `unix_time`. kInvalidArgument as for hotp, or when period ≤ 0 or unix_time < t0.
Result<std::string> totp_at(std::string_view secret, std::int64_t unix_time, std::int64_t period = 30, int digits = 6,
                            OtpAlgorithm algorithm = OtpAlgorithm::kSha1, std::int64_t t0 = 0);

// Checks `code` against the steps from current − window_steps to current + window_steps and returns the
// step that matched, so the caller can refuse a step already used. nullopt when nothing matches, the code is
// not exactly `digits` ASCII digits, or any parameter is out of range (window_steps ∉ [0, 10], …). Every
// step in the window is computed and compared, whatever matches, so timing does not reveal which one did.
std::optional<std::int64_t> totp_verify(std::string_view secret, std::string_view code, std::int64_t unix_time,
                                        int window_steps = 1, std::int64_t period = 30, int digits = 6,
                                        OtpAlgorithm algorithm = OtpAlgorithm::kSha1, std::int64_t t0 = 0);

// RFC 4648 base32, uppercase, with or without '=' padding.
std::string base32_encode(std::string_view bytes, bool pad = false);

// Strict decoding: case-insensitive; padding optional but, when present, exactly right; no whitespace or
// other characters; impossible lengths and non-zero trailing bits rejected (kInvalidArgument).
Result<std::string> base32_decode(std::string_view text);

}  // namespace avow::crypto
