// The device API in-process: http::Server on 127.0.0.1:0 with the device routes over a temporary SQLite
// database, driven by requests the authenticator library signs (authenticator/device.h) and sent with a
// blocking Beast client. Sign-ins are opened with the domain services, as the entra edge would.
#include <utility>  // before Asio: asio#944

#include "api/device_routes.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "authenticator/cli.h"
#include "authenticator/device.h"
#include "common/random.h"
#include "crypto/hash.h"
#include "crypto/otp.h"
#include "domain/admin_access.h"
#include "domain/admins.h"
#include "domain/codes.h"
#include "domain/devices.h"
#include "domain/hashing.h"
#include "domain/integrations.h"
#include "domain/sign_in.h"
#include "http/server.h"
#include "store/repositories.h"

namespace avow::api {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using nlohmann::json;

constexpr char kDirectory[] = "22222222-2222-4222-8222-222222222222";

// A waiter as the MFA page has one: subscribed to `topic`, true when notified within 30 s.
asio::awaitable<bool> wait_for(events::Hub* hub, std::string topic) {
  events::Subscription sub = co_await hub->subscribe(std::move(topic));
  const bool woken = co_await sub.wait(std::chrono::seconds(30));
  co_return woken;
}

struct Reply {
  int status = 0;
  json body;
};

// One enrolled (or not yet enrolled) authenticator.
struct Phone {
  crypto::Jwk key;
  std::string id;  // "" until enrolled
};

class DeviceRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/avow-api-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::SqliteOptions o;
    o.path = (dir_ / "avow.db").string();
    o.pool_size = 4;
    auto db = store::open_sqlite(o);
    ASSERT_TRUE(db) << db.error().message;
    database_ = *db;
    ASSERT_TRUE(database_->migrate());

    with_db([&](store::Db& db) {
      auto org = domain::AdminService(db, clock_).create_org("Contoso", {"Grace", "grace@contoso.example", {}});
      ASSERT_TRUE(org) << org.error().message;
      domain::IntegrationSpec spec;
      spec.name = "Contoso Entra";
      spec.directory_id = kDirectory;
      auto integration = domain::IntegrationService(db, clock_).create(org->org.id, spec);
      ASSERT_TRUE(integration) << integration.error().message;
      integration_ = *integration;
    });

