// The device identity file: `<home>/device.json`, 0600, written atomically, read with suspicion.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "authenticator/device.h"
#include "authenticator/private_file.h"
#include "crypto/otp.h"

namespace avow::device {
namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "avow-device";
constexpr int kVersion = 1;

std::string errno_text(int err) { return std::strerror(err); }

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<std::string> required_string(const json& doc, const char* member, const std::string& file) {
  auto it = doc.find(member);
  if (it == doc.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return fail(ErrorCode::kInvalidArgument,
                file + " is corrupt: \"" + member + "\" is missing or not a non-empty string");
  return it->get<std::string>();
}

Result<DeviceIdentity> parse_document(const json& doc, const std::string& what) {
  if (!doc.is_object()) return fail(ErrorCode::kInvalidArgument, what + " is corrupt: not a JSON object");
  auto format = doc.find("format");
  if (format == doc.end() || *format != kFormat)
    return fail(ErrorCode::kInvalidArgument,
                what + " is not an Avow device identity (\"format\" is not \"avow-device\")");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer())
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"version\" is missing");
  if (*version != kVersion)
    return fail(ErrorCode::kInvalidArgument,
                what + " has version " + version->dump() + "; this avow reads version " + std::to_string(kVersion));
  auto server = required_string(doc, "server", what);
  if (!server) return tl::unexpected(server.error());
  auto normal = normalize_server_url(*server, /*allow_insecure_http=*/true);
  if (!normal || *normal != *server)
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"server\" is not a normalised server URL");
  auto device_id = required_string(doc, "device_id", what);
  if (!device_id) return tl::unexpected(device_id.error());
  if (device_id->size() > kMaxIdSize)
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"device_id\" is too long");
  auto name = required_string(doc, "name", what);
  if (!name) return tl::unexpected(name.error());
  auto key_json = doc.find("key");
  if (key_json == doc.end() || !key_json->is_object())
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"key\" is missing");
  auto key = crypto::Jwk::parse(*key_json);
  if (!key)
    return fail(ErrorCode::kInvalidArgument,
                what + " is corrupt: the key does not parse (" + key.error().message + ")");
  if (!key->is_private() || key->type() != crypto::KeyType::kEcP256)
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: the key is not a private EC P-256 key");
  return DeviceIdentity{std::move(*server), std::move(*device_id), std::move(*name), std::move(*key)};
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Reads a file only its owner may read: not a symbolic link, a regular file of this user with no group or
// other permissions, at most kMaxIdentityFileSize bytes. `missing` is the kNotFound message; `why_private`
// finishes the message for a file with loose permissions.
Result<std::string> read_private_file(const std::filesystem::path& path, const std::string& missing,
                                      const std::string& why_private) {
  const std::string file = path.string();
  // O_NOFOLLOW: a symbolic link could point the read anywhere; refuse it like ssh refuses loose keys.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return fail(ErrorCode::kNotFound, missing);
    if (err == ELOOP) return fail(ErrorCode::kPermissionDenied, file + " is a symbolic link; refusing to use it");
    if (err == EACCES) return fail(ErrorCode::kPermissionDenied, "cannot read " + file + ": " + errno_text(err));
    return fail(ErrorCode::kUnavailable, "cannot open " + file + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail(ErrorCode::kUnavailable, "cannot stat " + file + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidArgument, file + " is not a regular file");
  if (st.st_uid != ::geteuid())
    return fail(ErrorCode::kPermissionDenied, file + " belongs to another user; refusing to use it");
  if ((st.st_mode & 077) != 0)
    return fail(ErrorCode::kPermissionDenied, file + " has mode " + octal_mode(st.st_mode) + ": " + why_private +
                                                  "; run `chmod 600 " + file + "` if you trust its content");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxIdentityFileSize)
    return fail(ErrorCode::kInvalidArgument,
                file + " is corrupt: larger than " + std::to_string(kMaxIdentityFileSize) + " bytes");

  std::string text;
  text.resize(kMaxIdentityFileSize + 1);
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kUnavailable, "cannot read " + file + ": " + errno_text(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > kMaxIdentityFileSize)
    return fail(ErrorCode::kInvalidArgument,
                file + " is corrupt: larger than " + std::to_string(kMaxIdentityFileSize) + " bytes");
  text.resize(got);
  if (text.empty()) return fail(ErrorCode::kInvalidArgument, file + " is corrupt: it is empty");
  return text;
}

constexpr std::string_view kAccountsFormat = "avow-accounts";
constexpr int kAccountsVersion = 1;
constexpr std::size_t kMaxAccounts = 256;

}  // namespace

std::filesystem::path DeviceIdentity::file_path(const std::filesystem::path& home) {
  return home / std::string(kIdentityFileName);
}

