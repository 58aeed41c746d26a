// avow/authenticator/vault.h — the TOTP vault: other sites' TOTP accounts, encrypted at rest with a
// passphrase, in `<home>/vault.avow`.
//
//   Vault vault(home);
//   Status s = vault.update(passphrase, [&](std::vector<VaultEntry>& entries) {
//     return add_entry(entries, VaultEntry{std::move(account), Category::kFinance, clock.unix_now()});
//   });                                                   // creates the vault on first use
//   Result<std::vector<VaultEntry>> all = vault.load(passphrase);
//   Result<std::size_t> i = find_entry(*all, "github");  // "GitHub:alice" — or a list of matches when ambiguous
//
// File format, version 1 (integers little-endian):
//   "AVOWVLT\0" · u16 version · u16 0 · u32 Argon2id memory KiB · u32 iterations · u32 lanes · 16-byte salt ·
//   24-byte nonce · u32 ciphertext length · 16-byte passphrase check · 16-byte header digest · ciphertext
// The key is argon2id(passphrase, salt, params) (libargon2); the ciphertext is libsodium's
// crypto_secretbox_easy (XSalsa20-Poly1305) of the JSON document {"entries":[{issuer, account, secret
// (base32), algorithm, digits, period, category, added_at}]}, with a fresh nonce on every write. The
// passphrase check (BLAKE2b keyed with the derived key) tells a wrong passphrase from a damaged ciphertext;
// the header digest (unkeyed BLAKE2b of the header) tells a damaged header from a wrong passphrase. Neither
// helps a guesser more than the MAC does: each guess still costs one Argon2id.
//
// Writes are atomic and serialised: every read-modify-write holds an exclusive flock on `<home>/vault.avow.lock`,
// writes a 0600 temporary file in `<home>`, fsyncs it, renames it over the vault and fsyncs the directory.
// An error at any point (a wrong passphrase, a damaged file, a refused change) leaves the vault as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "authenticator/otpauth.h"
#include "common/result.h"

namespace avow::device {

inline constexpr std::string_view kVaultFileName = "vault.avow";
inline constexpr std::size_t kMaxVaultFileSize = 8 * 1024 * 1024;
inline constexpr std::size_t kMaxVaultEntries = 5000;
inline constexpr std::size_t kMaxPassphraseSize = 1024;
inline constexpr std::uint16_t kVaultVersion = 1;

// The groups the vault sorts accounts into.
enum class Category { kBusiness, kECommerce, kFinance, kProductivity, kSocial, kGaming, kOther };

// "Business", "E-commerce", "Finance", "Productivity", "Social", "Gaming", "Other".
std::string_view to_string(Category category);
// Any case ("finance", "e-commerce"). kInvalidArgument for anything else, listing the valid names.
Result<Category> parse_category(std::string_view name);

struct VaultEntry {
  OtpAccount account;
  Category category = Category::kOther;
  std::int64_t added_at = 0;  // Unix seconds

  std::string label() const { return account.label(); }
};

// Argon2id cost. Read from a file they are bounded (memory ≤ 1 GiB, iterations ≤ 64, lanes ≤ 16), so a
// crafted header cannot make us allocate without limit.
struct KdfParams {
  std::uint32_t memory_kib = 64 * 1024;
  std::uint32_t iterations = 3;
  std::uint32_t lanes = 1;
};

struct VaultOptions {
  // Used when the vault is created; an existing vault keeps the cost in its header.
  KdfParams kdf;
  // Test hook: called after the new file is written and fsynced, before the rename. Returning false stops
  // the write there, as a crash would (update then fails with kInternal and the temporary file stays).
  std::function<bool()> before_rename;
};

class Vault {
 public:
  explicit Vault(std::filesystem::path home, VaultOptions options = {});

  // `<home>/vault.avow`.
  const std::filesystem::path& file() const { return file_; }
  // True when the vault file exists (it may still be unreadable).
  bool exists() const;

  // The entries, in the order they were added. kNotFound: no vault yet. kUnauthenticated: wrong
  // passphrase. kInvalidArgument: the file is not a vault, is truncated, damaged (header or ciphertext),
  // of an unknown version, larger than kMaxVaultFileSize, or its content is invalid. kPermissionDenied: a
  // symbolic link. kUnavailable: an I/O error. Every message names the file.
  Result<std::vector<VaultEntry>> load(std::string_view passphrase) const;

  // Read-modify-write under the lock: loads the entries (an empty list when there is no vault yet — it is
  // then created with this passphrase and options' KdfParams; `home` is created 0700 when missing), runs
  // `change` on them and writes the result atomically. Errors as for load, `change`'s own error, or
  // kInvalidArgument for an empty or over-long passphrase or more than kMaxVaultEntries entries; the file is
  // then untouched. Stale temporary files left by a crash are removed. `created`, when given, is set to
  // whether this call created the vault (another process may have created it since exists() said no).
  Status update(std::string_view passphrase, const std::function<Status(std::vector<VaultEntry>&)>& change,
                bool* created = nullptr);

 private:
  std::filesystem::path home_;
  std::filesystem::path file_;
  VaultOptions options_;
};

// Adds `entry`. kAlreadyExists when an entry with the same issuer and account (case-insensitively) is
// there, unless `replace`, which puts the new one in its place (keeping its position).
Status add_entry(std::vector<VaultEntry>& entries, VaultEntry entry, bool replace = false);

// The index of the entry `name` means: a label equal to it (case-insensitively), else the only label
// containing it (case-insensitively). kNotFound when nothing matches, kInvalidArgument (listing the matches)
// when several do, or when `name` is empty.
Result<std::size_t> find_entry(const std::vector<VaultEntry>& entries, std::string_view name);

}  // namespace avow::device
