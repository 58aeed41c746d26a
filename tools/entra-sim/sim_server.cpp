#include <utility>  // before Asio: asio#944

#include "tools/entra-sim/sim_server.h"

#include <boost/asio/awaitable.hpp>

#include "common/random.h"
#include "entra/provider.h"
#include "tools/entra-sim/forms.h"

namespace avow::entra_sim {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using nlohmann::json;
using Ctx = std::shared_ptr<SimContext>;

namespace {

constexpr std::size_t kMaxMember = 4096;

// The demo's two users: a member of the directory, and a B2B guest from another tenant.
constexpr const char* kMemberOid = "e6a8f1cf-0874-4323-a12f-2bf51bb6dfdd";
constexpr const char* kGuestOid = "1f5c9a2b-7d3e-4f60-8a1b-2c3d4e5f6a7b";
constexpr const char* kGuestHomeTenant = "8f3b2c1d-4e5f-4a6b-9c7d-0e1f2a3b4c5d";

Response bad_request(std::string_view message) { return Response::error(400, "invalid_request", message); }

Result<std::string> string_member(const json& j, const char* name, bool required, std::string fallback = {}) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) return fail(ErrorCode::kInvalidArgument, std::string(name) + " is required");
    return fallback;
  }
  if (!it->is_string()) return fail(ErrorCode::kInvalidArgument, std::string(name) + " must be a string");
  auto s = it->get<std::string>();
  if (s.size() > kMaxMember) return fail(ErrorCode::kInvalidArgument, std::string(name) + " is too long");
  if (required && s.empty()) return fail(ErrorCode::kInvalidArgument, std::string(name) + " must not be empty");
  return s;
}

json fields_json(const FormFields& f) {
  json out = json::object();
  for (const auto& [k, v] : f) out[k] = v;
  return out;
}

std::string page(std::string_view title, std::string_view style_nonce, std::string_view body) {
  std::string out;
  out += "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  out += "<title>" + html_escape(title) + "</title>";
  out += "<style nonce=\"" + std::string(style_nonce) + "\">";
  out +=
      "body{font-family:'Segoe UI',system-ui,sans-serif;background:#f2f2f2;margin:0}"
      ".banner{background:#a4262c;color:#fff;padding:.4em 1em;font-size:.9em;text-align:center}"
      ".card{background:#fff;max-width:440px;margin:3em auto;padding:2em 2.5em;box-shadow:0 2px 6px rgba(0,0,0,.2)}"
      ".logo{font-weight:600;color:#5e5e5e;margin-bottom:1em}.logo b{color:#0067b8}"
      "h1{font-size:1.5em;font-weight:600;margin:.2em 0 1em}label{display:block;margin:.8em 0 .2em;font-size:.9em}"
      "input,select{width:100%;box-sizing:border-box;padding:.4em;border:0;border-bottom:1px solid #666;font-size:1em}"
      "button{margin-top:1.5em;background:#0067b8;color:#fff;border:0;padding:.6em 2em;font-size:1em}"
      ".ok{color:#107c10}.bad{color:#a4262c}pre{white-space:pre-wrap;word-break:break-all;font-size:.8em}";
  out += "</style></head><body>";
  out += "<div class=\"banner\">Entra simulator — not Microsoft. For tests and demos of Avow only.</div>";
  out += "<div class=\"card\"><div class=\"logo\"><b>&#9632;</b> Microsoft sign-in (simulated)</div>";
  out += body;
  out += "</div></body></html>";
  return out;
}

Response html(int status, std::string body, std::string_view style_nonce, std::string_view script_nonce = {}) {
  Response r = Response::text(status, std::move(body), "text/html; charset=utf-8");
  std::string csp = "default-src 'none'; style-src 'nonce-" + std::string(style_nonce) + "'; base-uri 'none'";
  if (!script_nonce.empty()) csp += "; script-src 'nonce-" + std::string(script_nonce) + "'";
  r.set_header("Content-Security-Policy", csp);
  return r;
}

// ---- keys, mint, flows, results

Response keys(const Ctx& ctx) {
  Response r = Response::json(200, ctx->tenant.jwks());
  r.set_header("Cache-Control", "public, max-age=300");
  return r;
}

