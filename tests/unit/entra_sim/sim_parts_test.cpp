// The simulator's own parts: its state directory, forms, sign-in building, and the receiver's verdicts on a
// provider's answer (with the provider's discovery document and JWKS served by a fake fetcher).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>

#include <gtest/gtest.h>

#include "common/random.h"
#include "crypto/jws.h"
#include "crypto/x509.h"
#include "entra/authorize_request.h"
#include "entra/hint.h"
#include "entra/provider.h"
#include "tools/entra-sim/forms.h"
#include "tools/entra-sim/receiver.h"
#include "tools/entra-sim/sim_server.h"
#include "tools/entra-sim/state.h"

namespace avow::entra_sim {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kDir = "3c9f6a0e-6a47-4a5f-9d10-5a4a1b2c3d4e";
constexpr const char* kApp = "00000000-aaaa-4bbb-8ccc-000000000001";
constexpr std::int64_t kNow = 1'800'000'000;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("avow-sim-test-" + random_token(8))) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- state

TEST(SimState, KeyIsCreatedOnceAndReusedSoTheKidSurvivesARestart) {
  TempDir dir;
  auto first = load_or_create_tenant(dir.path() / "s");
  ASSERT_TRUE(first) << first.error().message;
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "s" / "microsoft-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir.path() / "s").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto second = load_or_create_tenant(dir.path() / "s");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(first->key().kid(), second->key().kid());
  EXPECT_EQ(first->jwks(), second->jwks());

  // A hint minted by one process verifies against the keys another publishes.
  HintSpec spec;
  spec.directory_id = spec.tid = kDir;
  spec.oid = new_id();
  spec.aud = kApp;
  auto hint = first->mint_hint(spec, kNow);
  ASSERT_TRUE(hint);
  auto keys = crypto::Jwks::parse(second->jwks());
  ASSERT_TRUE(keys);
  EXPECT_TRUE(crypto::jws::verify(*hint, *keys));
}

TEST(SimState, AFileWithoutAnRsaPrivateKeyIsRefused) {
  TempDir dir;
  fs::create_directories(dir.path());
  auto ec = crypto::Jwk::generate_ec_p256();
  ASSERT_TRUE(ec);
  {
    std::ofstream out(dir.path() / "microsoft-key.pem");
    out << *ec->private_pem();
  }
  auto t = load_or_create_tenant(dir.path());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
}

TEST(SimState, TlsCertificateIsMadeOnceForLocalhost) {
  TempDir dir;
  auto tls = ensure_sim_tls(dir.path());
  ASSERT_TRUE(tls) << tls.error().message;
  std::ifstream in(tls->cert_file);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto cert = crypto::Certificate::from_pem(pem);
  ASSERT_TRUE(cert);
  auto again = ensure_sim_tls(dir.path());
  ASSERT_TRUE(again);
  std::ifstream in2(again->cert_file);
  std::string pem2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  EXPECT_EQ(pem, pem2);
  struct stat st {};
  ASSERT_EQ(::stat(tls->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// ---- forms

TEST(SimForms, EncodeThenParseRoundTrips) {
  FormFields f = {{"a b", "x+y=z&w"}, {"claims", R"({"id_token":{}})"}, {"empty", ""}, {"ü", "é"}};
  const std::string body = form_encode(f);
  EXPECT_EQ(body.find(' '), std::string::npos);
  EXPECT_NE(body.find("a+b="), std::string::npos);
  auto back = parse_form(body);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, f);
  EXPECT_EQ(form_value(*back, "empty"), "");
  EXPECT_EQ(form_value(*back, "missing"), std::nullopt);
}

TEST(SimForms, MalformedEscapesAndTooManyFieldsAreRefused) {
  EXPECT_FALSE(parse_form("a=%4"));
  EXPECT_FALSE(parse_form("a=%zz"));
  EXPECT_FALSE(parse_form("a=1&b=2&c=3", 2));
  auto ok = parse_form("a=%41&&b");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (FormFields{{"a", "A"}, {"b", ""}}));
}

// ---- building a sign-in

TEST(SimStart, HintSpecFromJsonNeedsDirectoryAndAudience) {
  EXPECT_FALSE(hint_spec_from_json(json{{"aud", kApp}}));
  EXPECT_FALSE(hint_spec_from_json(json{{"directory_id", kDir}}));
  EXPECT_FALSE(hint_spec_from_json(json{{"directory_id", kDir}, {"aud", kApp}, {"version", 3}}));
  EXPECT_FALSE(hint_spec_from_json(json{{"directory_id", kDir}, {"aud", 5}}));
  auto s = hint_spec_from_json(json{{"directory_id", kDir}, {"aud", kApp}, {"version", 1}, {"kid", "k"}, {"iat", 5}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->tid, kDir);  // a member unless told otherwise
  EXPECT_TRUE(is_guid(s->oid));
  EXPECT_EQ(s->version, 1);
  EXPECT_EQ(s->kid_override, "k");
  EXPECT_EQ(s->iat, 5);
}

TEST(SimStart, StartedSignInIsAcceptedByAvowsParserAndHintValidator) {
  auto tenant = Tenant::create();
  ASSERT_TRUE(tenant);
  json req = {{"discovery_url", "https://mfa.example.com/entra/cid/.well-known/openid-configuration"},
              {"client_id", "cid"},
              {"app_id", kApp},
              {"directory_id", kDir},
              {"tid", "8f3b2c1d-4e5f-4a6b-9c7d-0e1f2a3b4c5d"},
              {"sub", "pairwise-sub"}};
  auto s = start_sign_in(req, *tenant, "https://sim.example/federation/externalauthprovider", kNow);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->pending.sub, "pairwise-sub");
  EXPECT_EQ(s->pending.client_id, "cid");
  EXPECT_FALSE(s->pending.state.empty());
  EXPECT_FALSE(s->pending.nonce.empty());
  EXPECT_EQ(form_value(s->form, "state"), s->pending.state);
  EXPECT_EQ(form_value(s->form, "nonce"), s->pending.nonce);

  auto parsed =
      entra::parse_authorize_request(s->form, Cloud::kGlobal, "https://sim.example/federation/externalauthprovider");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->flavor, Flavor::kEam);
  // Without the simulator's URI allowed, the same form is refused: nothing but Microsoft's is accepted.
  EXPECT_FALSE(entra::parse_authorize_request(s->form, Cloud::kGlobal));

  auto keys = crypto::Jwks::parse(tenant->jwks());
  ASSERT_TRUE(keys);
  entra::HintPolicy policy{.cloud = Cloud::kGlobal, .directory_id = kDir, .audiences = {kApp, "cid"}};
  ManualClock clock(Clock::from_unix(kNow));
  auto hint = entra::validate_hint(*form_value(s->form, "id_token_hint"), *keys, policy, clock);
  ASSERT_TRUE(hint) << hint.error().message;
  EXPECT_TRUE(hint->is_guest);
  EXPECT_EQ(hint->subject, "pairwise-sub");
}

TEST(SimStart, CustomControlAndGivenHint) {
  auto tenant = Tenant::create();
  ASSERT_TRUE(tenant);
  json req = {{"discovery_url", "https://h/entra/c/.well-known/openid-configuration"},
              {"client_id", "c"},
              {"directory_id", kDir},
              {"flavor", "custom_control"},
              {"hint", "a.b.c"}};
  EXPECT_FALSE(start_sign_in(req, *tenant, "", kNow)) << "a given hint needs its sub";
  req["sub"] = "s";
  auto s = start_sign_in(req, *tenant, "", kNow);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->hint, "a.b.c");
  EXPECT_EQ(s->pending.flavor, Flavor::kCustomControl);
  EXPECT_EQ(form_value(s->form, "redirect_uri"), entra::profile(Cloud::kGlobal).custom_control_redirect_uri());
  req["flavor"] = "other";
  EXPECT_FALSE(start_sign_in(req, *tenant, "", kNow));
}

