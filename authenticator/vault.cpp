// The encrypted TOTP vault file: Argon2id (libargon2) + crypto_secretbox (libsodium), atomic and locked writes.
#include "authenticator/vault.h"

#include <argon2.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

#include "authenticator/private_file.h"

namespace avow::device {
namespace {

using nlohmann::json;

constexpr std::array<char, 8> kMagic = {'A', 'V', 'O', 'W', 'V', 'L', 'T', '\0'};
constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kNonceSize = crypto_secretbox_NONCEBYTES;  // 24
constexpr std::size_t kKeySize = crypto_secretbox_KEYBYTES;      // 32
constexpr std::size_t kCheckSize = 16;
constexpr std::size_t kDigestSize = 16;
// Offsets in the header.
constexpr std::size_t kVersionAt = 8, kKdfAt = 12, kSaltAt = 24, kNonceAt = kSaltAt + kSaltSize,
                      kLengthAt = kNonceAt + kNonceSize, kCheckAt = kLengthAt + 4, kDigestAt = kCheckAt + kCheckSize,
                      kHeaderSize = kDigestAt + kDigestSize;
static_assert(kHeaderSize == 100);
constexpr std::string_view kCheckContext = "avow vault v1: passphrase check";
constexpr std::string_view kTempPrefix = ".vault.avow.tmp-";

constexpr std::uint32_t kMaxKdfMemoryKib = 1024 * 1024;
constexpr std::uint32_t kMaxKdfIterations = 64;
constexpr std::uint32_t kMaxKdfLanes = 16;

constexpr std::array<std::pair<Category, std::string_view>, 7> kCategories = {{
    {Category::kBusiness, "Business"},
    {Category::kECommerce, "E-commerce"},
    {Category::kFinance, "Finance"},
    {Category::kProductivity, "Productivity"},
    {Category::kSocial, "Social"},
    {Category::kGaming, "Gaming"},
    {Category::kOther, "Other"},
}};

std::string errno_text(int err) { return std::strerror(err); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// The derived key, wiped when it goes.
struct Key {
  std::array<unsigned char, kKeySize> bytes{};
  ~Key() { sodium_memzero(bytes.data(), bytes.size()); }
};

void put_u16(std::string& out, std::size_t at, std::uint16_t v) {
  out[at] = static_cast<char>(v & 0xFF);
  out[at + 1] = static_cast<char>(v >> 8);
}
void put_u32(std::string& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::uint16_t get_u16(std::string_view in, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(in[at]) | (static_cast<unsigned char>(in[at + 1]) << 8));
}
std::uint32_t get_u32(std::string_view in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::array<unsigned char, kDigestSize> header_digest(std::string_view header) {
  std::array<unsigned char, kDigestSize> d{};
  crypto_generichash(d.data(), d.size(), bytes_of(header), kDigestAt, nullptr, 0);
  return d;
}

std::array<unsigned char, kCheckSize> passphrase_check(const Key& key) {
  std::array<unsigned char, kCheckSize> c{};
  crypto_generichash(c.data(), c.size(), bytes_of(kCheckContext), kCheckContext.size(), key.bytes.data(),
                     key.bytes.size());
  return c;
}

Status check_passphrase(std::string_view passphrase) {
  if (passphrase.empty()) return fail(ErrorCode::kInvalidArgument, "the vault passphrase is empty");
  if (passphrase.size() > kMaxPassphraseSize)
    return fail(ErrorCode::kInvalidArgument,
                "the vault passphrase is longer than " + std::to_string(kMaxPassphraseSize) + " bytes");
  return ok();
}

Status derive_key(std::string_view passphrase, std::string_view salt, const KdfParams& kdf, Key& key) {
  const int rc = argon2id_hash_raw(kdf.iterations, kdf.memory_kib, kdf.lanes, passphrase.data(), passphrase.size(),
                                   salt.data(), salt.size(), key.bytes.data(), key.bytes.size());
  if (rc != ARGON2_OK)
    return fail(rc == ARGON2_MEMORY_ALLOCATION_ERROR ? ErrorCode::kUnavailable : ErrorCode::kInternal,
                std::string("cannot derive the vault key (Argon2id): ") + argon2_error_message(rc));
  return ok();
}

// ---- entries ↔ JSON

json entry_json(const VaultEntry& e) {
  return json{{"issuer", e.account.issuer},
              {"account", e.account.account},
              {"secret", crypto::base32_encode(e.account.secret)},
              {"algorithm", crypto::to_string(e.account.algorithm)},
              {"digits", e.account.digits},
              {"period", e.account.period},
              {"category", to_string(e.category)},
              {"added_at", e.added_at}};
}

// Overwrites every secret string in a document before it is destroyed.
void wipe_secrets(json& doc) {
  auto entries = doc.find("entries");
  if (entries == doc.end() || !entries->is_array()) return;
  for (auto& e : *entries) {
    if (!e.is_object()) continue;
    auto s = e.find("secret");
    if (s != e.end() && s->is_string()) wipe(s->get_ref<std::string&>());
  }
}

Result<VaultEntry> parse_entry(const json& e, const std::string& where) {
  auto bad = [&](const std::string& why) { return fail(ErrorCode::kInvalidArgument, where + ": " + why); };
  if (!e.is_object()) return bad("not an object");
  auto text = [&](const char* name) -> const std::string* {
    auto it = e.find(name);
    return it != e.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
  };
  auto integer = [&](const char* name) -> std::optional<std::int64_t> {
    auto it = e.find(name);
    if (it == e.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
  };
  VaultEntry out;
  const std::string *issuer = text("issuer"), *account = text("account"), *secret = text("secret"),
                    *algorithm = text("algorithm"), *category = text("category");
  if (issuer == nullptr || account == nullptr || account->empty()) return bad("issuer or account is missing");
  out.account.issuer = *issuer;
  out.account.account = *account;
  if (secret == nullptr) return bad("the secret is missing");
  auto raw = crypto::base32_decode(*secret);
  if (!raw || raw->empty() || raw->size() > crypto::kMaxOtpSecretSize) return bad("the secret is not valid base32");
  out.account.secret = std::move(*raw);
  auto alg = algorithm != nullptr ? crypto::parse_otp_algorithm(*algorithm) : std::nullopt;
  if (!alg) return bad("the algorithm is not SHA1, SHA256 or SHA512");
  out.account.algorithm = *alg;
  auto digits = integer("digits"), period = integer("period"), added_at = integer("added_at");
  if (!digits || *digits < crypto::kMinOtpDigits || *digits > crypto::kMaxOtpDigits) return bad("digits is not 6–8");
  if (!period || *period < 1 || *period > kMaxTotpPeriod) return bad("the period is out of range");
  if (!added_at) return bad("added_at is missing");
  out.account.digits = static_cast<int>(*digits);
  out.account.period = static_cast<int>(*period);
  out.added_at = *added_at;
  if (category == nullptr) return bad("the category is missing");
  auto cat = parse_category(*category);
  if (!cat) return bad(cat.error().message);
  out.category = *cat;
  return out;
}

// ---- the file

struct Opened {
  std::vector<VaultEntry> entries;
  KdfParams kdf;
  std::string salt;
  Key key;
};

Result<std::string> read_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT)
      return fail(ErrorCode::kNotFound, "there is no vault yet (" + file + "): add an account with `avow totp add`");
    if (err == ELOOP) return fail(ErrorCode::kPermissionDenied, file + " is a symbolic link; refusing to use it");
    if (err == EACCES) return fail(ErrorCode::kPermissionDenied, "cannot read " + file + ": " + errno_text(err));
    return fail(ErrorCode::kUnavailable, "cannot open " + file + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail(ErrorCode::kUnavailable, "cannot stat " + file + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidArgument, file + " is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxVaultFileSize)
    return fail(ErrorCode::kInvalidArgument,
                file + " is not a vault this avow reads: larger than " + std::to_string(kMaxVaultFileSize) + " bytes");
  // One byte more than the file claims, to notice one that grew; never more than the bound allows.
  std::string data(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kUnavailable, "cannot read " + file + ": " + errno_text(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > static_cast<std::size_t>(st.st_size))
    return fail(ErrorCode::kUnavailable, file + " changed while it was read; try again");
  data.resize(got);
  return data;
}

Result<Opened> open_vault(const std::filesystem::path& path, std::string_view passphrase) {
  AVOW_TRY(check_passphrase(passphrase));
  auto data = read_file(path);
  if (!data) return tl::unexpected(data.error());
  const std::string file = path.string();
  const std::string_view d = *data;
  auto damaged = [&](const std::string& why) {
    return fail(ErrorCode::kInvalidArgument, file + " is damaged: " + why);
  };
  const std::string_view magic(kMagic.data(), kMagic.size());
  if (d.size() < magic.size()) {
    if (magic.substr(0, d.size()) == d)
      return fail(ErrorCode::kInvalidArgument, file + " is truncated: " + std::to_string(d.size()) + " bytes");
    return fail(ErrorCode::kInvalidArgument, file + " is not an Avow vault");
  }
  if (d.substr(0, magic.size()) != magic) return fail(ErrorCode::kInvalidArgument, file + " is not an Avow vault");
  if (d.size() < kVersionAt + 2)
    return fail(ErrorCode::kInvalidArgument, file + " is truncated: " + std::to_string(d.size()) + " bytes");
  const std::uint16_t version = get_u16(d, kVersionAt);
  if (version != kVaultVersion)
    return fail(ErrorCode::kInvalidArgument, file + " is a version " + std::to_string(version) +
                                                 " vault; this avow reads version " + std::to_string(kVaultVersion) +
                                                 " (was it written by a newer avow?)");
  if (d.size() < kHeaderSize)
    return fail(ErrorCode::kInvalidArgument, file + " is truncated: " + std::to_string(d.size()) +
                                                 " bytes, shorter than the " + std::to_string(kHeaderSize) +
                                                 "-byte header");
  const auto digest = header_digest(d);
  if (sodium_memcmp(digest.data(), d.data() + kDigestAt, kDigestSize) != 0)
    return damaged("its header does not match the header checksum");
  Opened o;
  o.kdf = KdfParams{get_u32(d, kKdfAt), get_u32(d, kKdfAt + 4), get_u32(d, kKdfAt + 8)};
  if (o.kdf.lanes < 1 || o.kdf.lanes > kMaxKdfLanes || o.kdf.iterations < 1 || o.kdf.iterations > kMaxKdfIterations ||
      o.kdf.memory_kib < 8 * o.kdf.lanes || o.kdf.memory_kib > kMaxKdfMemoryKib)
    return damaged("its Argon2id parameters are out of range");
  o.salt = std::string(d.substr(kSaltAt, kSaltSize));
  const std::uint32_t length = get_u32(d, kLengthAt);
  const std::size_t present = d.size() - kHeaderSize;
  if (present < length)
    return fail(ErrorCode::kInvalidArgument, file + " is truncated: " + std::to_string(present) + " of " +
                                                 std::to_string(length) + " bytes of encrypted entries are there");
  if (present > length) return damaged(std::to_string(present - length) + " unexpected bytes follow the entries");
  if (length < crypto_secretbox_MACBYTES) return damaged("the encrypted entries are too short");

  AVOW_TRY(derive_key(passphrase, o.salt, o.kdf, o.key));
  const auto check = passphrase_check(o.key);
  if (sodium_memcmp(check.data(), d.data() + kCheckAt, kCheckSize) != 0)
    return fail(ErrorCode::kUnauthenticated, "wrong passphrase for the vault " + file);

  std::string plain(length - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), bytes_of(d.substr(kHeaderSize)),
                                 length, bytes_of(d.substr(kNonceAt, kNonceSize)), o.key.bytes.data()) != 0)
    return damaged("the encrypted entries do not authenticate (the file was altered or corrupted)");
  json doc = json::parse(plain, nullptr, /*allow_exceptions=*/false);
  wipe(plain);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("entries") || !doc["entries"].is_array())
    return damaged("the decrypted content is not a list of entries");
  Status status = ok();
  for (std::size_t i = 0; i < doc["entries"].size() && status; ++i) {
    auto e = parse_entry(doc["entries"][i], file + " holds an invalid entry " + std::to_string(i + 1));
    if (!e)
      status = tl::unexpected(e.error());
    else
      o.entries.push_back(std::move(*e));
  }
  wipe_secrets(doc);
  if (!status) return tl::unexpected(status.error());
  return o;
}

Result<std::string> seal(const std::vector<VaultEntry>& entries, const KdfParams& kdf, std::string_view salt,
                         const Key& key) {
  json doc{{"entries", json::array()}};
  for (const auto& e : entries) doc["entries"].push_back(entry_json(e));
  std::string plain = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  wipe_secrets(doc);
  if (plain.size() + kHeaderSize + crypto_secretbox_MACBYTES > kMaxVaultFileSize) {
    wipe(plain);
    return fail(ErrorCode::kInvalidArgument,
                "the vault would be larger than " + std::to_string(kMaxVaultFileSize) + " bytes");
  }
  std::string out(kHeaderSize + plain.size() + crypto_secretbox_MACBYTES, '\0');
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  put_u16(out, kVersionAt, kVaultVersion);
  put_u16(out, kVersionAt + 2, 0);
  put_u32(out, kKdfAt, kdf.memory_kib);
  put_u32(out, kKdfAt + 4, kdf.iterations);
  put_u32(out, kKdfAt + 8, kdf.lanes);
  std::memcpy(out.data() + kSaltAt, salt.data(), kSaltSize);
  randombytes_buf(out.data() + kNonceAt, kNonceSize);  // fresh on every write: the key is reused across writes
  put_u32(out, kLengthAt, static_cast<std::uint32_t>(plain.size() + crypto_secretbox_MACBYTES));
  const auto check = passphrase_check(key);
  std::memcpy(out.data() + kCheckAt, check.data(), kCheckSize);
  const auto digest = header_digest(out);
  std::memcpy(out.data() + kDigestAt, digest.data(), kDigestSize);
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(out.data() + kHeaderSize), bytes_of(plain), plain.size(),
                        reinterpret_cast<const unsigned char*>(out.data() + kNonceAt), key.bytes.data());
  wipe(plain);
  return out;
}

// Temporary files of writes that never reached their rename (a crash, a full disk): only called under the lock,
// when no other write can be in flight.
void remove_stale_temporaries(const std::filesystem::path& home) {
  std::error_code ec;
  for (const auto& item : std::filesystem::directory_iterator(home, ec)) {
    const std::string name = item.path().filename().string();
    if (name.rfind(kTempPrefix, 0) == 0) std::filesystem::remove(item.path(), ec);
  }
}

}  // namespace

std::string_view to_string(Category category) {
  for (const auto& [c, name] : kCategories)
    if (c == category) return name;
  return "Other";
}

Result<Category> parse_category(std::string_view name) {
  const std::string wanted = lowercase(name);
  std::string valid;
  for (const auto& [c, text] : kCategories) {
    if (lowercase(text) == wanted) return c;
    valid += (valid.empty() ? "" : ", ") + std::string(text);
  }
  return fail(ErrorCode::kInvalidArgument,
              "unknown category \"" + std::string(name.substr(0, 64)) + "\": use one of " + valid);
}

Vault::Vault(std::filesystem::path home, VaultOptions options)
    : home_(std::move(home)), file_(home_ / std::string(kVaultFileName)), options_(std::move(options)) {
  if (sodium_init() < 0) std::abort();  // no safe way on without a working libsodium
}

bool Vault::exists() const {
  struct stat st {};
  return ::lstat(file_.c_str(), &st) == 0;
}

Result<std::vector<VaultEntry>> Vault::load(std::string_view passphrase) const {
  auto opened = open_vault(file_, passphrase);
  if (!opened) return tl::unexpected(opened.error());
  return std::move(opened->entries);
}

Status Vault::update(std::string_view passphrase, const std::function<Status(std::vector<VaultEntry>&)>& change,
                     bool* created) {
  if (created != nullptr) *created = false;
  AVOW_TRY(check_passphrase(passphrase));
  AVOW_TRY(ensure_private_dir(home_));
  const std::filesystem::path lock_path = home_ / (std::string(kVaultFileName) + ".lock");
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (lock.get() < 0)
    return fail(ErrorCode::kUnavailable, "cannot open the lock file " + lock_path.string() + ": " + errno_text(errno));
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR)
      return fail(ErrorCode::kUnavailable, "cannot lock " + lock_path.string() + ": " + errno_text(errno));
  }
  // The lock is released when `lock` closes.
  remove_stale_temporaries(home_);

  Opened vault;
  auto opened = open_vault(file_, passphrase);
  if (opened) {
    vault = std::move(*opened);
  } else if (opened.error().code == ErrorCode::kNotFound) {
    vault.kdf = options_.kdf;
    vault.salt = std::string(kSaltSize, '\0');
    randombytes_buf(vault.salt.data(), vault.salt.size());
    AVOW_TRY(derive_key(passphrase, vault.salt, vault.kdf, vault.key));
  } else {
    return tl::unexpected(opened.error());
  }
  AVOW_TRY(change(vault.entries));
  if (vault.entries.size() > kMaxVaultEntries)
    return fail(ErrorCode::kInvalidArgument,
                "the vault holds at most " + std::to_string(kMaxVaultEntries) + " accounts");
  auto sealed = seal(vault.entries, vault.kdf, vault.salt, vault.key);
  if (!sealed) return tl::unexpected(sealed.error());
  AVOW_TRY(write_private_file(
      file_, *sealed, PrivateWrite{.temp_prefix = std::string(kTempPrefix), .before_rename = options_.before_rename}));
  if (created != nullptr) *created = !opened;
  return ok();
}