Result<json> DeviceIdentity::to_json() const {
  if (server.empty() || device_id.empty() || name.empty())
    return fail(ErrorCode::kInvalidArgument, "identity: server, device_id and name must be set");
  if (!key.is_private() || key.type() != crypto::KeyType::kEcP256)
    return fail(ErrorCode::kInvalidArgument, "identity: the key must be a private EC P-256 key");
  auto key_json = key.to_private_json();
  if (!key_json) return tl::unexpected(key_json.error());
  return json{{"format", kFormat},      {"version", kVersion}, {"server", server},
              {"device_id", device_id}, {"name", name},        {"key", std::move(*key_json)}};
}

Result<DeviceIdentity> DeviceIdentity::from_json(const json& document) {
  return parse_document(document, "the identity document");
}

Result<DeviceIdentity> DeviceIdentity::load(const std::filesystem::path& home) {
  const std::filesystem::path path = file_path(home);
  auto text = read_private_file(path,
                                "this device is not enrolled: " + path.string() +
                                    " does not exist (run `avow enroll --server URL` or `avow scan URL`)",
                                "the device key must be private to you");
  if (!text) return tl::unexpected(text.error());
  const std::string file = path.string();
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return fail(
        ErrorCode::kInvalidArgument,
        file + " is corrupt: not valid JSON (truncated?). Restore it from a backup or enroll again with --force");
  return parse_document(doc, file);
}

Status DeviceIdentity::save(const std::filesystem::path& home, bool overwrite) const {
  auto doc = to_json();
  if (!doc) return tl::unexpected(doc.error());
  return write_private_file(
      file_path(home), doc->dump(2) + "\n",
      PrivateWrite{.overwrite = overwrite,
                   .exists_message = "already holds a device identity; refusing to replace it (use --force)"});
}

// ---------------------------------------------------------------------------------------------------------
// Accounts and their fallback-code secrets

Result<CurrentCode> current_code(const CodeSecret& secret, std::int64_t unix_time) {
  if (secret.period <= 0 || secret.period > 3600)
    return fail(ErrorCode::kInvalidArgument, "the code period must be 1 to 3600 seconds");
  auto code = crypto::totp_at(secret.secret, unix_time, secret.period, secret.digits, secret.algorithm);
  if (!code) return tl::unexpected(code.error());
  const std::int64_t into = unix_time < 0 ? 0 : unix_time % secret.period;
  return CurrentCode{std::move(*code), static_cast<int>(secret.period - into)};
}

Result<CodeSecret> parse_code_secret(const json& code) {
  if (!code.is_object()) return fail(ErrorCode::kInvalidArgument, "\"code\" is not an object");
  CodeSecret out;
  auto secret = code.find("secret");
  if (secret == code.end() || !secret->is_string() || secret->get_ref<const std::string&>().size() > 256)
    return fail(ErrorCode::kInvalidArgument, "\"code\" has no base32 \"secret\"");
  auto raw = crypto::base32_decode(secret->get_ref<const std::string&>());
  if (!raw || raw->size() < 10)
    return fail(ErrorCode::kInvalidArgument, "\"code.secret\" is not base32 of at least 10 bytes");
  out.secret = std::move(*raw);
  auto algorithm = code.find("algorithm");
  if (algorithm != code.end()) {
    auto a =
        algorithm->is_string() ? crypto::parse_otp_algorithm(algorithm->get_ref<const std::string&>()) : std::nullopt;
    if (!a) return fail(ErrorCode::kInvalidArgument, "\"code.algorithm\" is not SHA1, SHA256 or SHA512");
    out.algorithm = *a;
  }
  auto digits = code.find("digits");
  if (digits != code.end()) {
    if (!digits->is_number_integer() || *digits < crypto::kMinOtpDigits || *digits > crypto::kMaxOtpDigits)
      return fail(ErrorCode::kInvalidArgument, "\"code.digits\" is not 6 to 8");
    out.digits = digits->get<int>();
  }
  auto period = code.find("period");
  if (period != code.end()) {
    if (!period->is_number_integer() || *period < 1 || *period > 3600)
      return fail(ErrorCode::kInvalidArgument, "\"code.period\" is not 1 to 3600 seconds");
    out.period = period->get<std::int64_t>();
  }
  return out;
}

json code_secret_json(const CodeSecret& c) {
  return json{{"secret", crypto::base32_encode(c.secret)},
              {"algorithm", crypto::to_string(c.algorithm)},
              {"digits", c.digits},
              {"period", c.period}};
}

std::filesystem::path AccountBook::file_path(const std::filesystem::path& home) {
  return home / std::string(kAccountsFileName);
}

