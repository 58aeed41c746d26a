// avow/entra/routes.h — the HTTP endpoints Entra and the user's browser call, one set per integration.
//
// Every URL is under the integration's issuer, `<public_url>/entra/<client_id>`:
//
//   GET  /entra/{client_id}/.well-known/openid-configuration   discovery document (404 JSON: unknown client)
//   GET  /entra/{client_id}/jwks                               Avow's signing keys (the key ring's JWKS)
//   GET  /entra/{client_id}/authorize                          200 "Avow MFA endpoint" (Entra probes it)
//   POST /entra/{client_id}/authorize                          Entra's browser POST: validate, start, MFA page
//   GET  /entra/{client_id}/flow/{challenge_id}/wait?seen=V    the MFA page's long-poll (JSON, ≤ long_poll):
//        answers at once when the sign-in is decided or its view (web::FlowView::view_token) differs from
//        V, else when notified, at the long-poll limit or at expiry. A ScanCode's url/svg are sent only when
//        new (the server keeps only its hash): "" means keep showing yours. A V of another ScanCode gets a
//        fresh code; an empty V never changes the code.
//   POST /entra/{client_id}/flow/{challenge_id}/code           a fallback code typed on the page (form field
//        `code`; JSON answer): 200 {"result":"approved"} — then finish; 200 {"result":"refused",
//        "message","closed"} — one message for every refusal (a refusal is an answer, not a failed request),
//        `closed` when no more codes are taken; 409 {"error":"not_pending"} — decided meanwhile: finish
//   POST /entra/{client_id}/flow/{challenge_id}/finish         ends the sign-in once: form_post to Entra
//   GET  /s/{code}                                             the ScanCode URL opened in a browser
//
// The authorize POST, in order: bounded form → integration by client_id (unknown/deleted/disabled: 400 JSON)
// and its org's settings (domain/settings.h: challenge lifetime, number width, lockouts, push limit, applied
// over the server's policies) → parse_authorize_request (400 JSON) → Microsoft's keys (unreachable: 503
// page) → validate_hint, refreshing the key set once on an unknown kid (400 JSON) → the hint + nonce are
// used once (replay: 400 JSON) → SignInService::begin (guest refused / user locked / too many sign-ins
// this hour: form_post access_denied) → notify devices, set the flow cookie, answer the MFA page. A
// malformed request is never answered by posting anywhere.
//
// A deleted integration (IntegrationRecord::deleted_at) is an unknown client_id everywhere: discovery,
// JWKS and authorize answer exactly as for a client_id that never existed.
//
// The flow cookie (`avow_flow`, HttpOnly, SameSite=Strict, Secure over https, Path = the flow's URLs) holds
// a 256-bit secret; only its SHA-256 is stored with the challenge. wait, code and finish require it (403
// otherwise); code and finish also refuse a cross-origin POST.
//
//   auto public_url = std::make_shared<PublicUrl>();
//   EntraRouteDeps deps{.pool = &server.blocking_pool(), .database = db, .hub = &hub, .key_ring = ring,
//                       .microsoft_keys = &ms_keys, .clock = &SystemClock::instance(), .public_url = public_url};
//   AVOW_TRY(add_entra_routes(server.router(), deps));
//   … server.start() …                                  // the port is known now
//   AVOW_TRY(public_url->set("https://mfa.example.com"));
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/keyring.h"
#include "crypto/sealed.h"
#include "domain/policy.h"
#include "entra/microsoft_keys.h"
#include "events/hub.h"
#include "http/blocking_pool.h"
#include "http/router.h"
#include "push/sender.h"
#include "store/database.h"

namespace avow::entra {

// How long things last in a flow. Defaults fit Entra's ~5-minute patience.
struct EntraFlowTiming {
  domain::ChallengePolicy challenges;  // challenge lifetime, number matching
  domain::ScanCodePolicy scan_codes;   // bind_user ScanCode lifetime
  domain::LockoutPolicy lockout;
  domain::CodePolicy codes;                           // fallback codes typed on the page
  int max_pushes_per_hour = 20;                       // per user, unless the org's settings say otherwise
  std::chrono::seconds long_poll{25};                 // longest a wait request is held open
  std::chrono::seconds scan_code_refresh_before{30};  // re-issue a ScanCode this long before it expires
  std::chrono::seconds id_token_lifetime{300};
  std::chrono::seconds hint_max_age{10 * 60};  // hint age bound, by `iat`
  std::chrono::seconds hint_clock_skew{5 * 60};
};

// The server's external base URL (scheme://host[:port][/path], no trailing '/'): the issuer, the ScanCode
// URLs, the cookie's Secure flag and the same-origin check derive from it. Routes are registered before the
// server binds its port, and with `--listen …:0` the URL is only known afterwards — so it is set here,
// any time before the first request. Thread-safe.
class PublicUrl {
 public:
  PublicUrl() = default;
  PublicUrl(const PublicUrl&) = delete;
  PublicUrl& operator=(const PublicUrl&) = delete;

  // kInvalidArgument (nothing changes) unless `url` is an absolute http(s) URL with a host and without a
  // trailing '/', query or fragment.
  Status set(std::string url);
  // The URL, or "" while unset (the routes then answer 503).
  std::string get() const;

 private:
  std::atomic<std::shared_ptr<const std::string>> url_;
};

// scheme://authority of an absolute URL, scheme and host lowercased (as browsers send Origin).
std::string url_origin(std::string_view url);

// The path part of a public URL ("" or e.g. "/avow"): the prefix of every URL the browser sees.
std::string url_base_path(std::string_view public_url);

struct EntraRouteDeps {
  http::BlockingPool* pool = nullptr;
  std::shared_ptr<store::Database> database;
  events::Hub* hub = nullptr;
  push::Dispatcher* push = nullptr;  // wakes the user's devices (built-in channel, APNs/FCM when configured)
  const crypto::KeyRing* key_ring = nullptr;
  // Opens the bindings' fallback-code secrets; null: the page offers no code.
  const crypto::MasterKey* master_key = nullptr;
  MicrosoftKeys* microsoft_keys = nullptr;
  const Clock* clock = nullptr;
  std::shared_ptr<PublicUrl> public_url;
  // One more redirect URI accepted as EAM — the Entra simulator's. Set only by `avowd serve --dev`.
  std::string dev_redirect_uri;
  // Replaces every cloud's Microsoft key URL (tests point it at the simulator's JWKS). Empty: the cloud's.
  std::string keys_url;
  EntraFlowTiming timing;
};

// Registers the routes above. Every pointer must outlive the router. kInvalidArgument when a dependency
// is missing; router errors otherwise.
Status add_entra_routes(http::Router& router, EntraRouteDeps deps);

// The flow cookie's name.
inline constexpr char kFlowCookie[] = "avow_flow";

// Largest authorize POST body accepted (Entra's is about 3 KB).
inline constexpr std::size_t kMaxAuthorizeBodyBytes = 32 * 1024;

// Largest fallback-code POST body accepted (`code=123456`).
inline constexpr std::size_t kMaxCodeBodyBytes = 1024;

// The error_description posted to Entra when a user started too many sign-ins this hour.
inline constexpr char kRateLimitedDescription[] = "Too many sign-in requests. Try again in a while.";

// What the page says when a fallback code is refused, whatever the reason; and when no more codes are taken.
inline constexpr char kCodeRefusedMessage[] = "That code didn't work.";
inline constexpr char kCodeClosedMessage[] =
    "That code didn't work. Codes can't be used for this sign-in any more: answer in the Avow app instead.";

}  // namespace avow::entra
