// avow/domain/codes.h — the fallback code format: the TOTP secret each binding shares with its device.
//
// The rules for using a code in a sign-in (window, replay, attempts, lockout) are SignInService's, described
// in domain/sign_in.h; this header fixes what server and device must agree on, and how a secret is sealed.
//
//   std::string secret = new_code_secret();                                   // 20 random bytes
//   std::string sealed = master_key.seal(secret, code_secret_aad(binding.id));  // what the store keeps
//   Result<std::string> code = crypto::totp_at(secret, clock.unix_now());      // what `avow code` prints
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "crypto/otp.h"
#include "crypto/sealed.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

// RFC 6238 with the parameters every authenticator defaults to: SHA-1, 6 digits, 30-second steps, T0 = 0.
inline constexpr std::size_t kCodeSecretBytes = 20;  // RFC 4226 §4 recommends 160 bits
inline constexpr int kCodeDigits = 6;
inline constexpr std::int64_t kCodePeriodSeconds = 30;
inline constexpr crypto::OtpAlgorithm kCodeAlgorithm = crypto::OtpAlgorithm::kSha1;
// A typed code longer than this is refused before any work (it is a wrong code all the same).
inline constexpr std::size_t kMaxTypedCodeBytes = 16;

// A fresh secret from the secure generator (kCodeSecretBytes raw bytes). A secret: never log it.
std::string new_code_secret();

// The associated data a binding's secret is sealed with: it names the binding, so a sealed secret copied to
// another binding's row does not open there.
std::string code_secret_aad(std::string_view binding_id);

// The secret of `binding_id` in clear, made and stored sealed now when the binding has none (`*created` is
// then true). Call inside a transaction; the caller checks the binding is one it may hand a secret for.
// kInternal when the stored secret does not open under `key` (another master key, or a damaged row);
// kInvalidArgument when no such binding exists (the store's foreign key); store errors otherwise.
Result<std::string> ensure_code_secret(store::Db& tx, const crypto::MasterKey& key, std::string_view binding_id,
                                       store::UnixTime now, bool* created = nullptr);

}  // namespace avow::domain