Result<json> AccountBook::to_json() const {
  if (server.empty() || device_id.empty())
    return fail(ErrorCode::kInvalidArgument, "accounts: server and device_id must be set");
  json list = json::array();
  for (const Account& a : accounts) {
    if (a.binding_id.empty()) return fail(ErrorCode::kInvalidArgument, "accounts: an account has no binding_id");
    json j = {{"binding_id", a.binding_id},
              {"user", a.user},
              {"org", a.org},
              {"integration", a.integration},
              {"bound_at", a.bound_at}};
    if (a.code) j["code"] = code_secret_json(*a.code);
    list.push_back(std::move(j));
  }
  return json{{"format", kAccountsFormat},
              {"version", kAccountsVersion},
              {"server", server},
              {"device_id", device_id},
              {"accounts", std::move(list)}};
}

Result<AccountBook> AccountBook::from_json(const json& doc, const std::string& what) {
  const auto format = doc.is_object() ? doc.find("format") : doc.end();
  if (!doc.is_object() || format == doc.end() || !format->is_string() || *format != kAccountsFormat)
    return fail(ErrorCode::kInvalidArgument, what + " is not an Avow account list");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || *version != kAccountsVersion)
    return fail(ErrorCode::kInvalidArgument,
                what + " has another version; this avow reads version " + std::to_string(kAccountsVersion));
  AccountBook book;
  auto server = required_string(doc, "server", what);
  if (!server) return tl::unexpected(server.error());
  auto device_id = required_string(doc, "device_id", what);
  if (!device_id) return tl::unexpected(device_id.error());
  book.server = std::move(*server);
  book.device_id = std::move(*device_id);
  auto list = doc.find("accounts");
  if (list == doc.end() || !list->is_array() || list->size() > kMaxAccounts)
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"accounts\" is missing or too long");
  for (const json& a : *list) {
    if (!a.is_object()) return fail(ErrorCode::kInvalidArgument, what + " is corrupt: an account is not an object");
    Account account;
    auto binding = required_string(a, "binding_id", what);
    if (!binding) return tl::unexpected(binding.error());
    account.binding_id = std::move(*binding);
    auto text = [&](const char* name) {
      auto it = a.find(name);
      return it != a.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    account.user = text("user");
    account.org = text("org");
    account.integration = text("integration");
    account.bound_at = text("bound_at");
    if (auto code = a.find("code"); code != a.end()) {
      auto secret = parse_code_secret(*code);
      if (!secret) return fail(ErrorCode::kInvalidArgument, what + " is corrupt: " + secret.error().message);
      account.code = std::move(*secret);
    }
    book.accounts.push_back(std::move(account));
  }
  return book;
}

Result<AccountBook> AccountBook::load(const std::filesystem::path& home) {
  const std::filesystem::path path = file_path(home);
  auto text = read_private_file(path, "no accounts are stored in " + path.string() + " yet (run `avow accounts`)",
                                "the code secrets must be private to you");
  if (!text) return tl::unexpected(text.error());
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return fail(ErrorCode::kInvalidArgument,
                path.string() + " is corrupt: not valid JSON (truncated?). Run `avow accounts` to fetch it again");
  return from_json(doc, path.string());
}

Status AccountBook::save(const std::filesystem::path& home) const {
  auto doc = to_json();
  if (!doc) return tl::unexpected(doc.error());
  return write_private_file(home / std::string(kAccountsFileName), doc->dump(2) + "\n");
}

void AccountBook::upsert(const Account& account) {
  for (Account& a : accounts) {
    if (a.binding_id == account.binding_id) {
      a = account;
      return;
    }
  }
  accounts.push_back(account);
}

Result<const Account*> AccountBook::find(std::string_view query) const {
  std::vector<const Account*> with_codes;
  for (const Account& a : accounts)
    if (a.code) with_codes.push_back(&a);
  if (with_codes.empty())
    return fail(ErrorCode::kNotFound, "no account of this device has a fallback code (run `avow accounts`)");
  if (query.empty()) {
    if (with_codes.size() == 1) return with_codes.front();
    return fail(ErrorCode::kInvalidArgument,
                "this device has " + std::to_string(with_codes.size()) + " accounts: name one (its UPN or part of it)");
  }
  const std::string q = lowercase(query);
  for (const Account* a : with_codes)
    if (lowercase(a->user) == q) return a;
  std::vector<const Account*> matches;
  for (const Account* a : with_codes)
    if (lowercase(a->user).find(q) != std::string::npos) matches.push_back(a);
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) return fail(ErrorCode::kNotFound, "no account matches \"" + std::string(query) + "\"");
  return fail(ErrorCode::kInvalidArgument, "\"" + std::string(query) + "\" matches " + std::to_string(matches.size()) +
                                               " accounts: be more precise");
}

}  // namespace avow::device
