// The `avow` command line run in-process against the fake server: exit codes, output, and the requests the
// commands make (approve/deny fetch the context to hash; listen prompts, re-prompts and stops at EOF).
#include <gtest/gtest.h>

#include <sstream>

#include "authenticator/cli.h"
#include "authenticator/device.h"
#include "crypto/jws.h"
#include "fake_server.h"
#include "qr_png.h"
#include "test_util.h"

namespace avow::device {
namespace {

using nlohmann::json;
using testing::CannedResponse;
using testing::FakeServer;
using testing::make_identity;
using testing::RefusingPort;
using testing::TempDir;
using testing::write_qr_png;

struct CliRun {
  int rc = -1;
  std::string out;
  std::string err;
};

CliRun avow(const std::filesystem::path& home, std::vector<std::string> args, const std::string& input = "") {
  std::vector<std::string> all = {"avow", "--home", home.string()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& a : all) argv.push_back(a.c_str());
  std::istringstream in(input);
  std::ostringstream out, err;
  CliRun r;
  r.rc = cli::run(static_cast<int>(argv.size()), argv.data(), {in, out, err, nullptr});
  r.out = out.str();
  r.err = err.str();
  return r;
}

json payload_of(const testing::CapturedRequest& r) {
  auto v = crypto::jws::decode_unverified(r.body);
  EXPECT_TRUE(v);
  return v ? json::parse(v->payload) : json();
}

json challenge_json(const std::string& id, const std::string& user_agent = "Mozilla/5.0") {
  return json{{"id", id},
              {"kind", "mfa"},
              {"choices", {17, 42, 88}},
              {"context",
               {{"integration", "Contoso Entra"},
                {"org", "Contoso"},
                {"user", "alice@contoso.com"},
                {"ip", "203.0.113.7"},
                {"user_agent", user_agent},
                {"created_at", "2024-05-01T10:00:00Z"}}},
              {"expires_at", "2024-05-01T10:03:00Z"}};
}

std::string challenges(std::vector<json> list) { return json{{"challenges", list}}.dump(); }

TEST(AvowCli, EnrollCreatesTheIdentityAndIsIdempotentForTheSameServer) {
  TempDir dir;
  const auto home = dir / "home";
  FakeServer server({{201, R"({"device_id":"dev-1"})"}});
  CliRun r = avow(home, {"enroll", "--server", server.url(), "--name", "laptop"});
  EXPECT_EQ(r.rc, cli::kExitOk) << r.err;
  EXPECT_NE(r.out.find("Enrolled with " + server.url() + " as device dev-1"), std::string::npos) << r.out;
  EXPECT_EQ(server.requests().size(), 1u);
  ASSERT_TRUE(DeviceIdentity::load(home));

  CliRun again = avow(home, {"enroll", "--server", server.url() + "/"});
  EXPECT_EQ(again.rc, cli::kExitOk) << again.err;
  EXPECT_NE(again.out.find("Already enrolled"), std::string::npos);

  CliRun other = avow(home, {"enroll", "--server", "https://other.example.com"});
  EXPECT_EQ(other.rc, cli::kExitUsage);
  EXPECT_NE(other.err.find("--force"), std::string::npos);
  EXPECT_EQ(DeviceIdentity::load(home)->device_id, "dev-1");
}

TEST(AvowCli, EnrollForceReplacesACorruptIdentity) {
  TempDir dir;
  testing::write_text(DeviceIdentity::file_path(dir.path()), "{trunc", 0600);
  CliRun refused = avow(dir.path(), {"enroll", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(refused.rc, cli::kExitUsage);
  EXPECT_NE(refused.err.find("corrupt"), std::string::npos) << refused.err;

  FakeServer server({{201, R"({"device_id":"dev-2"})"}});
  CliRun forced = avow(dir.path(), {"enroll", "--server", server.url(), "--force"});
  EXPECT_EQ(forced.rc, cli::kExitOk) << forced.err;
  EXPECT_EQ(DeviceIdentity::load(dir.path())->device_id, "dev-2");
}

TEST(AvowCli, ConfigurationErrorsExit2) {
  TempDir dir;
  CliRun none = avow(dir.path(), {"pending"});
  EXPECT_EQ(none.rc, cli::kExitUsage);
  EXPECT_NE(none.err.find("not enrolled"), std::string::npos);

  ASSERT_TRUE(make_identity().save(dir.path()));
  ::chmod(DeviceIdentity::file_path(dir.path()).c_str(), 0644);
  CliRun loose = avow(dir.path(), {"accounts"});
  EXPECT_EQ(loose.rc, cli::kExitUsage);
  EXPECT_NE(loose.err.find("0644"), std::string::npos) << loose.err;

  EXPECT_EQ(avow(dir.path(), {"pending", "--wait", "31"}).rc, cli::kExitUsage);
  EXPECT_EQ(avow(dir.path(), {"frobnicate"}).rc, cli::kExitUsage);
  EXPECT_EQ(avow(dir.path(), {"approve", "ch-1"}).rc, cli::kExitUsage);  // --number is required
  EXPECT_EQ(avow(dir.path(), {"--help"}).rc, cli::kExitOk);
}

TEST(AvowCli, ServerRefusalExits1AndNetworkFailureExits3) {
  TempDir dir;
  FakeServer server({{404, R"({"error":"invalid_code","error_description":"The code is unknown, used or expired."})"}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun refused = avow(dir.path(), {"scan", "abc"});
  EXPECT_EQ(refused.rc, cli::kExitRefused);
  EXPECT_NE(refused.err.find("The code is unknown, used or expired. [invalid_code]"), std::string::npos) << refused.err;

  TempDir other;
  RefusingPort port;
  ASSERT_TRUE(make_identity(port.url()).save(other.path()));
  CliRun offline = avow(other.path(), {"accounts"});
  EXPECT_EQ(offline.rc, cli::kExitNetwork);
}

TEST(AvowCli, ScanAnImageEnrollsAndBinds) {
  TempDir dir;
  FakeServer server({
      {201, R"({"device_id":"dev-4"})"},
      {200, R"({"result":"bound","account":{"user":"alice@contoso.com","org":"Contoso","integration":"Entra"},
               "challenge_id":"ch-1"})"},
  });
  ASSERT_TRUE(write_qr_png(dir / "qr.png", {server.url() + "/s/Code42"}));
  const auto home = dir / "home";
  CliRun r = avow(home, {"scan", "--image", (dir / "qr.png").string()});
  EXPECT_EQ(r.rc, cli::kExitOk) << r.err;
  EXPECT_NE(r.out.find("Enrolled with"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Bound to alice@contoso.com"), std::string::npos) << r.out;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(payload_of(requests[1])["code"], "Code42");
  EXPECT_EQ(DeviceIdentity::load(home)->device_id, "dev-4");
}

TEST(AvowCli, ScanJsonPrintsTheAnswer) {
  TempDir dir;
  FakeServer server({{200, R"({"result":"bound","challenge_id":"ch-1"})"}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun r = avow(dir.path(), {"scan", server.url() + "/s/abc", "--json"});
  ASSERT_EQ(r.rc, cli::kExitOk) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["result"], "bound");
  EXPECT_EQ(out["challenge_id"], "ch-1");
  EXPECT_EQ(out["enrolled"], false);
}

TEST(AvowCli, PendingJsonAndHuman) {
  TempDir dir;
  FakeServer server({{200, challenges({challenge_json("ch-1")})}, {200, challenges({challenge_json("ch-1")})}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun j = avow(dir.path(), {"pending", "--json"});
  ASSERT_EQ(j.rc, cli::kExitOk) << j.err;
  EXPECT_EQ(json::parse(j.out)["challenges"][0]["id"], "ch-1");
  CliRun h = avow(dir.path(), {"pending", "--wait", "2"});
  ASSERT_EQ(h.rc, cli::kExitOk) << h.err;
  EXPECT_NE(h.out.find("alice@contoso.com"), std::string::npos);
  EXPECT_NE(h.out.find("17   42   88"), std::string::npos) << h.out;
  EXPECT_EQ(server.requests()[1].target, "/api/device/v1/challenges?wait=2");
}

TEST(AvowCli, ApproveFetchesTheContextAndSignsItsHash) {
  TempDir dir;
  const json c = challenge_json("ch-1");
  FakeServer server({{200, challenges({c})}, {200, R"({"state":"approved"})"}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun r = avow(dir.path(), {"approve", "ch-1", "--number", "42"});
  EXPECT_EQ(r.rc, cli::kExitOk) << r.err;
  EXPECT_NE(r.out.find("Approved"), std::string::npos);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/api/device/v1/challenges?wait=0");
  EXPECT_EQ(requests[1].target, "/api/device/v1/challenges/ch-1/answer");
  const json p = payload_of(requests[1]);
  EXPECT_EQ(p["action"], "approve");
  EXPECT_EQ(p["number"], 42);
  EXPECT_EQ(p["context_hash"], context_hash(c["context"]));
}

TEST(AvowCli, ApproveWithAWrongNumberIsDeniedAndExits1) {
  TempDir dir;
  FakeServer server({{200, R"({"state":"denied","reason":"wrong_number"})"}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  const std::string hash = context_hash(json::object());
  CliRun r = avow(dir.path(), {"approve", "ch-1", "-n", "5", "--context-hash", hash});
  EXPECT_EQ(r.rc, cli::kExitRefused);
  EXPECT_NE(r.out.find("not the number"), std::string::npos) << r.out;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);  // the given hash is used: no fetch
  EXPECT_EQ(payload_of(requests[0])["context_hash"], hash);
}

TEST(AvowCli, ApproveOfAChallengeNotPendingExits1) {
  TempDir dir;
  FakeServer server({{200, challenges({})}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun r = avow(dir.path(), {"approve", "ch-9", "--number", "42"});
  EXPECT_EQ(r.rc, cli::kExitRefused);
  EXPECT_NE(r.err.find("no pending sign-in request ch-9"), std::string::npos) << r.err;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(AvowCli, DenyAsFraud) {
  TempDir dir;
  FakeServer server({{200, challenges({challenge_json("ch-1")})}, {200, R"({"state":"denied","reason":"fraud"})"}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun r = avow(dir.path(), {"deny", "ch-1", "--fraud"});
  EXPECT_EQ(r.rc, cli::kExitOk) << r.err;
  EXPECT_NE(r.out.find("reported"), std::string::npos);
  const json p = payload_of(server.requests()[1]);
  EXPECT_EQ(p["action"], "fraud");
  EXPECT_FALSE(p.contains("number"));
}

TEST(AvowCli, AccountsHumanAndJson) {
  TempDir dir;
  const std::string body =
      R"({"accounts":[{"user":"alice@contoso.com","org":"Contoso","integration":"Entra","bound_at":"2024-01-01T00:00:00Z"}]})";
  FakeServer server({{200, body}, {200, body}});
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun h = avow(dir.path(), {"accounts"});
  ASSERT_EQ(h.rc, cli::kExitOk) << h.err;
  EXPECT_NE(h.out.find("alice@contoso.com"), std::string::npos);
  CliRun j = avow(dir.path(), {"accounts", "--json"});
  ASSERT_EQ(j.rc, cli::kExitOk) << j.err;
  EXPECT_EQ(json::parse(j.out)["accounts"][0]["org"], "Contoso");
}

TEST(AvowCli, ListenPromptsAnswersAndStopsAtEndOfInput) {
  TempDir dir;
  // The browser's user agent is chosen by whoever started the sign-in: it must not reach the terminal raw.
  const json c1 = challenge_json("ch-1", "Evil\x1b[2J\x1b]0;pwned\x07UA");
  FakeServer server({
      {200, challenges({c1})},
      {200, R"({"state":"approved"})"},
      {200, challenges({challenge_json("ch-2")})},
  });
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  // "7" is not one of the choices (re-prompt), "x" is not an answer (re-prompt), then 42; then EOF at ch-2.
  CliRun r = avow(dir.path(), {"listen"}, "7\nx\n42\n");
  EXPECT_EQ(r.rc, cli::kExitOk) << r.err;
  EXPECT_NE(r.out.find("7 is not one of 17   42   88"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Type one of the numbers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Approved"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Sign-in request ch-2"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "control characters reached the terminal";
  EXPECT_EQ(r.out.find('\x07'), std::string::npos);
  EXPECT_NE(r.out.find("Evil?[2J?]0;pwned?UA"), std::string::npos) << r.out;

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/api/device/v1/challenges?wait=25");
  const json p = payload_of(requests[1]);
  EXPECT_EQ(p["challenge"], "ch-1");
  EXPECT_EQ(p["number"], 42);
  EXPECT_EQ(p["context_hash"], context_hash(c1["context"]));
}

TEST(AvowCli, ListenDenyAndFraudKeysThenStopsWhenTheServerRefusesTheDevice) {
  TempDir dir;
  FakeServer server({
      {200, challenges({challenge_json("ch-1"), challenge_json("ch-2")})},
      {200, R"({"state":"denied","reason":"denied"})"},
      {200, R"({"state":"denied","reason":"fraud"})"},
      {401, R"({"error":"invalid_signature","error_description":"This device was revoked."})"},
  });
  ASSERT_TRUE(make_identity(server.url()).save(dir.path()));
  CliRun r = avow(dir.path(), {"listen"}, "d\nf\n");
  EXPECT_EQ(r.rc, cli::kExitRefused) << r.out << r.err;
  EXPECT_NE(r.err.find("This device was revoked."), std::string::npos) << r.err;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(payload_of(requests[1])["action"], "deny");
  EXPECT_EQ(payload_of(requests[1])["challenge"], "ch-1");
  EXPECT_EQ(payload_of(requests[2])["action"], "fraud");
  EXPECT_EQ(payload_of(requests[2])["challenge"], "ch-2");
}

}  // namespace
}  // namespace avow::device