Response mint(const Ctx& ctx, const Request& req) {
  if (!is_loopback_address(req.remote_address)) return Response::error(403, "forbidden", "loopback callers only");
  json j = json::parse(req.body, nullptr, false);
  if (!j.is_object()) return bad_request("body must be a JSON object");
  auto spec = hint_spec_from_json(j);
  if (!spec) return bad_request(spec.error().message);
  auto hint = ctx->tenant.mint_hint(*spec, ctx->clock->unix_now());
  if (!hint) return Response::error(500, "internal", hint.error().message);
  return Response::json(200, {{"hint", *hint}});
}

Response flows(const Ctx& ctx, const Request& req) {
  if (!is_loopback_address(req.remote_address)) return Response::error(403, "forbidden", "loopback callers only");
  json j = json::parse(req.body, nullptr, false);
  if (!j.is_object()) return bad_request("body must be a JSON object");
  auto started = start_sign_in(j, ctx->tenant, ctx->redirect_uri(), ctx->clock->unix_now());
  if (!started) return bad_request(started.error().message);
  if (Status s = ctx->ledger->remember(started->pending); !s) return bad_request(s.error().message);
  return Response::json(200, {{"state", started->pending.state},
                              {"nonce", started->pending.nonce},
                              {"sub", started->pending.sub},
                              {"hint", started->hint},
                              {"redirect_uri", *form_value(started->form, "redirect_uri")},
                              {"fields", fields_json(started->form)},
                              {"body", form_encode(started->form)}});
}

Response result(const Ctx& ctx, const Request& req) {
  const std::string state(req.param("state").value_or(""));
  auto a = ctx->ledger->answer(state);
  if (!a) return Response::error(404, "not_found", "no answer received for this state");
  return Response::json(200, to_json(*a));
}

// ---- the receiver

std::string verdict_html(const ReceivedAnswer& a) {
  std::string body;
  const std::string outcome(to_string(a.outcome));
  body += "<div data-testid=\"sim-result\" data-outcome=\"" + outcome + "\" data-state=\"" +
          html_escape(a.state) + "\">";
  if (a.outcome == ReceivedAnswer::Outcome::kAccepted) {
    body +=
        "<h1 class=\"ok\">Signed in</h1><p>The provider's id_token passed every check Entra makes: discovery "
        "document, JWKS (x5c, x5t, kid), RS256 signature, issuer, audience, subject, nonce, lifetime and "
        "the requested claims.</p><pre>" +
        html_escape(a.claims.dump(2)) + "</pre>";
  } else if (a.outcome == ReceivedAnswer::Outcome::kProviderError) {
    body += "<h1 class=\"bad\">Sign-in refused by the provider</h1><p><code>" + html_escape(a.error) +
            "</code>: " + html_escape(a.error_description) + "</p>";
  } else {
    body += "<h1 class=\"bad\">Entra rejected the provider's answer</h1><p>" + html_escape(a.error_description) +
            "</p>";
  }
  body += "<p><a href=\"/\">Start another sign-in</a></p></div>";
  return body;
}

asio::awaitable<Response> receive(Request req, Ctx ctx) {
  const std::string style = random_token(12);
  auto fields = parse_form(req.body);
  if (!fields) co_return html(400, page("Entra simulator", style, "<h1 class=\"bad\">Malformed form</h1>"), style);
  const std::string state = form_value(*fields, "state").value_or("");
  std::optional<PendingSignIn> pending = ctx->ledger->take(state);
  if (!pending) {
    const bool replay = ctx->ledger->answered(state);
    const std::string why = replay ? "This sign-in was answered already: a second answer is a replay."
                                   : "No sign-in is waiting for this state.";
    co_return html(400,
                   page("Entra simulator", style,
                        "<div data-testid=\"sim-result\" data-outcome=\"unknown_state\"><h1 class=\"bad\">"
                        "Unexpected answer</h1><p>" +
                            html_escape(why) + "</p></div>"),
                   style);
  }
  const std::int64_t now = ctx->clock->unix_now();
  std::shared_ptr<entra::KeyFetcher> fetcher = ctx->fetcher;
  FormFields posted = std::move(*fields);
  PendingSignIn p = std::move(*pending);
  // A named callable, not a lambda inside the co_await (blocking_pool.h: GCC 12 destroys it twice).
  auto judge = [fetcher, posted, p, now]() { return check_provider_answer(posted, p, *fetcher, now); };
  ReceivedAnswer answer = co_await ctx->pool->run(std::move(judge));
  const int status = answer.outcome == ReceivedAnswer::Outcome::kRejected ? 400 : 200;
  std::string body = verdict_html(answer);
  ctx->ledger->record(std::move(answer));
  co_return html(status, page("Entra simulator — result", style, body), style);
}