// ---- the receiver

class FakeFetcher : public entra::KeyFetcher {
 public:
  std::map<std::string, std::string> bodies;
  std::vector<std::string> fetched;
  Result<std::string> fetch(const std::string& url) override {
    fetched.push_back(url);
    auto it = bodies.find(url);
    if (it == bodies.end()) return fail(ErrorCode::kUnavailable, "HTTP 404");
    return it->second;
  }
};

class ReceiverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new crypto::Jwk(*crypto::Jwk::generate_rsa(2048));
    cert_ = new crypto::Certificate(*crypto::make_self_signed(*key_, "Avow signing key", {}, std::chrono::hours(24)));
  }
  static void TearDownTestSuite() {
    delete key_;
    delete cert_;
  }
  void SetUp() override {
    urls_ = entra::provider_urls("https://mfa.example.com", "cid");
    fetcher_.bodies[urls_.discovery_url] = entra::discovery_document(urls_).dump();
    crypto::PublicJwkOptions o;
    o.use_sig = true;
    o.x5c = {cert_->x5c()};
    o.x5t = cert_->x5t();
    fetcher_.bodies[urls_.jwks_url] = json{{"keys", json::array({key_->to_public_json(o)})}}.dump();
    pending_.state = "st-1";
    pending_.discovery_url = urls_.discovery_url;
    pending_.client_id = "cid";
    pending_.nonce = "n-1";
    pending_.sub = "sub-1";
    pending_.created_at = kNow;
  }
  json good_claims() const {
    entra::AuthorizeRequest req;
    req.client_id = "cid";
    req.nonce = "n-1";
    req.acr_values = {"possessionorinherence"};
    entra::HintClaims hint;
    hint.subject = "sub-1";
    return entra::success_claims(urls_.issuer, req, hint, {"possessionorinherence", "swk"}, kNow, 300);
  }
  std::string sign(const json& claims) const { return *crypto::jws::sign(*key_, {{"typ", "JWT"}}, claims.dump()); }
  ReceivedAnswer post(FormFields f) { return check_provider_answer(f, pending_, fetcher_, kNow); }

  static crypto::Jwk* key_;
  static crypto::Certificate* cert_;
  entra::ProviderUrls urls_;
  FakeFetcher fetcher_;
  PendingSignIn pending_;
};
crypto::Jwk* ReceiverTest::key_ = nullptr;
crypto::Certificate* ReceiverTest::cert_ = nullptr;

