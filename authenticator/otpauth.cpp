// Key URIs and Google Authenticator exports → OtpAccount, and back to a URI.
#include "authenticator/otpauth.h"

#include <sodium.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>

#include "common/base64url.h"

namespace avow::device {
namespace {

constexpr std::string_view kOtpauthScheme = "otpauth://";
constexpr std::string_view kMigrationScheme = "otpauth-migration://";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding; with `plus_is_space` a '+' is a space, as form encoders (and many key URI
// generators) write query values.
Result<std::string> percent_decode(std::string_view text, bool plus_is_space, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size())
        return fail(ErrorCode::kInvalidArgument, std::string(what) + " has a truncated percent escape");
      const int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0)
        return fail(ErrorCode::kInvalidArgument, std::string(what) + " has an invalid percent escape \"%" +
                                                     std::string(text.substr(i + 1, 2)) + "\"");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// Well-formed UTF-8 (no overlongs, no surrogates) without C0/C1 control characters or DEL: labels are
// shown on terminals and stored as JSON.
bool is_clean_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    int extra = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<std::size_t>(extra) >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::array<std::uint32_t, 4> kMin = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp >= 0x80 && cp <= 0x9F) return false;  // C1 controls
    i += extra + 1;
  }
  return true;
}

Status check_text(std::string_view value, std::string_view what) {
  if (value.size() > kMaxLabelPartSize)
    return fail(ErrorCode::kInvalidArgument,
                std::string(what) + " is longer than " + std::to_string(kMaxLabelPartSize) + " bytes");
  if (!is_clean_text(value))
    return fail(ErrorCode::kInvalidArgument,
                std::string(what) + " is not valid UTF-8 text (or holds control characters)");
  return ok();
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::optional<int> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || s.front() == '-') return std::nullopt;
  return n;
}

Status check_secret_size(std::string_view secret, std::string_view what) {
  if (secret.size() < kMinOtpSecretSize)
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " is too short: " + std::to_string(secret.size()) +
                                                 " bytes, at least " + std::to_string(kMinOtpSecretSize) +
                                                 " are needed");
  if (secret.size() > crypto::kMaxOtpSecretSize)
    return fail(ErrorCode::kInvalidArgument,
                std::string(what) + " is longer than " + std::to_string(crypto::kMaxOtpSecretSize) + " bytes");
  return ok();
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// ---- a bounded protobuf reader: just enough for MigrationPayload

struct ProtoField {
  std::uint32_t number = 0;
  int wire_type = 0;
  std::uint64_t varint = 0;  // wire type 0
  std::string_view bytes;    // wire type 2
};

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  Result<ProtoField> next() {
    auto key = varint();
    if (!key) return tl::unexpected(key.error());
    ProtoField f;
    f.number = static_cast<std::uint32_t>(*key >> 3);
    f.wire_type = static_cast<int>(*key & 7);
    if (f.number == 0 || (*key >> 3) > 0x1FFFFFFF) return malformed("a field number is out of range");
    switch (f.wire_type) {
      case 0: {
        auto v = varint();
        if (!v) return tl::unexpected(v.error());
        f.varint = *v;
        return f;
      }
      case 1:
        return skip(f, 8);
      case 5:
        return skip(f, 4);
      case 2: {
        auto len = varint();
        if (!len) return tl::unexpected(len.error());
        if (*len > data_.size() - pos_) return malformed("a length runs past the end of the data");
        f.bytes = data_.substr(pos_, static_cast<std::size_t>(*len));
        pos_ += static_cast<std::size_t>(*len);
        return f;
      }
      default:
        return malformed("wire type " + std::to_string(f.wire_type) + " is not supported");
    }
  }

 private:
  static tl::unexpected<Error> malformed(const std::string& why) {
    return fail(ErrorCode::kInvalidArgument, "the migration data is not a valid payload: " + why);
  }

  Result<ProtoField> skip(ProtoField f, std::size_t n) {
    if (n > data_.size() - pos_) return malformed("a fixed-size field runs past the end of the data");
    pos_ += n;
    return f;
  }

  Result<std::uint64_t> varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return malformed("a number runs past the end of the data");
      const auto b = static_cast<unsigned char>(data_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return malformed("a number is longer than 10 bytes");
  }

  std::string_view data_;
  std::size_t pos_ = 0;
};

// One OtpParameters message → an account, or the reason it is skipped (nullopt error text empty = ok).
struct ParsedParameters {
  std::optional<OtpAccount> account;
  std::string skipped;
};

