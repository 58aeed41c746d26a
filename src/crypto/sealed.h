// avow/crypto/sealed.h — the master key and authenticated encryption of secrets at rest.
//
//   Result<MasterKey> mk = MasterKey::load_or_create_file("/var/lib/avow/master.key");
//   std::string blob = mk->seal(pkcs8_der, /*aad=*/kid);        // store this
//   Result<std::string> der = mk->open(blob, kid);              // kUnauthenticated if tampered
//
// seal() is AES-256-GCM with a fresh random 96-bit nonce; the output is
//   version (1 byte, 0x01) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
// The associated data (`aad`) is authenticated but not stored: bind each sealed value to what it belongs to
// (a key id, a row id) so a blob copied to another row does not open there. A random nonce bounds one master
// key to about 2^32 seals, far beyond what Avow stores.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace avow::crypto {

class MasterKey {
 public:
  static constexpr std::size_t kSize = 32;
  static constexpr std::uint8_t kSealVersion = 1;
  static constexpr std::size_t kNonceSize = 12;
  static constexpr std::size_t kTagSize = 16;
  static constexpr std::size_t kSealOverhead = 1 + kNonceSize + kTagSize;
  static constexpr std::size_t kMaxSealSize = 64 * 1024 * 1024;  // secrets are small; refuse anything absurd

  // A fresh random key.
  static MasterKey generate();
  // Exactly 32 bytes, else kInvalidArgument.
  static Result<MasterKey> from_bytes(std::string_view bytes);
  // 43 characters of unpadded base64url (surrounding whitespace ignored), as in the key file or the
  // AVOW_MASTER_KEY environment variable. Anything else → kInvalidArgument.
  static Result<MasterKey> from_base64url(std::string_view text);

  // Loads the key file at `path`, or creates it when it does not exist. Creation is atomic: the key is
  // written to a 0600 temporary file in the same directory, fsynced, then linked into place, so no reader
  // ever sees a partial file and an existing file is never overwritten (if another process wins the race,
  // its key is loaded). Errors: kPermissionDenied when the existing file is accessible by group or others
  // (chmod 600 it) or is not a regular file; kInvalidArgument when it does not hold a base64url 32-byte
  // key; kUnavailable on an I/O error (missing directory, unwritable directory…).
  static Result<MasterKey> load_or_create_file(const std::filesystem::path& path);

  MasterKey(const MasterKey&) = default;
  MasterKey& operator=(const MasterKey&) = default;
  ~MasterKey();

  // Encrypts and authenticates `plaintext` (≤ kMaxSealSize bytes; larger is a programming error and aborts).
  std::string seal(std::string_view plaintext, std::string_view aad) const;

  // Inverse of seal. kInvalidArgument for a blob too short or of an unknown version; kUnauthenticated when
  // the blob was altered, sealed under another key, or with another `aad`.
  Result<std::string> open(std::string_view sealed, std::string_view aad) const;

  // The key as base64url, for writing a key file or handing to a test. Treat the result as a secret.
  std::string to_base64url() const;

 private:
  MasterKey() = default;
  std::array<std::uint8_t, kSize> key_{};
};

}  // namespace avow::crypto
