#include "domain/validation.h"

#include "common/random.h"

namespace avow::domain {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

tl::unexpected<Error> invalid(std::string_view field, std::string_view what) {
  return fail(ErrorCode::kInvalidArgument, std::string(field) + " " + std::string(what));
}

// Counts UTF-8 code points; nullopt for malformed UTF-8 (overlong forms, surrogates, bad continuations)
// or any C0/C1 control character or DEL.
std::optional<std::size_t> count_printable_utf8(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    std::size_t len = 0;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    } else {
      return std::nullopt;
    }
    if (i + len > s.size()) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return std::nullopt;
    i += len;
    ++count;
  }
  return count;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

Result<std::string> validate_name(std::string_view field, std::string_view value, std::size_t max_chars) {
  // Bound the work before looking at the content: a code point is at most 4 bytes.
  if (value.size() > max_chars * 4 + 64) return invalid(field, "is too long");
  const std::string_view t = trim(value);
  if (t.empty()) return invalid(field, "must not be empty");
  const auto n = count_printable_utf8(t);
  if (!n) return invalid(field, "must be text without control characters");
  if (*n > max_chars) return invalid(field, "must be at most " + std::to_string(max_chars) + " characters");
  return std::string(t);
}

Result<std::string> validate_guid(std::string_view field, std::string_view value) {
  if (value.size() > 64) return invalid(field, "is too long");
  const std::string_view t = trim(value);
  if (t.empty()) return invalid(field, "must not be empty");
  if (!is_guid(t)) return invalid(field, "must be a GUID like 00000000-0000-0000-0000-000000000000");
  return normalize_guid(t);
}

Result<std::optional<std::string>> validate_optional_guid(std::string_view field, std::string_view value) {
  if (trim(value).empty() && value.size() <= 64) return std::optional<std::string>();
  auto g = validate_guid(field, value);
  AVOW_TRY(g);
  return std::optional<std::string>(std::move(*g));
}

Result<store::Cloud> parse_cloud(std::string_view value) {
  store::Cloud c{};
  if (value.size() > 32 || !store::parse(lower_ascii(trim(value)), &c)) {
    return fail(ErrorCode::kInvalidArgument, "cloud must be one of global, usgov, china");
  }
  return c;
}

Result<store::GuestPolicy> parse_guest_policy(std::string_view value) {
  store::GuestPolicy p{};
  if (value.size() > 32 || !store::parse(lower_ascii(trim(value)), &p)) {
    return fail(ErrorCode::kInvalidArgument, "guest_policy must be one of any, members, list");
  }
  return p;
}

Result<std::string> validate_claim_type(std::string_view value) {
  if (value.size() > kMaxClaimTypeBytes + 64) return invalid("claim_type", "is too long");
  const std::string_view t = trim(value);
  if (t.empty()) return invalid("claim_type", "must not be empty");
  if (t.size() > kMaxClaimTypeBytes) return invalid("claim_type", "must be at most 64 characters");
  if (!is_alpha(t.front())) return invalid("claim_type", "must start with a letter");
  for (char c : t) {
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' && c != '-') {
      return invalid("claim_type", "may contain only letters, digits, '_', '.' and '-'");
    }
  }
  return std::string(t);
}

Result<std::string> validate_claim_value(std::string_view value) {
  if (value.size() > kMaxClaimValueBytes + 64) return invalid("claim_value", "is too long");
  const std::string_view t = trim(value);
  if (t.empty()) return invalid("claim_value", "must not be empty");
  if (t.size() > kMaxClaimValueBytes) return invalid("claim_value", "must be at most 64 characters");
  for (char c : t) {
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' && c != ':' && c != '-') {
      return invalid("claim_value", "may contain only letters, digits, '_', '.', ':' and '-'");
    }
  }
  return std::string(t);
}

Result<std::string> validate_email(std::string_view value) {
  if (value.size() > kMaxEmailBytes + 64) return invalid("email", "is too long");
  const std::string_view t = trim(value);
  if (t.empty()) return invalid("email", "must not be empty");
  if (t.size() > kMaxEmailBytes) return invalid("email", "must be at most 254 characters");
  const std::size_t at = t.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == t.size() || t.find('@', at + 1) != std::string_view::npos) {
    return invalid("email", "must look like name@example.com");
  }
  for (char c : t) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return invalid("email", "must not contain spaces or control characters");
  }
  if (!count_printable_utf8(t)) return invalid("email", "must be valid text");
  return lower_ascii(t);
}

}  // namespace avow::domain