Result<ParsedParameters> parse_parameters(std::string_view message, std::size_t index) {
  OtpAccount a;
  std::string name;
  std::uint64_t algorithm = 0, digits = 0, type = 0;
  ProtoReader r(message);
  while (!r.done()) {
    auto f = r.next();
    if (!f) return tl::unexpected(f.error());
    const bool is_bytes = f->wire_type == 2, is_varint = f->wire_type == 0;
    auto wrong_type = [&](const char* field) {
      return fail(ErrorCode::kInvalidArgument, "the migration data is not a valid payload: entry " +
                                                   std::to_string(index + 1) + " has a malformed " + field);
    };
    switch (f->number) {
      case 1:
        if (!is_bytes) return wrong_type("secret");
        a.secret.assign(f->bytes);
        break;
      case 2:
        if (!is_bytes) return wrong_type("name");
        name.assign(f->bytes);
        break;
      case 3:
        if (!is_bytes) return wrong_type("issuer");
        a.issuer.assign(f->bytes);
        break;
      case 4:
        if (!is_varint) return wrong_type("algorithm");
        algorithm = f->varint;
        break;
      case 5:
        if (!is_varint) return wrong_type("digit count");
        digits = f->varint;
        break;
      case 6:
        if (!is_varint) return wrong_type("type");
        type = f->varint;
        break;
      default:
        break;  // counter (7) and anything newer
    }
  }
  const std::string entry = "entry " + std::to_string(index + 1);
  AVOW_TRY(check_text(a.issuer, entry + "'s issuer"));
  AVOW_TRY(check_text(name, entry + "'s name"));
  // Exports usually carry the label as the name ("ACME:alice"); keep the account part only.
  std::string_view account = name;
  if (auto colon = account.find(':'); colon != std::string_view::npos) {
    std::string_view prefix = account.substr(0, colon);
    if (a.issuer.empty() || prefix == a.issuer) {
      if (a.issuer.empty()) a.issuer = std::string(prefix);
      account = trim_spaces(account.substr(colon + 1));
    }
  }
  a.account = std::string(account);
  ParsedParameters out;
  const std::string shown = a.label().empty() ? entry : a.label();
  if (a.account.empty()) return fail(ErrorCode::kInvalidArgument, "the migration data's " + entry + " has no name");
  if (type == 1) {
    out.skipped = shown + ": HOTP (counter-based) accounts are not supported; the vault stores TOTP only";
    return out;
  }
  if (type > 2) {
    out.skipped = shown + ": unknown OTP type " + std::to_string(type);
    return out;
  }
  switch (algorithm) {
    case 0:
    case 1:
      a.algorithm = crypto::OtpAlgorithm::kSha1;
      break;
    case 2:
      a.algorithm = crypto::OtpAlgorithm::kSha256;
      break;
    case 3:
      a.algorithm = crypto::OtpAlgorithm::kSha512;
      break;
    default:
      out.skipped = shown + ": the algorithm (" + (algorithm == 4 ? std::string("MD5") : std::to_string(algorithm)) +
                    ") is not supported";
      return out;
  }
  switch (digits) {
    case 0:
    case 1:
      a.digits = 6;
      break;
    case 2:
      a.digits = 8;
      break;
    default:
      out.skipped = shown + ": unknown digit count " + std::to_string(digits);
      return out;
  }
  AVOW_TRY(check_secret_size(a.secret, "the migration data's " + entry + " secret"));
  a.period = 30;
  out.account = std::move(a);
  return out;
}

void append_percent_encoded(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

}  // namespace

OtpAccount::~OtpAccount() { wipe(secret); }

std::string OtpAccount::label() const { return issuer.empty() ? account : issuer + ":" + account; }

Result<std::string> decode_base32_secret(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else if (c == ' ' || c == '=' || c == '-') {
      continue;  // grouping and padding, as apps print and type secrets
    } else {
      wipe(out);
      buffer = 0;
      return fail(ErrorCode::kInvalidArgument, "the secret is not base32: it holds a character outside A–Z and 2–7");
    }
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  buffer = 0;
  return out;
}