    http::ServerOptions so;
    so.port = 0;
    so.threads = 2;
    so.blocking_threads = 2;
    so.handle_signals = false;
    server_ = std::make_unique<http::Server>(so, metrics_);
    DeviceRouteDeps deps;
    deps.pool = &server_->blocking_pool();
    deps.database = database_;
    deps.hub = &hub_;
    deps.clock = &clock_;
    deps.master_key = &master_key_;
    ASSERT_TRUE(add_device_routes(server_->router(), deps));
    auto at = server_->start();
    ASSERT_TRUE(at) << at.error().message;
    port_ = at->port;
    runner_ = std::thread([this] { server_->run(); });
  }

  void TearDown() override {
    if (server_) server_->shutdown();
    if (runner_.joinable()) runner_.join();
    server_.reset();
    if (database_) database_->close();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  template <class F>
  void with_db(F&& f) {
    auto conn = database_->connection();
    ASSERT_TRUE(conn) << conn.error().message;
    f(**conn);
  }

  std::string server_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  Reply send(const device::SignedRequest& r) {
    bhttp::request<bhttp::string_body> req(r.method == "POST" ? bhttp::verb::post : bhttp::verb::get, r.target, 11);
    if (!r.content_type.empty()) req.set(bhttp::field::content_type, r.content_type);
    if (!r.authorization.empty()) req.set(bhttp::field::authorization, r.authorization);
    req.body() = r.body;
    return exchange(std::move(req));
  }

  Reply exchange(bhttp::request<bhttp::string_body> req) {
    asio::io_context ioc;
    asio::ip::tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), port_});
    req.set(bhttp::field::host, "test");
    req.prepare_payload();
    bhttp::write(sock, req);
    boost::beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    bhttp::read(sock, buf, parser);
    auto res = parser.release();
    return Reply{static_cast<int>(res.result_int()), json::parse(res.body(), nullptr, false)};
  }

  // Signs as `phone` for `endpoint` (relative to /api/device/v1) at the test clock's now.
  device::SignedRequest sign(const Phone& phone, std::string_view method, std::string_view endpoint,
                             const json& fields = nullptr) {
    auto r = device::sign_request(phone.key, phone.id, method, server_url(), endpoint, fields, clock_.unix_now());
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }
  Reply call(const Phone& phone, std::string_view method, std::string_view endpoint, const json& fields = nullptr) {
    return send(sign(phone, method, endpoint, fields));
  }

  Phone enroll(std::string name = "Ada's phone") {
    auto key = crypto::Jwk::generate_ec_p256();
    EXPECT_TRUE(key);
    Phone p{*key, ""};
    Reply r = call(p, "POST", "/enroll", {{"name", name}, {"platform", "builtin"}});
    EXPECT_EQ(r.status, 201) << r.body;
    p.id = r.body.value("device_id", "");
    EXPECT_FALSE(p.id.empty());
    return p;
  }

  // An Entra sign-in for the user with object id `oid`, as the entra edge would open it.
  domain::SignInStart begin(const std::string& oid) {
    domain::SignInRequest r;
    r.integration_id = integration_.id;
    r.identity = {kDirectory, oid, "ada@contoso.example", "Ada"};
    r.context.ip = "203.0.113.9";
    r.context.user_agent = "Mozilla/5.0";
    r.nonce = "nonce";
    r.state_param = "state";
    r.redirect_uri = "https://login.microsoftonline.com/common/federation/externalauthprovider";
    r.client_id = integration_.client_id;
    r.hint_sub = "sub";
    r.flow_secret_hash = crypto::hex_encode(crypto::sha256("flow secret"));
    std::optional<domain::SignInStart> out;
    with_db([&](store::Db& db) {
      auto s = domain::SignInService(db, clock_).begin(r);
      ASSERT_TRUE(s) << s.error().message;
      out = std::move(*s);
    });
    EXPECT_TRUE(out);
    return out ? std::move(*out) : domain::SignInStart{};
  }

  store::ChallengeRecord challenge(const std::string& id) {
    store::ChallengeRecord c;
    with_db([&](store::Db& db) {
      auto got = store::ChallengeRepo(db).get(id);
      ASSERT_TRUE(got) << got.error().message;
      c = *got;
    });
    return c;
  }

  // Binds a new phone to a new user through the real scan flow; returns the user's first challenge.
  std::pair<Phone, std::string> bound_phone(const std::string& oid) {
    Phone p = enroll();
    domain::SignInStart s = begin(oid);
    EXPECT_TRUE(s.scan_code);
    Reply r = call(p, "POST", "/scan", {{"code", s.scan_code.value_or("")}});
    EXPECT_EQ(r.status, 200) << r.body;
    return {p, s.challenge.id};
  }

  // Watches `topic` on its own event loop; the future says whether it was notified. Returns once subscribed.
  std::future<bool> watch(std::string topic) {
    const std::size_t before = hub_.subscribers();
    std::future<bool> f = std::async(std::launch::async, [this, topic] {
      asio::io_context ioc;
      std::future<bool> woken = asio::co_spawn(ioc, wait_for(&hub_, topic), asio::use_future);
      ioc.run();
      return woken.get();
    });
    while (hub_.subscribers() == before) std::this_thread::yield();
    return f;
  }

  static json answer_fields(const json& pushed, std::string_view action, std::optional<int> number) {
    json f = {
        {"challenge", pushed["id"]}, {"action", action}, {"context_hash", device::context_hash(pushed["context"])}};
    if (number) f["number"] = *number;
    return f;
  }

  std::filesystem::path dir_;
  ManualClock clock_{Clock::from_unix(1'700'000'000)};
  crypto::MasterKey master_key_ = crypto::MasterKey::generate();
  std::shared_ptr<store::Database> database_;
  store::IntegrationRecord integration_;
  events::Hub hub_;
  http::Metrics metrics_{"test"};
  std::unique_ptr<http::Server> server_;
  std::thread runner_;
  std::uint16_t port_ = 0;
};

TEST_F(DeviceRoutesTest, EnrollScanLongPollAndApprove) {
  // Enroll: a new device with its own key.
  Phone phone = enroll();
  with_db([&](store::Db& db) {
    auto d = store::DeviceRepo(db).get(phone.id);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->name, "Ada's phone");
    auto stored = crypto::Jwk::parse(d->public_jwk);
    ASSERT_TRUE(stored);
    EXPECT_TRUE(stored->same_public_key(phone.key));
    EXPECT_FALSE(stored->is_private());
  });

  // First sign-in: the user has no device, so the page shows a ScanCode; the phone scans it.
  const std::string oid = new_id();
  domain::SignInStart first = begin(oid);
  ASSERT_TRUE(first.scan_code);
  std::future<bool> scan_seen = watch("challenge:" + first.challenge.id);
  Reply scanned = call(phone, "POST", "/scan", {{"code", *first.scan_code}});
  ASSERT_EQ(scanned.status, 200) << scanned.body;
  EXPECT_EQ(scanned.body["result"], "bound");
  EXPECT_EQ(scanned.body["challenge_id"], first.challenge.id);
  json account = scanned.body["account"];
  EXPECT_TRUE(account.contains("code")) << "the binding's fallback-code secret comes with the scan";
  account.erase("code");
  account.erase("binding_id");
  EXPECT_EQ(account, (json{{"user", "ada@contoso.example"}, {"org", "Contoso"}, {"integration", "Contoso Entra"}}));
  EXPECT_TRUE(scan_seen.get()) << "the page showing the ScanCode is woken by the scan";

  // The sign-in is now the phone's push, with its context and the hash of that context.
  Reply listed = call(phone, "GET", "/challenges?wait=0");
  ASSERT_EQ(listed.status, 200) << listed.body;
  ASSERT_EQ(listed.body["challenges"].size(), 1u) << listed.body;
  const json pushed = listed.body["challenges"][0];
  EXPECT_EQ(pushed["id"], first.challenge.id);
  EXPECT_EQ(pushed["kind"], "eam");
  EXPECT_EQ(pushed["choices"].get<std::vector<int>>(), first.challenge.choices);
  EXPECT_EQ(pushed["context"]["ip"], "203.0.113.9");
  EXPECT_EQ(pushed["context_hash"], device::context_hash(pushed["context"]));
  EXPECT_EQ(pushed["expires_at"], first.challenge.expires_at);

  // The waiting page learns of the answer at once: the answer notifies "challenge:<id>".
  std::future<bool> page = watch("challenge:" + first.challenge.id);
  Reply approved = call(phone, "POST", "/challenges/" + first.challenge.id + "/answer",
                        answer_fields(pushed, "approve", first.challenge.number));
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.body, (json{{"state", "approved"}}));
  EXPECT_TRUE(page.get());
  EXPECT_EQ(challenge(first.challenge.id).state, store::ChallengeState::kApproved);

  // The next sign-in arrives while the phone long-polls: the wait ends with it, long before 30 s.
  std::future<Reply> poll =
      std::async(std::launch::async, [&, r = sign(phone, "GET", "/challenges?wait=30")] { return send(r); });
  while (hub_.subscribers() == 0) std::this_thread::yield();
  // Let the poll make its first (empty) read, so the push below is what wakes it.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  domain::SignInStart second = begin(oid);
  EXPECT_FALSE(second.scan_code) << "a bound user gets a push, not a ScanCode";
  ASSERT_NE(std::find(second.notify.begin(), second.notify.end(), "device:" + phone.id), second.notify.end());
  for (const std::string& topic : second.notify) hub_.notify(topic);
  Reply woken = poll.get();
  ASSERT_EQ(woken.status, 200) << woken.body;
  ASSERT_EQ(woken.body["challenges"].size(), 1u) << woken.body;
  EXPECT_EQ(woken.body["challenges"][0]["id"], second.challenge.id);

  Reply again = call(phone, "POST", "/challenges/" + second.challenge.id + "/answer",
                     answer_fields(woken.body["challenges"][0], "approve", second.challenge.number));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body["state"], "approved");
  EXPECT_EQ(hub_.subscribers(), 0u) << "the long-poll's subscription ended with it";

  // The phone's accounts.
  Reply accounts = call(phone, "GET", "/accounts");
  ASSERT_EQ(accounts.status, 200) << accounts.body;
  ASSERT_EQ(accounts.body["accounts"].size(), 1u);
  EXPECT_EQ(accounts.body["accounts"][0]["user"], "ada@contoso.example");
  EXPECT_EQ(accounts.body["accounts"][0]["org"], "Contoso");
  EXPECT_EQ(accounts.body["accounts"][0]["integration"], "Contoso Entra");
  EXPECT_EQ(accounts.body["accounts"][0]["bound_at"], clock_.unix_now());
}

