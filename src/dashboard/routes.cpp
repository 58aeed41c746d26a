#include <utility>  // before Asio: asio#944

#include "dashboard/routes.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/random.h"
#include "crypto/hash.h"
#include "dashboard/pages.h"
#include "domain/admin_access.h"
#include "domain/admins.h"
#include "domain/integrations.h"
#include "domain/sessions.h"
#include "domain/settings.h"
#include "domain/sign_in.h"
#include "domain/users.h"
#include "domain/validation.h"
#include "entra/provider.h"
#include "store/repositories.h"
#include "web/form.h"
#include "web/pages.h"
#include "web/qr.h"

namespace avow::dashboard {
namespace {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using nlohmann::json;
using Deps = std::shared_ptr<const DashboardDeps>;

constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr std::size_t kMaxCookieBytes = 128;
constexpr std::size_t kMaxFormBytes = 16 * 1024;
constexpr int kUsersPerPage = 50;
constexpr int kAuditPerPage = 50;
constexpr int kMaxExportRows = 10'000;
constexpr std::int64_t kPreAuthMaxAge = 900;
constexpr std::string_view kQrLabel = "ScanCode: scan with the Avow app";

// ---- small helpers --------------------------------------------------------------------------------------

std::string sha256_hex(std::string_view s) { return crypto::hex_encode(crypto::sha256(s)); }

std::string utc_text(std::optional<std::int64_t> t, std::string_view none = "never") {
  if (!t) return std::string(none);
  const std::time_t tt = static_cast<std::time_t>(*t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// "YYYY-MM-DD" → Unix seconds at 00:00 UTC; nullopt when malformed.
std::optional<std::int64_t> parse_day(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Percent-encodes a query value.
std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Fields of a posted form, first value of each name.
class Form {
 public:
  Form() = default;
  explicit Form(web::FormFields f) : fields_(std::move(f)) {}
  std::string get(std::string_view name) const {
    for (const auto& [k, v] : fields_)
      if (k == name) return v;
    return {};
  }
  bool has(std::string_view name) const {
    return std::any_of(fields_.begin(), fields_.end(), [&](const auto& kv) { return kv.first == name; });
  }

 private:
  web::FormFields fields_;
};

// Fixed notices after a redirect (`?done=<key>`): the page never reflects text from the query.
std::optional<std::string> notice_for(std::string_view key) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kNotices = {
      {"created", "Integration created. Copy the values below into Entra."},
      {"saved", "Changes saved."},
      {"disabled", "Integration disabled: Entra sign-ins through it are refused until you enable it again."},
      {"enabled", "Integration enabled."},
      {"deleted", "Integration deleted."},
      {"reset", "The user's devices were unlinked. Their next sign-in shows a ScanCode."},
      {"allowed", "The user may link one more device at their next sign-in."},
      {"locked", "User locked: their sign-ins are refused until you unlock them."},
      {"unlocked", "User unlocked."},
      {"codes_unlocked", "Verification codes unlocked for this user."},
      {"renamed", "Device renamed."},
      {"revoked", "Device removed from this organization."},
      {"removed", "Admin removed; their sessions have ended."},
      {"role", "Role changed."},
      {"settings", "Settings saved. New sign-ins use them."},
      {"signed_out_others", "Every other session of yours has been signed out."},
      {"welcome", "Welcome to Avow."},
  };
  for (const auto& [k, v] : kNotices)
    if (k == key) return std::string(v);
  return std::nullopt;
}

// A "next" URL after re-authentication: only a dashboard path of this server.
std::string safe_next(std::string_view next, const std::string& base) {
  const std::string prefix = base + "/dashboard";
  if (next.size() > 512 || !next.starts_with(prefix)) return prefix;
  if (next.size() > prefix.size() && next[prefix.size()] != '/' && next[prefix.size()] != '?') return prefix;
  for (char c : next)
    if (static_cast<unsigned char>(c) < 0x21 || c == '\\' || c == '"' || c == '<' || c == '>') return prefix;
  if (next.find("//", 1) != std::string_view::npos || next.find("/.") != std::string_view::npos ||
      next.find('%') != std::string_view::npos)
    return prefix;
  return std::string(next);
}

// ---- the request context ------------------------------------------------------------------------------

enum class Access { kPublic, kSignedIn };

// One request, on a blocking-pool thread.
struct Ctx {
  Ctx(const DashboardDeps& deps, const Request& request, store::Db& database, std::string url)
      : d(deps),
        req(request),
        db(database),
        public_url(std::move(url)),
        base(entra::url_base_path(public_url)),
        ip(request.remote_address) {}

  const DashboardDeps& d;
  const Request& req;
  store::Db& db;
  std::string public_url;
  std::string base;  // path prefix of every URL ("" or e.g. "/avow")
  std::string ip;
  // Before sign-in: the browser's pre-auth secret (its cookie), new when it had none.
  std::string pre_secret;
  bool pre_is_new = false;
  // Signed in:
  std::optional<store::SessionRecord> session;
  std::string session_hash;
  store::AdminRecord me;
  store::OrgRecord org;
  Form form;
  std::string nonce = web::new_csp_nonce();
  std::vector<std::string> notify;  // hub topics to wake after the response

  std::string url(std::string_view path) const { return base + "/dashboard" + std::string(path); }
  std::string browser_hash() const { return sha256_hex(pre_secret); }
  std::string csrf_token() const {
    if (session) return crypto::hex_encode(crypto::hmac(crypto::HashAlgorithm::kSha256, session->csrf_secret, "csrf"));
    return crypto::hex_encode(crypto::hmac(crypto::HashAlgorithm::kSha256, pre_secret, "pre-csrf"));
  }
  bool reauthenticated() const {
    if (!session) return false;
    const std::int64_t now = d.clock->unix_now();
    const std::int64_t last = session->reauthenticated_at.value_or(session->created_at);
    return now - last <= kReauthWindow.count();
  }
};

std::string cookie(std::string_view name, std::string_view value, std::string_view path, std::int64_t max_age,
                   bool secure) {
  std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                  "; Max-Age=" + std::to_string(max_age) + "; HttpOnly; SameSite=Lax";
  if (secure) c += "; Secure";
  return c;
}

bool secure(const Ctx& c) { return c.public_url.starts_with("https://"); }

Response with_page_headers(Response r, const Ctx& c) {
  r.set_header("Content-Security-Policy", "default-src 'none'; script-src 'nonce-" + c.nonce + "'; style-src 'nonce-" +
                                              c.nonce +
                                              "'; img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                                              "base-uri 'none'; frame-ancestors 'none'");
  r.set_header("X-Frame-Options", "DENY");
  // Same-origin: the browser's form posts carry an Origin the server can check (no-referrer sends "null").
  r.set_header("Referrer-Policy", "same-origin");
  r.set_header("Cache-Control", "no-store");
  return r;
}

json common_view(const Ctx& c, std::string_view title) {
  json v = {{"csp_nonce", c.nonce},
            {"title", title},
            {"csrf", c.csrf_token()},
            {"signed_in", c.session.has_value()},
            {"base", c.base}};
  if (c.session) {
    v["me"] = {{"id", c.me.id},
               {"display_name", c.me.display_name},
               {"email", c.me.email},
               {"role", store::to_string(c.me.role)},
               {"is_owner", c.me.role == store::AdminRole::kOwner}};
    v["org"] = {{"id", c.org.id}, {"name", c.org.name}};
  }
  if (auto done = c.req.query_param("done"); done && c.req.method == "GET") {
    if (auto n = notice_for(*done)) v["flash"] = *n;
  }
  return v;
}

Response render(const Ctx& c, int status, std::string_view page, json view) {
  Result<std::string> html = render_page(page, view);
  if (!html) {
    log::error("dashboard: page rendering failed", {{"page", std::string(page)}, {"error", html.error().message}});
    return with_page_headers(Response::text(500, "internal error"), c);
  }
  return with_page_headers(Response::text(status, std::move(*html), kHtml), c);
}

Response message(const Ctx& c, int status, std::string title, std::string text,
                 std::optional<std::pair<std::string, std::string>> link = std::nullopt) {
  json v = common_view(c, title);
  v["message"] = std::move(text);
  if (link) v["link"] = {{"href", link->first}, {"text", link->second}};
  return render(c, status, "message", std::move(v));
}

Response redirect(const Ctx& c, std::string location) {
  Response r = Response::text(303, "", kHtml);
  r.set_header("Location", std::move(location));
  return with_page_headers(std::move(r), c);
}

Response not_found(const Ctx& c) {
  return message(c, 404, "Not found", "There is nothing here, or it belongs to another organization.",
                 std::make_pair(c.url(""), std::string("Back to the dashboard")));
}

Response server_error(const Ctx& c, const Error& e) {
  log::error("dashboard: request failed",
             {{"request_id", c.req.request_id}, {"code", to_string(e.code)}, {"error", e.message}});
  return message(c, 503, "Something went wrong", "Avow could not complete this request. Please try again.");
}

// What a form field is called on the page.
std::string field_label(std::string_view field) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kLabels = {{"org_name", "Organization name"},
                                                                                     {"display_name", "Name"},
                                                                                     {"email", "Email"},
                                                                                     {"name", "Name"},
                                                                                     {"directory_id", "Directory ID"},
                                                                                     {"app_id", "App ID"},
                                                                                     {"claim_type", "Claim type"},
                                                                                     {"claim_value", "Claim value"},
                                                                                     {"guest_tenants", "Guest tenants"},
                                                                                     {"guest_policy", "Guest policy"},
                                                                                     {"cloud", "Cloud"},
                                                                                     {"role", "Role"}};
  for (const auto& [k, v] : kLabels)
    if (k == field) return std::string(v);
  return {};
}

bool is_field_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; });
}

// A domain validation error as {field, message for a person}: "<field>: <message>" or "<field> must …".
std::pair<std::string, std::string> field_error(const Error& e, std::string_view fallback_field) {
  const std::size_t colon = e.message.find(": ");
  if (colon != std::string::npos && colon < 40 && is_field_name(std::string_view(e.message).substr(0, colon))) {
    std::string text = e.message.substr(colon + 2);
    if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 'a' + 'A');
    return {e.message.substr(0, colon), text};
  }
  const std::size_t space = e.message.find(' ');
  if (space != std::string::npos && is_field_name(std::string_view(e.message).substr(0, space))) {
    const std::string field = e.message.substr(0, space);
    const std::string label = field_label(field);
    return {field, (label.empty() ? field : label) + e.message.substr(space)};
  }
  return {std::string(fallback_field), e.message};
}

