// The Entra routes driven in-process through the Router: Microsoft's side is the simulator's Tenant, the
// device side calls SignInService directly. No sockets, no sleeping: the long-poll is woken by notify.
#include <utility>  // before Asio: asio#944

#include "entra/routes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/logging.h"
#include "common/random.h"
#include "crypto/keyring.h"
#include "domain/devices.h"
#include "domain/integrations.h"
#include "domain/settings.h"
#include "domain/sign_in.h"
#include "store/database.h"
#include "store/repositories.h"
#include "tools/entra-sim/microsoft.h"

namespace avow::entra {
namespace {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using nlohmann::json;

constexpr char kPublicUrl[] = "https://mfa.example.test";
constexpr char kDirectory[] = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr char kGuestTenant[] = "44444444-4444-4444-8444-444444444444";
constexpr char kAppId[] = "11111111-2222-4333-8444-555555555555";
constexpr char kKeysUrl[] = "https://sim.example.test/keys";

// Serves the tenant's JWKS; a test can make it fail or serve a stale set first.
class FakeFetcher final : public KeyFetcher {
 public:
  Result<std::string> fetch(const std::string& url) override {
    ++calls;
    if (url != kKeysUrl) return fail(ErrorCode::kUnavailable, "unexpected URL " + url);
    if (down) return fail(ErrorCode::kUnavailable, "connection refused");
    if (!stale.empty()) return std::exchange(stale, std::string());
    return body;
  }
  std::string body;
  std::string stale;  // served once, before `body`
  bool down = false;
  int calls = 0;
};

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form_body(const FormFields& fields) {
  std::string body;
  for (const auto& [k, v] : fields) body += (body.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
  return body;
}

std::string html_unescape(std::string s) {
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
      s.replace(p, from.size(), to);
  }
  return s;
}

// The hidden inputs of a form_post page.
std::map<std::string, std::string> posted_fields(const std::string& page) {
  std::map<std::string, std::string> out;
  const std::regex input("<input type=\"hidden\" name=\"([^\"]*)\" value=\"([^\"]*)\">");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), input); it != std::sregex_iterator(); ++it)
    out[html_unescape((*it)[1])] = html_unescape((*it)[2]);
  return out;
}

std::string attribute(const std::string& page, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(page, m, std::regex(name + "=\"([^\"]*)\""))) return {};
  return html_unescape(m[1]);
}

// A 400 invalid_request whose description mentions `mentions`.
void expect_invalid(const Response& r, const std::string& mentions) {
  EXPECT_EQ(r.status, 400) << r.body;
  if (r.status != 400) return;
  json j = json::parse(r.body);
  EXPECT_EQ(j["error"], "invalid_request");
  EXPECT_NE(j["error_description"].get<std::string>().find(mentions), std::string::npos) << j["error_description"];
}

asio::awaitable<void> invoke(http::AsyncHandler handler, Request req, std::optional<Response>* out) {
  *out = co_await handler(std::move(req));
}

asio::awaitable<void> subscribe_to(events::Hub* hub, std::string topic, std::optional<events::Subscription>* out) {
  out->emplace(co_await hub->subscribe(std::move(topic)));
}

class EntraRoutesTest : public ::testing::Test {
 protected:
  // RSA key generation is the slow part: one Microsoft tenant and one key ring for the whole suite.
  static void SetUpTestSuite() {
    auto tenant = entra_sim::Tenant::create();
    if (tenant) tenant_.emplace(std::move(*tenant));
    auto ring = crypto::KeyRing::open(*key_store_, crypto::MasterKey::generate(), SystemClock::instance());
    if (ring) ring_ = std::move(*ring);
  }
  static void TearDownTestSuite() {
    ring_.reset();
    tenant_.reset();
  }

  void SetUp() override {
    log::init(log::Level::kOff);
    store::SqliteOptions opts;
    opts.path = ":memory:";
    auto db = store::open_sqlite(opts);
    ASSERT_TRUE(db) << db.error().message;
    database_ = *db;
    ASSERT_TRUE(database_->migrate());

    ASSERT_TRUE(tenant_ && ring_) << "suite set-up failed";
    fetcher_.body = tenant_->jwks().dump();
    KeyCacheOptions cache;
    cache.min_refresh_interval = std::chrono::seconds(0);
    ms_keys_ = std::make_unique<MicrosoftKeys>(fetcher_, clock_, cache);

    integration_ = new_integration("any");
    ASSERT_TRUE(add_routes());
  }

