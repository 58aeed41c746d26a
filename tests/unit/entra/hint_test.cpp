#include "entra/hint.h"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/base64url.h"
#include "crypto/jws.h"

namespace avow::entra {
namespace {

using nlohmann::json;

constexpr const char* kDirectory = "3c9f6a0e-6a47-4a5f-9d10-5a4a1b2c3d4e";
constexpr const char* kGuestHome = "9b1d2f3a-1111-4222-8333-444455556666";
constexpr const char* kAppId = "00000000-aaaa-4bbb-8ccc-000000000001";
constexpr const char* kClientId = "avow-client-1";
constexpr std::int64_t kNow = 1'800'000'000;

class HintTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    microsoft_key_ = new crypto::Jwk(*crypto::Jwk::generate_rsa(2048));
    other_key_ = new crypto::Jwk(*crypto::Jwk::generate_rsa(2048));
  }
  static void TearDownTestSuite() {
    delete microsoft_key_;
    delete other_key_;
  }

  HintTest() : clock_(Clock::from_unix(kNow)) {
    keys_.add(microsoft_key_->public_key());
    policy_.cloud = Cloud::kGlobal;
    policy_.directory_id = kDirectory;
    policy_.audiences = {kAppId, kClientId};
  }

  // A v2 hint as Microsoft issues it: already expired (exp < iat).
  static json member_claims() {
    return {{"ver", "2.0"},
            {"iss", std::string("https://login.microsoftonline.com/") + kDirectory + "/v2.0"},
            {"sub", "mBfcvuhSHkDWVgV72x2ruIYdSsPSvcj2R0qfc6mGEAA"},
            {"aud", kAppId},
            {"exp", kNow - 120},
            {"iat", kNow - 60},
            {"nbf", kNow - 60},
            {"name", "Adele Vance"},
            {"preferred_username", "adele@contoso.example"},
            {"oid", "e6a8f1cf-0874-4323-a12f-2bf51bb6dfdd"},
            {"tid", kDirectory}};
  }

  std::string sign(const json& claims, const crypto::Jwk& key) {
    return *crypto::jws::sign(key, {{"typ", "JWT"}}, claims.dump());
  }
  Result<HintClaims> check(const json& claims) {
    return validate_hint(sign(claims, *microsoft_key_), keys_, policy_, clock_);
  }

  static crypto::Jwk* microsoft_key_;
  static crypto::Jwk* other_key_;
  crypto::Jwks keys_;
  HintPolicy policy_;
  ManualClock clock_;
};

crypto::Jwk* HintTest::microsoft_key_ = nullptr;
crypto::Jwk* HintTest::other_key_ = nullptr;

TEST_F(HintTest, AcceptsAMemberV2HintIssuedAlreadyExpired) {
  auto h = check(member_claims());
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->version, 2);
  EXPECT_EQ(h->tenant_id, kDirectory);
  EXPECT_EQ(h->object_id, "e6a8f1cf-0874-4323-a12f-2bf51bb6dfdd");
  EXPECT_EQ(h->subject, "mBfcvuhSHkDWVgV72x2ruIYdSsPSvcj2R0qfc6mGEAA");
  EXPECT_EQ(h->username, "adele@contoso.example");
  EXPECT_EQ(h->name, "Adele Vance");
  EXPECT_FALSE(h->is_guest);
}

TEST_F(HintTest, AcceptsAV1HintWithUpn) {
  json c = member_claims();
  c["iss"] = std::string("https://sts.windows.net/") + kDirectory + "/";
  c.erase("preferred_username");
  c["upn"] = "adele@contoso.example";
  c["aud"] = kClientId;
  auto h = check(c);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->version, 1);
  EXPECT_EQ(h->username, "adele@contoso.example");
}

TEST_F(HintTest, MarksAGuestWhoseHomeTenantDiffers) {
  json c = member_claims();
  c["tid"] = kGuestHome;
  auto guest = check(c);
  ASSERT_TRUE(guest) << guest.error().message;
  EXPECT_TRUE(guest->is_guest);
  EXPECT_EQ(guest->tenant_id, kGuestHome);
}

