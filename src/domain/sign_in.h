// avow/domain/sign_in.h — one Entra sign-in, from the authorize POST to the answer posted back.
//
// The flow's rules live here, once; the HTTP edges (entra routes, the MFA page, the device API) only
// translate. A sign-in is a challenge plus, for a user with no device yet, a ScanCode:
//
//   begin()            the authorize POST, hint already validated: guest policy, find-or-create the user,
//                      open the challenge (cancelling the user's older pending one), and — when the user has
//                      no active binding — issue a bind_user ScanCode tied to the challenge.
//   current_scan_code  the page's ScanCode, re-issued shortly before it expires while the user is unbound.
//   scan()             a device scans: trust-on-first-use binding, then the challenge is the device's push.
//   pending_for_device the device's push list: pending challenges of the users it is bound to.
//   answer()           the device approves (right number) or denies; a wrong number denies and is audited.
//   finish()           the page (holding the flow cookie) ends the sign-in exactly once; the caller then
//                      signs the id_token (approved) or posts access_denied (anything else), with the amr of
//                      what approved it: "swk" (a device's push) or "otp" (a fallback code).
//
// Fallback codes, for a phone that is offline (RFC 6238; the format is fixed in domain/codes.h):
//   - Each binding shares a TOTP secret with its device: made by the server when scan() binds (or, for a
//     binding that has none yet, when the device next asks code_secret()), stored sealed under the master
//     key with the binding id as associated data, and handed to the device over the signed device API.
//   verify_code()      the page (holding the flow cookie) posts a code for its pending challenge; it is
//                      checked against the secret of every active binding of the challenge's user, accepting
//                      the steps current ± CodePolicy::window_steps. A step accepted once for a binding is
//                      never accepted again, nor any older one (RFC 6238 §5.2): the binding's newest accepted
//                      step only moves forward, compare-and-set in the same transaction that approves.
//                      A right code approves the challenge (approved_by_code), and finish() then answers "otp".
//   - At most CodePolicy::max_attempts_per_challenge codes per challenge; then the challenge takes no more
//     codes (its push can still be answered).
//   - Consecutive failed codes per user are counted apart from wrong-number answers (LockoutPolicy); at
//     CodePolicy::lockout_threshold the user's code fallback is locked until unlock_codes() (an admin) or an
//     approved push, which also clears the count. A right code clears it too.
//   - Every refusal — wrong code, replayed or older step, another user's code, too many attempts, locked
//     fallback — is the same CodeVerdict{accepted = false} to the caller; `closed` tells only that no more
//     codes will be taken, and is decided before the code is looked at when attempts or the lock are spent.
//   - Every attempt is audited ("signin.code_ok" / "signin.code_failed" with a reason, "user.codes_locked",
//     "user.codes_unlocked"); never the code or the secret.
//
// Every step writes an audit event (never a secret: no codes, flow secrets or nonces in details). Topics
// to notify after each call are returned, never sent from here: the domain does no I/O but through the store.
//
// The flow secret: the browser holds a random secret in its flow cookie; begin() stores its hex SHA-256
// and every later browser-side call (current_scan_code, status, finish) must present the same hash,
// compared in constant time. A challenge without a stored hash (admin sign-in) refuses them all.
//
// Devices belong to people, not orgs: pending_for_device lists the challenges of every user the device is
// bound to, in any org (a B2B guest's phone serves all its tenants).
//
//   SignInService flows(db, clock, policies…, FallbackCodes{&master_key, code_policy});
//   Result<SignInStart> s = flows.begin({...});
//   if (s->scan_code) show_qr(url_for(*s->scan_code)); else show_number(s->challenge.number);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/sealed.h"
#include "domain/challenges.h"
#include "domain/policy.h"
#include "domain/users.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

// What the entra edge hands over after validating the request and the hint.
struct SignInRequest {
  std::string integration_id;
  EntraIdentity identity;                                  // tid, oid, upn, display name from the hint
  store::ChallengeKind kind = store::ChallengeKind::kEam;  // kEam or kCustomControl
  ChallengeContext context;  // ip, user agent (integration, org, user label and time are filled in here)
  // Echoed in the answer to Entra; stored on the challenge.
  std::string nonce;
  std::string state_param;
  std::string redirect_uri;
  std::string client_id;
  std::string hint_sub;
  // The flavour-specific response parameters (acr/amr values, custom claim) as JSON text, opaque to the
  // domain, returned by finish() so the edge can build the id_token. ≤ 4 KiB.
  std::string response_params = "{}";
  // SHA-256 (hex, 64 characters, either case; compared as given) of the secret in the browser's flow
  // cookie; finish() requires the same secret.
  std::string flow_secret_hash;
};