Result<OtpAccount> parse_otpauth_uri(std::string_view uri) {
  if (uri.size() > kMaxOtpauthUriSize)
    return fail(ErrorCode::kInvalidArgument,
                "the otpauth URI is longer than " + std::to_string(kMaxOtpauthUriSize) + " characters");
  if (!istarts_with(uri, kOtpauthScheme))
    return fail(ErrorCode::kInvalidArgument, "not an otpauth URI: it must start with otpauth://");
  std::string_view rest = uri.substr(kOtpauthScheme.size());
  if (auto hash = rest.find('#'); hash != std::string_view::npos)
    rest = rest.substr(0, hash);  // a fragment means nothing here

  const auto slash = rest.find('/');
  const std::string_view type = rest.substr(0, slash);
  if (iequals(type, "hotp"))
    return fail(ErrorCode::kInvalidArgument,
                "the otpauth URI's type is hotp: HOTP (counter-based) accounts are not supported; the vault stores "
                "TOTP (time-based) accounts only");
  if (!iequals(type, "totp"))
    return fail(ErrorCode::kInvalidArgument,
                "the otpauth URI's type \"" + std::string(type.substr(0, 32)) + "\" is not totp");
  if (slash == std::string_view::npos)
    return fail(ErrorCode::kInvalidArgument, "the otpauth URI has no label (otpauth://totp/Issuer:account?…)");
  rest = rest.substr(slash + 1);

  const auto question = rest.find('?');
  auto label = percent_decode(rest.substr(0, question), /*plus_is_space=*/false, "the label");
  if (!label) return tl::unexpected(label.error());
  std::string_view query = question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);

  OtpAccount a;
  std::optional<std::string> label_issuer;
  std::string_view account = *label;
  if (auto colon = account.find(':'); colon != std::string_view::npos) {
    label_issuer = std::string(trim_spaces(account.substr(0, colon)));
    account = account.substr(colon + 1);
    if (label_issuer->empty())
      return fail(ErrorCode::kInvalidArgument, "the label's issuer prefix (before ':') is empty");
  }
  account = trim_spaces(account);
  if (account.empty()) return fail(ErrorCode::kInvalidArgument, "the label has no account name");
  a.account = std::string(account);
  AVOW_TRY(check_text(a.account, "the label's account name"));
  if (label_issuer) AVOW_TRY(check_text(*label_issuer, "the label's issuer prefix"));

  std::optional<std::string> secret_text, issuer, algorithm, digits, period;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::optional<std::string>* slot = nullptr;
    if (iequals(name, "secret")) {
      slot = &secret_text;
    } else if (iequals(name, "issuer")) {
      slot = &issuer;
    } else if (iequals(name, "algorithm")) {
      slot = &algorithm;
    } else if (iequals(name, "digits")) {
      slot = &digits;
    } else if (iequals(name, "period")) {
      slot = &period;
    } else {
      continue;  // image, counter, icon… mean nothing for a stored TOTP account
    }
    std::string param = "the ";
    for (char c : name) param += lower(c);
    param += " parameter";
    if (*slot) return fail(ErrorCode::kInvalidArgument, param + " appears more than once");
    auto value = percent_decode(raw, /*plus_is_space=*/true, param);
    if (!value) return tl::unexpected(value.error());
    *slot = std::move(*value);
  }

  if (!secret_text || trim_spaces(*secret_text).empty())
    return fail(ErrorCode::kInvalidArgument, "the otpauth URI has no secret parameter");
  auto secret = decode_base32_secret(*secret_text);
  wipe(*secret_text);
  if (!secret) return fail(ErrorCode::kInvalidArgument, "the secret parameter is not base32 (A–Z, 2–7)");
  a.secret = std::move(*secret);
  AVOW_TRY(check_secret_size(a.secret, "the secret parameter"));

  if (issuer && !trim_spaces(*issuer).empty()) {
    const std::string param_issuer(trim_spaces(*issuer));
    AVOW_TRY(check_text(param_issuer, "the issuer parameter"));
    if (label_issuer && *label_issuer != param_issuer)
      return fail(ErrorCode::kInvalidArgument, "the issuer parameter (\"" + param_issuer +
                                                   "\") differs from the label's issuer prefix (\"" + *label_issuer +
                                                   "\")");
    a.issuer = param_issuer;
  } else if (label_issuer) {
    a.issuer = *label_issuer;
  }

  if (algorithm) {
    auto parsed = crypto::parse_otp_algorithm(*algorithm);
    if (!parsed)
      return fail(ErrorCode::kInvalidArgument,
                  "the algorithm parameter \"" + algorithm->substr(0, 16) + "\" is not one of SHA1, SHA256, SHA512");
    a.algorithm = *parsed;
  }
  if (digits) {
    auto n = parse_int(*digits);
    if (!n || *n < crypto::kMinOtpDigits || *n > crypto::kMaxOtpDigits)
      return fail(ErrorCode::kInvalidArgument,
                  "the digits parameter \"" + digits->substr(0, 16) + "\" is not 6, 7 or 8");
    a.digits = *n;
  }
  if (period) {
    auto n = parse_int(*period);
    if (!n || *n < 1 || *n > kMaxTotpPeriod)
      return fail(ErrorCode::kInvalidArgument, "the period parameter \"" + period->substr(0, 16) +
                                                   "\" is not a whole number of seconds from 1 to " +
                                                   std::to_string(kMaxTotpPeriod));
    a.period = *n;
  }
  return a;
}