// Records an admin's action (the dashboard's own audit events).
Status audit(const Ctx& c, store::Db& db, std::string_view kind, std::string_view subject_kind,
             std::string_view subject_id, json details = json::object(),
             std::optional<std::string> user_id = std::nullopt,
             std::optional<std::string> integration_id = std::nullopt) {
  store::AuditEventRecord e;
  e.org_id = c.org.id.empty() ? std::nullopt : std::optional<std::string>(c.org.id);
  e.at = c.d.clock->unix_now();
  e.actor_kind = "admin";
  e.actor_id = c.me.id;
  e.kind = std::string(kind);
  e.subject_kind = std::string(subject_kind);
  e.subject_id = std::string(subject_id);
  e.user_id = std::move(user_id);
  e.integration_id = std::move(integration_id);
  e.ip = c.ip;
  e.details = details.dump();
  Result<std::int64_t> id = store::AuditRepo(db).append(e);
  if (!id) return tl::unexpected(id.error());
  return ok();
}

// A fresh session for `admin`, replacing whatever session cookie the browser had (no fixation), and a new
// pre-auth secret.
Response start_session(Ctx& c, const store::AdminRecord& admin, std::string location) {
  std::optional<std::string_view> old = web::cookie_value(c.req.header("cookie").value_or(""), kSessionCookie);
  if (old && !old->empty() && old->size() <= kMaxCookieBytes)
    (void)domain::SessionService(c.db, *c.d.clock, c.d.sessions).end(*old);
  Result<domain::NewSession> s = domain::SessionService(c.db, *c.d.clock, c.d.sessions).start(admin.id);
  if (!s) {
    if (s.error().code == ErrorCode::kPermissionDenied)
      return message(c, 403, "Sign-in refused", "This admin account has been removed.");
    return server_error(c, s.error());
  }
  Response r = redirect(c, std::move(location));
  r.add_header("Set-Cookie",
               cookie(kSessionCookie, s->token, c.base + "/dashboard", c.d.sessions.absolute.count(), secure(c)));
  r.add_header("Set-Cookie", cookie(kPreAuthCookie, "", c.base + "/dashboard", 0, secure(c)));
  log::info("dashboard: admin signed in", {{"admin_id", admin.id}, {"org_id", admin.org_id}});
  return r;
}

using PageFn = std::function<Response(Ctx&)>;

struct RouteSpec {
  Access access = Access::kSignedIn;
  PageFn fn;
};

// The whole request on a pool thread: session, pre-auth cookie, CSRF and origin checks, then the page.
Response handle(const DashboardDeps& d, const Request& req, const RouteSpec& spec, std::vector<std::string>* notify) {
  const std::string public_url = d.public_url->get();
  if (public_url.empty()) return Response::text(503, "the server's public URL is not set yet");
  Result<store::Connection> conn = d.database->connection();
  if (!conn) {
    log::error("dashboard: database unavailable", {{"error", conn.error().message}});
    return Response::text(503, "Avow is unavailable right now. Please try again shortly.");
  }
  Ctx c(d, req, **conn, public_url);
  const std::string cookies(req.header("cookie").value_or(""));

  // The pre-auth secret: every dashboard browser has one.
  std::optional<std::string_view> pre = web::cookie_value(cookies, kPreAuthCookie);
  if (pre && pre->size() >= 32 && pre->size() <= kMaxCookieBytes) {
    c.pre_secret = std::string(*pre);
  } else {
    c.pre_secret = random_token(32);
    c.pre_is_new = true;
  }

  // The session, if any.
  std::optional<std::string_view> token = web::cookie_value(cookies, kSessionCookie);
  if (token && !token->empty() && token->size() <= kMaxCookieBytes) {
    Result<store::SessionRecord> s = domain::SessionService(c.db, *d.clock, d.sessions).resume(*token);
    if (s) {
      auto admin = store::AdminRepo(c.db).get(s->admin_id);
      auto org = store::OrgRepo(c.db).get(s->org_id);
      if (admin && org && !admin->disabled_at) {
        c.session = std::move(*s);
        c.session_hash = sha256_hex(*token);
        c.me = std::move(*admin);
        c.org = std::move(*org);
      }
    } else if (s.error().code != ErrorCode::kUnauthenticated && s.error().code != ErrorCode::kExpired) {
      return server_error(c, s.error());
    }
  }

  auto finish = [&](Response r) {
    if (c.pre_is_new)
      r.add_header("Set-Cookie",
                   cookie(kPreAuthCookie, c.pre_secret, c.base + "/dashboard", kPreAuthMaxAge, secure(c)));
    *notify = std::move(c.notify);
    return r;
  };

  if (spec.access == Access::kSignedIn && !c.session) {
    if (req.method == "GET" && req.path.ends_with("/wait"))
      return finish(Response::json(401, {{"error", "signed_out"}}));
    return finish(redirect(c, c.url("/signin")));
  }

  if (req.method == "POST") {
    // The browser's Origin, when sent, must be ours.
    if (auto origin = req.header("origin"); origin && entra::url_origin(*origin) != entra::url_origin(public_url))
      return finish(message(c, 403, "Request refused", "This form was sent from another site."));
    Result<web::FormFields> fields = web::parse_form(req.body, {.max_body_bytes = kMaxFormBytes});
    if (!fields) return finish(message(c, 400, "Bad request", "The form could not be read."));
    c.form = Form(std::move(*fields));
    const std::string given = c.form.get("csrf");
    if (c.pre_is_new && !c.session)
      return finish(message(c, 403, "This form has expired",
                            "Reload the page and try again. (Cookies must be enabled for the Avow dashboard.)"));
    if (given.empty() || !constant_time_equal(given, c.csrf_token()))
      return finish(message(c, 403, "This form has expired", "Reload the page and try again."));
  }
  return finish(spec.fn(c));
}

asio::awaitable<Response> run_route(Request req, Deps d, RouteSpec spec) {
  auto notify = std::make_shared<std::vector<std::string>>();
  auto work = [d, req = std::move(req), spec = std::move(spec), notify]() {
    return handle(*d, req, spec, notify.get());
  };
  Response r = co_await d->pool->run(std::move(work));
  for (const std::string& topic : *notify) d->hub->notify(topic);
  co_return r;
}

// ---- pages before sign-in ----------------------------------------------------------------------------------

Result<json> scan_view(const Ctx& c, const domain::IssuedScanCode& code) {
  const std::string url = c.public_url + "/s/" + code.code;
  Result<std::string> svg = web::qr_svg(url, kQrLabel);
  if (!svg) return tl::unexpected(svg.error());
  return json{{"url", url},
              {"qr_svg", *svg},
              {"id", code.record.id},
              {"expires_in", std::max<std::int64_t>(0, code.record.expires_at - c.d.clock->unix_now())}};
}

domain::AdminAccessService access(const Ctx& c) {
  return domain::AdminAccessService(c.db, *c.d.clock, {.open_signup = c.d.open_signup}, c.d.scan_codes,
                                    c.d.sign_in.challenges);
}

Response signin_page(Ctx& c, int status = 200, json errors = json::object(), std::string email = {}) {
  if (c.session) return redirect(c, c.url(""));
  Result<domain::IssuedScanCode> code = access(c).begin_signin_scan(c.browser_hash(), c.ip);
  if (!code) return server_error(c, code.error());
  Result<json> scan = scan_view(c, *code);
  if (!scan) return server_error(c, scan.error());
  Result<bool> open = access(c).signup_open();
  json v = common_view(c, "Sign in to Avow");
  v["scan"] = std::move(*scan);
  v["wait_url"] = c.url("/scan/" + code->record.id + "/wait");
  v["claim_url"] = c.url("/scan/" + code->record.id + "/claim");
  v["push_url"] = c.url("/signin/push");
  v["signup_url"] = c.url("/signup");
  v["signup_open"] = open && *open;
  v["values"] = {{"email", email}};
  v["errors"] = std::move(errors);
  return render(c, status, "signin", std::move(v));
}

// Wakes the admin's phone for a push just opened (its long-poll, and the push channel).
void publish(Ctx& c, const domain::OpenedChallenge& opened) {
  auto topics = access(c).notify_for(opened);
  if (!topics) {
    log::warn("dashboard: push topics unavailable", {{"error", topics.error().message}});
    return;
  }
  for (std::string& t : *topics) {
    // A device hears through its push channel (the built-in one wakes its long-poll), as in the Entra flow.
    if (c.d.push && t.starts_with("device:")) {
      c.d.push->send({.device_id = t.substr(7),
                      .platform = store::PushPlatform::kBuiltin,
                      .token = std::nullopt,
                      .challenge_id = opened.challenge.id});
      continue;
    }
    c.notify.push_back(std::move(t));
  }
}

Response push_wait_page(Ctx& c, int number, const std::string& challenge_id, std::string_view mode,
                        const std::string& next) {
  json v = common_view(c, mode == "reauth" ? "Confirm it's you" : "Approve the sign-in");
  v["number"] = std::to_string(number);
  v["mode"] = std::string(mode);
  v["reauth"] = mode == "reauth";
  v["wait_url"] = c.url("/push/" + challenge_id + "/wait");
  v["claim_url"] =
      mode == "reauth" ? c.url("/reauth/" + challenge_id + "/finish") : c.url("/push/" + challenge_id + "/claim");
  v["retry_url"] = mode == "reauth" ? c.url("/reauth?next=" + url_encode(next)) : c.url("/signin");
  v["next"] = next;
  return render(c, 200, "push_wait", std::move(v));
}

domain::ChallengeContext context_of(const Ctx& c) {
  domain::ChallengeContext ctx;
  ctx.ip = c.ip;
  ctx.user_agent = std::string(c.req.header("user-agent").value_or("")).substr(0, 512);
  return ctx;
}

