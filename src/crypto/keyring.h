// avow/crypto/keyring.h — Avow's own RS256 signing keys (the id_tokens it returns to Entra) and their rotation.
//
//   Result<std::unique_ptr<KeyRing>> ring = KeyRing::open(store, master_key, clock);
//   Result<std::string> id_token = (*ring)->sign_jwt({{"typ", "JWT"}}, claims);
//   http_body = *(*ring)->jwks_text();                  // served at jwks_uri
//   (*ring)->rotate();                                   // `avowd keys rotate`
//
// Every key moves one way: next → active → retired.
//   next     published in the JWKS but not yet signing. Entra caches our keys for 24 h, so a key must be
//            published well before it signs (the Entra rollover rule: publish old + new, switch later).
//   active   the one key that signs; also published.
//   retired  no longer signs; still published for `retired_retention` (default 7 days) so tokens signed just
//            before a rotation still verify against any cached copy of the JWKS; then dropped from the JWKS.
// rotate(): active → retired, next → active, and a fresh next is generated. Run it no sooner than ~2 days
// after the current next appeared, so every Entra cache has seen it.
//
// Keys are RSA-2048, kid = RFC 7638 thumbprint, each with a self-signed certificate (CN "Avow signing key")
// for the JWKS x5c/x5t Entra requires. Private keys are stored sealed under the MasterKey (aad = kid).
// Persistence goes through `SigningKeyStore` (implemented by the store module; crypto never includes store).
//
// Threads: sign_jwt/active/published/jwks_*/list read an immutable snapshot swapped atomically, so signing
// on many threads never blocks on a rotation; rotate/reload are serialized among themselves.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/jwk.h"
#include "crypto/sealed.h"
#include "crypto/x509.h"

namespace avow::crypto {

enum class KeyState { kNext, kActive, kRetired };

// "next" | "active" | "retired".
std::string_view to_string(KeyState state);
std::optional<KeyState> parse_key_state(std::string_view text);

// One signing key as persisted. Times are Unix seconds; 0 means "not yet".
struct SigningKeyRecord {
  std::string kid;
  std::string state;  // "next" | "active" | "retired"
  std::int64_t created_at = 0;
  std::int64_t activated_at = 0;
  std::int64_t retired_at = 0;
  std::string private_key_sealed;  // MasterKey::seal(PKCS#8 DER, aad = kid)
  std::string certificate_der;

  friend bool operator==(const SigningKeyRecord&, const SigningKeyRecord&) = default;
};

// Where signing keys live. Implementations must be safe to call from the thread that calls KeyRing::open,
// rotate and reload (KeyRing never calls them concurrently).
class SigningKeyStore {
 public:
  virtual ~SigningKeyStore() = default;

  // Every record, in any order. kUnavailable when the backing store cannot be read.
  virtual Result<std::vector<SigningKeyRecord>> load_all() = 0;

  // Inserts or replaces the record with this kid.
  virtual Status save(const SigningKeyRecord& record) = 0;

  // Saves several records; stores with transactions should override this to make it atomic. The default
  // saves one by one in order — KeyRing orders its writes so a crash between them leaves a state open()
  // repairs (see keyring.cpp).
  virtual Status save_all(const std::vector<SigningKeyRecord>& records);
};

// In-memory store for tests and `--dev`. Thread-safe. `fail_saves_after(n)` makes the (n+1)-th and later
// saves fail with kUnavailable, to test partial writes.
class MemorySigningKeyStore final : public SigningKeyStore {
 public:
  Result<std::vector<SigningKeyRecord>> load_all() override;
  Status save(const SigningKeyRecord& record) override;

  void fail_saves_after(int successful_saves);
  std::vector<SigningKeyRecord> records() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, SigningKeyRecord> records_;
  int saves_left_ = -1;  // -1: unlimited
};

struct KeyRingOptions {
  std::chrono::seconds retired_retention{std::chrono::hours(24 * 7)};
  std::chrono::seconds certificate_validity{std::chrono::hours(24 * 365 * 2)};
  int rsa_bits = 2048;
  std::string certificate_common_name = "Avow signing key";
};

// A loaded signing key. Immutable; shared by snapshots.
struct SigningKey {
  std::string kid;
  KeyState state = KeyState::kNext;
  std::int64_t created_at = 0;
  std::int64_t activated_at = 0;
  std::int64_t retired_at = 0;
  Jwk key;  // private for next/active; public only for retired keys (read from the certificate)
  Certificate certificate;

  // The JWKS entry: kty, use:"sig", alg, kid, n, e, x5c, x5t.
  nlohmann::json public_jwk() const;
};

// What `avowd keys list` shows.
struct SigningKeyInfo {
  std::string kid;
  KeyState state = KeyState::kNext;
  std::int64_t created_at = 0;
  std::int64_t activated_at = 0;
  std::int64_t retired_at = 0;
  bool published = false;
};

class KeyRing {
 public:
  // Loads the ring. When no key is active it makes one active (promoting an existing next key, else
  // generating one) and makes sure a next key exists; every change is saved before open returns. Repairs
  // what an interrupted rotation can leave behind (two active or two next keys). Errors: those of the store;
  // kUnauthenticated when an active/next private key does not open under `master_key` (wrong master key);
  // kInvalidArgument when a record is corrupt. `store` and `clock` must outlive the ring.
  static Result<std::unique_ptr<KeyRing>> open(SigningKeyStore& store, const MasterKey& master_key, const Clock& clock,
                                               KeyRingOptions options = {});

  // active → retired (retired_at = now), next → active (activated_at = now), new next. Persisted before the
  // in-memory ring switches; on a store error the ring is unchanged (and open() repairs a partial write).
  Status rotate();

  // Re-reads the store (another node may have rotated). Same errors as open.
  Status reload();

  // The signing key. Never null after a successful open.
  std::shared_ptr<const SigningKey> active() const;

  // RS256 compact JWS of `payload` (serialized compactly) by the active key; header = {alg, kid} + header_extra.
  // kInvalidArgument for a header_extra jws::sign refuses or a string that is not UTF-8.
  Result<std::string> sign_jwt(const nlohmann::json& header_extra, const nlohmann::json& payload) const;

  // Keys in the JWKS: active, then next, then retired keys whose retired_at + retention is still ahead.
  std::vector<std::shared_ptr<const SigningKey>> published() const;

  // {"keys":[…]} of published(), and the same serialized once per ring change (serve it as is).
  nlohmann::json jwks_json() const;
  std::shared_ptr<const std::string> jwks_text() const;

  // Every stored key (including retired ones past retention), newest first.
  std::vector<SigningKeyInfo> list() const;

  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;

 private:
  struct Snapshot;
  KeyRing(SigningKeyStore& store, const MasterKey& master_key, const Clock& clock, KeyRingOptions options);
  Result<std::shared_ptr<const Snapshot>> load_and_repair();
  Result<SigningKeyRecord> new_record(KeyState state, std::int64_t now);
  Result<std::shared_ptr<const Snapshot>> build_snapshot(const std::vector<SigningKeyRecord>& records) const;
  std::shared_ptr<const Snapshot> snapshot() const;

  SigningKeyStore& store_;
  MasterKey master_key_;
  const Clock& clock_;
  KeyRingOptions options_;
  std::mutex write_mu_;  // serializes rotate/reload
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace avow::crypto
