#include <utility>  // before Asio: asio#944

#include "entra/routes.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/random.h"
#include "crypto/hash.h"
#include "domain/settings.h"
#include "domain/sign_in.h"
#include "entra/authorize_request.h"
#include "entra/cloud.h"
#include "entra/hint.h"
#include "entra/provider.h"
#include "store/repositories.h"
#include "web/form.h"
#include "web/pages.h"
#include "web/qr.h"

namespace avow::entra {
namespace {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using nlohmann::json;
using Deps = std::shared_ptr<const EntraRouteDeps>;

constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr std::size_t kMaxSeenBytes = 64;
constexpr std::size_t kMaxDescriptionBytes = 200;
// The authentication method a device approval stands for (RFC 8176: software-secured key).
constexpr std::string_view kDeviceMethod = "swk";
constexpr std::string_view kQrLabel = "ScanCode: scan with the Avow app";

// ---- small helpers -------------------------------------------------------------------------------------

bool is_https(std::string_view url) { return url.substr(0, 8) == "https://"; }

std::string flow_path(std::string_view public_url, std::string_view client_id, std::string_view challenge_id) {
  return url_base_path(public_url) + "/entra/" + std::string(client_id) + "/flow/" + std::string(challenge_id);
}

std::string secret_hash(std::string_view secret) { return crypto::hex_encode(crypto::sha256(secret)); }

std::string bounded(std::string_view text, std::size_t max) {
  return std::string(text.substr(0, std::min(text.size(), max)));
}

Response invalid_request(std::string_view description) {
  return Response::json(400, {{"error", "invalid_request"}, {"error_description", bounded(description, 512)}});
}

Response json_error(int status, std::string_view error, std::string_view description) {
  return Response::json(status, {{"error", error}, {"error_description", description}});
}

Response message_page(int status, std::string title, std::string message) {
  web::MessagePageView v{std::move(title), std::move(message), web::new_csp_nonce()};
  Result<std::string> page = web::render_message_page(v);
  if (!page) {
    log::error("page rendering failed", {{"error", page.error().message}});
    return Response::text(500, "internal error");
  }
  Response r = Response::text(status, std::move(*page), kHtml);
  r.set_header("Content-Security-Policy", web::page_csp(v.csp_nonce, /*with_script=*/false));
  return r;
}

Response unavailable_page() {
  return message_page(503, "Sign-in unavailable",
                      "Avow cannot verify this sign-in right now. Please try again in a few minutes.");
}

// The auto-submitting answer to Entra. Its CSP lets the one script run. No form-action: Chrome applies it
// to the redirects that follow the POST too, and Entra answers it with a redirect to the user's app.
Response form_post(const AuthorizeRequest& req, const std::vector<std::pair<std::string, std::string>>& fields) {
  const std::string nonce = web::new_csp_nonce();
  Response r = Response::text(200, form_post_page(req.redirect_uri, fields, nonce), kHtml);
  r.set_header("Content-Security-Policy",
               "default-src 'none'; script-src 'nonce-" + nonce + "'; frame-ancestors 'none'");
  return r;
}

Response access_denied(const AuthorizeRequest& req, std::string_view description) {
  return form_post(req, error_fields(req, "access_denied", bounded(description, kMaxDescriptionBytes)));
}

Response temporarily_unavailable(const AuthorizeRequest& req) {
  return form_post(req, error_fields(req, "temporarily_unavailable", "Avow could not complete the sign-in"));
}

// ---- what the challenge keeps of the request ------------------------------------------------------------

// The flavour-specific parameters, stored opaquely with the challenge (SignInRequest.response_params) so
// finish can build the answer: {"acr":[…],"amr":[…],"claim":{"type","value"}|null,"has_state":bool}.
std::string response_params(const AuthorizeRequest& req) {
  json j = {{"acr", req.acr_values}, {"amr", req.amr_values}, {"claim", nullptr}, {"has_state", req.state.has_value()}};
  if (req.custom_claim) j["claim"] = {{"type", req.custom_claim->type}, {"value", req.custom_claim->value}};
  return j.dump();
}

// The request as finish needs it, from the challenge and its stored parameters. The redirect URI and
// state are always recovered, so even a failure here can be answered at the redirect URI.
AuthorizeRequest stored_request(const store::ChallengeRecord& c, std::string_view params, bool* complete) {
  AuthorizeRequest req;
  req.flavor = c.kind == store::ChallengeKind::kCustomControl ? Flavor::kCustomControl : Flavor::kEam;
  req.client_id = c.client_id;
  req.redirect_uri = c.redirect_uri;
  req.nonce = c.nonce;
  req.state = c.state_param;
  *complete = false;
  const json j = json::parse(params, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return req;
  try {
    if (!j.value("has_state", true) && c.state_param.empty()) req.state.reset();
    req.acr_values = j.at("acr").get<std::vector<std::string>>();
    req.amr_values = j.at("amr").get<std::vector<std::string>>();
    if (j.at("claim").is_object())
      req.custom_claim =
          RequestedClaim{j["claim"].at("type").get<std::string>(), j["claim"].at("value").get<std::string>()};
  } catch (const json::exception&) {
    return req;
  }
  *complete = req.flavor == Flavor::kEam || req.custom_claim.has_value();
  return req;
}

std::string denial_description(store::ChallengeState state) {
  switch (state) {
    case store::ChallengeState::kDenied:
      return "The user denied the sign-in in the Avow app.";
    case store::ChallengeState::kExpired:
      return "The sign-in was not answered in time.";
    case store::ChallengeState::kCancelled:
      return "The sign-in was replaced by a newer one.";
    default:
      return "The sign-in was not approved.";
  }
}

// ---- the flow as the page sees it -----------------------------------------------------------------------

// The server-wide policies: what an org without saved settings signs in under.
domain::SignInPolicies server_policies(const EntraRouteDeps& d) {
  domain::SignInPolicies p;
  p.challenges = d.timing.challenges;
  p.lockout = d.timing.lockout;
  p.codes = d.timing.codes;
  p.max_pushes_per_hour = d.timing.max_pushes_per_hour;
  return p;
}

domain::SignInService sign_in_service(store::Db& db, const EntraRouteDeps& d, const domain::SignInPolicies& p) {
  domain::SignInService s(db, *d.clock, p.challenges, d.timing.scan_codes, p.lockout, {d.master_key, p.codes});
  s.set_max_pushes_per_hour(p.max_pushes_per_hour);
  return s;
}

// Under the server's policies: for the steps that do not depend on an org's settings.
domain::SignInService sign_in_service(store::Db& db, const EntraRouteDeps& d) {
  return sign_in_service(db, d, server_policies(d));
}

// The policies the sign-ins of `org_id` run under: the server's with the org's saved settings applied.
Result<domain::SignInPolicies> org_policies(store::Db& db, const EntraRouteDeps& d, std::string_view org_id) {
  const domain::SignInPolicies server = server_policies(d);
  Result<store::OrgSettingsRecord> settings = domain::SettingsService(db, *d.clock).get(org_id, server);
  if (!settings) return tl::unexpected(settings.error());
  return domain::policies_for(*settings, server);
}

Result<web::ScanCodeView> scan_code_view(std::string_view public_url, std::string_view code, std::int64_t expires_at) {
  web::ScanCodeView v;
  v.url = std::string(public_url) + "/s/" + std::string(code);
  Result<std::string> svg = web::qr_svg(v.url, kQrLabel);
  if (!svg) return tl::unexpected(svg.error());
  v.svg = std::move(*svg);
  v.expires_at = expires_at;
  return v;
}

// Reads the sign-in for its page, which shows `seen` (FlowView::view_token), re-issuing the ScanCode when it
// is about to expire. Errors of SignInService::status / current_scan_code; kNotFound also when the
// challenge is another client's.
Result<web::FlowView> read_flow(const EntraRouteDeps& d, const std::string& client_id, const std::string& challenge_id,
                                const std::string& hash, const std::string& seen) {
  const std::string public_url = d.public_url->get();
  if (public_url.empty()) return fail(ErrorCode::kUnavailable, "public_url is not set yet");
  Result<store::Connection> conn = d.database->connection();
  if (!conn) return tl::unexpected(conn.error());
  domain::SignInService flows = sign_in_service(**conn, d);
  Result<store::ChallengeRecord> c = flows.status(challenge_id, hash);
  if (!c) return tl::unexpected(c.error());
  if (c->client_id != client_id) return fail(ErrorCode::kNotFound, "no such sign-in");
  web::FlowView v;
  v.state = std::string(store::to_string(c->state));
  v.number = c->number;
  v.expires_in = std::max<std::int64_t>(0, c->expires_at - d.clock->unix_now());
  if (c->state != store::ChallengeState::kPending) return v;

  auto code = flows.current_scan_code(challenge_id, hash, d.timing.scan_code_refresh_before.count());
  if (!code) return tl::unexpected(code.error());
  // An empty code means "keep showing yours" — only its hash is stored. A page that shows something else
  // (an answer lost on the way) gets a fresh one instead; an empty `seen` (a client that does not track
  // views) never withdraws the code.
  if (*code && (*code)->first.empty() && !seen.empty() && seen != "scan:" + std::to_string((*code)->second)) {
    code = flows.current_scan_code(challenge_id, hash, d.timing.scan_codes.bind_user_ttl.count() + 1);
    if (!code) return tl::unexpected(code.error());
  }
  if (*code) {
    if ((*code)->first.empty()) {
      v.scan_code = web::ScanCodeView{"", "", (*code)->second};
    } else {
      Result<web::ScanCodeView> sc = scan_code_view(public_url, (*code)->first, (*code)->second);
      if (!sc) return tl::unexpected(sc.error());
      v.scan_code = std::move(*sc);
    }
  }
  return v;
}

// ---- POST /authorize ------------------------------------------------------------------------------------

struct AuthorizeInput {
  std::string client_id;
  std::string body;
  std::string ip;
  std::string user_agent;
};

// The whole authorize POST, run on a blocking-pool thread (database, key fetch, RSA verify).
Response authorize_blocking(const EntraRouteDeps& d, const AuthorizeInput& in) {
  const std::string public_url = d.public_url->get();
  if (public_url.empty()) {
    log::error("entra authorize: public_url is not set");
    return unavailable_page();
  }
  Result<web::FormFields> form = web::parse_form(in.body, {.max_body_bytes = kMaxAuthorizeBodyBytes});
  if (!form) return invalid_request(form.error().message);

  store::IntegrationRecord integration;
  domain::SignInPolicies policies;
  {
    Result<store::Connection> conn = d.database->connection();
    if (!conn) {
      log::error("entra authorize: database unavailable", {{"error", conn.error().message}});
      return unavailable_page();
    }
    auto found = store::IntegrationRepo(**conn).find_by_client_id(in.client_id);
    if (!found) {
      log::error("entra authorize: integration lookup failed", {{"error", found.error().message}});
      return unavailable_page();
    }
    if (!*found || (*found)->deleted_at) return invalid_request("unknown client_id");
    integration = std::move(**found);
    Result<domain::SignInPolicies> p = org_policies(**conn, d, integration.org_id);
    if (!p) {
      log::error("entra authorize: org settings lookup failed",
                 {{"integration_id", integration.id}, {"error", p.error().message}});
      return unavailable_page();
    }
    policies = *p;
  }
  if (integration.status != store::IntegrationStatus::kEnabled) return invalid_request("this integration is disabled");

  Result<AuthorizeRequest> req = parse_authorize_request(*form, integration.cloud, d.dev_redirect_uri);
  if (!req) return invalid_request(req.error().message);
  if (req->client_id != integration.client_id) return invalid_request("client_id does not match the endpoint");
  if (req->custom_claim &&
      (req->custom_claim->type != integration.claim_type || req->custom_claim->value != integration.claim_value))
    return invalid_request("claims: this integration answers " + integration.claim_type + " = " +
                           integration.claim_value + "; update the custom control's ClaimsRequested");
  if (Result<std::pair<std::string, std::string>> pair = choose_acr_amr(*req, kDeviceMethod); !pair)
    return invalid_request("claims: " + pair.error().message);

  // Microsoft's keys: cached, fetched when absent, refreshed once when the hint names an unknown kid.
  const std::string keys_url = d.keys_url.empty() ? std::string(profile(integration.cloud).keys_url) : d.keys_url;
  Result<std::shared_ptr<const crypto::Jwks>> keys = d.microsoft_keys->get(keys_url);
  if (!keys) {
    log::error("entra authorize: Microsoft signing keys unavailable",
               {{"keys_url", keys_url}, {"integration_id", integration.id}, {"error", keys.error().message}});
    return unavailable_page();
  }
  HintPolicy policy;
  policy.cloud = integration.cloud;
  policy.directory_id = integration.directory_id;
  if (integration.app_id) policy.audiences.push_back(*integration.app_id);
  policy.audiences.push_back(integration.client_id);
  policy.max_age = d.timing.hint_max_age;
  policy.clock_skew = d.timing.hint_clock_skew;
  Result<HintClaims> hint = validate_hint(req->id_token_hint, **keys, policy, *d.clock);
  if (!hint && hint.error().code == ErrorCode::kNotFound) {
    keys = d.microsoft_keys->refresh_for_unknown_kid(keys_url);
    if (!keys) {
      log::error("entra authorize: Microsoft signing keys unavailable",
                 {{"keys_url", keys_url}, {"integration_id", integration.id}, {"error", keys.error().message}});
      return unavailable_page();
    }
    hint = validate_hint(req->id_token_hint, **keys, policy, *d.clock);
  }
  if (!hint) {
    log::warn(
        "entra authorize: hint refused",
        {{"integration_id", integration.id}, {"code", to_string(hint.error().code)}, {"error", hint.error().message}});
    return invalid_request("id_token_hint: " + hint.error().message);
  }

  Result<store::Connection> conn = d.database->connection();
  if (!conn) {
    log::error("entra authorize: database unavailable", {{"error", conn.error().message}});
    return temporarily_unavailable(*req);
  }
  // A hint + nonce pair is accepted once, for as long as the hint itself could be accepted.
  const std::int64_t now = d.clock->unix_now();
  const std::int64_t replay_until =
      std::max(now, hint->issued_at) + d.timing.hint_max_age.count() + d.timing.hint_clock_skew.count();
  const std::string hint_key = crypto::hex_encode(crypto::sha256(req->id_token_hint)) + req->nonce;

  const std::string flow_secret = random_token(32);
  domain::SignInRequest sr;
  sr.integration_id = integration.id;
  sr.identity = {hint->tenant_id, hint->object_id, hint->username, hint->name};
  sr.kind = req->flavor == Flavor::kCustomControl ? store::ChallengeKind::kCustomControl : store::ChallengeKind::kEam;
  sr.context.ip = in.ip;
  sr.context.user_agent = in.user_agent;
  sr.nonce = req->nonce;
  sr.state_param = req->state.value_or("");
  sr.redirect_uri = req->redirect_uri;
  sr.client_id = req->client_id;
  sr.hint_sub = hint->subject;
  sr.response_params = response_params(*req);
  sr.flow_secret_hash = secret_hash(flow_secret);
  // The replay record and the sign-in share one transaction (one commit instead of two). A refused
  // sign-in still commits both (the refusal's audit event is the domain's to keep); only a database
  // failure rolls the hint back with the rest, so Entra's retry of the same hint is not taken for a replay.
  std::optional<Result<domain::SignInStart>> started;
  bool replayed = false;
  bool replay_check_failed = false;
  Status recorded = (*conn)->transaction([&](store::Db& tx) -> Status {
    started.reset();
    replayed = false;
    replay_check_failed = false;
    Result<bool> first_use = store::UsedHintRepo(tx).record_once(hint_key, hint->issued_at, replay_until);
    if (!first_use) {
      replay_check_failed = true;
      return tl::unexpected(first_use.error());
    }
    if (!*first_use) {
      replayed = true;
      return ok();
    }
    started.emplace(sign_in_service(tx, d, policies).begin(sr));
    if (!*started &&
        (started->error().code == ErrorCode::kUnavailable || started->error().code == ErrorCode::kInternal))
      return tl::unexpected(started->error());
    return ok();
  });
  if (!recorded && (replay_check_failed || !started)) {
    log::error("entra authorize: replay check failed", {{"error", recorded.error().message}});
    return temporarily_unavailable(*req);
  }
  if (replayed) {
    log::warn("entra authorize: hint replayed", {{"integration_id", integration.id}});
    return invalid_request("id_token_hint was already used");
  }
  Result<domain::SignInStart> start = recorded ? std::move(*started) : tl::unexpected(recorded.error());
  if (!start) {
    const Error& e = start.error();
    log::warn("entra authorize: sign-in refused",
              {{"integration_id", integration.id}, {"code", to_string(e.code)}, {"error", e.message}});
    switch (e.code) {
      case ErrorCode::kPermissionDenied:
        return access_denied(*req, e.message);
      case ErrorCode::kExhausted:
        return access_denied(*req, kRateLimitedDescription);
      case ErrorCode::kInvalidArgument:
        return invalid_request(e.message);
      case ErrorCode::kNotFound:
        return invalid_request("unknown client_id");
      default:
        return temporarily_unavailable(*req);
    }
  }
  for (const std::string& topic : start->notify)
    if (!topic.starts_with("device:")) d.hub->notify(topic);  // devices hear through their push channels
  for (const store::DeviceRecord& device : start->devices)
    d.push->send({.device_id = device.id,
                  .platform = device.push_platform,
                  .token = device.push_token,
                  .challenge_id = start->challenge.id});

  web::FlowView flow;
  flow.state = std::string(store::to_string(start->challenge.state));
  flow.number = start->challenge.number;
  flow.expires_in = std::max<std::int64_t>(0, start->challenge.expires_at - now);
  if (start->scan_code) {
    Result<web::ScanCodeView> sc = scan_code_view(public_url, *start->scan_code, start->scan_code_expires_at);
    if (!sc) {
      log::error("entra authorize: QR rendering failed", {{"error", sc.error().message}});
      return temporarily_unavailable(*req);
    }
    flow.scan_code = std::move(*sc);
  }
  const std::string path = flow_path(public_url, in.client_id, start->challenge.id);
  web::MfaPageView page;
  page.org_name = start->org_name;
  page.integration_name = start->integration_name;
  page.user_label = !start->user.upn.empty()            ? start->user.upn
                    : !start->user.display_name.empty() ? start->user.display_name
                                                        : hint->username;
  page.flow = std::move(flow);
  page.wait_url = path + "/wait";
  page.finish_url = path + "/finish";
  page.code_url = path + "/code";
  page.codes_open = start->codes_open;
  page.csp_nonce = web::new_csp_nonce();
  Result<std::string> html = web::render_mfa_page(page);
  if (!html) {
    log::error("entra authorize: page rendering failed", {{"error", html.error().message}});
    return temporarily_unavailable(*req);
  }
  log::info("entra sign-in started", {{"integration_id", integration.id},
                                      {"challenge_id", start->challenge.id},
                                      {"user_id", start->user.id},
                                      {"flavor", req->flavor == Flavor::kEam ? "eam" : "custom_control"},
                                      {"guest", hint->is_guest},
                                      {"bound", !start->scan_code.has_value()}});

  Response r = Response::text(200, std::move(*html), kHtml);
  r.set_header("Content-Security-Policy", web::page_csp(page.csp_nonce, /*with_script=*/true));
  // The finish form posts back here: with no-referrer, Chrome sends `Origin: null`, which finish refuses.
  r.set_header("Referrer-Policy", "same-origin");
  const std::int64_t max_age = std::max<std::int64_t>(60, start->challenge.expires_at - now + 60);
  std::string cookie = std::string(kFlowCookie) + "=" + flow_secret + "; Path=" + path +
                       "; Max-Age=" + std::to_string(max_age) + "; HttpOnly; SameSite=Strict";
  if (is_https(public_url)) cookie += "; Secure";
  r.set_header("Set-Cookie", std::move(cookie));
  return r;
}

asio::awaitable<Response> authorize_post(Request req, Deps d) {
  AuthorizeInput in;
  in.client_id = std::string(req.param("client_id").value_or(""));
  in.body = std::move(req.body);
  in.ip = req.remote_address;
  in.user_agent = bounded(req.header("user-agent").value_or(""), 512);
  auto work = [d, in = std::move(in)]() { return authorize_blocking(*d, in); };
  Response r = co_await d->pool->run(std::move(work));
  co_return r;
}

// ---- GET /flow/{id}/wait --------------------------------------------------------------------------------

std::optional<std::string> flow_secret(const Request& req) {
  std::optional<std::string_view> v = web::cookie_value(req.header("cookie").value_or(""), kFlowCookie);
  if (!v || v->empty() || v->size() > 128) return std::nullopt;
  return std::string(*v);
}

Response flow_error(const Error& e) {
  switch (e.code) {
    case ErrorCode::kNotFound:
      return json_error(404, "not_found", "no such sign-in");
    case ErrorCode::kPermissionDenied:
      return json_error(403, "forbidden", "this browser window does not hold the sign-in");
    default:
      log::error("entra flow: read failed", {{"code", to_string(e.code)}, {"error", e.message}});
      return json_error(503, "unavailable", "try again");
  }
}

// Subscribe first, then read: a change between the two still wakes the wait. Answers as soon as the
// sign-in is decided or what the page shows (`seen`) is out of date; otherwise holds the request until a
// notification, the long-poll limit, or the sign-in's expiry (so the page learns of it promptly).
asio::awaitable<Response> flow_wait(Request req, Deps d) {
  const std::string client_id(req.param("client_id").value_or(""));
  const std::string challenge_id(req.param("challenge_id").value_or(""));
  const std::optional<std::string> secret = flow_secret(req);
  if (!secret) co_return json_error(403, "forbidden", "the flow cookie is missing");
  const std::string hash = secret_hash(*secret);
  const std::string seen = bounded(req.query_param("seen").value_or(""), kMaxSeenBytes);

  events::Subscription sub = co_await d->hub->subscribe("challenge:" + challenge_id);
  const auto deadline = std::chrono::steady_clock::now() + d->timing.long_poll;
  for (;;) {
    auto read = [d, client_id, challenge_id, hash, seen]() {
      return read_flow(*d, client_id, challenge_id, hash, seen);
    };
    Result<web::FlowView> flow = co_await d->pool->run(std::move(read));
    if (!flow) co_return flow_error(flow.error());
    const auto now = std::chrono::steady_clock::now();
    if (flow->state != "pending" || flow->view_token() != seen || now >= deadline)
      co_return Response::json(200, web::to_json(*flow));
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    // Wake just after the sign-in expires, so the page can finish without waiting out the long poll.
    wait = std::min(wait, std::chrono::milliseconds((flow->expires_in + 1) * 1000));
    co_await sub.wait(wait);
  }
}

// ---- POST /flow/{id}/code -------------------------------------------------------------------------------

// The typed code as the domain takes it: spaces and dashes people type between digit groups are dropped;
// anything else is passed on (and refused there like any wrong code).
std::string typed_code(std::string_view body) {
  web::FormLimits limits;
  limits.max_body_bytes = kMaxCodeBodyBytes;
  limits.max_fields = 8;
  Result<web::FormFields> form = web::parse_form(body, limits);
  if (!form) return {};
  for (const auto& [name, value] : *form) {
    if (name != "code") continue;
    std::string out;
    for (char ch : value)
      if (ch != ' ' && ch != '-' && ch != '\t') out.push_back(ch);
    return out;
  }
  return {};
}

Response code_blocking(const EntraRouteDeps& d, const std::string& client_id, const std::string& challenge_id,
                       const std::string& hash, const std::string& code, const std::string& ip,
                       std::vector<std::string>* notify) {
  Result<store::Connection> conn = d.database->connection();
  if (!conn) return flow_error(conn.error());
  domain::SignInService flows = sign_in_service(**conn, d);
  // The challenge must be this client's: another integration's URL does not reach it.
  Result<store::ChallengeRecord> c = flows.status(challenge_id, hash);
  if (!c) return flow_error(c.error());
  if (c->client_id != client_id) return json_error(404, "not_found", "no such sign-in");
  // The org's code lockout threshold applies.
  Result<domain::SignInPolicies> policies = org_policies(**conn, d, c->org_id);
  if (!policies) return flow_error(policies.error());
  Result<domain::CodeVerdict> verdict = sign_in_service(**conn, d, *policies).verify_code(challenge_id, hash, code, ip);
  if (!verdict) {
    if (verdict.error().code == ErrorCode::kConflict)
      return json_error(409, "not_pending", "this sign-in takes no codes now");
    return flow_error(verdict.error());
  }
  if (!verdict->accepted) {
    log::info("entra flow: fallback code refused", {{"challenge_id", challenge_id}, {"closed", verdict->closed}});
    return Response::json(200, {{"result", "refused"},
                                {"message", verdict->closed ? kCodeClosedMessage : kCodeRefusedMessage},
                                {"closed", verdict->closed}});
  }
  log::info("entra flow: approved by a fallback code", {{"challenge_id", challenge_id}});
  *notify = std::move(verdict->notify);
  return Response::json(200, {{"result", "approved"}});
}

asio::awaitable<Response> flow_code(Request req, Deps d) {
  const std::string public_url = d->public_url->get();
  if (public_url.empty()) co_return json_error(503, "unavailable", "try again");
  if (std::optional<std::string_view> origin = req.header("origin");
      origin && url_origin(*origin) != url_origin(public_url)) {
    co_return json_error(403, "forbidden", "codes are taken only from Avow's own page");
  }
  const std::optional<std::string> secret = flow_secret(req);
  if (!secret) co_return json_error(403, "forbidden", "the flow cookie is missing");
  const std::string client_id(req.param("client_id").value_or(""));
  const std::string challenge_id(req.param("challenge_id").value_or(""));
  const std::string hash = secret_hash(*secret);
  const std::string code = typed_code(req.body);
  const std::string ip = req.remote_address;
  auto notify = std::make_shared<std::vector<std::string>>();
  auto work = [d, client_id, challenge_id, hash, code, ip, notify]() {
    return code_blocking(*d, client_id, challenge_id, hash, code, ip, notify.get());
  };
  Response r = co_await d->pool->run(std::move(work));
  for (const std::string& topic : *notify) d->hub->notify(topic);
  co_return r;
}

// ---- POST /flow/{id}/finish -----------------------------------------------------------------------------

Response finish_blocking(const EntraRouteDeps& d, const std::string& public_url, const std::string& challenge_id,
                         const std::string& hash) {
  Result<store::Connection> conn = d.database->connection();
  if (!conn) {
    log::error("entra finish: database unavailable", {{"error", conn.error().message}});
    return unavailable_page();
  }
  domain::SignInService flows = sign_in_service(**conn, d);
  Result<domain::FinishedSignIn> done = flows.finish(challenge_id, hash);
  if (!done) {
    switch (done.error().code) {
      case ErrorCode::kNotFound:
        return message_page(404, "Sign-in not found", "This sign-in does not exist.");
      case ErrorCode::kPermissionDenied:
        return message_page(403, "Sign-in not available",
                            "This sign-in can only be finished from the browser window that started it.");
      case ErrorCode::kConflict: {
        Result<store::ChallengeRecord> now = flows.status(challenge_id, hash);
        if (now && now->state == store::ChallengeState::kPending)
          return message_page(409, "Still waiting", "This sign-in is still waiting for your answer in the Avow app.");
        return message_page(409, "Sign-in finished", "This sign-in has already finished.");
      }
      default:
        log::error(
            "entra finish failed",
            {{"challenge_id", challenge_id}, {"code", to_string(done.error().code)}, {"error", done.error().message}});
        return unavailable_page();
    }
  }
  const store::ChallengeRecord& c = done->challenge;
  bool complete = false;
  const AuthorizeRequest req = stored_request(c, done->response_params, &complete);
  log::info("entra sign-in finished", {{"challenge_id", c.id}, {"state", store::to_string(c.state)}});
  if (c.state != store::ChallengeState::kApproved) return access_denied(req, denial_description(c.state));
  if (!complete) {
    log::error("entra finish: stored request parameters unreadable", {{"challenge_id", c.id}});
    return temporarily_unavailable(req);
  }
  Result<std::pair<std::string, std::string>> acr_amr = choose_acr_amr(req, done->method);
  if (!acr_amr) return access_denied(req, "No authentication method the request accepts was used.");
  HintClaims hint;
  hint.subject = c.hint_sub;
  const std::int64_t lifetime = d.timing.id_token_lifetime.count();
  const json claims =
      success_claims(provider_urls(public_url, c.client_id).issuer, req, hint, *acr_amr, d.clock->unix_now(), lifetime);
  Result<std::string> token = d.key_ring->sign_jwt({{"typ", "JWT"}}, claims);
  if (!token) {
    log::error("entra finish: signing failed", {{"challenge_id", c.id}, {"error", token.error().message}});
    return temporarily_unavailable(req);
  }
  return form_post(req, success_fields(req, std::move(*token), lifetime));
}

asio::awaitable<Response> flow_finish(Request req, Deps d) {
  const std::string public_url = d->public_url->get();
  if (public_url.empty()) co_return unavailable_page();
  if (std::optional<std::string_view> origin = req.header("origin");
      origin && url_origin(*origin) != url_origin(public_url)) {
    co_return message_page(403, "Sign-in not available", "This sign-in can only be finished from Avow's own page.");
  }
  const std::optional<std::string> secret = flow_secret(req);
  if (!secret) {
    co_return message_page(403, "Sign-in not available",
                           "This sign-in can only be finished from the browser window that started it.");
  }
  const std::string challenge_id(req.param("challenge_id").value_or(""));
  const std::string hash = secret_hash(*secret);
  auto work = [d, public_url, challenge_id, hash]() { return finish_blocking(*d, public_url, challenge_id, hash); };
  Response r = co_await d->pool->run(std::move(work));
  co_return r;
}

// ---- discovery and keys ---------------------------------------------------------------------------------

// kNotFound-free lookup: nullopt when the client is unknown or its integration deleted.
Result<std::optional<store::IntegrationRecord>> find_integration(const EntraRouteDeps& d,
                                                                 const std::string& client_id) {
  Result<store::Connection> conn = d.database->connection();
  if (!conn) return tl::unexpected(conn.error());
  Result<std::optional<store::IntegrationRecord>> found = store::IntegrationRepo(**conn).find_by_client_id(client_id);
  if (found && *found && (*found)->deleted_at) return std::optional<store::IntegrationRecord>();
  return found;
}

asio::awaitable<Response> discovery(Request req, Deps d, bool jwks) {
  const std::string public_url = d->public_url->get();
  if (public_url.empty()) co_return json_error(503, "unavailable", "try again");
  const std::string client_id(req.param("client_id").value_or(""));
  auto lookup = [d, client_id]() { return find_integration(*d, client_id); };
  Result<std::optional<store::IntegrationRecord>> found = co_await d->pool->run(std::move(lookup));
  if (!found) {
    log::error("entra discovery: integration lookup failed", {{"error", found.error().message}});
    co_return json_error(503, "unavailable", "try again");
  }
  if (!*found) co_return json_error(404, "not_found", "unknown client_id");
  Response r = jwks ? Response::text(200, *d->key_ring->jwks_text(), "application/json")
                    : Response::json(200, discovery_document(provider_urls(public_url, client_id)));
  // Entra caches both for 24 h anyway; a new signing key is published long before it signs.
  r.set_header("Cache-Control", "public, max-age=300");
  co_return r;
}

Status check_deps(const EntraRouteDeps& d) {
  if (!d.pool || !d.database || !d.hub || !d.push || !d.key_ring || !d.microsoft_keys || !d.clock || !d.public_url)
    return fail(ErrorCode::kInvalidArgument, "entra routes: a dependency is missing");
  if (d.timing.long_poll.count() < 1) return fail(ErrorCode::kInvalidArgument, "entra routes: long_poll must be ≥ 1 s");
  return ok();
}

}  // namespace

Status PublicUrl::set(std::string url) {
  const std::string_view u = url;
  const std::size_t host = u.find("://") + 3;
  const bool scheme_ok = u.starts_with("https://") || u.starts_with("http://");
  if (!scheme_ok || host >= u.size() || u[host] == '/' || u.ends_with("/") ||
      u.find_first_of("?#") != std::string_view::npos || u.size() > 2048)
    return fail(ErrorCode::kInvalidArgument,
                "public_url must be an absolute http(s) URL without a trailing '/', query or fragment");
  url_.store(std::make_shared<const std::string>(std::move(url)));
  return ok();
}

std::string PublicUrl::get() const {
  std::shared_ptr<const std::string> u = url_.load();
  return u ? *u : std::string();
}

// scheme://authority of an absolute URL, scheme and host lowercased (as browsers send Origin).
std::string url_origin(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const std::size_t path = url.find('/', scheme_end + 3);
  std::string origin(url.substr(0, path));
  std::transform(origin.begin(), origin.end(), origin.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return origin;
}

// The path part of public_url ("" or e.g. "/avow"): the prefix of every URL the browser sees.
std::string url_base_path(std::string_view public_url) {
  const std::size_t scheme_end = public_url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const std::size_t path = public_url.find('/', scheme_end + 3);
  return path == std::string_view::npos ? std::string() : std::string(public_url.substr(path));
}

Status add_entra_routes(http::Router& router, EntraRouteDeps in) {
  AVOW_TRY(check_deps(in));
  auto d = std::make_shared<const EntraRouteDeps>(std::move(in));

  AVOW_TRY(router.add("GET", "/entra/{client_id}/.well-known/openid-configuration",
                      http::AsyncHandler([d](Request r) { return discovery(std::move(r), d, false); })));
  AVOW_TRY(router.add("GET", "/entra/{client_id}/jwks",
                      http::AsyncHandler([d](Request r) { return discovery(std::move(r), d, true); })));
  AVOW_TRY(router.add("GET", "/entra/{client_id}/authorize", http::SyncHandler([](const Request&) {
                        return message_page(200, "Avow MFA endpoint",
                                            "This is an Avow multi-factor authentication endpoint for Microsoft "
                                            "Entra ID. Sign-ins reach it from Microsoft's sign-in page.");
                      })));
  AVOW_TRY(router.add("POST", "/entra/{client_id}/authorize",
                      http::AsyncHandler([d](Request r) { return authorize_post(std::move(r), d); }),
                      {.max_body_bytes = kMaxAuthorizeBodyBytes}));
  AVOW_TRY(router.add("GET", "/entra/{client_id}/flow/{challenge_id}/wait",
                      http::AsyncHandler([d](Request r) { return flow_wait(std::move(r), d); })));
  AVOW_TRY(router.add("POST", "/entra/{client_id}/flow/{challenge_id}/code",
                      http::AsyncHandler([d](Request r) { return flow_code(std::move(r), d); }),
                      {.max_body_bytes = kMaxCodeBodyBytes}));
  AVOW_TRY(router.add("POST", "/entra/{client_id}/flow/{challenge_id}/finish",
                      http::AsyncHandler([d](Request r) { return flow_finish(std::move(r), d); })));
  AVOW_TRY(router.add("GET", "/s/{code}", http::SyncHandler([](const Request&) {
                        return message_page(200, "Open this with the Avow app",
                                            "This link is a ScanCode. Open it with the Avow app on your phone, "
                                            "or scan the QR code shown on the sign-in page.");
                      })));
  return ok();
}

}  // namespace avow::entra