TEST_F(DeviceRoutesTest, ALongPollWithNothingToSayEndsEmpty) {
  Phone phone = enroll();
  Reply r = call(phone, "GET", "/challenges?wait=1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, (json{{"challenges", json::array()}}));
  for (std::string_view bad : {"31", "-1", "x", ""}) {
    Reply b = call(phone, "GET", "/challenges?wait=" + std::string(bad));
    EXPECT_EQ(b.status, 400) << bad;
    EXPECT_EQ(b.body["error"], "invalid_request");
  }
}

TEST_F(DeviceRoutesTest, DenyWrongNumberAndFraudAreAnswered) {
  const std::string oid = new_id();
  auto [phone, challenge_id] = bound_phone(oid);
  store::ChallengeRecord c = challenge(challenge_id);
  Reply list = call(phone, "GET", "/challenges");
  ASSERT_EQ(list.body["challenges"].size(), 1u);
  const json pushed = list.body["challenges"][0];
  int wrong = 0;
  for (int n : c.choices)
    if (n != c.number) wrong = n;
  Reply r = call(phone, "POST", "/challenges/" + c.id + "/answer", answer_fields(pushed, "approve", wrong));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, (json{{"state", "denied"}, {"reason", "wrong_number"}}));

  // Decided already.
  Reply twice = call(phone, "POST", "/challenges/" + c.id + "/answer", answer_fields(pushed, "deny", std::nullopt));
  EXPECT_EQ(twice.status, 409);
  EXPECT_EQ(twice.body["error"], "already_decided");

  domain::SignInStart next = begin(oid);
  Reply l2 = call(phone, "GET", "/challenges");
  ASSERT_EQ(l2.body["challenges"].size(), 1u);
  Reply fraud = call(phone, "POST", "/challenges/" + next.challenge.id + "/answer",
                     answer_fields(l2.body["challenges"][0], "fraud", std::nullopt));
  ASSERT_EQ(fraud.status, 200) << fraud.body;
  EXPECT_EQ(fraud.body, (json{{"state", "denied"}, {"reason", "fraud"}}));
}

