#include "domain/scan_codes.h"

#include "common/random.h"
#include "domain/hashing.h"
#include "domain/states.h"
#include "store/repositories.h"

namespace avow::domain {

using store::ScanCodePurpose;
using store::ScanCodeState;

namespace {

constexpr std::size_t kMaxDetailsBytes = 4096;

Status check_subjects(const ScanCodeRequest& r) {
  if (r.details.size() > kMaxDetailsBytes) return fail(ErrorCode::kInvalidArgument, "scan code details too long");
  // Admin sign-up has no org yet; an admin sign-in code is shown before anyone is known (the scanning
  // device names the admin, and so the org).
  const bool org_free = r.purpose == ScanCodePurpose::kAdminSignup || r.purpose == ScanCodePurpose::kAdminSignin;
  if (!org_free && !r.org_id) {
    return fail(ErrorCode::kInvalidArgument, "scan code needs an org");
  }
  switch (r.purpose) {
    case ScanCodePurpose::kBindUser:
      if (!r.user_id) return fail(ErrorCode::kInvalidArgument, "a bind_user scan code needs a user");
      break;
    case ScanCodePurpose::kAdminInvite:
      if (!r.admin_id) return fail(ErrorCode::kInvalidArgument, "an admin_invite scan code needs an admin");
      break;
    case ScanCodePurpose::kAdminSignin:
    case ScanCodePurpose::kAdminSignup:
      break;
  }
  return ok();
}

}  // namespace

Result<IssuedScanCode> ScanCodeService::issue(const ScanCodeRequest& request) {
  AVOW_TRY(check_subjects(request));
  const store::UnixTime now = clock_.unix_now();
  IssuedScanCode out;
  out.code = random_token(32);
  store::ScanCodeRecord& r = out.record;
  r.id = new_id();
  r.org_id = request.org_id;
  r.code_hash = sha256_hex(out.code);
  r.purpose = request.purpose;
  r.user_id = request.user_id;
  r.admin_id = request.admin_id;
  r.challenge_id = request.challenge_id;
  r.details = request.details;
  r.state = ScanCodeState::kActive;
  r.created_at = now;
  r.expires_at = expires_after(now, policy_.ttl_for(request.purpose));
  AVOW_TRY(store::ScanCodeRepo(db_).create(r));
  return out;
}

Result<store::ScanCodeRecord> ScanCodeService::redeem(std::string_view code, ScanCodePurpose expected,
                                                      const std::optional<std::string>& device_id) {
  if (code.empty() || code.size() > kMaxScanCodeBytes) {
    return fail(ErrorCode::kInvalidArgument, "scan code is empty or too long");
  }
  store::ScanCodeRepo codes(db_);
  auto found = codes.find_by_hash(sha256_hex(code));
  AVOW_TRY(found);
  if (!*found) return fail(ErrorCode::kUnauthenticated, "unknown scan code");
  store::ScanCodeRecord rec = std::move(**found);
  if (rec.purpose != expected) {
    return fail(ErrorCode::kPermissionDenied, "this scan code is for " + std::string(store::to_string(rec.purpose)));
  }
  const store::UnixTime now = clock_.unix_now();
  switch (effective_state(rec, now)) {
    case ScanCodeState::kConsumed:
      return fail(ErrorCode::kConflict, "scan code already used");
    case ScanCodeState::kExpired:
      return fail(ErrorCode::kExpired, "scan code expired");
    case ScanCodeState::kActive:
      break;
  }
  auto won = codes.consume(rec.id, device_id, now);
  AVOW_TRY(won);
  if (!*won) return fail(ErrorCode::kConflict, "scan code already used");
  rec.state = ScanCodeState::kConsumed;
  rec.consumed_at = now;
  rec.consumed_by_device = device_id;
  return rec;
}

Result<store::ScanCodeRecord> ScanCodeService::get(std::string_view id) {
  auto rec = store::ScanCodeRepo(db_).get(id);
  AVOW_TRY(rec);
  rec->state = effective_state(*rec, clock_.unix_now());
  return rec;
}

Status ScanCodeService::withdraw(std::string_view id) {
  auto rec = get(id);
  AVOW_TRY(rec);
  AVOW_TRY(check_transition(rec->state, ScanCodeState::kExpired, "scan code"));
  auto won = store::ScanCodeRepo(db_).expire(id);
  AVOW_TRY(won);
  if (!*won) return fail(ErrorCode::kConflict, "scan code is no longer active");
  return ok();
}

Result<std::int64_t> ScanCodeService::expire_due() { return store::ScanCodeRepo(db_).expire_due(clock_.unix_now()); }

}  // namespace avow::domain
