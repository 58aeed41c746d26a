#include "entra/provider.h"

#include <gtest/gtest.h>

namespace avow::entra {
namespace {

using nlohmann::json;

AuthorizeRequest eam_request() {
  AuthorizeRequest r;
  r.flavor = Flavor::kEam;
  r.client_id = "cid-1";
  r.redirect_uri = "https://login.microsoftonline.com/common/federation/externalauthprovider";
  r.nonce = "nonce-1";
  r.state = "state-1";
  r.acr_values = {"possessionorinherence"};
  r.amr_values = {"swk", "otp"};
  return r;
}

HintClaims hint() {
  HintClaims h;
  h.subject = "pairwise-sub";
  h.tenant_id = "3c9f6a0e-6a47-4a5f-9d10-5a4a1b2c3d4e";
  h.object_id = "e6a8f1cf-0874-4323-a12f-2bf51bb6dfdd";
  return h;
}

TEST(ProviderUrls, IssuerIsTheDiscoveryBaseExactly) {
  auto u = provider_urls("https://mfa.example.com", "cid-1");
  EXPECT_EQ(u.issuer, "https://mfa.example.com/entra/cid-1");
  EXPECT_EQ(u.discovery_url, u.issuer + "/.well-known/openid-configuration");
  EXPECT_EQ(u.authorize_url, u.issuer + "/authorize");
  EXPECT_EQ(u.jwks_url, u.issuer + "/jwks");
}

TEST(Discovery, HasEveryMemberEntraRequires) {
  auto d = discovery_document(provider_urls("https://mfa.example.com", "cid-1"));
  EXPECT_EQ(d["issuer"], "https://mfa.example.com/entra/cid-1");
  EXPECT_EQ(d["authorization_endpoint"], "https://mfa.example.com/entra/cid-1/authorize");
  EXPECT_EQ(d["jwks_uri"], "https://mfa.example.com/entra/cid-1/jwks");
  EXPECT_EQ(d["scopes_supported"], json::array({"openid"}));
  EXPECT_EQ(d["response_types_supported"], json::array({"id_token"}));
  EXPECT_TRUE(d["subject_types_supported"].is_array());
  EXPECT_EQ(d["id_token_signing_alg_values_supported"], json::array({"RS256"}));
  EXPECT_EQ(d["claim_types_supported"], json::array({"normal"}));
}

TEST(SuccessClaims, EamCarriesOneAcrAndOneAmr) {
  auto c = success_claims("https://mfa.example.com/entra/cid-1", eam_request(), hint(),
                          {"possessionorinherence", "swk"}, 1000, 300);
  EXPECT_EQ(c["iss"], "https://mfa.example.com/entra/cid-1");
  EXPECT_EQ(c["aud"], "cid-1");
  EXPECT_EQ(c["sub"], "pairwise-sub");
  EXPECT_EQ(c["nonce"], "nonce-1");
  EXPECT_EQ(c["iat"], 1000);
  EXPECT_EQ(c["exp"], 1300);
  EXPECT_EQ(c["acr"], "possessionorinherence");
  EXPECT_EQ(c["amr"], json::array({"swk"}));
}

TEST(SuccessClaims, CustomControlEchoesTheRequestedClaim) {
  auto r = eam_request();
  r.flavor = Flavor::kCustomControl;
  r.custom_claim = RequestedClaim{"AvowMfa", "MfaDone"};
  auto c = success_claims("https://i", r, hint(), {"possession", "swk"}, 1000, 300);
  EXPECT_EQ(c["AvowMfa"], "MfaDone");
  auto f = success_fields(r, "tok", 300);
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0], (std::pair<std::string, std::string>{"id_token", "tok"}));
  EXPECT_EQ(f[1].first, "token_type");
  EXPECT_EQ(f.back(), (std::pair<std::string, std::string>{"state", "state-1"}));
}

TEST(Fields, StateIsEchoedOnlyWhenSent) {
  auto r = eam_request();
  auto ok = success_fields(r, "tok", 300);
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].second, "state-1");
  r.state.reset();
  EXPECT_EQ(success_fields(r, "tok", 300).size(), 1u);
  auto err = error_fields(r, "access_denied", "The user denied the sign-in.");
  ASSERT_EQ(err.size(), 2u);
  EXPECT_EQ(err[0].second, "access_denied");
}

TEST(FormPost, EscapesEveryValue) {
  const std::string page = form_post_page("https://login.microsoftonline.com/x?a=1&b=2",
                                          {{"state", "\"><script>alert(1)</script>"}, {"id_token", "a.b.c"}}, "n0nce");
  EXPECT_NE(page.find("action=\"https://login.microsoftonline.com/x?a=1&amp;b=2\""), std::string::npos);
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_NE(page.find("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""), std::string::npos);
  EXPECT_NE(page.find("<script nonce=\"n0nce\">document.forms[0].submit();</script>"), std::string::npos);
  EXPECT_NE(page.find("name=\"id_token\" value=\"a.b.c\""), std::string::npos);
}

}  // namespace
}  // namespace avow::entra