TEST_F(DeviceRoutesTest, AnswerRefusals) {
  auto [phone, challenge_id] = bound_phone(new_id());
  Reply list = call(phone, "GET", "/challenges");
  ASSERT_EQ(list.body["challenges"].size(), 1u);
  json pushed = list.body["challenges"][0];
  const std::string path = "/challenges/" + challenge_id + "/answer";

  // Malformed answers.
  json no_number = answer_fields(pushed, "approve", std::nullopt);
  EXPECT_EQ(call(phone, "POST", path, no_number).status, 400);
  json other = answer_fields(pushed, "approve", 10);
  other["challenge"] = new_id();
  EXPECT_EQ(call(phone, "POST", path, other).status, 400);
  EXPECT_EQ(call(phone, "POST", path, answer_fields(pushed, "maybe", std::nullopt)).status, 400);

  // A context other than the one the server sent: refused, and the challenge stays pending.
  json tampered = answer_fields(pushed, "approve", challenge(challenge_id).number);
  tampered["context_hash"] = device::context_hash(json{{"ip", "1.2.3.4"}});
  Reply r = call(phone, "POST", path, tampered);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.body["error"], "not_bound");
  EXPECT_EQ(challenge(challenge_id).state, store::ChallengeState::kPending);

  // Another device, not bound to the user.
  Phone stranger = enroll("Mallory's phone");
  Reply s = call(stranger, "POST", path, answer_fields(pushed, "approve", challenge(challenge_id).number));
  EXPECT_EQ(s.status, 403) << s.body;
  EXPECT_EQ(s.body["error"], "not_bound");

  // Unknown challenge.
  const std::string missing = new_id();
  json m = answer_fields(pushed, "deny", std::nullopt);
  m["challenge"] = missing;
  EXPECT_EQ(call(phone, "POST", "/challenges/" + missing + "/answer", m).status, 404);

  // Too late.
  clock_.advance(std::chrono::minutes(10));
  Reply late = call(phone, "POST", path, answer_fields(pushed, "approve", challenge(challenge_id).number));
  EXPECT_EQ(late.status, 410) << late.body;
  EXPECT_EQ(late.body["error"], "expired");
}

// The answer's jti is recorded in the answer's own transaction: a replay is refused before it decides
// anything, and an answer refused by the domain (already decided) still spends its jti.
TEST_F(DeviceRoutesTest, AReplayedAnswerIs401AndARefusedOneSpendsItsJti) {
  auto [phone, challenge_id] = bound_phone(new_id());
  Reply list = call(phone, "GET", "/challenges");
  ASSERT_EQ(list.body["challenges"].size(), 1u);
  const json pushed = list.body["challenges"][0];
  const std::string path = "/challenges/" + challenge_id + "/answer";
  const device::SignedRequest deny = sign(phone, "POST", path, answer_fields(pushed, "deny", std::nullopt));
  Reply first = send(deny);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.body["state"], "denied");
  Reply replay = send(deny);
  EXPECT_EQ(replay.status, 401);
  EXPECT_EQ(replay.body["error_description"], "jti was used before");
  EXPECT_EQ(challenge(challenge_id).state, store::ChallengeState::kDenied);

  const device::SignedRequest late = sign(phone, "POST", path, answer_fields(pushed, "deny", std::nullopt));
  EXPECT_EQ(send(late).status, 409);
  Reply late_again = send(late);
  EXPECT_EQ(late_again.status, 401);
  EXPECT_EQ(late_again.body["error_description"], "jti was used before");
}

