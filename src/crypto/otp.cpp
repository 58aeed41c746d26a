#include "crypto/otp.h"

#include "common/random.h"
#include "crypto/hash.h"

namespace avow::crypto {
namespace {

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::uint32_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

HashAlgorithm hash_for(OtpAlgorithm a) {
  switch (a) {
    case OtpAlgorithm::kSha1:
      return HashAlgorithm::kSha1;
    case OtpAlgorithm::kSha256:
      return HashAlgorithm::kSha256;
    case OtpAlgorithm::kSha512:
      return HashAlgorithm::kSha512;
  }
  return HashAlgorithm::kSha1;
}

bool params_ok(std::string_view secret, int digits) {
  return !secret.empty() && secret.size() <= kMaxOtpSecretSize && digits >= kMinOtpDigits && digits <= kMaxOtpDigits;
}

// RFC 4226 §5.3: HMAC, dynamic truncation, modulo 10^digits. Parameters already checked.
std::uint32_t hotp_value(std::string_view secret, std::uint64_t counter, int digits, OtpAlgorithm algorithm) {
  char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<char>(counter & 0xff);
    counter >>= 8;
  }
  const std::string mac = hmac(hash_for(algorithm), secret, std::string_view(msg, sizeof msg));
  const std::size_t offset = static_cast<unsigned char>(mac.back()) & 0x0f;
  const auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(mac[offset + i])); };
  const std::uint32_t bin = ((b(0) & 0x7f) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  return bin % kPow10[digits];
}

std::string format_code(std::uint32_t value, int digits) {
  std::string out(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out;
}

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

}  // namespace

std::optional<OtpAlgorithm> parse_otp_algorithm(std::string_view name) {
  if (name.size() > 8) return std::nullopt;
  std::string upper;
  for (char c : name) upper.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  if (upper == "SHA1") return OtpAlgorithm::kSha1;
  if (upper == "SHA256") return OtpAlgorithm::kSha256;
  if (upper == "SHA512") return OtpAlgorithm::kSha512;
  return std::nullopt;
}

std::string_view to_string(OtpAlgorithm algorithm) {
  switch (algorithm) {
    case OtpAlgorithm::kSha1:
      return "SHA1";
    case OtpAlgorithm::kSha256:
      return "SHA256";
    case OtpAlgorithm::kSha512:
      return "SHA512";
  }
  return "SHA1";
}

Result<std::string> hotp(std::string_view secret, std::uint64_t counter, int digits, OtpAlgorithm algorithm) {
  if (!params_ok(secret, digits))
    return fail(ErrorCode::kInvalidArgument, "otp: secret must be 1..1024 bytes and digits 6..8");
  return format_code(hotp_value(secret, counter, digits, algorithm), digits);
}

std::optional<std::int64_t> totp_step(std::int64_t unix_time, std::int64_t period, std::int64_t t0) {
  if (period <= 0 || unix_time < t0) return std::nullopt;
  return (unix_time - t0) / period;
}

Result<std::string> totp_at(std::string_view secret, std::int64_t unix_time, std::int64_t period, int digits,
                            OtpAlgorithm algorithm, std::int64_t t0) {
  const auto step = totp_step(unix_time, period, t0);
  if (!step) return fail(ErrorCode::kInvalidArgument, "otp: period must be positive and the time not before t0");
  return hotp(secret, static_cast<std::uint64_t>(*step), digits, algorithm);
}

std::optional<std::int64_t> totp_verify(std::string_view secret, std::string_view code, std::int64_t unix_time,
                                        int window_steps, std::int64_t period, int digits, OtpAlgorithm algorithm,
                                        std::int64_t t0) {
  if (!params_ok(secret, digits) || window_steps < 0 || window_steps > kMaxTotpWindowSteps) return std::nullopt;
  if (code.size() != static_cast<std::size_t>(digits)) return std::nullopt;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const auto current = totp_step(unix_time, period, t0);
  if (!current) return std::nullopt;

  std::optional<std::int64_t> matched;
  for (std::int64_t s = *current - window_steps; s <= *current + window_steps; ++s) {
    if (s < 0) continue;
    const std::string candidate =
        format_code(hotp_value(secret, static_cast<std::uint64_t>(s), digits, algorithm), digits);
    // No early exit: every step in the window costs the same whichever matched. The first match wins
    // (two steps yielding the same code is a 10^-6 coincidence; the earlier step is the safer answer).
    if (constant_time_equal(candidate, code) && !matched) matched = s;
  }
  return matched;
}

std::string base32_encode(std::string_view bytes, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 4) / 5 * 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kBase32Alphabet[(acc >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(acc << (5 - bits)) & 31]);
  if (pad) {
    while (out.size() % 8 != 0) out.push_back('=');
  }
  return out;
}

Result<std::string> base32_decode(std::string_view text) {
  std::size_t padding = 0;
  while (padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  std::string_view data = text.substr(0, text.size() - padding);
  if (padding > 0) {
    if (text.size() % 8 != 0) return fail(ErrorCode::kInvalidArgument, "base32: padded text is not a multiple of 8");
    // Padding length ↔ characters in the last quantum: 6↔2, 4↔4, 3↔5, 1↔7.
    const std::size_t rem = data.size() % 8;
    const bool consistent = (padding == 6 && rem == 2) || (padding == 4 && rem == 4) || (padding == 3 && rem == 5) ||
                            (padding == 1 && rem == 7);
    if (!consistent) return fail(ErrorCode::kInvalidArgument, "base32: wrong padding");
  }
  const std::size_t rem = data.size() % 8;
  if (rem == 1 || rem == 3 || rem == 6) return fail(ErrorCode::kInvalidArgument, "base32: impossible length");

  std::string out;
  out.reserve(data.size() * 5 / 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : data) {
    const int v = base32_value(c);
    if (v < 0) return fail(ErrorCode::kInvalidArgument, "base32: invalid character");
    acc = (acc << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return fail(ErrorCode::kInvalidArgument, "base32: non-zero trailing bits");
  return out;
}

}  // namespace avow::crypto