Response signin_push(Ctx& c) {
  if (c.session) return redirect(c, c.url(""));
  const std::string email = c.form.get("email");
  Result<std::string> valid = domain::validate_email(email);
  if (!valid) return signin_page(c, 422, {{"email", "Enter the email address of your admin account."}}, email);
  auto opened = access(c).begin_signin_push(*valid, c.browser_hash(), context_of(c));
  if (!opened) {
    if (opened.error().code == ErrorCode::kInvalidArgument)
      return signin_page(c, 422, {{"email", "Enter the email address of your admin account."}}, email);
    return server_error(c, opened.error());
  }
  if (!*opened) {
    // No admin with a phone has that address: the same page with a number nobody will be asked about.
    Result<domain::NumberMatch> decoy = domain::make_number_match(c.d.sign_in.challenges.number_digits, 3);
    return push_wait_page(c, decoy ? decoy->number : 42, new_id(), "signin", "");
  }
  publish(c, **opened);
  return push_wait_page(c, (*opened)->challenge.number, (*opened)->challenge.id, "signin", "");
}

Response signup_page(Ctx& c) {
  if (c.session) return redirect(c, c.url(""));
  Result<bool> open = access(c).signup_open();
  if (!open) return server_error(c, open.error());
  if (!*open)
    return message(c, 200, "Sign-up is closed",
                   "This Avow server already has its organization. Ask one of its admins for an invite link.",
                   std::make_pair(c.url("/signin"), std::string("Sign in instead")));
  json v = common_view(c, "Create your organization");
  v["values"] = json::object();
  v["errors"] = json::object();
  v["action"] = c.url("/signup");
  v["signin_url"] = c.url("/signin");
  return render(c, 200, "signup", std::move(v));
}

Response signup_post(Ctx& c) {
  if (c.session) return redirect(c, c.url(""));
  domain::SignupForm f{c.form.get("org_name"), c.form.get("display_name"), c.form.get("email")};
  Result<domain::IssuedScanCode> code = access(c).begin_signup(f, c.browser_hash(), c.ip);
  if (!code) {
    if (code.error().code == ErrorCode::kPermissionDenied)
      return message(c, 403, "Sign-up is closed",
                     "This Avow server already has its organization. Ask one of its admins for an invite link.");
    if (code.error().code != ErrorCode::kInvalidArgument) return server_error(c, code.error());
    json errors = json::object();
    for (const std::string& m : domain::signup_errors(f)) {
      auto [field, text] = field_error(Error{ErrorCode::kInvalidArgument, m}, "org_name");
      errors[field] = text;
    }
    if (errors.empty()) errors["org_name"] = field_error(code.error(), "org_name").second;
    json v = common_view(c, "Create your organization");
    v["values"] = {{"org_name", f.org_name}, {"display_name", f.display_name}, {"email", f.email}};
    v["errors"] = std::move(errors);
    v["action"] = c.url("/signup");
    v["signin_url"] = c.url("/signin");
    return render(c, 422, "signup", std::move(v));
  }
  Result<json> scan = scan_view(c, *code);
  if (!scan) return server_error(c, scan.error());
  json v = common_view(c, "Scan to create " + f.org_name);
  v["heading"] = "Scan with the Avow app";
  v["text"] = "Open the Avow app and scan this code. Your phone becomes the key to " + f.org_name +
              "'s dashboard: there is no password.";
  v["scan"] = std::move(*scan);
  v["wait_url"] = c.url("/scan/" + code->record.id + "/wait");
  v["claim_url"] = c.url("/scan/" + code->record.id + "/claim");
  return render(c, 200, "scan_wait", std::move(v));
}

Response scan_claim(Ctx& c) {
  const std::string id(c.req.param("id").value_or(""));
  Result<store::AdminRecord> admin = access(c).claim_scan(id, c.browser_hash(), c.ip);
  if (!admin) {
    switch (admin.error().code) {
      case ErrorCode::kExpired:
        return message(c, 410, "The code expired", "Start again to get a new code.",
                       std::make_pair(c.url("/signin"), std::string("Sign in")));
      case ErrorCode::kNotFound:
      case ErrorCode::kPermissionDenied:
      case ErrorCode::kConflict:
        return message(c, 403, "Sign-in refused", "This code was not scanned for this browser, or was already used.",
                       std::make_pair(c.url("/signin"), std::string("Sign in")));
      default:
        return server_error(c, admin.error());
    }
  }
  return start_session(c, *admin, c.url("?done=welcome"));
}

Response push_claim(Ctx& c) {
  const std::string id(c.req.param("id").value_or(""));
  Result<store::AdminRecord> admin = access(c).claim_push(id, c.browser_hash(), c.ip);
  if (!admin) {
    switch (admin.error().code) {
      case ErrorCode::kUnauthenticated:
        return message(c, 403, "Sign-in not approved", "The request was denied on the phone or timed out.",
                       std::make_pair(c.url("/signin"), std::string("Try again")));
      case ErrorCode::kNotFound:
      case ErrorCode::kPermissionDenied:
      case ErrorCode::kConflict:
        return message(c, 403, "Sign-in refused", "This sign-in does not belong to this browser, or was already used.",
                       std::make_pair(c.url("/signin"), std::string("Sign in")));
      default:
        return server_error(c, admin.error());
    }
  }
  return start_session(c, *admin, c.url(""));
}

Response invite_page(Ctx& c) {
  const std::string code(c.req.param("code").value_or(""));
  auto found = access(c).invite_for(code);
  if (!found) {
    switch (found.error().code) {
      case ErrorCode::kExpired:
        return message(c, 410, "This invite has expired", "Ask the admin who invited you for a new link.");
      case ErrorCode::kConflict:
        return message(c, 410, "This invite was already used", "Sign in with the phone that accepted it.",
                       std::make_pair(c.url("/signin"), std::string("Sign in")));
      case ErrorCode::kUnauthenticated:
      case ErrorCode::kNotFound:
      case ErrorCode::kInvalidArgument:
        return message(c, 404, "Invite not found", "Check that you opened the whole link.");
      default:
        return server_error(c, found.error());
    }
  }
  const auto& [record, admin] = *found;
  auto org = store::OrgRepo(c.db).get(admin.org_id);
  if (!org) return server_error(c, org.error());
  const std::string url = c.public_url + "/s/" + code;
  Result<std::string> svg = web::qr_svg(url, kQrLabel);
  if (!svg) return server_error(c, svg.error());
  json v = common_view(c, "Join " + org->name + " on Avow");
  v["org_name"] = org->name;
  v["role"] = store::to_string(admin.role);
  v["invited_name"] = admin.display_name;
  v["scan"] = {{"url", url},
               {"qr_svg", *svg},
               {"id", record.id},
               {"expires_in", std::max<std::int64_t>(0, record.expires_at - c.d.clock->unix_now())}};
  v["wait_url"] = c.url("/scan/" + record.id + "/wait");
  v["claim_url"] = c.url("/invite/" + code + "/claim");
  return render(c, 200, "invite", std::move(v));
}

Response invite_claim(Ctx& c) {
  const std::string code(c.req.param("code").value_or(""));
  Result<store::AdminRecord> admin = access(c).claim_invite(code, c.ip);
  if (!admin) {
    switch (admin.error().code) {
      case ErrorCode::kExpired:
        return message(c, 410, "This invite has expired", "Ask the admin who invited you for a new link.");
      case ErrorCode::kConflict:
        return message(c, 409, "This invite was already used", "Sign in with the phone that accepted it.",
                       std::make_pair(c.url("/signin"), std::string("Sign in")));
      case ErrorCode::kPermissionDenied:
        return message(c, 403, "Invite withdrawn", "This admin account has been removed.");
      default:
        return message(c, 404, "Invite not found", "Check that you opened the whole link.");
    }
  }
  return start_session(c, *admin, c.url("?done=welcome"));
}

// ---- overview --------------------------------------------------------------------------------------------

// Names for the ids an audit row carries (admins, users, devices and integrations of this org), looked up once
// per page; an id this org does not know (or a deleted row) is shown as it is.
class AuditNames {
 public:
  explicit AuditNames(const Ctx& c) : c_(c) {
    if (auto admins = store::AdminRepo(c.db).list_by_org(c.org.id))
      for (const auto& a : *admins) names_["admin:" + a.id] = a.display_name;
    if (auto integrations = store::IntegrationRepo(c.db).list_by_org(c.org.id))
      for (const auto& i : *integrations) names_["integration:" + i.id] = i.name;
  }

  std::string name(std::string_view kind, const std::string& id) {
    if (id.empty()) return {};
    const std::string key = std::string(kind) + ":" + id;
    if (auto it = names_.find(key); it != names_.end()) return it->second;
    std::string found;
    if (kind == "user") {
      if (auto u = store::UserRepo(c_.db).get(id); u && u->org_id == c_.org.id)
        found = u->upn.empty() ? u->display_name : u->upn;
    } else if (kind == "device") {
      if (auto d = store::DeviceRepo(c_.db).get(id)) found = d->name;
    }
    if (found.empty()) found = id;
    names_[key] = found;
    return found;
  }

 private:
  const Ctx& c_;
  std::map<std::string, std::string> names_;
};

json audit_row(const store::AuditEventRecord& e, AuditNames& names) {
  std::string actor = e.actor_kind;
  if (!e.actor_id.empty()) actor += " " + names.name(e.actor_kind, e.actor_id);
  std::string subject = e.subject_kind;
  if (!e.subject_id.empty()) subject += " " + names.name(e.subject_kind, e.subject_id);
  return {{"id", e.id},
          {"at_text", utc_text(e.at)},
          {"kind", e.kind},
          {"actor", actor},
          {"subject", subject},
          {"user", e.user_id ? names.name("user", *e.user_id) : ""},
          {"integration", e.integration_id ? names.name("integration", *e.integration_id) : ""},
          {"ip", e.ip},
          {"details", e.details == "{}" ? "" : e.details}};
}