TEST_F(DeviceRoutesTest, ScanRefusals) {
  Phone phone = enroll();
  // Unknown, used and expired codes get the same answer.
  Reply unknown = call(phone, "POST", "/scan", {{"code", random_token(16)}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body["error"], "invalid_code");

  const std::string oid = new_id();
  domain::SignInStart s = begin(oid);
  ASSERT_TRUE(s.scan_code);
  // Someone else's phone is bound to the user first (an admin's doing, say): the code now meets a user
  // who has a device.
  Phone first = enroll("first");
  with_db([&](store::Db& db) {
    ASSERT_TRUE(domain::BindingService(db, clock_).bind(s.challenge.user_id.value_or(""), first.id));
  });
  Reply taken = call(phone, "POST", "/scan", {{"code", *s.scan_code}});
  EXPECT_EQ(taken.status, 409) << taken.body;
  EXPECT_EQ(taken.body["error"], "user_has_device");

  domain::SignInStart other = begin(new_id());
  ASSERT_TRUE(other.scan_code);
  ASSERT_EQ(call(phone, "POST", "/scan", {{"code", *other.scan_code}}).status, 200);
  Reply used = call(phone, "POST", "/scan", {{"code", *other.scan_code}});
  EXPECT_EQ(used.status, 404);
  EXPECT_EQ(used.body, unknown.body);

  domain::SignInStart late = begin(new_id());
  ASSERT_TRUE(late.scan_code);
  clock_.advance(std::chrono::hours(1));
  Reply expired = call(phone, "POST", "/scan", {{"code", *late.scan_code}});
  EXPECT_EQ(expired.status, 404);
  EXPECT_EQ(expired.body, unknown.body);

  EXPECT_EQ(call(phone, "POST", "/scan", {{"code", ""}}).status, 400);
}

TEST_F(DeviceRoutesTest, UnsignedReplayedAndRevokedRequestsAre401) {
  Phone phone = enroll();
  // Replay: the same signed request twice.
  const device::SignedRequest list = sign(phone, "GET", "/challenges");
  EXPECT_EQ(send(list).status, 200);
  Reply replay = send(list);
  EXPECT_EQ(replay.status, 401);
  EXPECT_EQ(replay.body["error"], "invalid_signature");
  EXPECT_TRUE(replay.body["error_description"].is_string());

  // A body that is not a JWS, a missing Authorization header, an enroll with a private key.
  device::SignedRequest junk = sign(phone, "POST", "/scan", {{"code", "x"}});
  junk.body = R"({"code":"x"})";
  EXPECT_EQ(send(junk).status, 401);
  device::SignedRequest bare = sign(phone, "GET", "/accounts");
  bare.authorization.clear();
  EXPECT_EQ(send(bare).status, 401);

  // Oversized bodies are refused before they are read.
  device::SignedRequest big = sign(phone, "POST", "/scan", {{"code", std::string(17 * 1024, 'a')}});
  EXPECT_EQ(send(big).status, 413);

  // A revoked device is refused.
  with_db([&](store::Db& db) { ASSERT_TRUE(domain::DeviceService(db, clock_).revoke(phone.id)); });
  Reply revoked = call(phone, "GET", "/accounts");
  EXPECT_EQ(revoked.status, 401);
  EXPECT_EQ(revoked.body["error_description"], "unknown or revoked device");
}

TEST_F(DeviceRoutesTest, EnrollValidatesItsFields) {
  auto key = crypto::Jwk::generate_ec_p256();
  ASSERT_TRUE(key);
  Phone p{*key, ""};
  EXPECT_EQ(call(p, "POST", "/enroll", {{"name", ""}, {"platform", "builtin"}}).status, 400);
  EXPECT_EQ(call(p, "POST", "/enroll", {{"name", std::string(65, 'n')}, {"platform", "builtin"}}).status, 400);
  EXPECT_EQ(call(p, "POST", "/enroll", {{"name", "phone"}, {"platform", "apns"}}).status, 400);
  EXPECT_EQ(call(p, "POST", "/enroll", {{"name", "phone"}}).status, 400);
  EXPECT_EQ(call(p, "POST", "/enroll", {{"name", std::string(64, 'n')}, {"platform", "builtin"}}).status, 201);
}

TEST_F(DeviceRoutesTest, LastSeenIsRecordedAtMostOncePerInterval) {
  Phone phone = enroll();
  auto last_seen = [&] {
    std::optional<std::int64_t> at;
    with_db([&](store::Db& db) { at = store::DeviceRepo(db).get(phone.id)->last_seen_at; });
    return at;
  };
  EXPECT_EQ(last_seen(), std::nullopt);
  const std::int64_t t0 = clock_.unix_now();
  ASSERT_EQ(call(phone, "GET", "/accounts").status, 200);
  EXPECT_EQ(last_seen(), t0);
  clock_.advance(std::chrono::seconds(30));
  ASSERT_EQ(call(phone, "GET", "/accounts").status, 200);
  EXPECT_EQ(last_seen(), t0) << "not rewritten within the interval";
  clock_.advance(std::chrono::seconds(31));
  ASSERT_EQ(call(phone, "GET", "/accounts").status, 200);
  EXPECT_EQ(last_seen(), t0 + 61);
}

// ---- fallback codes --------------------------------------------------------------------------------------

TEST_F(DeviceRoutesTest, TheBindingsCodeSecretReachesItsDeviceOnly) {
  Phone phone = enroll();
  domain::SignInStart first = begin(new_id());
  ASSERT_TRUE(first.scan_code);
  Reply scanned = call(phone, "POST", "/scan", {{"code", *first.scan_code}});
  ASSERT_EQ(scanned.status, 200) << scanned.body;
  const json code = scanned.body["account"]["code"];
  EXPECT_EQ(code["algorithm"], "SHA1");
  EXPECT_EQ(code["digits"], 6);
  EXPECT_EQ(code["period"], 30);
  auto secret = crypto::base32_decode(code["secret"].get<std::string>());
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->size(), domain::kCodeSecretBytes);
  const std::string binding_id = code["binding_id"];
  EXPECT_EQ(scanned.body["account"]["binding_id"], binding_id);
  with_db([&](store::Db& db) {
    auto b = store::BindingRepo(db).get(binding_id);
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->device_id, phone.id);
    auto row = store::CodeSecretRepo(db).find(binding_id).value();
    ASSERT_TRUE(row);
    EXPECT_EQ(master_key_.open(row->secret_sealed, domain::code_secret_aad(binding_id)).value(), *secret);
  });

  // GET /accounts hands the same secret again.
  Reply accounts = call(phone, "GET", "/accounts");
  ASSERT_EQ(accounts.status, 200) << accounts.body;
  ASSERT_EQ(accounts.body["accounts"].size(), 1u);
  EXPECT_EQ(accounts.body["accounts"][0]["binding_id"], binding_id);
  EXPECT_EQ(accounts.body["accounts"][0]["code"], code);

  // Another phone sees nothing of it.
  Phone other = enroll("Someone else's phone");
  Reply theirs = call(other, "GET", "/accounts");
  ASSERT_EQ(theirs.status, 200);
  EXPECT_TRUE(theirs.body["accounts"].empty());
}