TEST_F(ReceiverTest, AGoodAnswerIsAccepted) {
  auto a = post({{"id_token", sign(good_claims())}, {"state", "st-1"}});
  EXPECT_EQ(a.outcome, ReceivedAnswer::Outcome::kAccepted) << a.error_description;
  EXPECT_EQ(a.claims["sub"], "sub-1");
  EXPECT_EQ(fetcher_.fetched, (std::vector<std::string>{urls_.discovery_url, urls_.jwks_url}));
  json j = to_json(a);
  EXPECT_EQ(j["outcome"], "accepted");
  EXPECT_EQ(j["fields"]["state"], "st-1");
}

TEST_F(ReceiverTest, ProviderErrorsAreReportedAsSuch) {
  auto a = post({{"error", "access_denied"}, {"error_description", "no"}, {"state", "st-1"}});
  EXPECT_EQ(a.outcome, ReceivedAnswer::Outcome::kProviderError);
  EXPECT_EQ(a.error, "access_denied");
  EXPECT_EQ(a.error_description, "no");
  EXPECT_TRUE(fetcher_.fetched.empty());
}

TEST_F(ReceiverTest, EachBrokenRuleIsRejectedAndNamed) {
  auto rejected = [&](const char* what, FormFields f, const char* needle) {
    auto a = post(std::move(f));
    EXPECT_EQ(a.outcome, ReceivedAnswer::Outcome::kRejected) << what;
    EXPECT_NE(a.error_description.find(needle), std::string::npos) << what << ": " << a.error_description;
  };
  const std::string token = sign(good_claims());
  rejected("state not echoed", {{"id_token", token}}, "state");
  rejected("other state", {{"id_token", token}, {"state", "st-2"}}, "state");
  rejected("no id_token", {{"state", "st-1"}}, "AADSTS900144");
  rejected("both", {{"id_token", token}, {"error", "access_denied"}, {"state", "st-1"}}, "both");
  json wrong_nonce = good_claims();
  wrong_nonce["nonce"] = "n-2";
  rejected("nonce", {{"id_token", sign(wrong_nonce)}, {"state", "st-1"}}, "nonce");

  json doc = entra::discovery_document(urls_);
  doc["issuer"] = urls_.issuer + "/";
  fetcher_.bodies[urls_.discovery_url] = doc.dump();
  rejected("issuer slash", {{"id_token", token}, {"state", "st-1"}}, "issuer");
  fetcher_.bodies.erase(urls_.discovery_url);
  rejected("discovery unreachable", {{"id_token", token}, {"state", "st-1"}}, "discovery");
}

TEST_F(ReceiverTest, JwksWithoutX5cIsRejected) {
  json jwks = json::parse(fetcher_.bodies[urls_.jwks_url]);
  jwks["keys"][0].erase("x5c");
  fetcher_.bodies[urls_.jwks_url] = jwks.dump();
  auto a = post({{"id_token", sign(good_claims())}, {"state", "st-1"}});
  EXPECT_EQ(a.outcome, ReceivedAnswer::Outcome::kRejected);
  EXPECT_NE(a.error_description.find("x5c"), std::string::npos) << a.error_description;
}