Result<KeyImport> parse_migration_uri(std::string_view uri) {
  if (uri.size() > kMaxMigrationUriSize)
    return fail(ErrorCode::kInvalidArgument,
                "the migration URI is longer than " + std::to_string(kMaxMigrationUriSize) + " characters");
  if (!istarts_with(uri, kMigrationScheme))
    return fail(ErrorCode::kInvalidArgument, "not a migration URI: it must start with otpauth-migration://");
  std::string_view rest = uri.substr(kMigrationScheme.size());
  const auto question = rest.find('?');
  if (!iequals(rest.substr(0, question), "offline"))
    return fail(ErrorCode::kInvalidArgument, "the migration URI is not otpauth-migration://offline?data=…");
  std::string_view query = question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  std::optional<std::string> data;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (!iequals(pair.substr(0, eq), "data")) continue;
    if (data) return fail(ErrorCode::kInvalidArgument, "the data parameter appears more than once");
    // '+' is base64 here, not a space.
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1),
                                /*plus_is_space=*/false, "the data parameter");
    if (!value) return tl::unexpected(value.error());
    data = std::move(*value);
  }
  if (!data || data->empty()) return fail(ErrorCode::kInvalidArgument, "the migration URI has no data parameter");
  // Standard base64; some encoders drop the padding or use the URL-safe alphabet.
  for (char& c : *data) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
    if (c == ' ') c = '+';  // a '+' someone decoded as a form space
  }
  while (data->size() % 4 != 0) *data += '=';
  auto payload = base64_decode(*data);
  wipe(*data);
  if (!payload) return fail(ErrorCode::kInvalidArgument, "the data parameter is not base64");

  KeyImport out;
  Status status = ok();
  {
    ProtoReader r(*payload);
    std::size_t index = 0;
    while (!r.done()) {
      auto f = r.next();
      if (!f) {
        status = tl::unexpected(f.error());
        break;
      }
      if (f->number != 1) continue;  // version, batch_size, batch_index, batch_id
      if (f->wire_type != 2) {
        status =
            fail(ErrorCode::kInvalidArgument, "the migration data is not a valid payload: an entry is not a message");
        break;
      }
      if (index >= kMaxMigrationAccounts) {
        status = fail(ErrorCode::kInvalidArgument,
                      "the migration data holds more than " + std::to_string(kMaxMigrationAccounts) + " entries");
        break;
      }
      auto parsed = parse_parameters(f->bytes, index++);
      if (!parsed) {
        status = tl::unexpected(parsed.error());
        break;
      }
      if (parsed->account)
        out.accounts.push_back(std::move(*parsed->account));
      else
        out.skipped.push_back(std::move(parsed->skipped));
    }
  }
  wipe(*payload);
  if (!status) return tl::unexpected(status.error());
  if (out.accounts.empty()) {
    std::string why = "the migration data holds no TOTP account";
    for (const auto& s : out.skipped) why += "; skipped " + s;
    return fail(ErrorCode::kInvalidArgument, why);
  }
  return out;
}

Result<KeyImport> parse_key_uri(std::string_view uri) {
  if (istarts_with(uri, kMigrationScheme)) return parse_migration_uri(uri);
  auto account = parse_otpauth_uri(uri);
  if (!account) return tl::unexpected(account.error());
  KeyImport out;
  out.accounts.push_back(std::move(*account));
  return out;
}

std::string format_otpauth_uri(const OtpAccount& a) {
  std::string uri = "otpauth://totp/";
  // A label's issuer prefix ends at the first ':'; an issuer holding one travels in the parameter only.
  if (!a.issuer.empty() && a.issuer.find(':') == std::string::npos) {
    append_percent_encoded(uri, a.issuer);
    uri += ':';
  }
  append_percent_encoded(uri, a.account);
  uri += "?secret=" + crypto::base32_encode(a.secret);
  if (!a.issuer.empty()) {
    uri += "&issuer=";
    append_percent_encoded(uri, a.issuer);
  }
  uri += "&algorithm=" + std::string(crypto::to_string(a.algorithm));
  uri += "&digits=" + std::to_string(a.digits);
  uri += "&period=" + std::to_string(a.period);
  return uri;
}

}  // namespace avow::device
