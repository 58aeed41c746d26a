// avow/domain/challenges.h — Challenges: one MFA request, from open to answered to completed.
//
//   pending ──approve (right number)──▶ approved ─┐
//      │   ──deny / wrong number─────▶ denied    ├─ complete(): completed_at set exactly once, when the
//      │   ──time passes─────────────▶ expired   │  answer (token or access_denied) went back to Entra
//      └── ──newer challenge / cancel▶ cancelled ┘
//
// At most one pending challenge per user (and per admin): opening a new one CANCELS the user's pending
// one rather than refusing. The newest request is the one the user is looking at (a reloaded tab, a
// retried sign-in); refusing would lock them out until the old one expired, and Entra has abandoned the
// older attempt anyway. `OpenedChallenge::replaced_id` names the cancelled one so its waiters can be woken.
// The partial unique index in the store backs the rule against racing nodes.
//
// Answers come from devices (their signatures are verified by the caller before answer() is called):
// only an active device actively bound to the challenge's user (or, for admin sign-in, the admin's own
// device) may answer; devices belong to no org, so the binding (or the admin's device) is the whole
// test. Approving with the wrong number denies the challenge and counts a failure against the user;
// enough failures lock the user (LockoutPolicy). A right answer resets the count.
//
//   ChallengeService challenges(db, clock, policy);
//   Result<OpenedChallenge> c = challenges.open({.kind = ChallengeKind::kEam, .org_id = …, .user_id = …,
//                                                .integration_id = …, .nonce = …, …});
//   Result<Decision> d = challenges.answer(c->challenge.id, device_id, {Action::kApprove, 42});
//   Result<store::ChallengeRecord> done = challenges.complete(c->challenge.id);   // then post the answer
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "domain/policy.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

// What the device shows the user next to the number, so they can tell a sign-in they started from one
// they did not. Every field is cut to a bound when serialised.
struct ChallengeContext {
  std::string ip;                // ≤ 64 bytes
  std::string user_agent;        // ≤ 512
  std::string integration_name;  // ≤ 256
  std::string user_label;        // ≤ 256, UPN or display name
  std::string org_name;          // ≤ 256
  std::int64_t created_at = 0;   // Unix seconds; open() fills in the challenge's creation time when 0
  // JSON object text with the non-empty fields, keys "created_at", "integration", "ip", "org", "user",
  // "user_agent": nlohmann's dump() — sorted keys, no spaces, UTF-8 (bad bytes replaced by U+FFFD). This
  // exact text is stored, sent to the device and hashed by it (see sign_in.h context_hash()).
  std::string to_json() const;
};

inline constexpr std::size_t kMaxNonceBytes = 512;
inline constexpr std::size_t kMaxStateParamBytes = 2048;
inline constexpr std::size_t kMaxRedirectUriBytes = 2048;
inline constexpr std::size_t kMaxClientIdBytes = 256;
inline constexpr std::size_t kMaxHintSubBytes = 256;
inline constexpr std::size_t kMaxResponseParamsBytes = 4096;
inline constexpr std::size_t kMaxFlowSecretHashBytes = 128;

struct NewChallenge {
  store::ChallengeKind kind = store::ChallengeKind::kEam;
  std::string org_id;
  std::string user_id;         // eam, custom_control
  std::string integration_id;  // eam, custom_control
  std::string admin_id;        // admin_signin
  ChallengeContext context;
  // From the Entra request, echoed in the answer (bounded above; validated by the entra module).
  std::string nonce;
  std::string state_param;
  std::string redirect_uri;
  std::string client_id;
  std::string hint_sub;
  std::string response_params = "{}";  // opaque JSON text for the edge's answer (≤ 4 KiB)
  std::string flow_secret_hash;        // hex SHA-256 of the browser's flow secret (≤ 128); empty: none
};

struct OpenedChallenge {
  store::ChallengeRecord challenge;
  std::optional<std::string> replaced_id;  // the user's previous pending challenge, now cancelled/expired
};

enum class Action { kApprove, kDeny };

struct Answer {
  Action action = Action::kDeny;
  int number = 0;  // the choice the user picked; ignored for kDeny
};

struct Decision {
  store::ChallengeRecord challenge;  // as it is now: approved or denied
  bool wrong_number = false;         // approved with a wrong number: denied, and counted as a failure
  bool user_locked = false;          // that failure locked the user
};

class ChallengeService {
 public:
  ChallengeService(store::Db& db, const Clock& clock, ChallengePolicy policy = {}, LockoutPolicy lockout = {})
      : db_(db), clock_(clock), policy_(policy), lockout_(lockout) {}

  // Opens a pending challenge with a fresh number to match, cancelling the subject's pending one.
  //   kInvalidArgument  kind and ids do not fit, a field is over its bound, or the policy is malformed
  //   kNotFound         no such user, integration or admin
  //   kPermissionDenied user locked, integration disabled, admin disabled or without a device, or an
  //                     object of another org
  //   kConflict         another challenge for the subject was opened at the same instant
  Result<OpenedChallenge> open(const NewChallenge& request);

  // The challenge with its state as of now (pending past expiry reads expired; nothing is written).
  // kNotFound when absent.
  Result<store::ChallengeRecord> get(std::string_view id);

  // A device's answer.
  //   kNotFound         no such challenge
  //   kPermissionDenied the device may not answer it (unknown, revoked, not bound to the challenge's user,
  //                     not the admin's device), or the user is locked
  //   kExpired          too late (the challenge is marked expired)
  //   kConflict         it was already decided, cancelled or expired (including by a racing answer)
  Result<Decision> answer(std::string_view id, std::string_view device_id, const Answer& answer);

  // pending → cancelled (the browser gave up). kNotFound; kConflict when no longer pending.
  Result<store::ChallengeRecord> cancel(std::string_view id);

  // Marks the challenge completed — exactly once — and returns it; the caller then issues the token
  // (approved) or access_denied (anything else). A pending challenge past its expiry is expired first.
  // Stamps the integration's last success on an approved Entra challenge.
  //   kNotFound; kConflict when still pending (in time) or already completed.
  Result<store::ChallengeRecord> complete(std::string_view id);

  // Expires every pending challenge past its lifetime; returns how many (a periodic sweep).
  Result<std::int64_t> expire_due();

 private:
  Status check_answering_device(store::Db& tx, const store::ChallengeRecord& c, std::string_view device_id);

  store::Db& db_;
  const Clock& clock_;
  ChallengePolicy policy_;
  LockoutPolicy lockout_;
};

}  // namespace avow::domain
