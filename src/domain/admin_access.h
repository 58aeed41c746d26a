// avow/domain/admin_access.h — how admins get into the dashboard: sign-up, sign-in, invites, re-authentication.
//
// No password exists anywhere. Every way in ends with the admin's own device (the `avow` authenticator):
//
//   sign-up    the browser posts org name, name and email; begin_signup() checks them and issues an
//              admin_signup ScanCode carrying them; the device scans it (scan()), which creates the org and
//              its owner with that device, in one transaction.
//   sign-in    by scan: begin_signin_scan() issues an admin_signin ScanCode; the scanning device names the admin
//              (the enabled admin whose device it is). By push: begin_signin_push(email) opens an admin_signin
//              challenge (number matching) on the admin's device.
//   invite     an owner or admin calls invite(): a new admin row (no device yet) and an admin_invite ScanCode
//              whose link the invitee opens; scanning it sets that admin's device.
//   re-auth    begin_reauth() opens an admin_signin challenge for the signed-in admin; dangerous actions need a
//              session whose reauthenticated_at is recent (SessionService / the dashboard routes decide "recent").
//
// The browser that started a way in — and only it — turns the device's answer into a session, exactly once:
// claim_scan() / claim_push() compare the SHA-256 of the browser's pre-auth secret (its cookie) with the one
// stored at begin_*, in constant time, and mark the code claimed (ScanCodeRepo::claim) or the challenge
// completed (ChallengeService::complete). An invite is claimed with the invite code itself (the link is the
// invitee's proof). The caller then starts a fresh session (SessionService::start) — never reusing a token the
// browser had before (session fixation).
//
// Sign-up is open when the operator enabled open sign-up, or while no org exists (the first sign-up creates the
// owner org of a self-hosted install). Every step is audited (kinds "admin.signup", "admin.signin",
// "admin.invited", "admin.invite_accepted", "admin.reauthenticated", …); never a code, secret or hash.
//
//   AdminAccessService access(db, clock, {.open_signup = false});
//   Result<IssuedScanCode> code = access.begin_signup({"Contoso", "Grace", "grace@contoso.com"}, pre_hash, ip);
//   … the device scans: access.scan(code, device_id, ip) …
//   Result<store::AdminRecord> admin = access.claim_scan(code->record.id, pre_hash, ip);
//   Result<NewSession> session = SessionService(db, clock).start(admin->id);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "domain/challenges.h"
#include "domain/policy.h"
#include "domain/scan_codes.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

// How long after the device's scan (or its approval of a push) the browser may still claim it: a waiting page
// claims within seconds; a leftover scan, approval or invite link must not turn into a session much later.
inline constexpr std::int64_t kClaimWindowSeconds = 300;

// Pushes (sign-in by email, re-authentication) one admin's phone gets per rolling hour; more sign-in requests
// get the decoy page (as for an unknown address) and re-authentication is refused, so nobody can flood an
// admin's phone from the sign-in form.
inline constexpr int kMaxAdminPushesPerHour = 10;

struct AdminAccessOptions {
  bool open_signup = false;  // multi-tenant: anyone may create an org (else only the first sign-up)
};

struct SignupForm {
  std::string org_name;
  std::string display_name;
  std::string email;
};

// A field-level validation failure: which form field, and the message to show next to it.
struct FieldError {
  std::string field;  // "org_name" | "display_name" | "email" | "role" | …
  std::string message;
};

// What a device's scan of an admin code did (for the device API's answer and the authenticator's output).
struct AdminScanResult {
  store::ScanCodePurpose purpose = store::ScanCodePurpose::kAdminSignin;
  store::OrgRecord org;
  store::AdminRecord admin;
  std::vector<std::string> notify;  // "scan:<scan code id>": wake the browser waiting on that code
};

// The state of a ScanCode as the waiting browser sees it.
enum class ScanWait { kWaiting, kScanned, kExpired };

struct InviteIssued {
  store::AdminRecord admin;  // the invited admin (no device yet)
  IssuedScanCode code;       // the invite link's secret: <public_url>/dashboard/invite/<code.code>
};

