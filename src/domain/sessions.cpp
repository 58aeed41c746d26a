#include "domain/sessions.h"

#include "common/random.h"
#include "domain/hashing.h"
#include "store/repositories.h"

namespace avow::domain {

SessionStatus session_status(const store::SessionRecord& s, store::UnixTime now) {
  if (s.revoked_at) return SessionStatus::kRevoked;
  if (now >= s.absolute_expires_at) return SessionStatus::kAbsoluteExpired;
  if (now >= s.idle_expires_at) return SessionStatus::kIdleExpired;
  return SessionStatus::kActive;
}

Result<NewSession> SessionService::start(std::string_view admin_id) {
  auto admin = store::AdminRepo(db_).get(admin_id);
  AVOW_TRY(admin);
  if (admin->disabled_at) return fail(ErrorCode::kPermissionDenied, "admin is disabled");
  const store::UnixTime now = clock_.unix_now();
  NewSession out;
  out.token = random_token(32);
  store::SessionRecord& s = out.record;
  s.id_hash = sha256_hex(out.token);
  s.admin_id = admin->id;
  s.org_id = admin->org_id;
  s.created_at = now;
  s.last_seen_at = now;
  s.absolute_expires_at = expires_after(now, policy_.absolute);
  s.idle_expires_at = policy_.idle_expiry(now, s.absolute_expires_at);
  s.csrf_secret = random_token(32);
  AVOW_TRY(store::SessionRepo(db_).create(s));
  return out;
}

Result<store::SessionRecord> SessionService::resume(std::string_view token) {
  if (token.empty() || token.size() > kMaxSessionTokenBytes) {
    return fail(ErrorCode::kUnauthenticated, "no valid session");
  }
  store::SessionRepo sessions(db_);
  const std::string hash = sha256_hex(token);
  auto found = sessions.find(hash);
  AVOW_TRY(found);
  if (!*found) return fail(ErrorCode::kUnauthenticated, "no valid session");
  store::SessionRecord s = std::move(**found);
  const store::UnixTime now = clock_.unix_now();
  switch (session_status(s, now)) {
    case SessionStatus::kRevoked:
      return fail(ErrorCode::kUnauthenticated, "session was signed out");
    case SessionStatus::kAbsoluteExpired:
    case SessionStatus::kIdleExpired:
      return fail(ErrorCode::kExpired, "session expired");
    case SessionStatus::kActive:
      break;
  }
  auto admin = store::AdminRepo(db_).get(s.admin_id);
  AVOW_TRY(admin);
  if (admin->disabled_at) return fail(ErrorCode::kUnauthenticated, "admin is disabled");

  const store::UnixTime idle = policy_.idle_expiry(now, s.absolute_expires_at);
  auto touched = sessions.touch(hash, now, idle);
  AVOW_TRY(touched);
  if (!*touched) return fail(ErrorCode::kUnauthenticated, "session ended meanwhile");
  s.last_seen_at = now;
  s.idle_expires_at = idle;
  return s;
}

Status SessionService::end(std::string_view token) {
  if (token.empty() || token.size() > kMaxSessionTokenBytes) return ok();
  AVOW_TRY(store::SessionRepo(db_).revoke(sha256_hex(token), clock_.unix_now()));
  return ok();
}

Result<std::int64_t> SessionService::end_all_for_admin(std::string_view admin_id) {
  return store::SessionRepo(db_).revoke_all_for_admin(admin_id, clock_.unix_now());
}

}  // namespace avow::domain