TEST_F(DeviceRoutesTest, ABindingWithoutASecretGetsOneThroughAccounts) {
  Phone phone = enroll();
  std::string binding_id;
  with_db([&](store::Db& db) {
    auto user =
        domain::UserService(db, clock_)
            .find_or_create(integration_.org_id, kDirectory, {kDirectory, new_id(), "bob@contoso.example", "Bob"});
    ASSERT_TRUE(user) << user.error().message;
    auto b = domain::BindingService(db, clock_).bind(user->id, phone.id);  // an admin's binding: no secret
    ASSERT_TRUE(b) << b.error().message;
    binding_id = b->id;
    EXPECT_FALSE(store::CodeSecretRepo(db).find(binding_id).value());
  });
  Reply accounts = call(phone, "GET", "/accounts");
  ASSERT_EQ(accounts.status, 200) << accounts.body;
  ASSERT_EQ(accounts.body["accounts"].size(), 1u);
  EXPECT_EQ(accounts.body["accounts"][0]["code"]["binding_id"], binding_id);
  with_db([&](store::Db& db) { EXPECT_TRUE(store::CodeSecretRepo(db).find(binding_id).value()); });
}

// The whole device side: the client scans and stores the secret, `avow code` prints a code, and the server
// accepts that code for the user's next sign-in.
TEST_F(DeviceRoutesTest, AvowCodePrintsWhatTheServerAccepts) {
  clock_.set(SystemClock::instance().now());  // `avow code` reads the real clock
  const std::filesystem::path home = dir_ / "phone-home";
  device::ClientOptions options;
  options.home = home;
  options.clock = &clock_;
  device::DeviceClient client(options);
  auto enrolled = client.enroll(server_url(), "Ada's phone");
  ASSERT_TRUE(enrolled) << enrolled.error().message;

  const std::string oid = new_id();
  domain::SignInStart first = begin(oid);
  ASSERT_TRUE(first.scan_code);
  auto scanned = client.scan(*first.scan_code);
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_TRUE(scanned->code_saved) << scanned->save_error;
  ASSERT_TRUE(scanned->account && scanned->account->code);
  auto book = device::AccountBook::load(home);
  ASSERT_TRUE(book) << book.error().message;
  ASSERT_EQ(book->accounts.size(), 1u);
  EXPECT_EQ(book->accounts[0].code->secret, scanned->account->code->secret);

  domain::SignInStart second = begin(oid);
  EXPECT_FALSE(second.scan_code);
  std::vector<const char*> argv{"avow", "--home", home.c_str(), "code", "--json"};
  std::istringstream in;
  std::ostringstream out, err;
  ASSERT_EQ(device::cli::run(static_cast<int>(argv.size()), argv.data(), {in, out, err, nullptr}), device::cli::kExitOk)
      << err.str();
  const std::string code = json::parse(out.str())["code"];
  with_db([&](store::Db& db) {
    domain::SignInService flows(db, clock_, {}, {}, {}, {&master_key_, {}});
    auto verdict =
        flows.verify_code(second.challenge.id, crypto::hex_encode(crypto::sha256("flow secret")), code, "203.0.113.9");
    ASSERT_TRUE(verdict) << verdict.error().message;
    EXPECT_TRUE(verdict->accepted);
    EXPECT_EQ(flows.finish(second.challenge.id, crypto::hex_encode(crypto::sha256("flow secret"))).value().method,
              "otp");
  });
}