TEST_F(ReceiverTest, HttpDiscoveryIsRejectedEvenWhenReachable) {
  pending_.discovery_url = "http://mfa.example.com/entra/cid/.well-known/openid-configuration";
  fetcher_.bodies[pending_.discovery_url] = entra::discovery_document(urls_).dump();
  auto a = post({{"id_token", sign(good_claims())}, {"state", "st-1"}});
  EXPECT_EQ(a.outcome, ReceivedAnswer::Outcome::kRejected);
  EXPECT_NE(a.error_description.find("https"), std::string::npos) << a.error_description;
}

TEST_F(ReceiverTest, CheckProviderNeedsTheAuthorizeProbeAndGoodKeys) {
  EXPECT_FALSE(check_provider(fetcher_, urls_.discovery_url)) << "the bare GET on authorize is not answered";
  fetcher_.bodies[urls_.authorize_url] = "Avow MFA endpoint";
  auto ok = check_provider(fetcher_, urls_.discovery_url);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ((*ok)["issuer"], urls_.issuer);
  EXPECT_EQ((*ok)["kids"], json::array({key_->kid()}));
  json jwks = json::parse(fetcher_.bodies[urls_.jwks_url]);
  jwks["keys"][0]["x5t"] = "AAAA";
  fetcher_.bodies[urls_.jwks_url] = jwks.dump();
  auto bad = check_provider(fetcher_, urls_.discovery_url);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("x5t"), std::string::npos);
}

PendingSignIn pend(std::string state, std::string nonce = {}) {
  PendingSignIn p;
  p.state = std::move(state);
  p.nonce = std::move(nonce);
  return p;
}

ReceivedAnswer answer_for(std::string state, ReceivedAnswer::Outcome outcome = ReceivedAnswer::Outcome::kRejected) {
  ReceivedAnswer a;
  a.state = std::move(state);
  a.outcome = outcome;
  return a;
}

TEST(SignInLedgerTest, AStateIsTakenOnceAndAnswersAreKept) {
  SignInLedger ledger(2);
  EXPECT_TRUE(ledger.remember(pend("a", "1")));
  EXPECT_FALSE(ledger.remember(pend("a")));
  EXPECT_FALSE(ledger.remember(pend("")));
  auto a = ledger.take("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->nonce, "1");
  EXPECT_FALSE(ledger.take("a"));
  EXPECT_FALSE(ledger.answered("a"));
  ledger.record(answer_for("a", ReceivedAnswer::Outcome::kAccepted));
  EXPECT_TRUE(ledger.answered("a"));
  EXPECT_FALSE(ledger.remember(pend("a"))) << "an answered state is never reused";
  ASSERT_TRUE(ledger.answer("a"));
  EXPECT_EQ(ledger.answer("a")->outcome, ReceivedAnswer::Outcome::kAccepted);
}

TEST(SignInLedgerTest, BoundedOldestFirst) {
  SignInLedger ledger(2);
  ASSERT_TRUE(ledger.remember(pend("1")));
  ASSERT_TRUE(ledger.remember(pend("2")));
  ASSERT_TRUE(ledger.remember(pend("3")));
  EXPECT_FALSE(ledger.take("1"));
  EXPECT_TRUE(ledger.take("2"));
  EXPECT_TRUE(ledger.take("3"));
  for (int i = 0; i < 100; ++i) {  // taken names do not accumulate
    ASSERT_TRUE(ledger.remember(pend("x" + std::to_string(i))));
    ASSERT_TRUE(ledger.take("x" + std::to_string(i)));
  }
  ASSERT_TRUE(ledger.remember(pend("y1")));
  ASSERT_TRUE(ledger.remember(pend("y2")));
  EXPECT_TRUE(ledger.take("y1"));
  EXPECT_TRUE(ledger.take("y2"));
  for (int i = 0; i < 3; ++i) ledger.record(answer_for("r" + std::to_string(i)));
  EXPECT_FALSE(ledger.answer("r0"));
  EXPECT_TRUE(ledger.answer("r2"));
}

TEST(SimServerHelpers, LoopbackAddresses) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.8.0.1"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("::ffff:127.0.0.1"));
  EXPECT_FALSE(is_loopback_address("10.0.0.1"));
  EXPECT_FALSE(is_loopback_address("::ffff:10.0.0.1"));
  EXPECT_FALSE(is_loopback_address("1.127.0.0"));
}

}  // namespace
}  // namespace avow::entra_sim
