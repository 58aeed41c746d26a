// avow/domain/scan_codes.h — ScanCodes: short-lived, single-use QR pairing codes.
//
// A browser shows a code (as a QR); the authenticator scans it and presents it back with its device id.
// The code itself is a 256-bit random token handed out once by issue(); only its SHA-256 is stored, so
// the database cannot show it again. redeem() consumes it exactly once, compare-and-set, so two devices
// scanning the same code cannot both succeed.
//
//   ScanCodeService codes(db, clock);
//   Result<IssuedScanCode> issued = codes.issue({.purpose = ScanCodePurpose::kBindUser, .org_id = org,
//                                               .user_id = user, .challenge_id = challenge});
//   render_qr(issued->code);                        // never log it
//   …
//   Result<store::ScanCodeRecord> used = codes.redeem(scanned, ScanCodePurpose::kBindUser, device_id);
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "domain/policy.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

// Longest code redeem() will look at; issued codes are 43 characters.
inline constexpr std::size_t kMaxScanCodeBytes = 128;

struct ScanCodeRequest {
  store::ScanCodePurpose purpose = store::ScanCodePurpose::kBindUser;
  std::optional<std::string> org_id;        // required except for admin_signup and admin_signin
  std::optional<std::string> user_id;       // required for bind_user
  std::optional<std::string> admin_id;      // required for admin_invite
  std::optional<std::string> challenge_id;  // the Entra sign-in a bind_user code belongs to, if any
  std::string details = "{}";               // JSON text (≤ 4 KiB), e.g. an invite's role
};

struct IssuedScanCode {
  store::ScanCodeRecord record;
  std::string code;  // the secret: show it once, never store or log it
};

class ScanCodeService {
 public:
  ScanCodeService(store::Db& db, const Clock& clock, ScanCodePolicy policy = {})
      : db_(db), clock_(clock), policy_(policy) {}

  // Creates a code for `request`, valid for the policy's lifetime of its purpose. kInvalidArgument when
  // the subjects do not fit the purpose (e.g. bind_user without a user) or details are too long;
  // store errors otherwise (kInvalidArgument also for subjects that do not exist).
  Result<IssuedScanCode> issue(const ScanCodeRequest& request);

  // Consumes `code` for `expected` purpose on behalf of `device_id`, returning the consumed record.
  //   kInvalidArgument  empty or over-long code
  //   kUnauthenticated  no such code
  //   kPermissionDenied the code is for another purpose (it stays usable)
  //   kExpired          past its lifetime
  //   kConflict         already used (including by a racer a moment ago)
  Result<store::ScanCodeRecord> redeem(std::string_view code, store::ScanCodePurpose expected,
                                       const std::optional<std::string>& device_id);

  // The record by id, with its state as of now (an active code past expiry reads as expired).
  // kNotFound when absent. Used by the page that shows the code to learn when it was scanned.
  Result<store::ScanCodeRecord> get(std::string_view id);

  // Withdraws an active code early (page closed, new code shown). kConflict when it is no longer active.
  Status withdraw(std::string_view id);

  // Marks every active code past its lifetime expired; returns how many (a periodic sweep).
  Result<std::int64_t> expire_due();

 private:
  store::Db& db_;
  const Clock& clock_;
  ScanCodePolicy policy_;
};

}  // namespace avow::domain