Status add_entry(std::vector<VaultEntry>& entries, VaultEntry entry, bool replace) {
  const std::string issuer = lowercase(entry.account.issuer), account = lowercase(entry.account.account);
  for (auto& e : entries) {
    if (lowercase(e.account.issuer) != issuer || lowercase(e.account.account) != account) continue;
    if (!replace)
      return fail(ErrorCode::kAlreadyExists, "the vault already holds " + e.label() + " (use --replace to replace it)");
    e = std::move(entry);
    return ok();
  }
  entries.push_back(std::move(entry));
  return ok();
}

Result<std::size_t> find_entry(const std::vector<VaultEntry>& entries, std::string_view name) {
  if (name.empty()) return fail(ErrorCode::kInvalidArgument, "no account name given");
  const std::string wanted = lowercase(name);
  std::vector<std::size_t> matches;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string label = lowercase(entries[i].label());
    if (label == wanted) return i;
    if (label.find(wanted) != std::string::npos) matches.push_back(i);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty())
    return fail(ErrorCode::kNotFound, "no account in the vault matches \"" + std::string(name.substr(0, 64)) + "\"");
  std::string list;
  for (std::size_t i : matches) list += (list.empty() ? "" : ", ") + entries[i].label();
  return fail(ErrorCode::kInvalidArgument,
              "\"" + std::string(name.substr(0, 64)) + "\" matches several accounts: " + list + "; be more specific");
}

}  // namespace avow::device