  Status add_routes(std::string public_url = kPublicUrl, EntraFlowTiming timing = {}) {
    EntraRouteDeps deps;
    deps.pool = &pool_;
    deps.database = database_;
    deps.hub = &hub_;
    deps.push = &push_;
    deps.key_ring = ring_.get();
    deps.microsoft_keys = ms_keys_.get();
    deps.clock = &clock_;
    deps.public_url = std::make_shared<PublicUrl>();
    if (!public_url.empty()) AVOW_TRY(deps.public_url->set(std::move(public_url)));
    public_url_ = deps.public_url;
    deps.keys_url = kKeysUrl;
    deps.timing = timing;
    deps.timing.long_poll = std::chrono::seconds(20);
    return add_entra_routes(router_, deps);
  }

  store::IntegrationRecord new_integration(const std::string& guests) {
    auto conn = database_->connection();
    EXPECT_TRUE(conn);
    if (org_id_.empty()) {
      org_id_ = new_id();
      EXPECT_TRUE(store::OrgRepo(**conn).create({org_id_, "Contoso", clock_.unix_now()}));
    }
    domain::IntegrationSpec spec;
    spec.name = "Contoso Entra";
    spec.directory_id = kDirectory;
    spec.app_id = kAppId;
    spec.guest_policy = guests;
    auto i = domain::IntegrationService(**conn, clock_).create(org_id_, spec);
    EXPECT_TRUE(i) << i.error().message;
    return *i;
  }

  Response call(Request req) {
    http::RouteMatch m = router_.match(req.method, req.path);
    EXPECT_EQ(m.kind, http::RouteMatch::kFound) << req.method << " " << req.path;
    if (m.kind != http::RouteMatch::kFound) return Response::text(599, "no route");
    req.params = m.params;
    std::optional<Response> out;
    asio::io_context io;
    asio::co_spawn(io, invoke(m.route->handler, std::move(req), &out), asio::detached);
    io.run();
    return out.value_or(Response::text(598, "no response"));
  }

  static Request request(std::string method, std::string target, std::string body = {}) {
    Request r;
    r.method = std::move(method);
    r.target = target;
    const std::size_t q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    r.body = std::move(body);
    r.remote_address = "203.0.113.7";
    r.headers.emplace_back("User-Agent", "TestBrowser/1.0");
    return r;
  }

  std::string issuer() const { return std::string(kPublicUrl) + "/entra/" + integration_.client_id; }

  std::string hint(entra_sim::HintSpec spec = {}) {
    if (spec.directory_id.empty()) spec.directory_id = kDirectory;
    if (spec.tid.empty()) spec.tid = kDirectory;
    if (spec.oid.empty()) spec.oid = oid_;
    if (spec.aud.empty()) spec.aud = kAppId;
    auto h = tenant_->mint_hint(spec, clock_.unix_now());
    EXPECT_TRUE(h) << h.error().message;
    return *h;
  }

  std::string authorize_body(const std::string& hint_token, Flavor flavor = Flavor::kEam) {
    entra_sim::AuthorizeSpec a;
    a.flavor = flavor;
    a.client_id = integration_.client_id;
    a.hint = hint_token;
    a.nonce = "nonce-" + random_token(8);
    a.state = "state<&>" + random_token(4);
    last_nonce_ = a.nonce;
    last_state_ = *a.state;
    return form_body(tenant_->authorize_form(a));
  }

  Response authorize(const std::string& body) {
    return call(request("POST", "/entra/" + integration_.client_id + "/authorize", body));
  }

  // The MFA page's flow: its cookie, URLs and what it shows.
  struct Flow {
    std::string cookie;  // "avow_flow=…"
    std::string set_cookie;
    std::string challenge_id;
    std::string wait_url;
    std::string finish_url;
    std::string view;
    std::string scan_url;
  };

  Flow start(Flavor flavor = Flavor::kEam) {
    Response r = authorize(authorize_body(hint(), flavor));
    EXPECT_EQ(r.status, 200) << r.body;
    Flow f;
    f.set_cookie = std::string(r.header("set-cookie").value_or(""));
    f.cookie = f.set_cookie.substr(0, f.set_cookie.find(';'));
    f.wait_url = attribute(r.body, "data-wait-url");
    f.finish_url = attribute(r.body, "action");
    f.view = attribute(r.body, "data-view");
    f.scan_url = attribute(r.body, "data-url");
    std::smatch m;
    if (std::regex_search(f.wait_url, m, std::regex("/flow/([^/]+)/wait$"))) f.challenge_id = m[1];
    return f;
  }

