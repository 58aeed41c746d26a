#include "entra/cloud.h"

#include <gtest/gtest.h>

namespace avow::entra {
namespace {

constexpr const char* kTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";

TEST(Cloud, ProfilesMatchTheContract) {
  EXPECT_EQ(profile(Cloud::kGlobal).eam_redirect_uri(),
            "https://login.microsoftonline.com/common/federation/externalauthprovider");
  EXPECT_EQ(profile(Cloud::kUsGov).eam_redirect_uri(),
            "https://login.microsoftonline.us/common/federation/externalauthprovider");
  EXPECT_EQ(profile(Cloud::kChina).eam_redirect_uri(),
            "https://login.partner.microsoftonline.cn/common/federation/externalauthprovider");
  EXPECT_EQ(profile(Cloud::kGlobal).v2_issuer(kTenant),
            std::string("https://login.microsoftonline.com/") + kTenant + "/v2.0");
  EXPECT_EQ(profile(Cloud::kGlobal).v1_issuer(kTenant), std::string("https://sts.windows.net/") + kTenant + "/");
  EXPECT_EQ(profile(Cloud::kGlobal).keys_url, "https://login.microsoftonline.com/common/discovery/v2.0/keys");
}

TEST(RedirectUri, AcceptsOnlyMicrosoftsExactUris) {
  EXPECT_EQ(*classify_redirect_uri(Cloud::kGlobal,
                                   "https://login.microsoftonline.com/common/federation/externalauthprovider"),
            Flavor::kEam);
  EXPECT_EQ(*classify_redirect_uri(Cloud::kGlobal,
                                   "https://login.microsoftonline.com/common/federation/OAuth2ClaimsProvider"),
            Flavor::kCustomControl);
  EXPECT_EQ(*classify_redirect_uri(Cloud::kGlobal,
                                   "https://login.microsoftonline.com/common/federation/Oauth2ClaimsProvider"),
            Flavor::kCustomControl);
  const char* refused[] = {
      "https://login.microsoftonline.com/common/federation/externalauthprovider/",
      "https://login.microsoftonline.com/common/federation/ExternalAuthProvider",
      "http://login.microsoftonline.com/common/federation/externalauthprovider",
      "https://login.microsoftonline.com:443/common/federation/externalauthprovider",
      "https://login.microsoftonline.com.evil.example/common/federation/externalauthprovider",
      "https://evil.example/common/federation/externalauthprovider",
      "https://LOGIN.microsoftonline.com/common/federation/externalauthprovider",
      "https://login.microsoftonline.com/common/federation/externalauthprovider?x=1",
      "https://login.microsoftonline.us/common/federation/externalauthprovider",  // another cloud
      "https://login.microsoftonline.com/common/federation/OAuth2ClaimsProvider/",
      "https://login.microsoftonline.com/common/federation/OAuth2ClaimsProviderX",
      "",
  };
  for (const char* uri : refused) EXPECT_FALSE(classify_redirect_uri(Cloud::kGlobal, uri)) << uri;
}

TEST(RedirectUri, ExtraUriIsExactToo) {
  const char* sim = "https://127.0.0.1:9443/federation/externalauthprovider";
  EXPECT_EQ(*classify_redirect_uri(Cloud::kGlobal, sim, sim), Flavor::kEam);
  EXPECT_FALSE(classify_redirect_uri(Cloud::kGlobal, sim));
  EXPECT_FALSE(classify_redirect_uri(Cloud::kGlobal, "https://127.0.0.1:9443/federation/externalauthprovider/", sim));
}

TEST(HintIssuer, ParsesV1AndV2) {
  auto v2 = parse_hint_issuer(Cloud::kGlobal, std::string("https://login.microsoftonline.com/") + kTenant + "/v2.0");
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->tenant, kTenant);
  auto v1 = parse_hint_issuer(Cloud::kGlobal, "https://sts.windows.net/72F988BF-86F1-41AF-91AB-2D7CD011DB47/");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->tenant, kTenant);  // normalised to lowercase
  auto gov = parse_hint_issuer(Cloud::kUsGov, std::string("https://login.microsoftonline.us/") + kTenant + "/");
  ASSERT_TRUE(gov);
  EXPECT_EQ(gov->version, 1);
}

TEST(HintIssuer, RefusesForeignOrMalformedIssuers) {
  const std::string t = kTenant;
  const std::string refused[] = {
      "https://login.microsoftonline.us/" + t + "/v2.0",  // another cloud
      "https://login.microsoftonline.com.evil/" + t + "/v2.0",
      "https://evil.example/" + t + "/v2.0",
      "https://login.microsoftonline.com/common/v2.0",
      "https://login.microsoftonline.com/" + t + "/v2.0/",
      "https://login.microsoftonline.com/" + t + "/extra/v2.0",
      "https://sts.windows.net/" + t,
      "https://sts.windows.net/" + t + "/x/",
      "http://sts.windows.net/" + t + "/",
      "",
  };
  for (const auto& iss : refused) EXPECT_FALSE(parse_hint_issuer(Cloud::kGlobal, iss)) << iss;
}

}  // namespace
}  // namespace avow::entra
