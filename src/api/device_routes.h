// avow/api/device_routes.h — the device API (docs/device-api.md), served under /api/device/v1.
//
//   POST /api/device/v1/enroll                    a new device registers its P-256 key → 201 {"device_id"}
//   POST /api/device/v1/scan                      redeem a ScanCode (bind, then push the sign-in); the answer
//                                                 carries the binding's fallback-code secret. An admin code
//                                                 (dashboard sign-up, sign-in, invite) goes to
//                                                 domain::AdminAccessService::scan: 200 {"result":
//                                                 "admin_signup"|"admin_signin"|"admin_invite", "org", "admin",
//                                                 "email", "role"}; 403 not_an_admin; 409 signup_closed /
//                                                 admin_has_device
//   GET  /api/device/v1/challenges?wait=N         pending challenges; long-polls up to N ≤ 30 s
//   POST /api/device/v1/challenges/{id}/answer    approve / deny / fraud
//   GET  /api/device/v1/accounts                  the users this device is bound to, each with its binding's
//                                                 fallback-code secret (made now for a binding without one)
//
//   DeviceRouteDeps deps{.pool = &server.blocking_pool(), .database = db, .hub = &hub, .clock = &clock};
//   Status s = add_device_routes(server.router(), deps);
//
// Every call is a signed request (api/device_auth.h); a refusal is 401 {"error":"invalid_signature",
// "error_description":…}. Database work runs on the BlockingPool; a long-poll holds a timer, no thread.
// After a call changes state, the topics the domain names ("device:<id>", "challenge:<id>") are notified
// on the hub, so waiting pages and devices wake at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "api/device_auth.h"
#include "common/clock.h"
#include "common/result.h"
#include "crypto/sealed.h"
#include "domain/policy.h"
#include "events/hub.h"
#include "http/blocking_pool.h"
#include "http/router.h"
#include "store/database.h"

namespace avow::api {

inline constexpr std::string_view kDeviceApiBase = "/api/device/v1";
// The longest a GET /challenges may wait.
inline constexpr int kMaxChallengeWaitSeconds = 30;
inline constexpr std::size_t kMaxScanCodeChars = 256;

struct DeviceRouteDeps {
  http::BlockingPool* pool = nullptr;
  std::shared_ptr<store::Database> database;
  events::Hub* hub = nullptr;
  const Clock* clock = nullptr;
  // The sign-in rules (the same values the entra routes use).
  domain::ChallengePolicy challenge_policy;
  domain::ScanCodePolicy scan_code_policy;
  domain::LockoutPolicy lockout_policy;
  // Seals the bindings' fallback-code secrets; null: no secrets are made or delivered.
  const crypto::MasterKey* master_key = nullptr;
  domain::CodePolicy code_policy;
  // Dashboard sign-up by anyone (multi-tenant); else only the first org is created by sign-up
  // (domain::AdminAccessOptions::open_signup).
  bool open_signup = false;
  // Accepted clock difference of a request's `iat`, each way.
  std::int64_t iat_window_seconds = kDefaultIatWindowSeconds;
  // Parsed device keys kept in memory (one entry per recently active device).
  std::size_t key_cache_capacity = 4096;
  // A device's last_seen_at is written at most this often (not on every call or long-poll).
  std::chrono::seconds touch_interval{60};
};

// Registers the routes above. The pointers must outlive the router. kInvalidArgument when a required
// dependency (pool, database, hub, clock) is missing; otherwise fails only on a router error (a bug).
Status add_device_routes(http::Router& router, DeviceRouteDeps deps);

}  // namespace avow::api