Response overview(Ctx& c) {
  auto integrations = store::IntegrationRepo(c.db).list_by_org(c.org.id);
  if (!integrations) return server_error(c, integrations.error());
  auto users = store::UserRepo(c.db).count_matching(c.org.id, {});
  if (!users) return server_error(c, users.error());
  auto devices = store::DeviceRepo(c.db).list_for_org(c.org.id, 1000);
  if (!devices) return server_error(c, devices.error());
  auto admins = store::AdminRepo(c.db).list_by_org(c.org.id);
  if (!admins) return server_error(c, admins.error());
  store::AuditQuery q;
  q.org_id = c.org.id;
  q.limit = 8;
  auto recent = store::AuditRepo(c.db).list(q);
  if (!recent) return server_error(c, recent.error());
  json v = common_view(c, "Overview");
  v["nav_overview"] = true;
  std::int64_t active_admins =
      std::count_if(admins->begin(), admins->end(), [](const auto& a) { return !a.disabled_at; });
  v["counts"] = {{"integrations", integrations->size()},
                 {"users", *users},
                 {"devices", devices->size()},
                 {"admins", active_admins}};
  v["has_integrations"] = !integrations->empty();
  json rows = json::array();
  AuditNames names(c);
  for (const auto& e : *recent) rows.push_back(audit_row(e, names));
  v["recent"] = std::move(rows);
  v["new_integration_url"] = c.url("/integrations/new");
  return render(c, 200, "overview", std::move(v));
}

// ---- integrations ----------------------------------------------------------------------------------------

// The integration `id` if it is this org's (and not deleted).
Result<store::IntegrationRecord> own_integration(const Ctx& c, std::string_view id) {
  auto i = store::IntegrationRepo(c.db).get(id);
  if (!i) return i;
  if (i->org_id != c.org.id || i->deleted_at) return fail(ErrorCode::kNotFound, "no such integration");
  return i;
}

std::string guest_policy_text(const store::IntegrationRecord& i) {
  switch (i.guest_policy) {
    case store::GuestPolicy::kAny:
      return "Members and B2B guests from any tenant";
    case store::GuestPolicy::kMembers:
      return "Members of this directory only";
    case store::GuestPolicy::kList: {
      std::string s = "Members, and guests from: ";
      for (std::size_t k = 0; k < i.guest_tenants.size(); ++k) s += (k ? ", " : "") + i.guest_tenants[k];
      return s;
    }
  }
  return "";
}

Response integrations_list(Ctx& c) {
  auto list = store::IntegrationRepo(c.db).list_by_org(c.org.id);
  if (!list) return server_error(c, list.error());
  json rows = json::array();
  for (const auto& i : *list)
    rows.push_back({{"id", i.id},
                    {"name", i.name},
                    {"directory_id", i.directory_id},
                    {"client_id", i.client_id},
                    {"status", store::to_string(i.status)},
                    {"enabled", i.status == store::IntegrationStatus::kEnabled},
                    {"last_success_text", utc_text(i.last_success_at)},
                    {"url", c.url("/integrations/" + i.id)}});
  json v = common_view(c, "Integrations");
  v["nav_integrations"] = true;
  v["empty"] = rows.empty();
  v["integrations"] = std::move(rows);
  v["new_url"] = c.url("/integrations/new");
  return render(c, 200, "integrations", std::move(v));
}

json integration_values(const store::IntegrationRecord& i) {
  std::string tenants;
  for (const auto& t : i.guest_tenants) tenants += (tenants.empty() ? "" : "\n") + t;
  return {{"name", i.name},
          {"directory_id", i.directory_id},
          {"app_id", i.app_id.value_or("")},
          {"cloud", store::to_string(i.cloud)},
          {"guest_policy", store::to_string(i.guest_policy)},
          {"guest_tenants", tenants},
          {"claim_type", i.claim_type},
          {"claim_value", i.claim_value}};
}

// Adds the booleans the form's selects need (`cloud_global`, `guest_any`, …).
void add_select_flags(json& values) {
  for (std::string_view cl : {"global", "usgov", "china"})
    values["cloud_" + std::string(cl)] = values.value("cloud", "global") == cl;
  for (std::string_view g : {"any", "members", "list"})
    values["guest_" + std::string(g)] = values.value("guest_policy", "any") == g;
}

Response integration_form(Ctx& c, int status, const std::optional<store::IntegrationRecord>& existing, json values,
                          json errors) {
  json v = common_view(c, existing ? "Edit " + existing->name : "New Entra integration");
  v["nav_integrations"] = true;
  v["mode_create"] = !existing;
  v["action"] = existing ? c.url("/integrations/" + existing->id) : c.url("/integrations");
  v["cancel_url"] = existing ? c.url("/integrations/" + existing->id) : c.url("/integrations");
  if (existing) v["integration"] = {{"id", existing->id}, {"name", existing->name}};
  add_select_flags(values);
  v["values"] = std::move(values);
  v["errors"] = std::move(errors);
  return render(c, status, "integration_form", std::move(v));
}

domain::IntegrationSpec spec_from(const Form& f) {
  domain::IntegrationSpec s;
  s.name = f.get("name");
  s.directory_id = f.get("directory_id");
  s.app_id = f.get("app_id");
  if (f.has("cloud")) s.cloud = f.get("cloud");
  if (f.has("claim_type")) s.claim_type = f.get("claim_type");
  if (f.has("claim_value")) s.claim_value = f.get("claim_value");
  if (f.has("guest_policy")) s.guest_policy = f.get("guest_policy");
  const std::string tenants = f.get("guest_tenants");
  std::string cur;
  for (char ch : tenants + "\n") {
    if (ch == '\n' || ch == ',' || ch == ' ' || ch == '\r' || ch == '\t') {
      if (!cur.empty()) s.guest_tenants.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  return s;
}

json form_values(const Form& f) {
  json v = {{"name", f.get("name")},
            {"directory_id", f.get("directory_id")},
            {"app_id", f.get("app_id")},
            {"cloud", f.has("cloud") ? f.get("cloud") : "global"},
            {"guest_policy", f.has("guest_policy") ? f.get("guest_policy") : "any"},
            {"guest_tenants", f.get("guest_tenants")},
            {"claim_type", f.has("claim_type") ? f.get("claim_type") : std::string(domain::kDefaultClaimType)},
            {"claim_value", f.has("claim_value") ? f.get("claim_value") : std::string(domain::kDefaultClaimValue)}};
  return v;
}

json integration_field_error(const Error& e) {
  auto [field, text] = field_error(e, "name");
  static const std::vector<std::pair<std::string, std::string>> kAliases = {
      {"directory", "directory_id"}, {"tenant", "directory_id"},  {"app", "app_id"}, {"claim", "claim_type"},
      {"guest", "guest_policy"},     {"guests", "guest_tenants"}, {"cloud", "cloud"}};
  for (const auto& [from, to] : kAliases)
    if (field == from) field = to;
  return {{field, text}};
}

Response integration_new(Ctx& c) {
  json values = {{"cloud", "global"},
                 {"guest_policy", "any"},
                 {"claim_type", std::string(domain::kDefaultClaimType)},
                 {"claim_value", std::string(domain::kDefaultClaimValue)}};
  return integration_form(c, 200, std::nullopt, std::move(values), json::object());
}

Response integration_create(Ctx& c) {
  const domain::IntegrationSpec spec = spec_from(c.form);
  Result<store::IntegrationRecord> created = tl::unexpected(Error{ErrorCode::kInternal, ""});
  Status st = c.db.transaction([&](store::Db& tx) -> Status {
    created = domain::IntegrationService(tx, *c.d.clock).create(c.org.id, spec);
    if (!created) return tl::unexpected(created.error());
    return audit(c, tx, "integration.created", "integration", created->id,
                 {{"name", created->name}, {"directory_id", created->directory_id}}, std::nullopt, created->id);
  });
  if (!st) {
    if (st.error().code == ErrorCode::kInvalidArgument)
      return integration_form(c, 422, std::nullopt, form_values(c.form), integration_field_error(st.error()));
    return server_error(c, st.error());
  }
  return redirect(c, c.url("/integrations/" + created->id + "?done=created"));
}

Response integration_detail(Ctx& c) {
  auto i = own_integration(c, c.req.param("id").value_or(""));
  if (!i) return i.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, i.error());
  const entra::ProviderUrls urls = entra::provider_urls(c.public_url, i->client_id);
  const std::string app_id = i->app_id.value_or("");
  json v = common_view(c, i->name);
  v["nav_integrations"] = true;
  v["integration"] = {{"id", i->id},
                      {"name", i->name},
                      {"status", store::to_string(i->status)},
                      {"enabled", i->status == store::IntegrationStatus::kEnabled},
                      {"directory_id", i->directory_id},
                      {"app_id", app_id},
                      {"client_id", i->client_id},
                      {"cloud", store::to_string(i->cloud)},
                      {"guest_policy_text", guest_policy_text(*i)},
                      {"claim", i->claim_type + " = " + i->claim_value},
                      {"created_text", utc_text(i->created_at)},
                      {"last_success_text", utc_text(i->last_success_at)},
                      {"seen_success", i->last_success_at.has_value()}};
  v["eam"] = {
      {"name", i->name}, {"client_id", i->client_id}, {"discovery_url", urls.discovery_url}, {"app_id", app_id}};
  v["custom_control_json"] = entra::custom_control_json(*i, c.public_url).dump(2);
  const std::string app_text =
      app_id.empty() ? "(the App ID of your Avow app registration — add it with Edit)" : app_id;
  json steps_eam =
      json::array({{{"text",
                     "In the Entra admin center, open Identity → Applications → App registrations → New registration. "
                     "Name it \"Avow\" and set its redirect URI to " +
                         urls.authorize_url + ". Copy its Application (client) ID into this integration as App ID."}},
                   {{"text", "Open Protection → Authentication methods → Policies → Add external method."}},
                   {{"text", "Name: " + i->name}},
                   {{"text", "Client ID: " + i->client_id}},
                   {{"text", "Discovery Endpoint: " + urls.discovery_url}},
                   {{"text", "App ID: " + app_text}},
                   {{"text",
                     "Save, enable the method and choose the users who will use Avow. Then require MFA for them with a "
                     "Conditional Access policy."}}});
  json steps_cc = json::array(
      {{{"text",
         "In the Entra admin center, open Protection → Conditional Access → Custom controls (preview) → "
         "New custom control."}},
       {{"text", "Replace the JSON in the form with the custom-control JSON above, then select Create."}},
       {{"text", "Create a Conditional Access policy: name it, select the users and the apps that will use Avow."}},
       {{"text", "Under Grant, select the control \"Require" + i->claim_type + "\", then Select."}},
       {{"text",
         "Set Enable policy to On and select Create. The first time a user meets Avow they scan a ScanCode; "
         "after that they approve a push."}}});
  v["steps_eam"] = std::move(steps_eam);
  v["steps_cc"] = std::move(steps_cc);
  const std::string base = c.url("/integrations/" + i->id);
  v["edit_url"] = base + "/edit";
  v["disable_url"] = base + "/disable";
  v["enable_url"] = base + "/enable";
  v["delete_url"] = base + "/delete";
  v["https"] = c.public_url.starts_with("https://");
  return render(c, 200, "integration", std::move(v));
}

Response integration_edit(Ctx& c) {
  auto i = own_integration(c, c.req.param("id").value_or(""));
  if (!i) return i.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, i.error());
  return integration_form(c, 200, *i, integration_values(*i), json::object());
}