// ---- the demo page

Response demo(const Ctx& ctx, const Request& req) {
  const std::string style = random_token(12);
  auto q = [&](const char* name) { return html_escape(req.query_param(name).value_or("")); };
  auto input = [&](const char* name, const char* label, const char* placeholder) {
    return std::string("<label for=\"") + name + "\">" + label + "</label><input id=\"" + name + "\" name=\"" + name +
           "\" value=\"" + q(name) + "\" placeholder=\"" + placeholder + "\" required>";
  };
  std::string body = "<h1>Sign in</h1>";
  body +=
      "<p>Plays Microsoft Entra ID calling an external MFA provider. Fill in the provider's values as an "
      "admin would enter them in Entra, then pick a user.</p>";
  body += "<form method=\"post\" action=\"/start\">";
  body += input("discovery_url", "Provider discovery URL",
                "https://127.0.0.1:8443/entra/…/.well-known/openid-configuration");
  body += input("client_id", "Client ID", "the integration's client id");
  body += input("app_id", "App ID", "the integration's App ID");
  body += input("directory_id", "Directory (tenant) ID", "00000000-0000-0000-0000-000000000000");
  body +=
      "<label for=\"user\">User</label><select id=\"user\" name=\"user\">"
      "<option value=\"member\">Adele Vance — member of the directory</option>"
      "<option value=\"guest\">Guest user — B2B guest from another tenant</option></select>";
  body +=
      "<label for=\"flavor\">Method</label><select id=\"flavor\" name=\"flavor\">"
      "<option value=\"eam\">External authentication method (EAM)</option>"
      "<option value=\"custom_control\">Conditional Access custom control</option></select>";
  body += "<button type=\"submit\">Next</button></form>";
  body += "<p><small>Hints are signed with the key at <code>" + html_escape(ctx->keys_url()) +
          "</code>; answers come back to <code>" + html_escape(ctx->redirect_uri()) + "</code>.</small></p>";
  return html(200, page("Sign in to your account (Entra simulator)", style, body), style);
}

// Reads the provider's discovery document as Entra does and finds where to send the user.
Result<std::string> authorization_endpoint(entra::KeyFetcher& fetcher, const std::string& discovery_url) {
  auto text = fetcher.fetch(discovery_url);
  if (!text) return tl::unexpected(text.error());
  json doc = json::parse(*text, nullptr, false);
  AVOW_TRY(validate_discovery(doc, discovery_url));
  return doc["authorization_endpoint"].get<std::string>();
}

