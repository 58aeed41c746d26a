// The simulator checked against Avow's provider pieces: what one side produces, the other accepts, and each
// rule of the contract that the simulator enforces on a provider is seen to refuse a token breaking it.
#include "tools/entra-sim/microsoft.h"

#include <gtest/gtest.h>

#include "crypto/jws.h"
#include "crypto/x509.h"
#include "entra/hint.h"
#include "entra/provider.h"

namespace avow::entra_sim {
namespace {

using nlohmann::json;

constexpr const char* kDir = "3c9f6a0e-6a47-4a5f-9d10-5a4a1b2c3d4e";
constexpr const char* kApp = "00000000-aaaa-4bbb-8ccc-000000000001";
constexpr std::int64_t kNow = 1'800'000'000;

class SimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tenant_ = new Tenant(*Tenant::create());
    provider_key_ = new crypto::Jwk(*crypto::Jwk::generate_rsa(2048));
    cert_ = new crypto::Certificate(*crypto::make_self_signed(*provider_key_, "Avow signing key", {}, std::chrono::hours(24)));
  }
  static void TearDownTestSuite() {
    delete tenant_;
    delete provider_key_;
    delete cert_;
  }
  static json provider_jwks() {
    crypto::PublicJwkOptions o;
    o.use_sig = true;
    o.alg = true;
    o.x5c = {cert_->x5c()};
    o.x5t = cert_->x5t();
    return json{{"keys", json::array({provider_key_->to_public_json(o)})}};
  }
  HintSpec spec() const { return HintSpec{.directory_id = kDir, .tid = kDir, .oid = "e6a8f1cf-0874-4323-a12f-2bf51bb6dfdd", .aud = kApp}; }

  static Tenant* tenant_;
  static crypto::Jwk* provider_key_;
  static crypto::Certificate* cert_;
};
Tenant* SimTest::tenant_ = nullptr;
crypto::Jwk* SimTest::provider_key_ = nullptr;
crypto::Certificate* SimTest::cert_ = nullptr;

TEST_F(SimTest, HintsPassAvowsValidatorInBothIssuerForms) {
  auto keys = crypto::Jwks::parse(tenant_->jwks());
  ASSERT_TRUE(keys);
  entra::HintPolicy policy{.cloud = Cloud::kGlobal, .directory_id = kDir, .audiences = {kApp, "cid"}};
  ManualClock clock(Clock::from_unix(kNow));
  for (int version : {1, 2}) {
    HintSpec s = spec();
    s.version = version;
    auto hint = tenant_->mint_hint(s, kNow);
    ASSERT_TRUE(hint);
    auto unverified = crypto::jws::decode_unverified(*hint);
    ASSERT_TRUE(unverified);
    json claims = json::parse(unverified->payload);
    EXPECT_LT(claims["exp"].get<std::int64_t>(), claims["iat"].get<std::int64_t>());  // issued expired
    auto v = entra::validate_hint(*hint, *keys, policy, clock);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->version, version);
  }
}

TEST_F(SimTest, AuthorizeFormsParseForBothFlavours) {
  AuthorizeSpec a{.client_id = "cid", .hint = "h.h.h", .nonce = "n", .state = "s"};
  auto eam = entra::parse_authorize_request(tenant_->authorize_form(a), Cloud::kGlobal);
  ASSERT_TRUE(eam) << eam.error().message;
  EXPECT_EQ(eam->flavor, Flavor::kEam);
  a.flavor = Flavor::kCustomControl;
  auto cc = entra::parse_authorize_request(tenant_->authorize_form(a), Cloud::kGlobal);
  ASSERT_TRUE(cc) << cc.error().message;
  EXPECT_EQ(cc->custom_claim->type, "AvowMfa");
}

TEST_F(SimTest, DiscoveryRules) {
  auto urls = entra::provider_urls("https://mfa.example.com", "cid");
  json doc = entra::discovery_document(urls);
  EXPECT_TRUE(validate_discovery(doc, urls.discovery_url));
  EXPECT_FALSE(validate_discovery(doc, "https://mfa.example.com:443/entra/cid/.well-known/openid-configuration"));
  EXPECT_FALSE(validate_discovery(doc, "http://mfa.example.com/entra/cid/.well-known/openid-configuration"));
  EXPECT_FALSE(validate_discovery(doc, urls.discovery_url + "/x"));
  json slash = doc;
  slash["issuer"] = urls.issuer + "/";
  EXPECT_FALSE(validate_discovery(slash, urls.discovery_url));
  json no_jwks = doc;
  no_jwks.erase("jwks_uri");
  EXPECT_FALSE(validate_discovery(no_jwks, urls.discovery_url));
  json bad_types = doc;
  bad_types["claim_types_supported"] = {"aggregated"};
  EXPECT_FALSE(validate_discovery(bad_types, urls.discovery_url));
}