Response integration_update(Ctx& c) {
  auto i = own_integration(c, c.req.param("id").value_or(""));
  if (!i) return i.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, i.error());
  const domain::IntegrationSpec spec = spec_from(c.form);
  Status st = c.db.transaction([&](store::Db& tx) -> Status {
    auto updated = domain::IntegrationService(tx, *c.d.clock).update(i->id, spec);
    if (!updated) return tl::unexpected(updated.error());
    return audit(c, tx, "integration.updated", "integration", i->id,
                 {{"name", updated->name}, {"directory_id", updated->directory_id}}, std::nullopt, i->id);
  });
  if (!st) {
    if (st.error().code == ErrorCode::kInvalidArgument)
      return integration_form(c, 422, *i, form_values(c.form), integration_field_error(st.error()));
    return server_error(c, st.error());
  }
  return redirect(c, c.url("/integrations/" + i->id + "?done=saved"));
}

Response integration_status(Ctx& c, bool enable) {
  auto i = own_integration(c, c.req.param("id").value_or(""));
  if (!i) return i.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, i.error());
  Status st = c.db.transaction([&](store::Db& tx) -> Status {
    domain::IntegrationService svc(tx, *c.d.clock);
    auto changed = enable ? svc.enable(i->id) : svc.disable(i->id);
    if (!changed) return changed.error().code == ErrorCode::kConflict ? ok() : Status(tl::unexpected(changed.error()));
    return audit(c, tx, enable ? "integration.enabled" : "integration.disabled", "integration", i->id, {}, std::nullopt,
                 i->id);
  });
  if (!st) return server_error(c, st.error());
  return redirect(c, c.url("/integrations/" + i->id + (enable ? "?done=enabled" : "?done=disabled")));
}

Response need_reauth(Ctx& c, const std::string& page) { return redirect(c, c.url("/reauth?next=" + url_encode(page))); }

Response integration_delete(Ctx& c) {
  auto i = own_integration(c, c.req.param("id").value_or(""));
  if (!i) return i.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, i.error());
  if (!c.reauthenticated()) return need_reauth(c, c.url("/integrations/" + i->id));
  Status st = c.db.transaction([&](store::Db& tx) -> Status {
    auto done = store::IntegrationRepo(tx).mark_deleted(i->id, c.d.clock->unix_now());
    if (!done) return tl::unexpected(done.error());
    if (!*done) return ok();
    return audit(c, tx, "integration.deleted", "integration", i->id, {{"name", i->name}}, std::nullopt, i->id);
  });
  if (!st) return server_error(c, st.error());
  return redirect(c, c.url("/integrations?done=deleted"));
}

// ---- users -----------------------------------------------------------------------------------------------

Result<store::UserRecord> own_user(const Ctx& c, std::string_view id) {
  auto u = store::UserRepo(c.db).get(id);
  if (!u) return u;
  if (u->org_id != c.org.id) return fail(ErrorCode::kNotFound, "no such user");
  return u;
}

Response users_list(Ctx& c) {
  store::UserQuery q;
  q.text = std::string(domain::trim(c.req.query_param("q").value_or(""))).substr(0, 200);
  const std::string status = c.req.query_param("status").value_or("");
  store::UserStatus st;
  if (store::parse(status, &st)) q.status = st;
  int page = 1;
  if (auto p = parse_int(c.req.query_param("page").value_or("1")); p && *p >= 1 && *p <= 100000)
    page = static_cast<int>(*p);
  q.limit = kUsersPerPage;
  q.offset = (page - 1) * kUsersPerPage;
  auto users = store::UserRepo(c.db).search(c.org.id, q);
  if (!users) return server_error(c, users.error());
  auto total = store::UserRepo(c.db).count_matching(c.org.id, q);
  if (!total) return server_error(c, total.error());
  json rows = json::array();
  for (const auto& u : *users) {
    auto devices = store::DeviceRepo(c.db).list_active_for_user(u.id);
    if (!devices) return server_error(c, devices.error());
    rows.push_back({{"id", u.id},
                    {"upn", u.upn},
                    {"display_name", u.display_name},
                    {"status", store::to_string(u.status)},
                    {"locked", u.status == store::UserStatus::kLocked},
                    {"guest", u.is_guest},
                    {"devices", devices->size()},
                    {"last_sign_in_text", utc_text(u.last_sign_in_at)},
                    {"url", c.url("/users/" + u.id)}});
  }
  auto page_url = [&](int p) {
    return c.url("/users?q=" + url_encode(q.text) + "&status=" + url_encode(q.status ? status : "") +
                 "&page=" + std::to_string(p));
  };
  json v = common_view(c, "Users");
  v["nav_users"] = true;
  v["q"] = q.text;
  v["status"] = q.status ? status : "";
  v["status_active"] = q.status && *q.status == store::UserStatus::kActive;
  v["status_locked"] = q.status && *q.status == store::UserStatus::kLocked;
  v["empty"] = rows.empty();
  v["searching"] = !q.text.empty() || q.status.has_value();
  v["users"] = std::move(rows);
  v["total"] = *total;
  v["page"] = page;
  if (page > 1) v["prev_url"] = page_url(page - 1);
  if (static_cast<std::int64_t>(page) * kUsersPerPage < *total) v["next_url"] = page_url(page + 1);
  v["search_url"] = c.url("/users");
  return render(c, 200, "users", std::move(v));
}

Response user_detail(Ctx& c) {
  auto u = own_user(c, c.req.param("id").value_or(""));
  if (!u) return u.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, u.error());
  auto bindings = store::BindingRepo(c.db).list_for_user(u->id);
  if (!bindings) return server_error(c, bindings.error());
  auto challenges = store::ChallengeRepo(c.db).list_for_user(u->id, 20);
  if (!challenges) return server_error(c, challenges.error());
  auto code_lock = store::UserRepo(c.db).code_lock(u->id);
  if (!code_lock) return server_error(c, code_lock.error());
  auto integrations = store::IntegrationRepo(c.db).list_by_org(c.org.id);
  if (!integrations) return server_error(c, integrations.error());

  json devices = json::array(), binding_rows = json::array(), challenge_rows = json::array();
  for (const auto& b : *bindings) {
    auto dev = store::DeviceRepo(c.db).get(b.device_id);
    if (!dev) return server_error(c, dev.error());
    binding_rows.push_back({{"id", b.id},
                            {"device_name", dev->name},
                            {"status", store::to_string(b.status)},
                            {"created_text", utc_text(b.created_at)},
                            {"revoked_text", utc_text(b.revoked_at, "")}});
    if (b.status == store::BindingStatus::kActive && dev->status == store::DeviceStatus::kActive)
      devices.push_back({{"id", dev->id},
                         {"name", dev->name},
                         {"status", store::to_string(dev->status)},
                         {"bound_text", utc_text(b.created_at)},
                         {"last_seen_text", utc_text(dev->last_seen_at)}});
  }
  for (const auto& ch : *challenges) {
    std::string integration;
    for (const auto& i : *integrations)
      if (ch.integration_id && i.id == *ch.integration_id) integration = i.name;
    challenge_rows.push_back({{"id", ch.id},
                              {"kind", store::to_string(ch.kind)},
                              {"state", store::to_string(ch.state)},
                              {"by_code", ch.approved_by_code},
                              {"created_text", utc_text(ch.created_at)},
                              {"integration", integration}});
  }
  const std::string base = c.url("/users/" + u->id);
  json v = common_view(c, u->upn.empty() ? u->display_name : u->upn);
  v["nav_users"] = true;
  v["user"] = {{"id", u->id},
               {"upn", u->upn},
               {"display_name", u->display_name},
               {"tenant_id", u->tenant_id},
               {"object_id", u->object_id},
               {"status", store::to_string(u->status)},
               {"locked", u->status == store::UserStatus::kLocked},
               {"guest", u->is_guest},
               {"allow_new_device", u->allow_new_device},
               {"codes_locked", code_lock->locked()},
               {"failed_attempts", u->failed_attempts},
               {"created_text", utc_text(u->created_at)},
               {"last_sign_in_text", utc_text(u->last_sign_in_at)}};
  v["has_devices"] = !devices.empty();
  v["devices"] = std::move(devices);
  v["bindings"] = std::move(binding_rows);
  v["has_challenges"] = !challenge_rows.empty();
  v["challenges"] = std::move(challenge_rows);
  v["reset_url"] = base + "/reset";
  v["allow_url"] = base + "/allow-device";
  v["lock_url"] = base + "/lock";
  v["unlock_url"] = base + "/unlock";
  v["unlock_codes_url"] = base + "/unlock-codes";
  v["audit_url"] = c.url("/audit?user=" + u->id);
  return render(c, 200, "user", std::move(v));
}