// Every bad field of a sign-up form as "<field>: <Message>", in form order (empty when valid): begin_signup()
// reports the first, a page shows them all.
std::vector<std::string> signup_errors(const SignupForm& form);

class AdminAccessService {
 public:
  AdminAccessService(store::Db& db, const Clock& clock, AdminAccessOptions options = {}, ScanCodePolicy scan_codes = {},
                     ChallengePolicy challenges = {})
      : db_(db), clock_(clock), options_(options), scan_codes_(scan_codes), challenges_(challenges) {}

  // Whether a new org may be created now (open sign-up, or no org yet).
  Result<bool> signup_open();

  // Validates the form and issues an admin_signup ScanCode bound to `browser_hash` (hex SHA-256 of the
  // browser's pre-auth secret). kInvalidArgument with a FieldError-shaped message "<field>: <message>" for the
  // first bad field; kPermissionDenied when sign-up is closed.
  Result<IssuedScanCode> begin_signup(const SignupForm& form, std::string_view browser_hash, std::string_view ip);

  // An admin_signin ScanCode bound to `browser_hash` (no org: the scanning device names the admin). Not
  // audited (every sign-in page view issues one, and it concerns no org yet). kInvalidArgument bad hash.
  Result<IssuedScanCode> begin_signin_scan(std::string_view browser_hash, std::string_view ip);

  // Opens an admin_signin challenge (number matching) on the device of the enabled admin with this email,
  // bound to `browser_hash`. std::nullopt — not an error — when no enabled admin with a device has that email
  // (the page then shows a decoy number, so the answer does not tell which addresses are admins); when several
  // orgs have an admin with that email, the oldest enabled one with a device.
  // kInvalidArgument for a malformed email ("email: <message>") or hash. `context` gives ip and user agent;
  // org name, user label (the admin's email), integration name ("Avow dashboard") and time are filled in.
  Result<std::optional<OpenedChallenge>> begin_signin_push(std::string_view email, std::string_view browser_hash,
                                                           const ChallengeContext& context);

  // The hub topics to notify after begin_signin_push() / begin_reauth() opened `opened`: "device:<id>" of the
  // admin's device (its long-poll wakes at once) and "challenge:<id>" of the challenge it replaced, if any.
  Result<std::vector<std::string>> notify_for(const OpenedChallenge& opened);

  // The device side (device API POST /scan with an admin code). Consumes the code exactly once.
  //   admin_signup  creates the org and its owner (this device); no settings row (an org without one runs
  //                 under the defaults, settings.h); kConflict when sign-up has closed meanwhile;
  //                 kInvalidArgument when the form stored in the code no longer validates
  //   admin_signin  the enabled admin whose device this is; kPermissionDenied when there is none
  //   admin_invite  sets the invited admin's device; kPermissionDenied when the admin was removed meanwhile,
  //                 kConflict when they already have a device
  // kUnauthenticated unknown (or empty / over-long) or already used code, kExpired expired (kConflict is only
  // ever one of the two refusals above, so the device API can tell them from a bad code);
  // kPermissionDenied unknown or revoked device; kInvalidArgument for a bind_user code (untouched).
  // Refusals are audited ("admin.scan_refused") and leave the code usable; success is audited as
  // "admin.signup" / "admin.signin_scanned" / "admin.invite_accepted".
  Result<AdminScanResult> scan(std::string_view code, std::string_view device_id, std::string_view ip);

  // For the browser's wait: has the code been scanned? A sign-up or sign-in code answers only the browser it
  // is bound to (`browser_hash`); any other browser is told kWaiting, so a code's id tells nothing. An invite's
  // state is answered to anyone (its page is the one holding the link). kNotFound when absent.
  Result<ScanWait> scan_state(std::string_view scan_code_id, std::string_view browser_hash);

