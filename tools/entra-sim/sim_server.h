// tools/entra-sim/sim_server.h — the simulator's HTTP face: Microsoft's keys, a test minting door, the
// form_post receiver that judges a provider's answer the way Entra does, and a small demo page.
//
//   auto ctx = std::make_shared<SimContext>(SimContext{.tenant = *tenant, .fetcher = …, .pool =
//   &server.blocking_pool()}); AVOW_TRY(add_sim_routes(server.router(), ctx)); Endpoint at = *server.start();
//   ctx->base_url = "http://127.0.0.1:" + std::to_string(at.port);   // before server.run()
//
// Routes:
//   GET  /common/discovery/v2.0/keys        Microsoft's JWKS (what avowd's entra.keys_url points to)
//   GET  /{tenant}/discovery/v2.0/keys      the same, per-tenant spelling
//   POST /mint          loopback only; JSON HintSpec → {"hint"}
//   POST /flows         loopback only; JSON → a remembered sign-in: {"state","nonce","sub","hint",
//                       "redirect_uri","fields","body"} (body = the urlencoded authorize form)
//   POST /federation/externalauthprovider   the form_post receiver (also /federation/OAuth2ClaimsProvider):
//                       judges the answer for its `state` and shows the verdict
//   GET  /results/{state}                   the verdict as JSON (receiver.h to_json), 404 until posted
//   GET  /              the demo page (a clearly labelled "Microsoft sign-in" look-alike)
//   POST /start         the demo page's form: mints a hint, remembers the sign-in, reads the provider's
//                       discovery document and auto-submits the authorize form to its authorization_endpoint
//   GET  /healthz
#pragma once

#include <utility>  // before Asio: asio#944

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "entra/microsoft_keys.h"
#include "http/blocking_pool.h"
#include "http/router.h"
#include "tools/entra-sim/microsoft.h"
#include "tools/entra-sim/receiver.h"

namespace avow::entra_sim {

inline constexpr std::string_view kReceiverPath = "/federation/externalauthprovider";
inline constexpr std::string_view kCustomControlReceiverPath = "/federation/OAuth2ClaimsProvider";
inline constexpr std::string_view kKeysPath = "/common/discovery/v2.0/keys";

struct SimContext {
  Tenant tenant;
  std::shared_ptr<SignInLedger> ledger = std::make_shared<SignInLedger>();
  std::shared_ptr<entra::KeyFetcher> fetcher;  // reads providers' discovery documents and JWKS (blocking)
  http::BlockingPool* pool = nullptr;
  const Clock* clock = &SystemClock::instance();
  // scheme://host:port of this simulator, without a trailing slash. Set after binding, before serving.
  std::string base_url;

  std::string redirect_uri() const { return base_url + std::string(kReceiverPath); }
  std::string keys_url() const { return base_url + std::string(kKeysPath); }
};

// Registers the routes above. `ctx` is shared by the handlers; `ctx->pool` must outlive the router.
// Fails only on a router error (a bug).
Status add_sim_routes(http::Router& router, std::shared_ptr<SimContext> ctx);

// A HintSpec from JSON: directory_id and aud required; tid defaults to directory_id, oid to a fresh GUID;
// optional sub, name, username, version (1|2), iat, kid, iss. kInvalidArgument naming the bad member.
Result<HintSpec> hint_spec_from_json(const nlohmann::json& j);

// A sign-in as Entra starts it: the hint, the authorize form, and what the receiver must later expect.
struct StartedSignIn {
  PendingSignIn pending;
  std::string hint;
  FormFields form;
};

// Builds a sign-in from JSON: discovery_url, client_id, directory_id required; app_id (the hint's aud,
// default client_id), the HintSpec members, flavor ("eam" | "custom_control"), claim_type, claim_value,
// state, nonce (random when absent), redirect_uri (default `default_redirect_uri`), hint (used as given
// instead of minting one; then sub is required). kInvalidArgument naming the bad member.
Result<StartedSignIn> start_sign_in(const nlohmann::json& request, const Tenant& tenant,
                                    std::string_view default_redirect_uri, std::int64_t now);

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
bool is_loopback_address(std::string_view ip);

}  // namespace avow::entra_sim