Response user_action(Ctx& c, std::string_view action) {
  auto u = own_user(c, c.req.param("id").value_or(""));
  if (!u) return u.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, u.error());
  const std::string page = c.url("/users/" + u->id);
  if (action == "reset" && !c.reauthenticated()) return need_reauth(c, page);
  std::string done;
  Status st = c.db.transaction([&](store::Db& tx) -> Status {
    const std::int64_t now = c.d.clock->unix_now();
    if (action == "reset") {
      auto n = store::BindingRepo(tx).revoke_all_for_user(u->id, now);
      if (!n) return tl::unexpected(n.error());
      done = "reset";
      return audit(c, tx, "user.binding_reset", "user", u->id, {{"bindings_revoked", *n}}, u->id);
    }
    if (action == "allow-device") {
      AVOW_TRY(domain::UserService(tx, *c.d.clock).allow_new_device(u->id, true));
      done = "allowed";
      return audit(c, tx, "user.new_device_allowed", "user", u->id, {}, u->id);
    }
    if (action == "lock" || action == "unlock") {
      domain::UserService users(tx, *c.d.clock);
      auto r = action == "lock" ? users.lock(u->id) : users.unlock(u->id);
      done = action == "lock" ? "locked" : "unlocked";
      if (!r) return r.error().code == ErrorCode::kConflict ? ok() : Status(tl::unexpected(r.error()));
      return audit(c, tx, action == "lock" ? "user.locked_by_admin" : "user.unlocked", "user", u->id, {}, u->id);
    }
    if (action == "unlock-codes") {
      auto r = domain::SignInService(tx, *c.d.clock).unlock_codes(u->id, "admin", c.me.id);
      if (!r) return tl::unexpected(r.error());
      done = "codes_unlocked";
      return ok();
    }
    return fail(ErrorCode::kNotFound, "no such action");
  });
  if (!st) return st.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, st.error());
  return redirect(c, page + "?done=" + done);
}

// ---- devices ---------------------------------------------------------------------------------------------

Response devices_list(Ctx& c) {
  auto devices = store::DeviceRepo(c.db).list_for_org(c.org.id, 1000);
  if (!devices) return server_error(c, devices.error());
  json rows = json::array();
  for (const auto& dev : *devices) {
    auto bindings = store::BindingRepo(c.db).list_for_device(dev.id);
    if (!bindings) return server_error(c, bindings.error());
    std::string users;
    for (const auto& b : *bindings) {
      if (b.status != store::BindingStatus::kActive) continue;
      auto u = store::UserRepo(c.db).get(b.user_id);
      if (!u || u->org_id != c.org.id) continue;  // another org's user: not shown here
      users += (users.empty() ? "" : ", ") + (u->upn.empty() ? u->display_name : u->upn);
    }
    if (users.empty()) continue;  // no active binding in this org any more
    const std::string base = c.url("/devices/" + dev.id);
    rows.push_back({{"id", dev.id},
                    {"name", dev.name},
                    {"status", store::to_string(dev.status)},
                    {"active", dev.status == store::DeviceStatus::kActive},
                    {"users", users},
                    {"last_seen_text", utc_text(dev.last_seen_at)},
                    {"rename_url", base + "/rename"},
                    {"revoke_url", base + "/revoke"}});
  }
  json v = common_view(c, "Devices");
  v["nav_devices"] = true;
  v["empty"] = rows.empty();
  v["devices"] = std::move(rows);
  return render(c, 200, "devices", std::move(v));
}

// The device `id` if it has an active binding to a user of this org.
Result<store::DeviceRecord> own_device(const Ctx& c, std::string_view id) {
  auto dev = store::DeviceRepo(c.db).get(id);
  if (!dev) return dev;
  auto bindings = store::BindingRepo(c.db).list_for_device(dev->id);
  if (!bindings) return tl::unexpected(bindings.error());
  for (const auto& b : *bindings) {
    if (b.status != store::BindingStatus::kActive) continue;
    auto u = store::UserRepo(c.db).get(b.user_id);
    if (u && u->org_id == c.org.id) return dev;
  }
  return fail(ErrorCode::kNotFound, "no such device");
}

Response device_action(Ctx& c, std::string_view action) {
  auto dev = own_device(c, c.req.param("id").value_or(""));
  if (!dev) return dev.error().code == ErrorCode::kNotFound ? not_found(c) : server_error(c, dev.error());
  const std::string page = c.url("/devices");
  if (action == "rename") {
    Result<std::string> name = domain::validate_name("name", c.form.get("name"), 64);
    if (!name)
      return message(c, 422, "Device not renamed", name.error().message, std::make_pair(page, std::string("Back")));
    auto outside = store::DeviceRepo(c.db).count_bindings_outside_org(dev->id, c.org.id);
    if (!outside) return server_error(c, outside.error());
    if (*outside > 0)
      return message(c, 409, "Device not renamed",
                     "This phone is also used with another organization, so only its owner can rename it (in the "
                     "Avow app).",
                     std::make_pair(page, std::string("Back")));
    Status st = c.db.transaction([&](store::Db& tx) -> Status {
      AVOW_TRY(store::DeviceRepo(tx).rename(dev->id, *name));
      return audit(c, tx, "device.renamed", "device", dev->id, {{"from", dev->name}, {"to", *name}});
    });
    if (!st) return server_error(c, st.error());
    return redirect(c, page + "?done=renamed");
  }
  if (!c.reauthenticated()) return need_reauth(c, page);
  Status st = c.db.transaction([&](store::Db& tx) -> Status {
    auto n = store::BindingRepo(tx).revoke_for_device_in_org(dev->id, c.org.id, c.d.clock->unix_now());
    if (!n) return tl::unexpected(n.error());
    return audit(c, tx, "device.removed_from_org", "device", dev->id, {{"bindings_revoked", *n}});
  });
  if (!st) return server_error(c, st.error());
  return redirect(c, page + "?done=revoked");
}

// ---- admins ----------------------------------------------------------------------------------------------

Response admins_page(Ctx& c, int status, json values, json errors) {
  auto admins = store::AdminRepo(c.db).list_by_org(c.org.id);
  if (!admins) return server_error(c, admins.error());
  json rows = json::array();
  for (const auto& a : *admins) {
    const std::string st = a.disabled_at ? "removed" : a.device_id ? "active" : "invited";
    const bool removable = !a.disabled_at && a.id != c.me.id &&
                           (c.me.role == store::AdminRole::kOwner || a.role != store::AdminRole::kOwner);
    rows.push_back({{"id", a.id},
                    {"display_name", a.display_name},
                    {"email", a.email},
                    {"role", store::to_string(a.role)},
                    {"status", st},
                    {"active", st == "active"},
                    {"invited", st == "invited"},
                    {"removed", st == "removed"},
                    {"is_me", a.id == c.me.id},
                    {"removable", removable},
                    {"remove_url", c.url("/admins/" + a.id + "/remove")},
                    {"role_url", c.url("/admins/" + a.id + "/role")},
                    {"is_owner", a.role == store::AdminRole::kOwner},
                    // Owners change roles of enabled admins other than themselves.
                    {"can_change_role", !a.disabled_at && a.id != c.me.id && c.me.role == store::AdminRole::kOwner}});
  }
  json v = common_view(c, "Admins");
  v["nav_admins"] = true;
  v["admins"] = std::move(rows);
  if (!values.contains("role")) values["role"] = "admin";
  values["role_owner"] = values["role"] == "owner";
  values["role_admin"] = values["role"] != "owner";
  v["values"] = std::move(values);
  v["errors"] = std::move(errors);
  v["can_invite_owner"] = c.me.role == store::AdminRole::kOwner;
  v["invite_url"] = c.url("/admins/invite");
  return render(c, status, "admins", std::move(v));
}

Response admin_invite(Ctx& c) {
  if (!c.reauthenticated()) return need_reauth(c, c.url("/admins"));
  const std::string name = c.form.get("display_name"), email = c.form.get("email"), role_text = c.form.get("role");
  json values = {{"display_name", name}, {"email", email}, {"role", role_text}};
  store::AdminRole role;
  if (!store::parse(role_text, &role)) return admins_page(c, 422, values, {{"role", "Choose owner or admin."}});
  auto invited = access(c).invite(c.org.id, c.me.id, name, email, role, c.ip);
  if (!invited) {
    switch (invited.error().code) {
      case ErrorCode::kInvalidArgument: {
        auto [field, text] = field_error(invited.error(), "display_name");
        if (field == "name") field = "display_name";
        return admins_page(c, 422, values, {{field, text}});
      }
      case ErrorCode::kAlreadyExists:
        return admins_page(c, 422, values, {{"email", "An admin with this email already exists."}});
      case ErrorCode::kPermissionDenied:
        return admins_page(c, 403, values, {{"role", "Only an owner can invite an owner."}});
      default:
        return server_error(c, invited.error());
    }
  }
  json v = common_view(c, "Invite created");
  v["nav_admins"] = true;
  v["invite"] = {{"url", c.public_url + "/dashboard/invite/" + invited->code.code},
                 {"expires_at_text", utc_text(invited->code.record.expires_at)},
                 {"display_name", invited->admin.display_name},
                 {"email", invited->admin.email},
                 {"role", store::to_string(invited->admin.role)}};
  v["admins_url"] = c.url("/admins");
  return render(c, 200, "invite_created", std::move(v));
}

Response admin_remove(Ctx& c) {
  const std::string id(c.req.param("id").value_or(""));
  if (!c.reauthenticated()) return need_reauth(c, c.url("/admins"));
  auto removed = access(c).remove(c.org.id, c.me.id, id, c.ip);
  if (!removed) {
    switch (removed.error().code) {
      case ErrorCode::kNotFound:
        return not_found(c);
      case ErrorCode::kConflict:
        return admins_page(c, 409, json::object(),
                           {{"remove", "The last owner can't be removed. Make another admin an owner first."}});
      case ErrorCode::kPermissionDenied:
        return admins_page(c, 403, json::object(), {{"remove", "Only an owner can remove an owner."}});
      default:
        return server_error(c, removed.error());
    }
  }
  return redirect(c, c.url("/admins?done=removed"));
}

Response admin_role(Ctx& c) {
  const std::string id(c.req.param("id").value_or(""));
  if (!c.reauthenticated()) return need_reauth(c, c.url("/admins"));
  store::AdminRole role;
  if (!store::parse(c.form.get("role"), &role))
    return admins_page(c, 422, json::object(), {{"remove", "Choose owner or admin."}});
  auto changed = access(c).set_role(c.org.id, c.me.id, id, role, c.ip);
  if (!changed) {
    switch (changed.error().code) {
      case ErrorCode::kNotFound:
        return not_found(c);
      case ErrorCode::kConflict:
        return admins_page(
            c, 409, json::object(),
            {{"remove", "The last owner can't stop being an owner. Make another admin an owner first."}});
      case ErrorCode::kPermissionDenied:
        return admins_page(c, 403, json::object(), {{"remove", "Only an owner can change roles."}});
      default:
        return server_error(c, changed.error());
    }
  }
  return redirect(c, c.url("/admins?done=role"));
}