// Dashboard admin codes: a scan the sign-in flow refuses as another purpose goes to AdminAccessService.
TEST_F(DeviceRoutesTest, AdminCodesSignInInviteAndAreRefusedForStrangers) {
  const std::string browser = domain::sha256_hex("browser secret");
  Phone phone = enroll("Grace's phone");
  std::string owner_id;
  with_db([&](store::Db& db) {
    auto owner = store::AdminRepo(db).find_by_email_any_org("grace@contoso.example");
    ASSERT_TRUE(owner && owner->size() == 1u);
    owner_id = owner->front().id;
    ASSERT_TRUE(domain::AdminService(db, clock_).set_device(owner_id, phone.id));
  });
  auto issue_signin = [&]() {
    std::optional<domain::IssuedScanCode> code;
    with_db([&](store::Db& db) {
      auto c = domain::AdminAccessService(db, clock_).begin_signin_scan(browser, "203.0.113.9");
      ASSERT_TRUE(c) << c.error().message;
      code = std::move(*c);
    });
    return code.value_or(domain::IssuedScanCode{});
  };

  // A phone that belongs to no admin: 403, and the code stays usable.
  domain::IssuedScanCode signin = issue_signin();
  Phone stranger = enroll("stranger");
  Reply refused = call(stranger, "POST", "/scan", {{"code", signin.code}});
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.body["error"], "not_an_admin");

  // The admin's phone: 200 with what happened, and the waiting browser is woken.
  std::future<bool> page = watch("scan:" + signin.record.id);
  Reply scanned = call(phone, "POST", "/scan", {{"code", signin.code}});
  ASSERT_EQ(scanned.status, 200) << scanned.body;
  EXPECT_EQ(scanned.body, (json{{"result", "admin_signin"},
                                {"org", "Contoso"},
                                {"admin", "Grace"},
                                {"email", "grace@contoso.example"},
                                {"role", "owner"}}));
  EXPECT_TRUE(page.get()) << "the sign-in page is woken by the scan";
  with_db([&](store::Db& db) {
    auto admin = domain::AdminAccessService(db, clock_).claim_scan(signin.record.id, browser, "");
    ASSERT_TRUE(admin) << admin.error().message;
    EXPECT_EQ(admin->id, owner_id);
  });
  Reply used = call(phone, "POST", "/scan", {{"code", signin.code}});
  EXPECT_EQ(used.status, 404) << used.body;
  EXPECT_EQ(used.body["error"], "invalid_code");

  // An invite: the invitee's phone becomes their device; a second phone is refused.
  std::optional<domain::InviteIssued> invite;
  with_db([&](store::Db& db) {
    auto org = store::AdminRepo(db).get(owner_id).value().org_id;
    auto i = domain::AdminAccessService(db, clock_)
                 .invite(org, owner_id, "Alan Turing", "alan@contoso.example", store::AdminRole::kAdmin, "");
    ASSERT_TRUE(i) << i.error().message;
    invite = std::move(*i);
  });
  ASSERT_TRUE(invite);
  Phone alan = enroll("Alan's phone");
  Reply joined = call(alan, "POST", "/scan", {{"code", invite->code.code}});
  ASSERT_EQ(joined.status, 200) << joined.body;
  EXPECT_EQ(joined.body["result"], "admin_invite");
  EXPECT_EQ(joined.body["admin"], "Alan Turing");

  // Sign-up is closed (Contoso exists): 409 signup_closed, for a code issued while it was open.
  std::optional<domain::IssuedScanCode> signup;
  with_db([&](store::Db& db) {
    auto c = domain::AdminAccessService(db, clock_, {.open_signup = true})
                 .begin_signup({"Fabrikam", "Mallory", "m@fabrikam.example"}, browser, "");
    ASSERT_TRUE(c) << c.error().message;
    signup = std::move(*c);
  });
  ASSERT_TRUE(signup);
  Reply closed = call(stranger, "POST", "/scan", {{"code", signup->code}});
  EXPECT_EQ(closed.status, 409) << closed.body;
  EXPECT_EQ(closed.body["error"], "signup_closed");
}

