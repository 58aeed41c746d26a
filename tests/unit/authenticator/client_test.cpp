// DeviceClient against a fake HTTP server: the shape of every request, the parsing of every answer, and the
// mapping of errors (server refusals, unreadable answers, unreachable servers, cancellation).
#include <gtest/gtest.h>

#include "authenticator/device.h"
#include "crypto/jws.h"
#include "fake_server.h"
#include "test_util.h"

namespace avow::device {
namespace {

using nlohmann::json;
using testing::CannedResponse;
using testing::CapturedRequest;
using testing::FakeServer;
using testing::make_identity;
using testing::mode_of;
using testing::RefusingPort;
using testing::TempDir;

struct Verified {
  json header;
  json payload;
};

// Checks a captured request the way the server will: the JWS in the right place, verifying with `key`,
// htm/htu equal to the request as received.
Verified verify_request(const CapturedRequest& r, const crypto::Jwk& key) {
  std::string token;
  if (r.method == "POST") {
    EXPECT_EQ(r.header("content-type"), "application/jose");
    EXPECT_EQ(r.header("authorization"), "");
    token = r.body;
  } else {
    EXPECT_EQ(r.body, "");
    const std::string auth = r.header("authorization");
    EXPECT_EQ(auth.rfind("AvowDevice ", 0), 0u) << auth;
    token = auth.substr(std::string("AvowDevice ").size());
  }
  auto v = crypto::jws::verify(token, key);
  EXPECT_TRUE(v) << (v ? "" : v.error().message);
  if (!v) return {};
  Verified out{v->header, json::parse(v->payload)};
  EXPECT_EQ(out.header["typ"], "avow-device+jwt");
  EXPECT_EQ(out.payload["htm"], r.method);
  EXPECT_EQ(out.payload["htu"], r.target);
  return out;
}

ClientOptions options_for(const std::filesystem::path& home = {}) {
  ClientOptions o;
  o.home = home;
  o.connect_timeout = std::chrono::seconds(5);
  o.request_timeout = std::chrono::seconds(20);
  return o;
}

json challenge_json(const std::string& id) {
  return json{{"id", id},
              {"kind", "mfa"},
              {"choices", {17, 42, 88}},
              {"context",
               {{"integration", "Contoso Entra"},
                {"org", "Contoso"},
                {"user", "alice@contoso.com"},
                {"ip", "203.0.113.7"},
                {"user_agent", "Mozilla/5.0"},
                {"created_at", 1'700'000'000}}},
              {"expires_at", "2023-11-14T22:16:20Z"}};
}

TEST(DeviceClient, EnrollSignsWithTheJwkAndSavesTheIdentity) {
  TempDir dir;
  FakeServer server({{201, R"({"device_id":"dev-7"})"}});
  DeviceClient client(options_for(dir / "home"));
  auto id = client.enroll(server.url(), "my laptop");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->device_id, "dev-7");
  EXPECT_EQ(id->server, server.url());
  EXPECT_EQ(id->name, "my laptop");
  ASSERT_TRUE(client.identity());
  EXPECT_EQ(client.identity()->device_id, "dev-7");

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/api/device/v1/enroll");
  auto jwk = crypto::Jwk::parse(crypto::jws::decode_unverified(requests[0].body)->header["jwk"]);
  ASSERT_TRUE(jwk);
  EXPECT_TRUE(jwk->same_public_key(id->key));
  const Verified v = verify_request(requests[0], *jwk);
  EXPECT_EQ(v.payload["name"], "my laptop");
  EXPECT_EQ(v.payload["platform"], "builtin");

  auto saved = DeviceIdentity::load(dir / "home");
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(saved->device_id, "dev-7");
  EXPECT_TRUE(saved->key.same_public_key(id->key));
  EXPECT_EQ(mode_of(DeviceIdentity::file_path(dir / "home")), 0600u);
}

TEST(DeviceClient, EnrollRefusesToReplaceAnIdentity) {
  TempDir dir;
  DeviceClient same(options_for(), make_identity("https://avow.example.com"));
  auto r = same.enroll("https://AVOW.example.com/", "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::kLocal);
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);

  auto other = same.enroll("https://other.example.com", "x");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind, FailureKind::kLocal);
  EXPECT_EQ(other.error().code, ErrorCode::kConflict);

  // A file already in the home (even one this client was not given) is not replaced without force, and
  // the server is not even asked.
  ASSERT_TRUE(make_identity().save(dir.path()));
  DeviceClient fresh(options_for(dir.path()));
  auto refused = fresh.enroll("https://avow.example.com", "x");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
}

TEST(DeviceClient, EnrollChecksTheName) {
  DeviceClient client(options_for());
  EXPECT_EQ(client.enroll("https://avow.example.com", std::string(65, 'n')).error().kind, FailureKind::kLocal);
  EXPECT_EQ(client.enroll("https://avow.example.com", "tab\there").error().kind, FailureKind::kLocal);
  EXPECT_EQ(client.enroll("https://avow.example.com", "\xff\xfe").error().kind, FailureKind::kLocal);
}

TEST(DeviceClient, ScanOfAFullUrlEnrollsFirstThenRedeemsTheCode) {
  TempDir dir;
  FakeServer server({
      {201, R"({"device_id":"dev-9"})"},
      {200, R"({"result":"bound","account":{"user":"alice@contoso.com","org":"Contoso","integration":"Entra"},
               "challenge_id":"ch-1"})"},
  });
  DeviceClient client(options_for(dir.path()));
  auto r = client.scan(server.url() + "/s/Code_123");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->enrolled);
  EXPECT_EQ(r->result, "bound");
  ASSERT_TRUE(r->account);
  EXPECT_EQ(r->account->user, "alice@contoso.com");
  EXPECT_EQ(r->account->org, "Contoso");
  EXPECT_EQ(r->account->integration, "Entra");
  EXPECT_EQ(r->challenge_id, "ch-1");
  EXPECT_TRUE(std::filesystem::exists(DeviceIdentity::file_path(dir.path())));

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/api/device/v1/enroll");
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].target, "/api/device/v1/scan");
  const Verified v = verify_request(requests[1], client.identity()->key.public_key());
  EXPECT_EQ(v.header["kid"], "dev-9");
  EXPECT_FALSE(v.header.contains("jwk"));
  EXPECT_EQ(v.payload["code"], "Code_123");
}