// ---- audit log -------------------------------------------------------------------------------------------

struct AuditFilter {
  store::AuditQuery query;
  json filters = json::object();
  std::string query_string;  // the filters as a query string (for links)
};

const std::vector<std::pair<std::string, std::string>>& audit_kinds() {
  static const std::vector<std::pair<std::string, std::string>> kKinds = {
      {"", "All events"},         {"signin.", "Sign-ins"},          {"challenge.", "Push answers"},
      {"admin.", "Admin access"}, {"integration.", "Integrations"}, {"user.", "Users"},
      {"device.", "Devices"},     {"binding.", "Bindings"},         {"settings.", "Settings"}};
  return kKinds;
}

AuditFilter audit_filter(const Ctx& c) {
  AuditFilter f;
  f.query.org_id = c.org.id;
  auto param = [&](std::string_view name) {
    return std::string(domain::trim(c.req.query_param(name).value_or(""))).substr(0, 100);
  };
  const std::string user = param("user"), integration = param("integration"), kind = param("kind"),
                    from = param("from"), to = param("to");
  if (!user.empty()) {
    // A user id, or a UPN typed in the filter (matched without regard to case).
    f.query.user_id = user;
    auto by_id = store::UserRepo(c.db).get(user);
    if (!by_id || by_id->org_id != c.org.id) {
      store::UserQuery uq;
      uq.text = user;
      uq.limit = 20;
      if (auto found = store::UserRepo(c.db).search(c.org.id, uq)) {
        auto lower = [](std::string v) {
          std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return std::tolower(ch); });
          return v;
        };
        for (const auto& u : *found)
          if (lower(u.upn) == lower(user)) f.query.user_id = u.id;
      }
    }
  }
  if (!integration.empty()) f.query.integration_id = integration;
  for (const auto& [value, label] : audit_kinds())
    if (!kind.empty() && value == kind) f.query.kind_prefix = kind;
  if (auto t = parse_day(from)) f.query.from = *t;
  if (auto t = parse_day(to)) f.query.to = *t + 86400;  // the whole day
  if (auto b = parse_int(param("before")); b && *b > 0) f.query.before_id = *b;
  f.filters = {{"user", user}, {"integration", integration}, {"kind", kind}, {"from", from}, {"to", to}};
  f.query_string = "user=" + url_encode(user) + "&integration=" + url_encode(integration) +
                   "&kind=" + url_encode(kind) + "&from=" + url_encode(from) + "&to=" + url_encode(to);
  return f;
}

Response audit_page(Ctx& c) {
  AuditFilter f = audit_filter(c);
  f.query.limit = kAuditPerPage + 1;
  auto events = store::AuditRepo(c.db).list(f.query);
  if (!events) return server_error(c, events.error());
  auto integrations = store::IntegrationRepo(c.db).list_by_org(c.org.id);
  if (!integrations) return server_error(c, integrations.error());
  const bool more = static_cast<int>(events->size()) > kAuditPerPage;
  if (more) events->resize(kAuditPerPage);
  json rows = json::array();
  AuditNames names(c);
  for (const auto& e : *events) rows.push_back(audit_row(e, names));
  json kinds = json::array();
  for (const auto& [value, label] : audit_kinds())
    kinds.push_back({{"value", value}, {"label", label}, {"selected", f.filters["kind"] == value}});
  json integ = json::array();
  for (const auto& i : *integrations)
    integ.push_back({{"id", i.id}, {"name", i.name}, {"selected", f.filters["integration"] == i.id}});
  json v = common_view(c, "Audit log");
  v["nav_audit"] = true;
  v["filters"] = f.filters;
  v["kinds"] = std::move(kinds);
  v["integrations"] = std::move(integ);
  v["empty"] = rows.empty();
  v["events"] = std::move(rows);
  if (more) v["next_url"] = c.url("/audit?" + f.query_string + "&before=" + std::to_string(events->back().id));
  if (f.query.before_id) v["first_url"] = c.url("/audit?" + f.query_string);
  v["csv_url"] = c.url("/audit.csv?" + f.query_string);
  v["json_url"] = c.url("/audit.json?" + f.query_string);
  v["filter_url"] = c.url("/audit");
  return render(c, 200, "audit", std::move(v));
}

std::string csv_field(std::string_view s) {
  std::string out = "\"";
  // A leading = + - @ would be read as a formula by spreadsheets.
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) out += '\'';
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

Response audit_export(Ctx& c, bool as_csv) {
  AuditFilter f = audit_filter(c);
  std::vector<store::AuditEventRecord> all;
  while (static_cast<int>(all.size()) < kMaxExportRows) {
    f.query.limit = 500;
    auto page = store::AuditRepo(c.db).list(f.query);
    if (!page) return server_error(c, page.error());
    if (page->empty()) break;
    f.query.before_id = page->back().id;
    for (auto& e : *page)
      if (static_cast<int>(all.size()) < kMaxExportRows) all.push_back(std::move(e));
    if (page->size() < 500) break;
  }
  Response r;
  if (as_csv) {
    std::string body =
        "id,time_utc,kind,actor_kind,actor_id,subject_kind,subject_id,user_id,integration_id,ip,details\r\n";
    for (const auto& e : all) {
      body += std::to_string(e.id) + "," + csv_field(utc_text(e.at)) + "," + csv_field(e.kind) + "," +
              csv_field(e.actor_kind) + "," + csv_field(e.actor_id) + "," + csv_field(e.subject_kind) + "," +
              csv_field(e.subject_id) + "," + csv_field(e.user_id.value_or("")) + "," +
              csv_field(e.integration_id.value_or("")) + "," + csv_field(e.ip) + "," + csv_field(e.details) + "\r\n";
    }
    r = Response::text(200, std::move(body), "text/csv; charset=utf-8");
    r.set_header("Content-Disposition", "attachment; filename=\"avow-audit.csv\"");
  } else {
    json rows = json::array();
    for (const auto& e : all) {
      json details = json::parse(e.details, nullptr, false);
      rows.push_back({{"id", e.id},
                      {"at", e.at},
                      {"time_utc", utc_text(e.at)},
                      {"kind", e.kind},
                      {"actor", {{"kind", e.actor_kind}, {"id", e.actor_id}}},
                      {"subject", {{"kind", e.subject_kind}, {"id", e.subject_id}}},
                      {"user_id", e.user_id ? json(*e.user_id) : json(nullptr)},
                      {"integration_id", e.integration_id ? json(*e.integration_id) : json(nullptr)},
                      {"ip", e.ip},
                      {"details", details.is_discarded() ? json(e.details) : details}});
    }
    r = Response::json(200, {{"org_id", c.org.id}, {"events", std::move(rows)}});
    r.set_header("Content-Disposition", "attachment; filename=\"avow-audit.json\"");
  }
  r.set_header("Cache-Control", "no-store");
  return r;
}

// ---- settings --------------------------------------------------------------------------------------------

json settings_values(const store::OrgSettingsRecord& s) {
  return {{"challenge_ttl_seconds", std::to_string(s.challenge_ttl_seconds)},
          {"number_digits", std::to_string(s.number_digits)},
          {"max_pushes_per_hour", std::to_string(s.max_pushes_per_hour)},
          {"lockout_max_failures", std::to_string(s.lockout_max_failures)},
          {"code_lockout_threshold", std::to_string(s.code_lockout_threshold)}};
}

Response settings_view(Ctx& c, int status, json values, json errors) {
  json v = common_view(c, "Settings");
  v["nav_settings"] = true;
  values["digits_2"] = values.value("number_digits", "") == "2";
  values["digits_3"] = values.value("number_digits", "") == "3";
  v["values"] = std::move(values);
  v["errors"] = std::move(errors);
  v["action"] = c.url("/settings");
  return render(c, status, "settings", std::move(v));
}

Response settings_page(Ctx& c) {
  auto s = domain::SettingsService(c.db, *c.d.clock).get(c.org.id, c.d.sign_in);
  if (!s) return server_error(c, s.error());
  return settings_view(c, 200, settings_values(*s), json::object());
}

Response settings_post(Ctx& c) {
  domain::SettingsForm f{c.form.get("challenge_ttl_seconds"), c.form.get("number_digits"),
                         c.form.get("max_pushes_per_hour"), c.form.get("lockout_max_failures"),
                         c.form.get("code_lockout_threshold")};
  auto saved = domain::SettingsService(c.db, *c.d.clock).save(c.org.id, f, c.me.id, c.ip);
  if (!saved) {
    if (saved.error().code != ErrorCode::kInvalidArgument) return server_error(c, saved.error());
    json values = {{"challenge_ttl_seconds", f.challenge_ttl_seconds},
                   {"number_digits", f.number_digits},
                   {"max_pushes_per_hour", f.max_pushes_per_hour},
                   {"lockout_max_failures", f.lockout_max_failures},
                   {"code_lockout_threshold", f.code_lockout_threshold}};
    json errors = json::object();
    for (const std::string& m : domain::settings_errors(f)) {
      auto [field, text] = field_error(Error{ErrorCode::kInvalidArgument, m}, "challenge_ttl_seconds");
      errors[field] = text;
    }
    if (errors.empty()) errors["challenge_ttl_seconds"] = field_error(saved.error(), "challenge_ttl_seconds").second;
    return settings_view(c, 422, std::move(values), std::move(errors));
  }
  return redirect(c, c.url("/settings?done=settings"));
}

// ---- re-authentication and sign-out ------------------------------------------------------------------------

Response reauth_page(Ctx& c) {
  const std::string next = safe_next(c.req.query_param("next").value_or(""), c.base);
  json v = common_view(c, "Confirm it's you");
  v["next"] = next;
  v["action"] = c.url("/reauth");
  v["has_device"] = c.me.device_id.has_value();
  return render(c, 200, "reauth", std::move(v));
}