// An admin_signin push reaches the admin's phone through GET /challenges and is answered like any other.
TEST_F(DeviceRoutesTest, AnAdminSignInPushIsListedAndAnswered) {
  const std::string browser = domain::sha256_hex("browser secret");
  Phone phone = enroll("Grace's phone");
  std::optional<domain::OpenedChallenge> opened;
  with_db([&](store::Db& db) {
    auto owner = store::AdminRepo(db).find_by_email_any_org("grace@contoso.example").value().front();
    ASSERT_TRUE(domain::AdminService(db, clock_).set_device(owner.id, phone.id));
    domain::ChallengeContext ctx;
    ctx.ip = "203.0.113.9";
    auto o = domain::AdminAccessService(db, clock_).begin_signin_push("grace@contoso.example", browser, ctx);
    ASSERT_TRUE(o && *o);
    opened = std::move(**o);
  });
  ASSERT_TRUE(opened);
  Reply listed = call(phone, "GET", "/challenges?wait=0");
  ASSERT_EQ(listed.status, 200) << listed.body;
  ASSERT_EQ(listed.body["challenges"].size(), 1u) << listed.body;
  const json pushed = listed.body["challenges"][0];
  EXPECT_EQ(pushed["kind"], "admin_signin");
  EXPECT_EQ(pushed["context"]["integration"], "Avow dashboard");
  EXPECT_EQ(pushed["context"]["user"], "grace@contoso.example");
  Reply approved = call(phone, "POST", "/challenges/" + opened->challenge.id + "/answer",
                        answer_fields(pushed, "approve", opened->challenge.number));
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.body["state"], "approved");
  with_db([&](store::Db& db) {
    auto admin = domain::AdminAccessService(db, clock_).claim_push(opened->challenge.id, browser, "");
    ASSERT_TRUE(admin) << admin.error().message;
    EXPECT_EQ(admin->email, "grace@contoso.example");
  });
}

// `avow` itself against the server: scanning a dashboard sign-in code, then listing and approving a dashboard
// push, with what it prints.
TEST_F(DeviceRoutesTest, TheAvowCliSignsAnAdminInAndApprovesADashboardPush) {
  clock_.set(SystemClock::instance().now());  // the CLI signs with the real clock
  const std::filesystem::path home = dir_ / "grace-home";
  device::ClientOptions options;
  options.home = home;
  device::DeviceClient client(options);
  auto enrolled = client.enroll(server_url(), "Grace's phone");
  ASSERT_TRUE(enrolled) << enrolled.error().message;
  const std::string browser = domain::sha256_hex("browser secret");
  std::string code, code_id;
  with_db([&](store::Db& db) {
    auto owner = store::AdminRepo(db).find_by_email_any_org("grace@contoso.example").value().front();
    ASSERT_TRUE(domain::AdminService(db, clock_).set_device(owner.id, enrolled->device_id));
    auto c = domain::AdminAccessService(db, clock_).begin_signin_scan(browser, "").value();
    code = c.code;
    code_id = c.record.id;
  });
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> all = {"avow", "--home", home.string()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : all) argv.push_back(a.c_str());
    std::istringstream in;
    std::ostringstream out, err;
    const int rc = device::cli::run(static_cast<int>(argv.size()), argv.data(), {in, out, err, nullptr});
    return std::make_tuple(rc, out.str(), err.str());
  };

  auto [rc, out, err] = run({"scan", server_url() + "/s/" + code});
  ASSERT_EQ(rc, device::cli::kExitOk) << err << out;
  EXPECT_NE(out.find("Signed in to the Avow dashboard of Contoso as Grace."), std::string::npos) << out;
  with_db([&](store::Db& db) { EXPECT_TRUE(domain::AdminAccessService(db, clock_).claim_scan(code_id, browser, "")); });

  std::optional<domain::OpenedChallenge> opened;
  with_db([&](store::Db& db) {
    auto o = domain::AdminAccessService(db, clock_).begin_signin_push("grace@contoso.example", browser, {});
    ASSERT_TRUE(o && *o);
    opened = std::move(**o);
  });
  ASSERT_TRUE(opened);
  std::tie(rc, out, err) = run({"pending"});
  ASSERT_EQ(rc, device::cli::kExitOk) << err << out;
  EXPECT_NE(out.find("Avow dashboard sign-in for grace@contoso.example"), std::string::npos) << out;
  std::tie(rc, out, err) = run({"approve", opened->challenge.id, "--number", std::to_string(opened->challenge.number)});
  ASSERT_EQ(rc, device::cli::kExitOk) << err << out;
  EXPECT_NE(out.find("Approved."), std::string::npos) << out;
  with_db([&](store::Db& db) {
    EXPECT_TRUE(domain::AdminAccessService(db, clock_).claim_push(opened->challenge.id, browser, ""));
  });
}

}  // namespace
}  // namespace avow::api