TEST(DeviceClient, ScanRefusesAnotherServersCodeAndABareCodeWithoutIdentity) {
  DeviceClient enrolled(options_for(), make_identity("https://avow.example.com"));
  auto other = enrolled.scan("https://evil.example.com/s/abc");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind, FailureKind::kLocal);
  EXPECT_EQ(other.error().code, ErrorCode::kConflict);

  DeviceClient fresh(options_for());
  auto bare = fresh.scan("abc");
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().kind, FailureKind::kLocal);
  EXPECT_EQ(bare.error().code, ErrorCode::kNotFound);
}

TEST(DeviceClient, ScanErrorCarriesTheServersDescription) {
  FakeServer server({{404, R"({"error":"invalid_code","error_description":"The code is unknown, used or expired."})"}});
  DeviceClient client(options_for(), make_identity(server.url()));
  auto r = client.scan("abc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::kServer);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().http_status, 404);
  EXPECT_EQ(r.error().server_error, "invalid_code");
  EXPECT_EQ(r.error().message, "The code is unknown, used or expired.");
  EXPECT_EQ(r.error().to_error().code, ErrorCode::kNotFound);
}

TEST(DeviceClient, PendingSendsASignedGetAndParsesChallenges) {
  auto c1 = challenge_json("ch-1");
  c1["context_hash"] = context_hash(c1["context"]);
  FakeServer server({{200, json{{"challenges", {c1}}}.dump()}});
  const DeviceIdentity id = make_identity(server.url(), "dev-3");
  DeviceClient client(options_for(), id);
  auto list = client.pending(0);
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  const Challenge& c = list->front();
  EXPECT_EQ(c.id, "ch-1");
  EXPECT_EQ(c.kind, "mfa");
  EXPECT_EQ(c.choices, (std::vector<int>{17, 42, 88}));
  EXPECT_EQ(c.shown.integration, "Contoso Entra");
  EXPECT_EQ(c.shown.org, "Contoso");
  EXPECT_EQ(c.shown.user, "alice@contoso.com");
  EXPECT_EQ(c.shown.ip, "203.0.113.7");
  EXPECT_EQ(c.shown.user_agent, "Mozilla/5.0");
  EXPECT_EQ(c.shown.created_at, "2023-11-14T22:13:20Z");  // Unix seconds shown as UTC
  EXPECT_EQ(c.expires_at, "2023-11-14T22:16:20Z");
  EXPECT_EQ(c.context_hash, context_hash(c1["context"]));
  EXPECT_EQ(c.server_context_hash, c.context_hash);

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/api/device/v1/challenges?wait=0");
  const Verified v = verify_request(requests[0], id.key.public_key());
  EXPECT_EQ(v.header["kid"], "dev-3");
}

TEST(DeviceClient, PendingUsesTheInjectedClockForIat) {
  FakeServer server({{200, R"({"challenges":[]})"}});
  const DeviceIdentity id = make_identity(server.url());
  ManualClock clock(Clock::from_unix(1'234'567'890));
  ClientOptions o = options_for();
  o.clock = &clock;
  DeviceClient client(o, id);
  auto list = client.pending(3);
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_TRUE(list->empty());
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/api/device/v1/challenges?wait=3");
  EXPECT_EQ(verify_request(requests[0], id.key).payload["iat"], 1'234'567'890);
}

TEST(DeviceClient, PendingRefusesABadWaitAndUnreadableChallenges) {
  DeviceClient offline(options_for(), make_identity());
  EXPECT_EQ(offline.pending(31).error().kind, FailureKind::kLocal);
  EXPECT_EQ(offline.pending(-1).error().kind, FailureKind::kLocal);

  auto no_choices = challenge_json("ch-1");
  no_choices.erase("choices");
  auto no_context = challenge_json("ch-1");
  no_context.erase("context");
  auto bad_id = challenge_json("ch/1");
  FakeServer server({
      {200, json{{"challenges", {no_choices}}}.dump()},
      {200, json{{"challenges", {no_context}}}.dump()},
      {200, json{{"challenges", {bad_id}}}.dump()},
      {200, R"({"no":"challenges"})"},
  });
  DeviceClient client(options_for(), make_identity(server.url()));
  for (int i = 0; i < 4; ++i) {
    auto r = client.pending(0);
    ASSERT_FALSE(r) << i;
    EXPECT_EQ(r.error().kind, FailureKind::kServer) << i;
  }
}

TEST(DeviceClient, AnswerSignsTheDecisionWithTheContextHash) {
  FakeServer server({{200, R"({"state":"approved"})"}, {200, R"({"state":"denied","reason":"fraud"})"}});
  const DeviceIdentity id = make_identity(server.url(), "dev-5");
  DeviceClient client(options_for(), id);
  const std::string hash = context_hash(challenge_json("x")["context"]);

  auto approved = client.answer("ch-1", Answer::kApprove, 42, hash);
  ASSERT_TRUE(approved) << approved.error().message;
  EXPECT_EQ(approved->state, "approved");
  auto fraud = client.answer("ch-2", Answer::kFraud, std::nullopt, hash);
  ASSERT_TRUE(fraud) << fraud.error().message;
  EXPECT_EQ(fraud->state, "denied");
  EXPECT_EQ(fraud->reason, "fraud");

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/api/device/v1/challenges/ch-1/answer");
  const Verified a = verify_request(requests[0], id.key.public_key());
  EXPECT_EQ(a.header["kid"], "dev-5");
  EXPECT_EQ(a.payload["challenge"], "ch-1");
  EXPECT_EQ(a.payload["action"], "approve");
  EXPECT_EQ(a.payload["number"], 42);
  EXPECT_EQ(a.payload["context_hash"], hash);

  EXPECT_EQ(requests[1].target, "/api/device/v1/challenges/ch-2/answer");
  const Verified f = verify_request(requests[1], id.key.public_key());
  EXPECT_EQ(f.payload["action"], "fraud");
  EXPECT_FALSE(f.payload.contains("number"));
}

TEST(DeviceClient, AnswerRefusesMalformedInputBeforeSending) {
  DeviceClient client(options_for(), make_identity());
  const std::string hash = context_hash(json::object());
  EXPECT_EQ(client.answer("../accounts", Answer::kDeny, std::nullopt, hash).error().kind, FailureKind::kLocal);
  EXPECT_EQ(client.answer("a/b", Answer::kDeny, std::nullopt, hash).error().kind, FailureKind::kLocal);
  EXPECT_EQ(client.answer("ch-1", Answer::kApprove, std::nullopt, hash).error().kind, FailureKind::kLocal);
  EXPECT_EQ(client.answer("ch-1", Answer::kDeny, std::nullopt, "short").error().kind, FailureKind::kLocal);
}

TEST(DeviceClient, AnswerErrorsMapToServerRefusals) {
  FakeServer server({
      {409, R"({"error":"already_decided","error_description":"This sign-in was already answered."})"},
      {410, R"({"error":"expired","error_description":"This sign-in request has expired."})"},
  });
  DeviceClient client(options_for(), make_identity(server.url()));
  const std::string hash = context_hash(json::object());
  auto decided = client.answer("ch-1", Answer::kApprove, 1, hash);
  ASSERT_FALSE(decided);
  EXPECT_EQ(decided.error().kind, FailureKind::kServer);
  EXPECT_EQ(decided.error().code, ErrorCode::kConflict);
  EXPECT_EQ(decided.error().server_error, "already_decided");
  auto expired = client.answer("ch-1", Answer::kApprove, 1, hash);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kExpired);
  EXPECT_EQ(expired.error().message, "This sign-in request has expired.");
}

TEST(DeviceClient, AccountsParsesTheList) {
  FakeServer server({{200, R"({"accounts":[
      {"user":"alice@contoso.com","org":"Contoso","integration":"Entra","bound_at":"2024-01-02T03:04:05Z"},
      {"user":"bob@contoso.com","org":"Contoso","integration":"Entra","bound_at":1700000000}]})"}});
  const DeviceIdentity id = make_identity(server.url());
  DeviceClient client(options_for(), id);
  auto list = client.accounts();
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].user, "alice@contoso.com");
  EXPECT_EQ((*list)[0].bound_at, "2024-01-02T03:04:05Z");
  EXPECT_EQ((*list)[1].bound_at, "2023-11-14T22:13:20Z");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/api/device/v1/accounts");
  verify_request(requests[0], id.key.public_key());
}

TEST(DeviceClient, ErrorMapping) {
  FakeServer server({
      {401, R"({"error":"invalid_signature","error_description":"The request signature does not verify."})"},
      {500, "<html>oops</html>", "text/html"},
      {503, R"({"error":"unavailable"})"},
      {200, "not json"},
      {400, R"({"error":"invalid_request"})"},
  });
  DeviceClient client(options_for(), make_identity(server.url()));

  auto unauth = client.accounts();
  ASSERT_FALSE(unauth);
  EXPECT_EQ(unauth.error().kind, FailureKind::kServer);
  EXPECT_EQ(unauth.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(unauth.error().message, "The request signature does not verify.");

  auto internal = client.accounts();
  ASSERT_FALSE(internal);
  EXPECT_EQ(internal.error().kind, FailureKind::kServer);
  EXPECT_EQ(internal.error().http_status, 500);
  EXPECT_NE(internal.error().message.find("HTTP 500"), std::string::npos);

  auto unavailable = client.accounts();
  ASSERT_FALSE(unavailable);
  EXPECT_EQ(unavailable.error().kind, FailureKind::kNetwork);
  EXPECT_EQ(unavailable.error().code, ErrorCode::kUnavailable);

  auto garbage = client.accounts();
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().kind, FailureKind::kServer);
  EXPECT_NE(garbage.error().message.find("cannot be read"), std::string::npos);

  auto no_description = client.accounts();
  ASSERT_FALSE(no_description);
  EXPECT_EQ(no_description.error().server_error, "invalid_request");
  EXPECT_NE(no_description.error().message.find("invalid_request"), std::string::npos);
}

TEST(DeviceClient, ConnectionRefusedIsANetworkError) {
  RefusingPort port;
  DeviceClient client(options_for(), make_identity(port.url()));
  auto r = client.accounts();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::kNetwork);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("cannot reach"), std::string::npos) << r.error().message;

  DeviceClient fresh(options_for());
  auto enrol = fresh.enroll(port.url(), "x");
  ASSERT_FALSE(enrol);
  EXPECT_EQ(enrol.error().kind, FailureKind::kNetwork);
}