asio::awaitable<Response> demo_start(Request req, Ctx ctx) {
  const std::string style = random_token(12);
  auto error_page = [&](std::string_view why) {
    return html(
        400,
        page("Entra simulator", style,
             "<h1 class=\"bad\">Cannot start</h1><p>" + html_escape(why) + "</p><p><a href=\"/\">Back</a></p>"),
        style);
  };
  auto fields = parse_form(req.body);
  if (!fields) co_return error_page(fields.error().message);
  auto get = [&](const char* name) { return form_value(*fields, name).value_or(""); };
  const bool guest = get("user") == "guest";
  const std::string directory_id = get("directory_id");
  json request = {
      {"discovery_url", get("discovery_url")},
      {"client_id", get("client_id")},
      {"app_id", get("app_id")},
      {"directory_id", directory_id},
      {"tid", guest ? std::string(kGuestHomeTenant) : directory_id},
      {"oid", guest ? kGuestOid : kMemberOid},
      {"sub", guest ? "GuestPairwiseSubject0000000000000000000001" : "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"},
      {"name", guest ? "Guest User" : "Adele Vance"},
      {"username", guest ? "guest@fabrikam.example" : "adele@contoso.example"},
      {"flavor", get("flavor") == "custom_control" ? "custom_control" : "eam"},
      // Custom controls receive the older v1 hint.
      {"version", get("flavor") == "custom_control" ? 1 : 2}};
  if (get("app_id").empty()) request.erase("app_id");
  auto started = start_sign_in(request, ctx->tenant, ctx->redirect_uri(), ctx->clock->unix_now());
  if (!started) co_return error_page(started.error().message);
  if (started->pending.flavor == Flavor::kCustomControl) {
    // The form names the simulator's custom-control receiver, so the provider knows the flavour.
    for (auto& [k, v] : started->form)
      if (k == "redirect_uri") v = ctx->base_url + std::string(kCustomControlReceiverPath);
  }
  std::shared_ptr<entra::KeyFetcher> fetcher = ctx->fetcher;
  const std::string discovery_url = started->pending.discovery_url;
  auto lookup = [fetcher, discovery_url]() { return authorization_endpoint(*fetcher, discovery_url); };
  Result<std::string> endpoint = co_await ctx->pool->run(std::move(lookup));
  if (!endpoint) co_return error_page("The provider's discovery document: " + endpoint.error().message);
  if (Status s = ctx->ledger->remember(started->pending); !s) co_return error_page(s.error().message);
  const std::string script = random_token(12);
  Response r = html(200, entra::form_post_page(*endpoint, started->form, script), style, script);
  // form_post_page carries its own markup; its only script is the nonce'd auto-submit.
  r.set_header("Content-Security-Policy", "default-src 'none'; script-src 'nonce-" + script + "'; base-uri 'none'");
  co_return r;
}

}  // namespace

bool is_loopback_address(std::string_view ip) {
  return ip.starts_with("127.") || ip == "::1" || ip.starts_with("::ffff:127.");
}

Result<HintSpec> hint_spec_from_json(const json& j) {
  if (!j.is_object()) return fail(ErrorCode::kInvalidArgument, "hint spec must be a JSON object");
  HintSpec s;
  auto take = [&](const char* name, std::string& into, bool required) -> Status {
    auto v = string_member(j, name, required, into);
    if (!v) return tl::unexpected(v.error());
    into = std::move(*v);
    return ok();
  };
  AVOW_TRY(take("directory_id", s.directory_id, true));
  AVOW_TRY(take("aud", s.aud, true));
  s.tid = s.directory_id;
  s.oid = new_id();
  AVOW_TRY(take("tid", s.tid, false));
  AVOW_TRY(take("oid", s.oid, false));
  AVOW_TRY(take("sub", s.sub, false));
  AVOW_TRY(take("name", s.name, false));
  AVOW_TRY(take("username", s.username, false));
  if (j.contains("version")) {
    if (!j["version"].is_number_integer() || (j["version"] != 1 && j["version"] != 2))
      return fail(ErrorCode::kInvalidArgument, "version must be 1 or 2");
    s.version = j["version"].get<int>();
  }
  if (j.contains("iat")) {
    if (!j["iat"].is_number_integer()) return fail(ErrorCode::kInvalidArgument, "iat must be an integer");
    s.iat = j["iat"].get<std::int64_t>();
  }
  if (j.contains("kid")) {
    auto kid = string_member(j, "kid", true);
    if (!kid) return tl::unexpected(kid.error());
    s.kid_override = *kid;
  }
  if (j.contains("iss")) {
    auto iss = string_member(j, "iss", true);
    if (!iss) return tl::unexpected(iss.error());
    s.issuer_override = *iss;
  }
  return s;
}