Response reauth_post(Ctx& c) {
  const std::string next = safe_next(c.form.get("next"), c.base);
  auto opened = access(c).begin_reauth(c.me.id, c.browser_hash(), context_of(c));
  if (!opened) {
    if (opened.error().code == ErrorCode::kPermissionDenied)
      return message(c, 403, "No phone linked", "Your admin account has no phone to confirm with.");
    if (opened.error().code == ErrorCode::kExhausted)
      return message(c, 429, "Too many requests", "Your phone got too many pushes in the last hour. Try again later.");
    return server_error(c, opened.error());
  }
  publish(c, *opened);
  return push_wait_page(c, opened->challenge.number, opened->challenge.id, "reauth", next);
}

Response reauth_finish(Ctx& c) {
  const std::string id(c.req.param("id").value_or(""));
  const std::string next = safe_next(c.form.get("next"), c.base);
  Status st = access(c).finish_reauth(id, c.browser_hash(), c.me.id, c.session_hash, c.ip);
  if (!st) {
    if (st.error().code == ErrorCode::kUnauthenticated)
      return message(c, 403, "Not confirmed", "The request was denied on your phone or timed out.",
                     std::make_pair(c.url("/reauth?next=" + url_encode(next)), std::string("Try again")));
    if (st.error().code == ErrorCode::kNotFound || st.error().code == ErrorCode::kPermissionDenied ||
        st.error().code == ErrorCode::kConflict)
      return message(c, 403, "Not confirmed",
                     "This confirmation does not belong to this browser, or was already used.");
    return server_error(c, st.error());
  }
  return redirect(c, next);
}

Response signout(Ctx& c, bool everywhere) {
  std::optional<std::string_view> token = web::cookie_value(c.req.header("cookie").value_or(""), kSessionCookie);
  domain::SessionService sessions(c.db, *c.d.clock, c.d.sessions);
  Status st = ok();
  if (everywhere) {
    auto n = sessions.end_all_for_admin(c.me.id);
    if (!n)
      st = tl::unexpected(n.error());
    else
      st = audit(c, c.db, "admin.signed_out_everywhere", "admin", c.me.id, {{"sessions", *n}});
  } else if (token) {
    st = sessions.end(*token);
  }
  if (!st) return server_error(c, st.error());
  Response r = redirect(c, c.url("/signin"));
  r.add_header("Set-Cookie", cookie(kSessionCookie, "", c.base + "/dashboard", 0, secure(c)));
  return r;
}

// ---- waits (JSON long-polls) -----------------------------------------------------------------------------

// One read of a wait: {"state": …}.
Response scan_wait_read(Ctx& c) {
  auto state = access(c).scan_state(c.req.param("id").value_or(""), c.browser_hash());
  if (!state) {
    if (state.error().code == ErrorCode::kNotFound) return Response::json(404, {{"state", "unknown"}});
    return Response::json(503, {{"error", "unavailable"}});
  }
  const char* s = *state == domain::ScanWait::kScanned   ? "scanned"
                  : *state == domain::ScanWait::kExpired ? "expired"
                                                         : "waiting";
  return Response::json(200, {{"state", s}});
}

Response push_wait_read(Ctx& c) {
  const std::string id(c.req.param("id").value_or(""));
  auto ch = domain::ChallengeService(c.db, *c.d.clock).get(id);
  if (!ch) {
    // An unknown id (the decoy of an unknown email) waits like a pending one.
    if (ch.error().code == ErrorCode::kNotFound) return Response::json(200, {{"state", "pending"}});
    return Response::json(503, {{"error", "unavailable"}});
  }
  // Only the browser that started it learns its state.
  if (ch->kind != store::ChallengeKind::kAdminSignin || !constant_time_equal(ch->flow_secret_hash, c.browser_hash()))
    return Response::json(200, {{"state", "pending"}});
  return Response::json(200, {{"state", store::to_string(ch->state)}});
}

asio::awaitable<Response> wait_route(Request req, Deps d, std::string topic_prefix, RouteSpec read) {
  const std::string id(req.param("id").value_or(""));
  if (id.empty() || id.size() > 64) co_return Response::json(404, {{"state", "unknown"}});
  events::Subscription sub = co_await d->hub->subscribe(topic_prefix + id);
  const auto deadline = std::chrono::steady_clock::now() + d->long_poll;
  for (;;) {
    // The awaitable is made first: GCC 12 mishandles temporaries inside a co_await expression.
    asio::awaitable<Response> once = run_route(req, d, read);
    Response r = co_await std::move(once);
    if (r.status != 200) co_return r;
    const json body = json::parse(r.body, nullptr, false);
    const std::string state = body.is_object() ? body.value("state", "") : "";
    const auto now = std::chrono::steady_clock::now();
    if ((state != "waiting" && state != "pending") || now >= deadline) co_return r;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    co_await sub.wait(std::min(left, std::chrono::milliseconds(5000)));
  }
}

}  // namespace

Status add_dashboard_routes(http::Router& router, DashboardDeps in) {
  if (!in.pool || !in.database || !in.hub || !in.clock || !in.public_url)
    return fail(ErrorCode::kInvalidArgument, "dashboard routes: a dependency is missing");
  auto d = std::make_shared<const DashboardDeps>(std::move(in));
  const http::RouteOptions form_limit{.max_body_bytes = kMaxFormBytes};

  auto add = [&](const char* method, std::string path, Access access, PageFn fn) -> Status {
    RouteSpec spec{access, std::move(fn)};
    http::AsyncHandler h = [d, spec](Request r) { return run_route(std::move(r), d, spec); };
    return router.add(method, "/dashboard" + path, std::move(h), form_limit);
  };
  auto add_wait = [&](std::string path, std::string topic, PageFn read) -> Status {
    RouteSpec spec{Access::kPublic, std::move(read)};
    http::AsyncHandler h = [d, topic, spec](Request r) { return wait_route(std::move(r), d, topic, spec); };
    return router.add("GET", "/dashboard" + path, std::move(h));
  };
  // The server's root opens the dashboard.
  AVOW_TRY(router.add("GET", "/", http::SyncHandler([d](const Request&) {
                        Response r = Response::text(303, "", kHtml);
                        r.set_header("Location", entra::url_base_path(d->public_url->get()) + "/dashboard");
                        return r;
                      })));
  const auto pub = Access::kPublic;
  const auto in_ = Access::kSignedIn;

  AVOW_TRY(add("GET", "/signin", pub, [](Ctx& c) { return signin_page(c); }));
  AVOW_TRY(add("POST", "/signin/push", pub, signin_push));
  AVOW_TRY(add("GET", "/signup", pub, signup_page));
  AVOW_TRY(add("POST", "/signup", pub, signup_post));
  AVOW_TRY(add_wait("/scan/{id}/wait", "scan:", scan_wait_read));
  AVOW_TRY(add("POST", "/scan/{id}/claim", pub, scan_claim));
  AVOW_TRY(add_wait("/push/{id}/wait", "challenge:", push_wait_read));
  AVOW_TRY(add("POST", "/push/{id}/claim", pub, push_claim));
  AVOW_TRY(add("GET", "/invite/{code}", pub, invite_page));
  AVOW_TRY(add("POST", "/invite/{code}/claim", pub, invite_claim));

  AVOW_TRY(add("GET", "", in_, overview));
  AVOW_TRY(add("GET", "/integrations", in_, integrations_list));
  AVOW_TRY(add("GET", "/integrations/new", in_, integration_new));
  AVOW_TRY(add("POST", "/integrations", in_, integration_create));
  AVOW_TRY(add("GET", "/integrations/{id}", in_, integration_detail));
  AVOW_TRY(add("GET", "/integrations/{id}/edit", in_, integration_edit));
  AVOW_TRY(add("POST", "/integrations/{id}", in_, integration_update));
  AVOW_TRY(add("POST", "/integrations/{id}/disable", in_, [](Ctx& c) { return integration_status(c, false); }));
  AVOW_TRY(add("POST", "/integrations/{id}/enable", in_, [](Ctx& c) { return integration_status(c, true); }));
  AVOW_TRY(add("POST", "/integrations/{id}/delete", in_, integration_delete));
  AVOW_TRY(add("GET", "/users", in_, users_list));
  AVOW_TRY(add("GET", "/users/{id}", in_, user_detail));
  for (const char* action : {"reset", "allow-device", "lock", "unlock", "unlock-codes"}) {
    const std::string a = action;
    AVOW_TRY(add("POST", "/users/{id}/" + a, in_, [a](Ctx& c) { return user_action(c, a); }));
  }
  AVOW_TRY(add("GET", "/devices", in_, devices_list));
  AVOW_TRY(add("POST", "/devices/{id}/rename", in_, [](Ctx& c) { return device_action(c, "rename"); }));
  AVOW_TRY(add("POST", "/devices/{id}/revoke", in_, [](Ctx& c) { return device_action(c, "revoke"); }));
  AVOW_TRY(add("GET", "/admins", in_, [](Ctx& c) { return admins_page(c, 200, json::object(), json::object()); }));
  AVOW_TRY(add("POST", "/admins/invite", in_, admin_invite));
  AVOW_TRY(add("POST", "/admins/{id}/remove", in_, admin_remove));
  AVOW_TRY(add("POST", "/admins/{id}/role", in_, admin_role));
  AVOW_TRY(add("GET", "/audit", in_, audit_page));
  AVOW_TRY(add("GET", "/audit.csv", in_, [](Ctx& c) { return audit_export(c, true); }));
  AVOW_TRY(add("GET", "/audit.json", in_, [](Ctx& c) { return audit_export(c, false); }));
  AVOW_TRY(add("GET", "/settings", in_, settings_page));
  AVOW_TRY(add("POST", "/settings", in_, settings_post));
  AVOW_TRY(add("GET", "/reauth", in_, reauth_page));
  AVOW_TRY(add("POST", "/reauth", in_, reauth_post));
  AVOW_TRY(add("POST", "/reauth/{id}/finish", in_, reauth_finish));
  AVOW_TRY(add("POST", "/signout", in_, [](Ctx& c) { return signout(c, false); }));
  AVOW_TRY(add("POST", "/signout-everywhere", in_, [](Ctx& c) { return signout(c, true); }));
  return ok();
}

}  // namespace avow::dashboard