struct SignInStart {
  store::ChallengeRecord challenge;
  store::UserRecord user;
  std::string integration_name;
  std::string org_name;
  // Set when the user has no active device: the ScanCode to show (the code is the secret; never log it).
  std::optional<std::string> scan_code;
  std::int64_t scan_code_expires_at = 0;
  // Topics to notify: "device:<id>" for each bound device, "challenge:<id>" for a replaced challenge.
  std::vector<std::string> notify;
  // The user's active devices: each gets a push (push::Dispatcher) for this challenge.
  std::vector<store::DeviceRecord> devices;
  // The user has a device and the code fallback is on and not locked: the page may offer a code.
  bool codes_open = false;
};

// A binding's fallback-code secret, for its device (domain/codes.h fixes the format).
struct CodeSecret {
  std::string binding_id;
  std::string secret;  // raw bytes (kCodeSecretBytes): a secret — only ever sent to the binding's device
};

struct ScanResult {
  std::string challenge_id;  // the sign-in the code belonged to
  std::string user_label;    // UPN or display name
  std::string org_name;
  std::string integration_name;
  std::vector<std::string> notify;  // "challenge:<id>", "device:<id>"
  // The binding's fallback-code secret (made now for a new binding); none when codes are off (no master key).
  std::optional<CodeSecret> code_secret;
};

// A challenge as the device sees it.
struct DeviceChallenge {
  store::ChallengeRecord challenge;
  std::string context_json;  // the exact text shown to and hashed by the device (sorted keys, no spaces)
};

enum class DeviceAction { kApprove, kDeny, kFraud };

struct AnswerResult {
  store::ChallengeRecord challenge;
  std::string reason;        // "approved" | "denied" | "wrong_number" | "fraud"
  bool user_locked = false;  // this (wrong-number) answer locked the user (LockoutPolicy)
  std::vector<std::string> notify;
};

// The answer to a posted fallback code. Refusals of every kind look the same (see the top of this file).
struct CodeVerdict {
  bool accepted = false;  // the challenge is approved now: finish() it
  bool closed = false;    // this challenge takes no more codes (attempts spent, or the user's fallback locked)
  store::ChallengeRecord challenge;
  std::vector<std::string> notify;  // "challenge:<id>" when approved
};

// What the fallback codes need: the master key that seals the secrets (null: no secrets are made and no
// code is accepted) and the policy.
struct FallbackCodes {
  const crypto::MasterKey* master_key = nullptr;
  CodePolicy policy;
};

struct FinishedSignIn {
  store::ChallengeRecord challenge;  // state approved → issue the token; otherwise access_denied
  std::string response_params;       // as given to begin()
  std::string method = "swk";        // the amr value of what completed it
};

class SignInService {
 public:
  SignInService(store::Db& db, const Clock& clock, ChallengePolicy challenges = {}, ScanCodePolicy scan_codes = {},
                LockoutPolicy lockout = {}, FallbackCodes codes = {});

  // The most sign-ins (challenges, i.e. pushes) one user may start per rolling hour (kPushRateWindow);
  // begin() refuses more. Default kDefaultMaxPushesPerHour; 0 or less turns the limit off.
  void set_max_pushes_per_hour(int limit) { max_pushes_per_hour_ = limit; }
  // answer() counts wrong numbers against the lockout of the challenge's org (its saved settings,
  // domain/settings.h) instead of the LockoutPolicy given here, when the org saved one.
  void use_org_lockout(bool on) { org_lockout_ = on; }
  int max_pushes_per_hour() const { return max_pushes_per_hour_; }

  // Starts a sign-in (one transaction; refusals are audited as "signin.refused"). SignInStart::codes_open
  // tells whether the page may offer a fallback code.
  //   kNotFound          no such integration, or a deleted one (not audited)
  //   kPermissionDenied  integration disabled, guest's home tenant refused by the guest policy, user locked
  //   kExhausted         the user already started max_pushes_per_hour() sign-ins within the last hour
  //                      (message kRateLimitedMessage; audited as "signin.rate_limited"; no challenge made)
  //   kInvalidArgument   a field over its bound, tid/oid not GUIDs, kind kAdminSignin, flow_secret_hash
  //                      not 64 hex characters, or a context field the challenge refuses
  Result<SignInStart> begin(const SignInRequest& request);

  // The ScanCode the page should show now for a pending, unbound sign-in, as {code, expires_at}:
  //  - no active code, or the active one expires within `refresh_before` seconds: a fresh code is issued
  //    (older ones withdrawn) and returned with its expiry;
  //  - the active code lives longer: {"", its expires_at} — keep showing the code you have (only its hash
  //    is stored, so it cannot be shown again). A page that lost its code (reload) passes a
  //    `refresh_before` ≥ the code lifetime (ScanCodePolicy::bind_user_ttl) to always get a fresh one.
  // nullopt when the user is bound by now or the challenge is no longer pending (as of now).
  // kNotFound when no such challenge; kPermissionDenied when `flow_secret_hash` does not match.
  Result<std::optional<std::pair<std::string, std::int64_t>>> current_scan_code(std::string_view challenge_id,
                                                                                std::string_view flow_secret_hash,
                                                                                std::int64_t refresh_before = 30);