  Response wait(const Flow& f, const std::string& seen, bool with_cookie = true) {
    Request r = request("GET", f.wait_url + "?seen=" + url_encode(seen));
    if (with_cookie) r.headers.emplace_back("Cookie", "theme=dark; " + f.cookie);
    return call(std::move(r));
  }

  Response finish(const Flow& f, std::optional<std::string> origin = std::string(kPublicUrl)) {
    Request r = request("POST", f.finish_url);
    r.headers.emplace_back("Cookie", f.cookie);
    if (origin) r.headers.emplace_back("Origin", *origin);
    return call(std::move(r));
  }

  std::string enroll_device() {
    auto conn = database_->connection();
    EXPECT_TRUE(conn);
    domain::NewDevice d;
    d.name = "Adele's phone";
    d.public_jwk = R"({"kty":"EC","crv":"P-256","x":"x","y":"y"})";
    auto dev = domain::DeviceService(**conn, clock_).enroll(d);
    EXPECT_TRUE(dev) << dev.error().message;
    return dev->id;
  }

  domain::SignInService flows(store::Db& db) { return domain::SignInService(db, clock_); }

  // Scans the page's ScanCode with a new device; returns the device id.
  std::string scan(const Flow& f) {
    const std::string device = enroll_device();
    auto conn = database_->connection();
    EXPECT_TRUE(conn);
    const std::string code = f.scan_url.substr(f.scan_url.rfind('/') + 1);
    auto s = flows(**conn).scan(code, device, "198.51.100.1");
    EXPECT_TRUE(s) << s.error().message;
    for (const auto& t : s->notify) hub_.notify(t);
    return device;
  }

  // The device answers its pending challenge (with the right number unless told otherwise).
  void answer(const std::string& device, domain::DeviceAction action, std::optional<int> number = std::nullopt) {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    auto pending = flows(**conn).pending_for_device(device);
    ASSERT_TRUE(pending) << pending.error().message;
    ASSERT_EQ(pending->size(), 1u);
    const auto& dc = pending->front();
    auto a = flows(**conn).answer(dc.challenge.id, device, action, number.value_or(dc.challenge.number),
                                  domain::context_hash(dc.context_json), "198.51.100.1");
    ASSERT_TRUE(a) << a.error().message;
    for (const auto& t : a->notify) hub_.notify(t);
  }

  Result<json> check_id_token(const std::string& token, Flavor flavor = Flavor::kEam) {
    auto keys = entra_sim::validate_provider_jwks(ring_->jwks_json());
    if (!keys) return tl::unexpected(keys.error());
    entra_sim::IdTokenExpectation e;
    e.issuer = issuer();
    e.client_id = integration_.client_id;
    e.sub = entra_sim::HintSpec{}.sub;
    e.nonce = last_nonce_;
    e.flavor = flavor;
    return entra_sim::validate_id_token(token, *keys, e, clock_.unix_now());
  }

  // The org's settings, saved as an admin would on the dashboard.
  void save_settings(const std::string& ttl, const std::string& digits, const std::string& pushes) {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    domain::SettingsForm f;
    f.challenge_ttl_seconds = ttl;
    f.number_digits = digits;
    f.max_pushes_per_hour = pushes;
    f.lockout_max_failures = "5";
    f.code_lockout_threshold = "10";
    auto saved = domain::SettingsService(**conn, clock_).save(org_id_, f, new_id(), "192.0.2.1");
    ASSERT_TRUE(saved) << saved.error().message;
  }

  void delete_integration() {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    auto deleted = store::IntegrationRepo(**conn).mark_deleted(integration_.id, clock_.unix_now());
    ASSERT_TRUE(deleted && *deleted);
  }