TEST_F(HintTest, RefusesAnIssuerNamingAnotherTenantOrHost) {
  json c = member_claims();
  c["iss"] = std::string("https://login.microsoftonline.com/") + kGuestHome + "/v2.0";
  EXPECT_EQ(check(c).error().code, ErrorCode::kUnauthenticated);
  c["iss"] = std::string("https://login.microsoftonline.us/") + kDirectory + "/v2.0";
  EXPECT_EQ(check(c).error().code, ErrorCode::kUnauthenticated);
  c["iss"] = std::string("https://login.evil.example/") + kDirectory + "/v2.0";
  EXPECT_EQ(check(c).error().code, ErrorCode::kUnauthenticated);
}

TEST_F(HintTest, RefusesAForeignAudience) {
  json c = member_claims();
  c["aud"] = "00000000-aaaa-4bbb-8ccc-000000000002";
  EXPECT_EQ(check(c).error().code, ErrorCode::kUnauthenticated);
  c["aud"] = json::array({kAppId, "other"});
  EXPECT_EQ(check(c).error().code, ErrorCode::kUnauthenticated);
  c["aud"] = json::array({kAppId});
  EXPECT_TRUE(check(c));
  c.erase("aud");
  EXPECT_EQ(check(c).error().code, ErrorCode::kUnauthenticated);
}

TEST_F(HintTest, BoundsAgeByIatAndRefusesTheFuture) {
  json c = member_claims();
  c["iat"] = kNow - 10 * 60 - 1;
  EXPECT_EQ(check(c).error().code, ErrorCode::kExpired);
  c["iat"] = kNow - 10 * 60;
  EXPECT_TRUE(check(c));
  c["iat"] = kNow + 5 * 60 + 1;
  EXPECT_EQ(check(c).error().code, ErrorCode::kExpired);
  c = member_claims();
  c["nbf"] = kNow + 3600;
  EXPECT_EQ(check(c).error().code, ErrorCode::kExpired);
  c = member_claims();
  c.erase("iat");
  EXPECT_EQ(check(c).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(HintTest, RefusesMissingOrMalformedIdentity) {
  for (const char* claim : {"sub", "oid", "tid"}) {
    json c = member_claims();
    c.erase(claim);
    EXPECT_EQ(check(c).error().code, ErrorCode::kInvalidArgument) << claim;
  }
  json c = member_claims();
  c["oid"] = "not-a-guid";
  EXPECT_EQ(check(c).error().code, ErrorCode::kInvalidArgument);
  c = member_claims();
  c["tid"] = "contoso.example";
  EXPECT_EQ(check(c).error().code, ErrorCode::kInvalidArgument);
  c = member_claims();
  c["name"] = std::string(600, 'x');
  EXPECT_EQ(check(c).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(HintTest, RefusesAnUnknownKidSoTheCallerCanRefresh) {
  auto token = sign(member_claims(), *other_key_);
  auto r = validate_hint(token, keys_, policy_, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_F(HintTest, RefusesABadSignature) {
  // Signed by another key under the Microsoft key's kid.
  auto forged = crypto::jws::sign(other_key_->with_kid(microsoft_key_->kid()), {}, member_claims().dump());
  ASSERT_TRUE(forged);
  EXPECT_EQ(validate_hint(*forged, keys_, policy_, clock_).error().code, ErrorCode::kUnauthenticated);
  // One flipped payload character.
  std::string t = sign(member_claims(), *microsoft_key_);
  const auto dot = t.find('.');
  t[dot + 5] = t[dot + 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(validate_hint(t, keys_, policy_, clock_));
}

TEST_F(HintTest, RefusesAlgNoneAndHs256WithThePublicKey) {
  const std::string payload = base64url_encode(member_claims().dump());
  const std::string none_header = base64url_encode(json{{"alg", "none"}, {"kid", microsoft_key_->kid()}}.dump());
  EXPECT_FALSE(validate_hint(none_header + "." + payload + ".", keys_, policy_, clock_));
  EXPECT_FALSE(validate_hint(none_header + "." + payload + ".AAAA", keys_, policy_, clock_));

  // The classic confusion: HMAC keyed with the RSA public key's PEM.
  const std::string secret = *microsoft_key_->public_pem();
  const std::string hs_header = base64url_encode(json{{"alg", "HS256"}, {"kid", microsoft_key_->kid()}}.dump());
  const std::string input = hs_header + "." + payload;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  const std::string hs = input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), mac_len));
  auto r = validate_hint(hs, keys_, policy_, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
}

}  // namespace
}  // namespace avow::entra
