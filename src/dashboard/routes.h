// avow/dashboard/routes.h — the admin dashboard, served under /dashboard (docs/dashboard.md lists every page).
//
// Server-rendered pages (dashboard/pages.h) over the domain services: passwordless sign-up and sign-in
// (ScanCode or push with number matching, domain/admin_access.h), invites, integrations, users, devices,
// admins, the audit log and the org's settings.
//
// Security, on every route:
//   - Sessions are server-side (domain/sessions.h): cookie `avow_session` (HttpOnly, SameSite=Lax, Path=/dashboard,
//     Secure when the public URL is https), idle and absolute expiry, a fresh token at every sign-in (never one
//     the browser brought: no session fixation), sign-out and sign-out everywhere.
//   - Before sign-in the browser holds `avow_pre`, a random secret; what it starts (a ScanCode, a push) is bound to
//     the secret's SHA-256, so only that browser can turn the phone's answer into a session.
//   - Every POST carries a CSRF token (field `csrf`): HMAC-SHA256 of the session's CSRF secret (before sign-in,
//     of the pre-auth secret), compared in constant time. A wrong or missing token is 403.
//   - Every object is looked up within the signed-in admin's org: another org's id is 404, like an unknown one.
//   - Dangerous actions (delete an integration, reset a user's device, revoke a device, invite or remove an admin)
//     need a push approved on the admin's own phone within kReauthWindow; otherwise they redirect to /dashboard/reauth.
//   - Pages carry a nonce'd CSP with frame-ancestors 'none', X-Frame-Options DENY, Referrer-Policy no-referrer and
//     Cache-Control no-store; every value from a user, an admin, Entra or a device is escaped by the templates.
//
//   DashboardDeps deps{.pool = …, .database = db, .hub = &hub, .clock = &clock, .public_url = url, …};
//   Status s = add_dashboard_routes(server.router(), deps);
#pragma once

#include <chrono>
#include <memory>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/sealed.h"
#include "domain/policy.h"
#include "domain/settings.h"
#include "entra/routes.h"
#include "events/hub.h"
#include "http/blocking_pool.h"
#include "http/router.h"
#include "push/sender.h"
#include "store/database.h"

namespace avow::dashboard {

inline constexpr char kSessionCookie[] = "avow_session";
inline constexpr char kPreAuthCookie[] = "avow_pre";
// How recent a push approval must be for a dangerous action.
inline constexpr std::chrono::seconds kReauthWindow{5 * 60};

struct DashboardDeps {
  http::BlockingPool* pool = nullptr;
  std::shared_ptr<store::Database> database;
  events::Hub* hub = nullptr;
  push::Dispatcher* push = nullptr;  // wakes the admin's device for a push sign-in (may be null)
  const Clock* clock = nullptr;
  std::shared_ptr<entra::PublicUrl> public_url;
  bool open_signup = false;  // dashboard.open_signup: anyone may create an org (multi-tenant)
  domain::SessionPolicy sessions;
  domain::ScanCodePolicy scan_codes;
  domain::SignInPolicies sign_in;  // the server's policies: the defaults of an org's settings
  std::chrono::seconds long_poll{25};
};

// Registers the routes. Every pointer must outlive the router. kInvalidArgument when a dependency is missing.
Status add_dashboard_routes(http::Router& router, DashboardDeps deps);

}  // namespace avow::dashboard