Result<StartedSignIn> start_sign_in(const json& j, const Tenant& tenant, std::string_view default_redirect_uri,
                                    std::int64_t now) {
  if (!j.is_object()) return fail(ErrorCode::kInvalidArgument, "request must be a JSON object");
  StartedSignIn out;
  PendingSignIn& p = out.pending;
  auto str = [&](const char* name, bool required, std::string fallback = {}) {
    return string_member(j, name, required, std::move(fallback));
  };
  auto discovery = str("discovery_url", true);
  if (!discovery) return tl::unexpected(discovery.error());
  p.discovery_url = *discovery;
  auto client = str("client_id", true);
  if (!client) return tl::unexpected(client.error());
  p.client_id = *client;
  auto flavor = str("flavor", false, "eam");
  if (!flavor) return tl::unexpected(flavor.error());
  if (*flavor != "eam" && *flavor != "custom_control")
    return fail(ErrorCode::kInvalidArgument, "flavor must be eam or custom_control");
  p.flavor = *flavor == "eam" ? Flavor::kEam : Flavor::kCustomControl;
  auto claim_type = str("claim_type", false, p.claim_type);
  auto claim_value = str("claim_value", false, p.claim_value);
  auto state = str("state", false, random_token(16));
  auto nonce = str("nonce", false, random_token(16));
  auto redirect = str("redirect_uri", false, std::string(default_redirect_uri));
  for (const auto* r : {&claim_type, &claim_value, &state, &nonce, &redirect})
    if (!*r) return tl::unexpected(r->error());
  p.claim_type = *claim_type;
  p.claim_value = *claim_value;
  p.state = *state;
  p.nonce = *nonce;
  p.created_at = now;

  if (j.contains("hint")) {
    auto hint = str("hint", true);
    if (!hint) return tl::unexpected(hint.error());
    auto sub = str("sub", true);
    if (!sub) return tl::unexpected(sub.error());
    out.hint = *hint;
    p.sub = *sub;
  } else {
    json spec_json = j;
    if (!spec_json.contains("aud")) spec_json["aud"] = j.value("app_id", p.client_id);
    auto spec = hint_spec_from_json(spec_json);
    if (!spec) return tl::unexpected(spec.error());
    auto hint = tenant.mint_hint(*spec, now);
    if (!hint) return tl::unexpected(hint.error());
    out.hint = *hint;
    p.sub = spec->sub;
  }
  AuthorizeSpec a{.flavor = p.flavor,
                  .client_id = p.client_id,
                  .hint = out.hint,
                  .nonce = p.nonce,
                  .state = p.state,
                  .claim_type = p.claim_type,
                  .claim_value = p.claim_value,
                  .redirect_uri = *redirect};
  out.form = tenant.authorize_form(a);
  return out;
}

Status add_sim_routes(http::Router& router, Ctx ctx) {
  using http::AsyncHandler;
  using http::SyncHandler;
  AVOW_TRY(router.add("GET", "/healthz", SyncHandler([](const Request&) {
                        return Response::json(200, {{"status", "ok"}});
                      })));
  AVOW_TRY(router.add("GET", std::string(kKeysPath), SyncHandler([ctx](const Request&) { return keys(ctx); })));
  AVOW_TRY(
      router.add("GET", "/{tenant}/discovery/v2.0/keys", SyncHandler([ctx](const Request&) { return keys(ctx); })));
  AVOW_TRY(router.add("POST", "/mint", SyncHandler([ctx](const Request& r) { return mint(ctx, r); })));
  AVOW_TRY(router.add("POST", "/flows", SyncHandler([ctx](const Request& r) { return flows(ctx, r); })));
  AVOW_TRY(router.add("GET", "/results/{state}", SyncHandler([ctx](const Request& r) { return result(ctx, r); })));
  for (std::string_view path : {kReceiverPath, kCustomControlReceiverPath})
    AVOW_TRY(
        router.add("POST", std::string(path), AsyncHandler([ctx](Request r) { return receive(std::move(r), ctx); })));
  AVOW_TRY(router.add("GET", "/", SyncHandler([ctx](const Request& r) { return demo(ctx, r); })));
  AVOW_TRY(router.add("POST", "/start", AsyncHandler([ctx](Request r) { return demo_start(std::move(r), ctx); })));
  return ok();
}

}  // namespace avow::entra_sim