  // The browser exchanges a scanned signup/signin code for the admin to start a session for, exactly once.
  // kPermissionDenied when `browser_hash` is not the code's, or no enabled admin is behind the scan any more;
  // kConflict when not scanned yet, or already claimed; kExpired when it expired unscanned or was scanned
  // more than kClaimWindowSeconds ago; kNotFound (also for an invite code's id). Audited "admin.signin"
  // {"method":"scan"}.
  Result<store::AdminRecord> claim_scan(std::string_view scan_code_id, std::string_view browser_hash,
                                        std::string_view ip);

  // The same for an invite: the proof is the invite code itself (its hash is compared). kUnauthenticated
  // unknown code; kConflict not scanned yet or already claimed; kExpired; kPermissionDenied the admin was
  // removed meanwhile.
  Result<store::AdminRecord> claim_invite(std::string_view invite_code, std::string_view ip);

  // The invite behind a link, for its page: the code record and the invited admin. kUnauthenticated unknown
  // code; kExpired; kConflict already used (scanned). Nothing is consumed.
  Result<std::pair<store::ScanCodeRecord, store::AdminRecord>> invite_for(std::string_view invite_code);

  // The browser exchanges an approved admin_signin push for its admin, exactly once (completes the
  // challenge). kPermissionDenied not this browser's; kConflict still pending or already claimed;
  // kUnauthenticated denied, expired, approved more than kClaimWindowSeconds ago, or the admin was removed
  // (the caller says "not approved"; the challenge is completed all the same); kNotFound (also for a
  // challenge that is not an admin sign-in). Audited "admin.signin" {"method":"push"} or
  // "admin.signin_refused".
  Result<store::AdminRecord> claim_push(std::string_view challenge_id, std::string_view browser_hash,
                                        std::string_view ip);

  // Invites an admin into `org_id` on behalf of `inviter_id` (an enabled admin of that org). kInvalidArgument
  // "<field>: <message>"; kAlreadyExists when the email is taken in the org; kPermissionDenied when the inviter
  // is not an enabled admin of the org, or an admin (not owner) invites an owner.
  Result<InviteIssued> invite(std::string_view org_id, std::string_view inviter_id, std::string_view display_name,
                              std::string_view email, store::AdminRole role, std::string_view ip);

  // Removes (disables) admin `target_id` of `org_id`, ending their sessions. kNotFound also for an admin of
  // another org; kConflict for the last enabled owner; kPermissionDenied when an admin (not owner) removes an
  // owner.
  Result<store::AdminRecord> remove(std::string_view org_id, std::string_view actor_id, std::string_view target_id,
                                    std::string_view ip);

  // Changes admin `target_id` of `org_id` to `role` on behalf of `actor_id`. Only an enabled owner changes roles
  // (kPermissionDenied otherwise); kNotFound also for an admin of another org; kConflict when the target is
  // removed, or when it would demote the org's last enabled owner. Setting the role it has is ok (no event).
  Result<store::AdminRecord> set_role(std::string_view org_id, std::string_view actor_id, std::string_view target_id,
                                      store::AdminRole role, std::string_view ip);

  // Re-authentication: a push (admin_signin challenge) to the signed-in admin's own device, bound to
  // `browser_hash`. kPermissionDenied when the admin has no device.
  Result<OpenedChallenge> begin_reauth(std::string_view admin_id, std::string_view browser_hash,
                                       const ChallengeContext& context);

  // The browser finishes a re-auth: the approved challenge must be `admin_id`'s and this browser's; marks the
  // session (by its id hash; it must be `admin_id`'s) reauthenticated now and completes the challenge. Errors
  // as claim_push; kPermissionDenied also for another admin's challenge or session (nothing completed);
  // kUnauthenticated also when the session ended meanwhile. Audited "admin.reauthenticated".
  Status finish_reauth(std::string_view challenge_id, std::string_view browser_hash, std::string_view admin_id,
                       std::string_view session_id_hash, std::string_view ip);

 private:
  store::Db& db_;
  const Clock& clock_;
  AdminAccessOptions options_;
  ScanCodePolicy scan_codes_;
  ChallengePolicy challenges_;
};

}  // namespace avow::domain
