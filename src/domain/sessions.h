// avow/domain/sessions.h — dashboard sessions for admins.
//
// A session is a 256-bit random token in a cookie; the store keeps only its SHA-256. Each use slides the
// idle expiry, never past the absolute one (SessionPolicy). A session ends when revoked, when either
// expiry passes, or when its admin is disabled. The CSRF secret is per session.
//
//   SessionService sessions(db, clock, policy);
//   Result<NewSession> s = sessions.start(admin_id);      // set-cookie s->token
//   Result<store::SessionRecord> r = sessions.resume(cookie);   // on every request
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "domain/policy.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

inline constexpr std::size_t kMaxSessionTokenBytes = 128;

enum class SessionStatus { kActive, kIdleExpired, kAbsoluteExpired, kRevoked };

// The status of `s` at `now`: revoked first, then absolute, then idle expiry.
SessionStatus session_status(const store::SessionRecord& s, store::UnixTime now);

struct NewSession {
  store::SessionRecord record;
  std::string token;  // the cookie value: hand it to the browser once, never store or log it
};

class SessionService {
 public:
  SessionService(store::Db& db, const Clock& clock, SessionPolicy policy = {})
      : db_(db), clock_(clock), policy_(policy) {}

  // Starts a session for an enabled admin. kNotFound when absent; kPermissionDenied when disabled.
  Result<NewSession> start(std::string_view admin_id);

  // The live session for `token`, its idle expiry slid forward.
  //   kUnauthenticated  empty, over-long or unknown token, revoked session, or its admin disabled
  //   kExpired          idle or absolute expiry passed
  Result<store::SessionRecord> resume(std::string_view token);

  // Revokes the session (sign-out). Unknown or already revoked tokens are fine (ok).
  Status end(std::string_view token);

  // Revokes every session of an admin (disabled, or "sign out everywhere"); returns how many.
  Result<std::int64_t> end_all_for_admin(std::string_view admin_id);

 private:
  store::Db& db_;
  const Clock& clock_;
  SessionPolicy policy_;
};

}  // namespace avow::domain