TEST_F(SimTest, ProviderJwksNeedsMatchingX5c) {
  EXPECT_TRUE(validate_provider_jwks(provider_jwks()));
  json no_x5c = provider_jwks();
  no_x5c["keys"][0].erase("x5c");
  EXPECT_FALSE(validate_provider_jwks(no_x5c));
  json bad_x5t = provider_jwks();
  bad_x5t["keys"][0]["x5t"] = "AAAA";
  EXPECT_FALSE(validate_provider_jwks(bad_x5t));
  json other_cert = provider_jwks();
  auto other = crypto::Jwk::generate_rsa(2048);
  auto other_cert_obj = crypto::make_self_signed(*other, "x", {}, std::chrono::hours(1));
  other_cert["keys"][0]["x5c"] = {other_cert_obj->x5c()};
  other_cert["keys"][0]["x5t"] = other_cert_obj->x5t();
  EXPECT_FALSE(validate_provider_jwks(other_cert));
}

TEST_F(SimTest, IdTokenRules) {
  auto jwks = validate_provider_jwks(provider_jwks());
  ASSERT_TRUE(jwks);
  entra::AuthorizeRequest req;
  req.client_id = "cid";
  req.nonce = "n1";
  req.state = "s";
  req.acr_values = {"possessionorinherence"};
  entra::HintClaims hint;
  hint.subject = "sub-1";
  const std::string issuer = "https://mfa.example.com/entra/cid";
  IdTokenExpectation expect{.issuer = issuer, .client_id = "cid", .sub = "sub-1", .nonce = "n1"};
  auto sign = [&](const json& c) { return *crypto::jws::sign(*provider_key_, {{"typ", "JWT"}}, c.dump()); };
  const json good = entra::success_claims(issuer, req, hint, {"possessionorinherence", "swk"}, kNow, 300);
  auto ok = validate_id_token(sign(good), *jwks, expect, kNow);
  ASSERT_TRUE(ok) << ok.error().message;

  auto refused = [&](const char* what, const std::function<void(json&)>& mutate) {
    json c = good;
    mutate(c);
    EXPECT_FALSE(validate_id_token(sign(c), *jwks, expect, kNow)) << what;
  };
  refused("nonce", [](json& c) { c["nonce"] = "other"; });
  refused("aud", [](json& c) { c["aud"] = "other"; });
  refused("iss", [&](json& c) { c["iss"] = issuer + "/"; });
  refused("sub", [](json& c) { c["sub"] = "other"; });
  refused("two amr", [](json& c) { c["amr"] = {"swk", "otp"}; });
  refused("amr string", [](json& c) { c["amr"] = "swk"; });
  refused("acr", [](json& c) { c["acr"] = "knowledge"; });
  refused("expired", [](json& c) { c["exp"] = kNow - 3600; });
  refused("long-lived", [](json& c) { c["exp"] = kNow + 86400; });

  // Custom control: the requested claim must be echoed.
  req.flavor = Flavor::kCustomControl;
  req.custom_claim = entra::RequestedClaim{"AvowMfa", "MfaDone"};
  expect.flavor = Flavor::kCustomControl;
  const json cc = entra::success_claims(issuer, req, hint, {"possession", "swk"}, kNow, 300);
  EXPECT_TRUE(validate_id_token(sign(cc), *jwks, expect, kNow));
  json no_claim = cc;
  no_claim.erase("AvowMfa");
  EXPECT_FALSE(validate_id_token(sign(no_claim), *jwks, expect, kNow));

  // A token signed by another key under our kid fails.
  auto other = crypto::Jwk::generate_rsa(2048);
  auto forged = crypto::jws::sign(other->with_kid(provider_key_->kid()), {}, good.dump());
  EXPECT_FALSE(validate_id_token(*forged, *jwks, expect, kNow));
}

}  // namespace
}  // namespace avow::entra_sim