TEST(DeviceClient, OversizedAnswerIsRefused) {
  FakeServer server({{200, R"({"accounts":[)" + std::string(2000, ' ') + "]}"}});
  ClientOptions o = options_for();
  o.max_response_size = 1000;
  DeviceClient client(o, make_identity(server.url()));
  auto r = client.accounts();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::kServer);
  EXPECT_NE(r.error().message.find("larger than 1000"), std::string::npos) << r.error().message;
}

TEST(DeviceClient, CancelEndsACallInFlight) {
  FakeServer server({{200, "", "application/json", /*hold=*/true}});  // never answers
  std::atomic<bool> cancel{false};
  ClientOptions o = options_for();
  o.cancel = &cancel;
  DeviceClient client(o, make_identity(server.url()));
  // What a SIGINT handler does, once the long-poll is waiting on the server.
  std::thread interrupter([&] {
    for (int i = 0; i < 2000 && server.received() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    cancel = true;
  });
  auto r = client.pending(25);
  interrupter.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::kCancelled);
}

TEST(DeviceClient, MissingCaFileIsALocalError) {
  ClientOptions o = options_for();
  o.ca_file = "/nonexistent/ca.pem";
  DeviceClient client(o, make_identity("https://127.0.0.1:1"));
  auto r = client.accounts();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::kLocal);
  EXPECT_NE(r.error().message.find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(DeviceClient, WithoutIdentityCallsAreLocalErrors) {
  DeviceClient client(options_for());
  EXPECT_EQ(client.pending(0).error().kind, FailureKind::kLocal);
  EXPECT_EQ(client.accounts().error().kind, FailureKind::kLocal);
}

}  // namespace
}  // namespace avow::device