  static bool has_digits(const std::string& s, std::size_t n) {
    return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  ManualClock clock_;
  http::BlockingPool pool_{2};
  events::Hub hub_;
  push::Dispatcher push_{hub_};
  http::Router router_;
  std::shared_ptr<store::Database> database_;
  static inline std::optional<entra_sim::Tenant> tenant_;
  static inline std::unique_ptr<crypto::MemorySigningKeyStore> key_store_ =
      std::make_unique<crypto::MemorySigningKeyStore>();
  static inline std::unique_ptr<crypto::KeyRing> ring_;
  FakeFetcher fetcher_;
  std::unique_ptr<MicrosoftKeys> ms_keys_;
  std::shared_ptr<PublicUrl> public_url_;
  std::string org_id_;
  store::IntegrationRecord integration_;
  std::string oid_ = new_id();
  std::string last_nonce_, last_state_;
};

TEST_F(EntraRoutesTest, DiscoveryAndJwksPassEntrasChecks) {
  Response d = call(request("GET", "/entra/" + integration_.client_id + "/.well-known/openid-configuration"));
  ASSERT_EQ(d.status, 200) << d.body;
  const json doc = json::parse(d.body);
  EXPECT_TRUE(entra_sim::validate_discovery(doc, issuer() + "/.well-known/openid-configuration"));
  EXPECT_EQ(doc["issuer"], issuer());
  EXPECT_EQ(doc["authorization_endpoint"], issuer() + "/authorize");
  EXPECT_EQ(doc["jwks_uri"], issuer() + "/jwks");

  Response k = call(request("GET", "/entra/" + integration_.client_id + "/jwks"));
  ASSERT_EQ(k.status, 200);
  EXPECT_TRUE(entra_sim::validate_provider_jwks(json::parse(k.body)));

  for (const char* what : {"/.well-known/openid-configuration", "/jwks"}) {
    Response unknown = call(request("GET", "/entra/" + new_id() + what));
    EXPECT_EQ(unknown.status, 404) << what;
    EXPECT_EQ(json::parse(unknown.body)["error"], "not_found");
  }
}

TEST_F(EntraRoutesTest, BareGetOnAuthorizeAnswers200) {
  Response r = call(request("GET", "/entra/" + integration_.client_id + "/authorize"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("Avow MFA endpoint"), std::string::npos);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(std::string(r.header("content-security-policy").value_or("")).find("default-src 'none'"),
            std::string::npos);
}

TEST_F(EntraRoutesTest, ScanCodeLinkPage) {
  Response r = call(request("GET", "/s/abcDEF123"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("Open this with the Avow app"), std::string::npos);
}

TEST_F(EntraRoutesTest, UnboundUserScansApprovesAndGetsAValidIdToken) {
  Flow f = start();
  ASSERT_FALSE(f.challenge_id.empty());
  // The cookie: secret, scoped to this flow's URLs.
  EXPECT_TRUE(f.cookie.starts_with("avow_flow=")) << f.set_cookie;
  EXPECT_GE(f.cookie.size(), std::string("avow_flow=").size() + 43);
  for (const std::string& part :
       std::vector<std::string>{"; HttpOnly", "; SameSite=Strict", "; Secure",
                                "; Path=/entra/" + integration_.client_id + "/flow/" + f.challenge_id})
    EXPECT_NE(f.set_cookie.find(part), std::string::npos) << part << " in " << f.set_cookie;
  EXPECT_TRUE(f.scan_url.starts_with(std::string(kPublicUrl) + "/s/")) << f.scan_url;
  EXPECT_TRUE(f.view.starts_with("scan:"));

  // Without the cookie (or with another), the flow is closed.
  EXPECT_EQ(wait(f, f.view, false).status, 403);
  Flow other = f;
  other.cookie = "avow_flow=" + random_token(32);
  EXPECT_EQ(wait(other, f.view).status, 403);
  EXPECT_EQ(finish(other).status, 403);

  // The phone scans: the page learns at once that it must now show the number.
  const std::string device = scan(f);
  Response w = wait(f, f.view);
  ASSERT_EQ(w.status, 200) << w.body;
  json j = json::parse(w.body);
  EXPECT_EQ(j["state"], "pending");
  EXPECT_TRUE(j["scan_code"].is_null());
  EXPECT_GE(j["number"].get<int>(), 10);
  EXPECT_EQ(j["view"], "number:" + std::to_string(j["number"].get<int>()));

  // Finishing early is refused and changes nothing.
  Response early = finish(f);
  EXPECT_EQ(early.status, 409);
  EXPECT_NE(early.body.find("still waiting"), std::string::npos);

  // A long-poll on the current view is woken by the device's answer.
  std::optional<Response> held;
  asio::io_context io;
  {
    Request r = request("GET", f.wait_url + "?seen=" + url_encode(j["view"].get<std::string>()));
    r.headers.emplace_back("Cookie", f.cookie);
    http::RouteMatch m = router_.match(r.method, r.path);
    ASSERT_EQ(m.kind, http::RouteMatch::kFound);
    r.params = m.params;
    asio::co_spawn(io, invoke(m.route->handler, std::move(r), &held), asio::detached);
  }
  const auto began = std::chrono::steady_clock::now();
  std::thread loop([&io] { io.run(); });
  while (hub_.subscribers() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  answer(device, domain::DeviceAction::kApprove);
  loop.join();
  ASSERT_TRUE(held);
  EXPECT_EQ(held->status, 200);
  EXPECT_EQ(json::parse(held->body)["state"], "approved");
  // Woken by the notification, not by the 20 s long-poll limit.
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(15));

  // Cross-origin finish is refused; then the page finishes once.
  EXPECT_EQ(finish(f, "https://evil.example").status, 403);
  Response done = finish(f);
  ASSERT_EQ(done.status, 200) << done.body;
  const std::string csp(done.header("content-security-policy").value_or(""));
  // No form-action: Chrome would apply it to the redirect Entra answers the POST with.
  EXPECT_EQ(csp.find("form-action"), std::string::npos) << csp;
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'nonce-"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(done.body.find("action=\"https://login.microsoftonline.com/common/federation/externalauthprovider\""),
            std::string::npos);
  auto fields = posted_fields(done.body);
  EXPECT_EQ(fields["state"], last_state_);
  ASSERT_TRUE(fields.count("id_token"));
  auto claims = check_id_token(fields["id_token"]);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ((*claims)["amr"], json::array({"swk"}));
  EXPECT_EQ((*claims)["acr"], "possessionorinherence");
  EXPECT_EQ((*claims)["exp"].get<std::int64_t>() - (*claims)["iat"].get<std::int64_t>(), 300);

  Response again = finish(f);
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.body.find("This sign-in has already finished"), std::string::npos);
}

TEST_F(EntraRoutesTest, BoundUserSeesTheNumberAndTheDeviceIsNotified) {
  Flow first = start();
  const std::string device = scan(first);
  answer(device, domain::DeviceAction::kApprove);
  ASSERT_EQ(finish(first).status, 200);

  // Next sign-in: no ScanCode, the number, and the device's topic is notified.
  // The subscription's executor must outlive it: the notification is delivered there.
  asio::io_context io;
  std::optional<events::Subscription> device_sub;
  asio::co_spawn(io, subscribe_to(&hub_, "device:" + device, &device_sub), asio::detached);
  io.run();
  ASSERT_TRUE(device_sub);
  Response r = authorize(authorize_body(hint()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(device_sub->notified());
  io.restart();
  io.run();  // delivers the wake-up on the subscription's executor
  device_sub.reset();
  EXPECT_NE(r.body.find("data-testid=\"match-number\""), std::string::npos);
  EXPECT_TRUE(attribute(r.body, "data-view").starts_with("number:"));
  EXPECT_NE(r.body.find("adele@contoso.example"), std::string::npos);
  const std::string csp(r.header("content-security-policy").value_or(""));
  EXPECT_NE(csp.find("script-src 'nonce-" + attribute(r.body, "<script nonce")), std::string::npos) << csp;
  // The page's own finish POST must carry a real Origin (no-referrer makes Chrome send `Origin: null`).
  EXPECT_EQ(r.header("referrer-policy").value_or(""), "same-origin");
}

TEST_F(EntraRoutesTest, DeniedAndExpiredSignInsPostAccessDenied) {
  Flow f = start();
  const std::string device = scan(f);
  answer(device, domain::DeviceAction::kDeny);
  Response denied = finish(f);
  ASSERT_EQ(denied.status, 200);
  auto fields = posted_fields(denied.body);
  EXPECT_EQ(fields["error"], "access_denied");
  EXPECT_NE(fields["error_description"].find("denied"), std::string::npos);
  EXPECT_EQ(fields["state"], last_state_);
  EXPECT_EQ(fields.count("id_token"), 0u);

  Flow g = start();
  clock_.advance(std::chrono::seconds(121));
  Response w = wait(g, g.view);
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(json::parse(w.body)["state"], "expired");
  Response expired = finish(g);
  ASSERT_EQ(expired.status, 200);
  EXPECT_EQ(posted_fields(expired.body)["error"], "access_denied");
  EXPECT_NE(posted_fields(expired.body)["error_description"].find("in time"), std::string::npos);
}

TEST_F(EntraRoutesTest, ScanCodeIsReissuedBeforeItExpires) {
  // Codes shorter-lived than the sign-in, so the page needs a second one.
  EntraFlowTiming timing;
  timing.challenges.ttl = std::chrono::seconds(240);
  timing.scan_codes.bind_user_ttl = std::chrono::seconds(60);
  timing.scan_code_refresh_before = std::chrono::seconds(30);
  router_ = http::Router();
  ASSERT_TRUE(add_routes(kPublicUrl, timing));
  Flow f = start();

  // A client that does not track views (empty `seen`) learns the state; the code is left alone.
  Response untracked = wait(f, "");
  ASSERT_EQ(untracked.status, 200);
  json u = json::parse(untracked.body);
  EXPECT_EQ(u["state"], "pending");
  EXPECT_EQ(u["view"], f.view);
  EXPECT_EQ(u["scan_code"]["url"], "");

  // A page that lost track of its code (an answer lost on the way) gets a fresh one at once.
  Response lost = wait(f, "scan:0");
  ASSERT_EQ(lost.status, 200);
  json j = json::parse(lost.body);
  ASSERT_TRUE(j["scan_code"].is_object());
  const std::string second = j["scan_code"]["url"];
  EXPECT_TRUE(second.starts_with(std::string(kPublicUrl) + "/s/"));
  EXPECT_NE(second, f.scan_url);
  EXPECT_NE(j["scan_code"]["svg"].get<std::string>().find("<svg"), std::string::npos);
  EXPECT_EQ(j["view"], "scan:" + std::to_string(j["scan_code"]["expires_at"].get<std::int64_t>()));

  // 40 s later the code has 20 s left (< 30 s): the page's wait answers at once with a third code.
  clock_.advance(std::chrono::seconds(40));
  Response refreshed = wait(f, j["view"]);
  ASSERT_EQ(refreshed.status, 200);
  json k = json::parse(refreshed.body);
  EXPECT_EQ(k["state"], "pending");
  ASSERT_TRUE(k["scan_code"].is_object());
  const std::string third = k["scan_code"]["url"];
  EXPECT_FALSE(third.empty());
  EXPECT_NE(third, second);
  EXPECT_NE(k["view"], j["view"]);

  // The withdrawn code no longer binds; the current one does.
  const std::string device = enroll_device();
  auto conn = database_->connection();
  ASSERT_TRUE(conn);
  EXPECT_FALSE(flows(**conn).scan(second.substr(second.rfind('/') + 1), device, "198.51.100.1"));
  EXPECT_TRUE(flows(**conn).scan(third.substr(third.rfind('/') + 1), device, "198.51.100.1"));
}

TEST_F(EntraRoutesTest, CustomControlEchoesTheClaim) {
  Flow f = start(Flavor::kCustomControl);
  const std::string device = scan(f);
  answer(device, domain::DeviceAction::kApprove);
  Response done = finish(f);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_NE(done.body.find("action=\"https://login.microsoftonline.com/common/federation/OAuth2ClaimsProvider\""),
            std::string::npos);
  auto fields = posted_fields(done.body);
  EXPECT_EQ(fields["token_type"], "Bearer");
  auto claims = check_id_token(fields["id_token"], Flavor::kCustomControl);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ((*claims)["AvowMfa"], "MfaDone");
}

TEST_F(EntraRoutesTest, MalformedRequestsAre400JsonAndNothingIsPosted) {
  expect_invalid(authorize("scope=openid&nonce=%zz"), "escape");
  expect_invalid(call(request("POST", "/entra/" + new_id() + "/authorize", authorize_body(hint()))),
                 "unknown client_id");
  {
    entra_sim::HintSpec wrong_aud;
    wrong_aud.aud = new_id();
    expect_invalid(authorize(authorize_body(hint(wrong_aud))), "id_token_hint");
  }
  {
    entra_sim::AuthorizeSpec a;
    a.client_id = integration_.client_id;
    a.hint = hint();
    a.nonce = "n";
    a.redirect_uri = "https://evil.example/common/federation/externalauthprovider";
    expect_invalid(authorize(form_body(tenant_->authorize_form(a))), "redirect");
  }
  {
    entra_sim::AuthorizeSpec a;
    a.client_id = new_id();  // the form's client_id differs from the endpoint's
    a.hint = hint();
    a.nonce = "n";
    expect_invalid(authorize(form_body(tenant_->authorize_form(a))), "client_id");
  }
  {
    entra_sim::AuthorizeSpec a;
    a.flavor = Flavor::kCustomControl;
    a.client_id = integration_.client_id;
    a.hint = hint();
    a.nonce = "n";
    a.claim_type = "OtherMfa";
    expect_invalid(authorize(form_body(tenant_->authorize_form(a))), "AvowMfa");
  }
  // A replayed hint + nonce.
  const std::string body = authorize_body(hint());
  ASSERT_EQ(authorize(body).status, 200);
  expect_invalid(authorize(body), "already used");
}

// A hint + nonce pair is used once for as long as the hint could be accepted, not only at once: the replay
// record is keyed by the hint's signed iat, which a later replay repeats.
TEST_F(EntraRoutesTest, AReplayedHintIsRefusedLaterToo) {
  const std::string body = authorize_body(hint());
  ASSERT_EQ(authorize(body).status, 200);
  clock_.advance(std::chrono::minutes(9));  // still within the hint's 10-minute age
  expect_invalid(authorize(body), "already used");
}

TEST_F(EntraRoutesTest, DisabledIntegrationIsRefused) {
  {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    ASSERT_TRUE(domain::IntegrationService(**conn, clock_).disable(integration_.id));
  }
  Response r = authorize(authorize_body(hint()));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"], "invalid_request");
}

TEST_F(EntraRoutesTest, GuestRefusedByPolicyGetsAccessDeniedPosted) {
  integration_ = new_integration("members");
  entra_sim::HintSpec guest;
  guest.tid = kGuestTenant;
  Response r = authorize(authorize_body(hint(guest)));
  ASSERT_EQ(r.status, 200) << r.body;
  auto fields = posted_fields(r.body);
  EXPECT_EQ(fields["error"], "access_denied");
  EXPECT_EQ(fields["state"], last_state_);
  EXPECT_FALSE(r.header("set-cookie"));
  EXPECT_NE(std::string(r.header("content-security-policy").value_or("")).find("script-src 'nonce-"),
            std::string::npos);
}

// ---- the org's settings and deleted integrations -----------------------------------------------------------

TEST_F(EntraRoutesTest, TheOrgsNumberWidthAndLifetimeShowOnTheMfaPage) {
  save_settings("60", "3", "20");
  Response unbound = authorize(authorize_body(hint()));
  ASSERT_EQ(unbound.status, 200) << unbound.body;
  EXPECT_EQ(attribute(unbound.body, "data-expires-in"), "60");  // the org's lifetime, not the server's 120

  // The phone binds on the next sign-in; the number it then matches has 3 digits.
  Flow f = start();
  const std::string device = scan(f);
  Response w = wait(f, f.view);
  ASSERT_EQ(w.status, 200) << w.body;
  const int number = json::parse(w.body)["number"].get<int>();
  EXPECT_GE(number, 100);
  EXPECT_LE(number, 999);
  answer(device, domain::DeviceAction::kApprove);
  ASSERT_EQ(finish(f).status, 200);

  // A bound user's page shows a 3-digit number straight away.
  Response r = authorize(authorize_body(hint()));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string view = attribute(r.body, "data-view");
  ASSERT_TRUE(view.starts_with("number:")) << view;
  EXPECT_TRUE(has_digits(view.substr(7), 3)) << view;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.body, m, std::regex("id=\"match-number\">([^<]*)<")));
  EXPECT_TRUE(has_digits(m[1], 3)) << m[1];
  EXPECT_EQ(m[1], view.substr(7));
}

TEST_F(EntraRoutesTest, WithoutSavedSettingsTheServerPoliciesApply) {
  router_ = http::Router();
  EntraFlowTiming timing;
  timing.challenges.ttl = std::chrono::seconds(75);
  ASSERT_TRUE(add_routes(kPublicUrl, timing));
  Response r = authorize(authorize_body(hint()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(attribute(r.body, "data-expires-in"), "75");
}

TEST_F(EntraRoutesTest, TooManySignInsAnHourGetAccessDeniedPosted) {
  save_settings("120", "2", "2");
  ASSERT_EQ(authorize(authorize_body(hint())).status, 200);
  ASSERT_EQ(authorize(authorize_body(hint())).status, 200);
  Response r = authorize(authorize_body(hint()));
  ASSERT_EQ(r.status, 200) << r.body;
  auto fields = posted_fields(r.body);
  EXPECT_EQ(fields["error"], "access_denied");
  EXPECT_EQ(fields["error_description"], "Too many sign-in requests. Try again in a while.");
  EXPECT_EQ(fields["state"], last_state_);
  EXPECT_FALSE(r.header("set-cookie"));
  // An hour later the user may sign in again.
  clock_.advance(std::chrono::seconds(3601));
  EXPECT_TRUE(attribute(authorize(authorize_body(hint())).body, "data-view").starts_with("scan:"));
}

TEST_F(EntraRoutesTest, TheServerPushLimitAppliesWithoutSavedSettings) {
  router_ = http::Router();
  EntraFlowTiming timing;
  timing.max_pushes_per_hour = 1;
  ASSERT_TRUE(add_routes(kPublicUrl, timing));
  ASSERT_EQ(authorize(authorize_body(hint())).status, 200);
  Response r = authorize(authorize_body(hint()));
  EXPECT_EQ(posted_fields(r.body)["error"], "access_denied");
}

TEST_F(EntraRoutesTest, ADeletedIntegrationAnswersLikeAnUnknownClientId) {
  const std::string body = authorize_body(hint());
  delete_integration();
  const std::string unknown = new_id();

  Response deleted = authorize(body);
  Response never = call(request("POST", "/entra/" + unknown + "/authorize", body));
  EXPECT_EQ(deleted.status, 400);
  EXPECT_EQ(deleted.status, never.status);
  EXPECT_EQ(deleted.body, never.body);
  EXPECT_EQ(deleted.content_type, never.content_type);
  EXPECT_EQ(json::parse(deleted.body)["error_description"], "unknown client_id");

  for (const char* what : {"/.well-known/openid-configuration", "/jwks"}) {
    Response d = call(request("GET", "/entra/" + integration_.client_id + what));
    Response u = call(request("GET", "/entra/" + unknown + what));
    EXPECT_EQ(d.status, 404) << what;
    EXPECT_EQ(d.status, u.status) << what;
    EXPECT_EQ(d.body, u.body) << what;
    EXPECT_EQ(d.header("cache-control"), u.header("cache-control")) << what;
  }
}

TEST_F(EntraRoutesTest, UnreachableMicrosoftKeysAre503) {
  fetcher_.down = true;
  Response r = authorize(authorize_body(hint()));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body.find("<form"), std::string::npos);
}

TEST_F(EntraRoutesTest, UnknownKidRefreshesTheKeySetOnce) {
  auto other = entra_sim::Tenant::create();
  ASSERT_TRUE(other);
  fetcher_.stale = other->jwks().dump();  // the cached set predates Microsoft's key roll
  Response r = authorize(authorize_body(hint()));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(fetcher_.calls, 2);
}

TEST_F(EntraRoutesTest, RefusesBadDependencies) {
  http::Router router;
  EntraRouteDeps deps;
  EXPECT_FALSE(add_entra_routes(router, deps));
}

TEST(PublicUrlTest, AcceptsOnlyAbsoluteHttpUrlsWithoutTrailingSlash) {
  PublicUrl u;
  EXPECT_EQ(u.get(), "");
  for (const char* bad : {"https://mfa.example.test/", "mfa.example.test", "https://", "https:///x", "ftp://x",
                          "https://h/p?q=1", "https://h#f", ""})
    EXPECT_FALSE(u.set(bad)) << bad;
  EXPECT_EQ(u.get(), "");
  EXPECT_TRUE(u.set("https://mfa.example.test"));
  EXPECT_TRUE(u.set("http://127.0.0.1:8443/avow"));
  EXPECT_EQ(u.get(), "http://127.0.0.1:8443/avow");
  EXPECT_FALSE(u.set("nope"));
  EXPECT_EQ(u.get(), "http://127.0.0.1:8443/avow");
}

TEST_F(EntraRoutesTest, RoutesAnswer503UntilThePublicUrlIsSet) {
  router_ = http::Router();
  ASSERT_TRUE(add_routes(""));
  EXPECT_EQ(authorize(authorize_body(hint())).status, 503);
  EXPECT_EQ(call(request("GET", "/entra/" + integration_.client_id + "/.well-known/openid-configuration")).status, 503);
  ASSERT_TRUE(public_url_->set(kPublicUrl));
  Response d = call(request("GET", "/entra/" + integration_.client_id + "/.well-known/openid-configuration"));
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(json::parse(d.body)["issuer"], issuer());
}

TEST_F(EntraRoutesTest, PathPrefixOfThePublicUrlIsKeptInBrowserUrls) {
  router_ = http::Router();
  ASSERT_TRUE(add_routes("https://gw.example.test/avow"));
  Response r = authorize(authorize_body(hint()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(attribute(r.body, "data-wait-url").starts_with("/avow/entra/" + integration_.client_id + "/flow/"));
  EXPECT_TRUE(attribute(r.body, "data-url").starts_with("https://gw.example.test/avow/s/"));
  EXPECT_NE(std::string(r.header("set-cookie").value_or("")).find("; Path=/avow/entra/"), std::string::npos);
}

}  // namespace
}  // namespace avow::entra