  // A device scanned `code` (a bind_user ScanCode). Binds (trust on first use) and makes the challenge the
  // device's push; redeeming and binding are one transaction (a refused binding leaves the code usable).
  // A device already bound to the code's user succeeds (the code is used up, nothing else changes). The
  // binding's fallback-code secret comes back in ScanResult::code_secret (made now when it has none).
  //   kUnauthenticated   unknown (or empty / over-long) code; kExpired; kConflict used — the edge answers
  //                      all three alike
  //   kInvalidArgument   the code is for another purpose (e.g. admin sign-in: route it to that flow); the
  //                      code stays usable
  //   kPermissionDenied  the user already has a device (and no admin allowed another), the user is locked,
  //                      or the device is unknown or revoked
  Result<ScanResult> scan(std::string_view code, std::string_view device_id, std::string_view ip);

  // Pending, unexpired challenges of the users `device_id` is actively bound to (in any org), plus admin
  // sign-ins of the admin whose device it is; oldest first, at most 20. kPermissionDenied when the device
  // is unknown or revoked.
  Result<std::vector<DeviceChallenge>> pending_for_device(std::string_view device_id);

  // A device's answer; `context_hash` is base64url(SHA-256(context_json)) as the device computed it. The
  // hash is checked (constant time) before anything changes; a mismatch leaves the challenge pending.
  //   kNotFound; kPermissionDenied (not bound / revoked / context hash differs / user locked);
  //   kExpired (the challenge is marked expired); kConflict (already decided, cancelled or expired)
  Result<AnswerResult> answer(std::string_view challenge_id, std::string_view device_id, DeviceAction action,
                              int number, std::string_view context_hash, std::string_view ip);

  // The state of a sign-in for the waiting page (pending/approved/denied/expired/cancelled as of now).
  // kNotFound; kPermissionDenied when `flow_secret_hash` does not match.
  Result<store::ChallengeRecord> status(std::string_view challenge_id, std::string_view flow_secret_hash);

  // The fallback-code secret of `binding_id`, which must be an active binding of `device_id` (an active
  // device); made and sealed now, in one transaction, when the binding has none yet (audited as
  // "binding.code_secret_issued"). kPermissionDenied when the binding is not the device's, not active, or
  // the device is revoked; kNotFound when no such binding; kConflict when codes are off (no master key);
  // kInternal when the stored secret does not open (another master key, or a damaged row).
  Result<CodeSecret> code_secret(std::string_view binding_id, std::string_view device_id);

  // A fallback code typed on the page of challenge `challenge_id`. Refusals that are about the code are
  // values (CodeVerdict::accepted false, audited and committed); errors are about the request:
  //   kNotFound          no such challenge; kPermissionDenied  wrong flow secret, or not an Entra sign-in
  //   kConflict          no longer pending (decided, expired, cancelled): finish() it; or codes are off
  Result<CodeVerdict> verify_code(std::string_view challenge_id, std::string_view flow_secret_hash,
                                  std::string_view code, std::string_view ip);

  // Opens a user's locked code fallback and clears its failure count, audited as "user.codes_unlocked" by
  // `actor_kind`/`actor_id` (e.g. "admin", "cli"). Returns true when it was locked. kNotFound: no such user.
  Result<bool> unlock_codes(std::string_view user_id, std::string_view actor_kind, std::string_view actor_id);

  // Ends the sign-in exactly once (completed_at set; a pending challenge past its expiry is expired first;
  // an approved one stamps the integration's last success). kNotFound; kPermissionDenied on a wrong secret;
  // kConflict when still pending (in time) or already finished.
  Result<FinishedSignIn> finish(std::string_view challenge_id, std::string_view flow_secret_hash);

 private:
  store::Db& db_;
  const Clock& clock_;
  ChallengePolicy challenge_policy_;
  ScanCodePolicy scan_code_policy_;
  LockoutPolicy lockout_;
  FallbackCodes codes_;
  int max_pushes_per_hour_;
  bool org_lockout_ = false;
};

// base64url(SHA-256(text)), unpadded (43 characters): the context hash a device signs.
std::string context_hash(std::string_view context_json);

// The push rate limit: sign-ins one user may start per rolling window, by default.
inline constexpr int kDefaultMaxPushesPerHour = 20;
inline constexpr std::int64_t kPushRateWindowSeconds = 3600;
// The error message of a rate-limited begin().
inline constexpr char kRateLimitedMessage[] = "too many sign-in requests for this user; try again later";

// The most pending challenges pending_for_device() returns.
inline constexpr int kMaxPendingForDevice = 20;

}  // namespace avow::domain
