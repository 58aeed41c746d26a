// The signed-request rules of docs/device-api.md, checked by the pure verifier with in-memory callbacks:
// the carrier, the header, the key, the signature, the request binding (htm/htu), iat and jti.
#include "api/device_auth.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "authenticator/device.h"
#include "common/base64url.h"
#include "common/random.h"
#include "crypto/hash.h"
#include "crypto/jws.h"

namespace avow::api {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr char kDeviceId[] = "0b6f3b5e-2f4e-4d43-9a43-0d1c3e6c9a11";
constexpr char kScanTarget[] = "/api/device/v1/scan";
constexpr char kListTarget[] = "/api/device/v1/challenges?wait=25";

crypto::Jwk new_key() {
  auto k = crypto::Jwk::generate_ec_p256();
  EXPECT_TRUE(k);
  return *k;
}

class DeviceAuthTest : public ::testing::Test {
 protected:
  DeviceAuthTest() : key_(new_key()) { devices_.emplace(kDeviceId, DeviceKey{key_.public_key(), true, std::nullopt}); }

  // The in-memory key store and jti ledger the verifier is given.
  DeviceKeyLookup lookup() {
    return [this](std::string_view id) -> Result<DeviceKey> {
      ++lookups_;
      if (lookup_error_) return tl::unexpected(*lookup_error_);
      auto it = devices_.find(std::string(id));
      if (it == devices_.end()) return fail(ErrorCode::kNotFound, "no device");
      return it->second;
    };
  }
  JtiRecorder recorder() {
    return [this](std::string_view subject, std::string_view jti, std::int64_t) -> Status {
      if (!seen_.emplace(std::string(subject), std::string(jti)).second) return fail(ErrorCode::kAlreadyExists, "seen");
      return ok();
    };
  }

  json payload(std::string_view method, std::string_view target, json fields = json::object()) const {
    fields["htm"] = method;
    fields["htu"] = target;
    fields["iat"] = kNow;
    fields["jti"] = random_token(16);
    return fields;
  }

  // A token signed by `key` under kid `kid` with typ avow-device+jwt (or `header_extra`).
  static std::string sign(const crypto::Jwk& key, std::string kid, const json& body,
                          json header_extra = {{"typ", "avow-device+jwt"}}) {
    auto t = crypto::jws::sign(key.with_kid(std::move(kid)), header_extra, body.dump());
    EXPECT_TRUE(t) << t.error().message;
    return *t;
  }

  SignedRequest post(const std::string& token, std::string_view target = kScanTarget) {
    body_ = token;
    return SignedRequest{"POST", target, body_, std::string_view("application/jose"), std::nullopt};
  }
  SignedRequest get(const std::string& token, std::string_view target = kListTarget) {
    auth_ = "AvowDevice " + token;
    return SignedRequest{"GET", target, "", std::nullopt, std::string_view(auth_)};
  }

  Result<VerifiedRequest> verify(const SignedRequest& r, KeyMode mode = KeyMode::kDevice) {
    return verify_device_request(r, mode, lookup(), recorder(), clock_);
  }

  // Refused with 401-kind error whose reason contains `reason`.
  static void expect_refused(const Result<VerifiedRequest>& v, std::string_view reason) {
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, ErrorCode::kUnauthenticated);
    EXPECT_NE(v.error().message.find(reason), std::string::npos) << v.error().message;
  }

  ManualClock clock_{Clock::from_unix(kNow)};
  crypto::Jwk key_;
  std::map<std::string, DeviceKey> devices_;
  std::set<std::pair<std::string, std::string>> seen_;
  std::optional<Error> lookup_error_;
  int lookups_ = 0;
  std::string body_, auth_;
};

TEST_F(DeviceAuthTest, ValidPostVerifiesAndHandsBackTheFields) {
  const std::string token = sign(key_, kDeviceId, payload("POST", kScanTarget, {{"code", "abc"}}));
  auto v = verify(post(token));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->device_id, kDeviceId);
  EXPECT_EQ(v->payload["code"], "abc");
  EXPECT_EQ(v->iat, kNow);
  EXPECT_FALSE(v->enrollment_key);
  EXPECT_EQ(seen_.count({kDeviceId, v->jti}), 1u);
}

TEST_F(DeviceAuthTest, ValidGetVerifiesFromTheAuthorizationHeader) {
  const std::string token = sign(key_, kDeviceId, payload("GET", kListTarget));
  auto v = verify(get(token));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->device_id, kDeviceId);
  // The scheme is case-insensitive, like every HTTP auth scheme.
  auth_ = "avowdevice " + sign(key_, kDeviceId, payload("GET", kListTarget));
  EXPECT_TRUE(verify(SignedRequest{"GET", kListTarget, "", std::nullopt, std::string_view(auth_)}));
}

TEST_F(DeviceAuthTest, TheAuthenticatorsOwnRequestsVerify) {
  // The device library (authenticator/) and this verifier agree on the wire format.
  auto enroll = device::sign_request(key_, "", "POST", "https://avow.example.com", "/enroll",
                                     json{{"name", "phone"}, {"platform", "builtin"}}, kNow);
  ASSERT_TRUE(enroll) << enroll.error().message;
  auto e = verify_device_request({enroll->method, enroll->target, enroll->body, enroll->content_type, std::nullopt},
                                 KeyMode::kEnrollment, lookup(), recorder(), clock_);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_TRUE(e->enrollment_key->same_public_key(key_));
  EXPECT_FALSE(e->enrollment_key->is_private());
  EXPECT_EQ(e->payload["name"], "phone");

  auto list =
      device::sign_request(key_, kDeviceId, "GET", "https://avow.example.com", "/challenges?wait=25", nullptr, kNow);
  ASSERT_TRUE(list) << list.error().message;
  auto g = verify_device_request({list->method, list->target, "", std::nullopt, list->authorization}, KeyMode::kDevice,
                                 lookup(), recorder(), clock_);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->device_id, kDeviceId);
}

TEST_F(DeviceAuthTest, WrongAlgorithmsAreRefused) {
  const json body = payload("POST", kScanTarget);
  // HS256 keyed with the device's public key bytes: the classic algorithm confusion.
  const json hs_header = {{"alg", "HS256"}, {"typ", "avow-device+jwt"}, {"kid", kDeviceId}};
  const std::string signing_input = base64url_encode(hs_header.dump()) + "." + base64url_encode(body.dump());
  const std::string public_text = key_.to_public_json().dump();
  const std::string hs =
      signing_input + "." + base64url_encode(crypto::hmac(crypto::HashAlgorithm::kSha256, public_text, signing_input));
  expect_refused(verify(post(hs)), "alg ES256");

  // alg none, with and without a signature segment.
  const json none_header = {{"alg", "none"}, {"typ", "avow-device+jwt"}, {"kid", kDeviceId}};
  const std::string none_input = base64url_encode(none_header.dump()) + "." + base64url_encode(body.dump());
  expect_refused(verify(post(none_input + ".")), "");
  expect_refused(verify(post(none_input + "." + base64url_encode("x"))), "alg ES256");

  // A header that claims ES256 over an RS256 signature does not verify with the device's EC key.
  auto rsa = crypto::Jwk::generate_rsa();
  ASSERT_TRUE(rsa);
  auto rs = crypto::jws::sign(rsa->with_kid(kDeviceId), {{"typ", "avow-device+jwt"}}, body.dump());
  ASSERT_TRUE(rs);
  expect_refused(verify(post(*rs)), "alg ES256");
  EXPECT_TRUE(seen_.empty());
}

TEST_F(DeviceAuthTest, WrongTypIsRefused) {
  expect_refused(verify(post(sign(key_, kDeviceId, payload("POST", kScanTarget), {{"typ", "JWT"}}))), "typ");
  expect_refused(verify(post(sign(key_, kDeviceId, payload("POST", kScanTarget), json::object()))), "typ");
}

TEST_F(DeviceAuthTest, TheSignatureMustBeTheDevicesOwn) {
  const std::string token = sign(new_key(), kDeviceId, payload("POST", kScanTarget));
  expect_refused(verify(post(token)), "signature does not verify");
  // A tampered payload with the device's real signature.
  const std::string good = sign(key_, kDeviceId, payload("POST", kScanTarget, {{"code", "abc"}}));
  const auto dot1 = good.find('.'), dot2 = good.rfind('.');
  const std::string forged = good.substr(0, dot1 + 1) +
                             base64url_encode(payload("POST", kScanTarget, {{"code", "xyz"}}).dump()) +
                             good.substr(dot2);
  expect_refused(verify(post(forged)), "signature does not verify");
  EXPECT_TRUE(seen_.empty()) << "a jti is recorded only for a verified request";
}

TEST_F(DeviceAuthTest, MethodAndTargetMustMatchTheRequest) {
  // Signed for GET, sent as a POST body.
  expect_refused(verify(post(sign(key_, kDeviceId, payload("GET", kScanTarget)))), "htm/htu");
  // Signed for another path.
  expect_refused(verify(post(sign(key_, kDeviceId, payload("POST", "/api/device/v1/enroll")))), "htm/htu");
  // The query is part of the target: wait=25 signed, wait=30 sent.
  expect_refused(verify(get(sign(key_, kDeviceId, payload("GET", kListTarget)), "/api/device/v1/challenges?wait=30")),
                 "htm/htu");
  // Missing htu.
  json body = payload("POST", kScanTarget);
  body.erase("htu");
  expect_refused(verify(post(sign(key_, kDeviceId, body))), "htm/htu");
}

TEST_F(DeviceAuthTest, IatMustBeWithinTheWindow) {
  auto with_iat = [&](json iat) {
    json body = payload("POST", kScanTarget);
    body["iat"] = std::move(iat);
    return verify(post(sign(key_, kDeviceId, body)));
  };
  EXPECT_TRUE(with_iat(kNow - 60));
  EXPECT_TRUE(with_iat(kNow + 60));
  expect_refused(with_iat(kNow - 61), "iat");
  expect_refused(with_iat(kNow + 61), "iat");
  expect_refused(with_iat(std::to_string(kNow)), "iat");
  expect_refused(with_iat(static_cast<double>(kNow) + 0.5), "iat");
  expect_refused(with_iat(std::numeric_limits<std::uint64_t>::max()), "iat");
  json body = payload("POST", kScanTarget);
  body.erase("iat");
  expect_refused(verify(post(sign(key_, kDeviceId, body))), "iat");
  // The same request becomes too old as the server's clock moves on.
  const std::string token = sign(key_, kDeviceId, payload("POST", kScanTarget));
  clock_.advance(std::chrono::seconds(61));
  expect_refused(verify(post(token)), "iat");
}

TEST_F(DeviceAuthTest, AJtiIsAcceptedOnce) {
  const std::string token = sign(key_, kDeviceId, payload("POST", kScanTarget));
  EXPECT_TRUE(verify(post(token)));
  expect_refused(verify(post(token)), "jti was used before");

  // The ledger's own verdicts: kConflict is a replay too, kExpired an iat out of its window, and an
  // outage is passed on, not blamed on the device.
  for (auto [code, expected] : {std::pair{ErrorCode::kConflict, ErrorCode::kUnauthenticated},
                                std::pair{ErrorCode::kExpired, ErrorCode::kUnauthenticated},
                                std::pair{ErrorCode::kUnavailable, ErrorCode::kUnavailable}}) {
    JtiRecorder refuse = [code = code](std::string_view, std::string_view, std::int64_t) -> Status {
      return fail(code, "ledger says no");
    };
    auto v = verify_device_request(post(sign(key_, kDeviceId, payload("POST", kScanTarget))), KeyMode::kDevice,
                                   lookup(), refuse, clock_);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, expected);
  }
}

TEST_F(DeviceAuthTest, JtiMustBeLongEnoughBase64url) {
  auto with_jti = [&](json jti) {
    json body = payload("POST", kScanTarget);
    body["jti"] = std::move(jti);
    return verify(post(sign(key_, kDeviceId, body)));
  };
  EXPECT_TRUE(with_jti(base64url_encode(std::string(16, 'a'))));
  expect_refused(with_jti(base64url_encode(std::string(15, 'a'))), "jti");
  expect_refused(with_jti("not base64url!"), "jti");
  expect_refused(with_jti(12345), "jti");
  expect_refused(with_jti(std::string(200, 'A')), "jti");
}

TEST_F(DeviceAuthTest, UnknownAndRevokedDevicesAreRefusedAlike) {
  expect_refused(verify(post(sign(key_, "5f0e2a44-1111-4222-8333-444455556666", payload("POST", kScanTarget)))),
                 "unknown or revoked device");
  devices_.at(kDeviceId).active = false;
  expect_refused(verify(post(sign(key_, kDeviceId, payload("POST", kScanTarget)))), "unknown or revoked device");
  // A kid that cannot be a device id is not even looked up.
  const int before = lookups_;
  expect_refused(verify(post(sign(key_, "../../etc/passwd", payload("POST", kScanTarget)))), "unknown or revoked");
  EXPECT_EQ(lookups_, before);
  EXPECT_TRUE(seen_.empty());
}

TEST_F(DeviceAuthTest, ALookupOutageIsNotBlamedOnTheDevice) {
  lookup_error_ = Error{ErrorCode::kUnavailable, "database busy"};
  auto v = verify(post(sign(key_, kDeviceId, payload("POST", kScanTarget))));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kUnavailable);
}

TEST_F(DeviceAuthTest, EnrollmentCarriesAPublicKeyInTheHeader) {
  const json body = payload("POST", "/api/device/v1/enroll", {{"name", "phone"}});
  const json pub = key_.public_key().to_public_json();
  auto enroll = [&](json header, const crypto::Jwk& signer) {
    header["typ"] = "avow-device+jwt";
    auto t = crypto::jws::sign(signer.with_kid(""), header, body.dump());
    EXPECT_TRUE(t) << t.error().message;
    return verify(post(*t, "/api/device/v1/enroll"), KeyMode::kEnrollment);
  };
  auto ok_enroll = enroll({{"jwk", pub}}, key_);
  ASSERT_TRUE(ok_enroll) << ok_enroll.error().message;
  EXPECT_TRUE(ok_enroll->enrollment_key->same_public_key(key_));
  EXPECT_EQ(ok_enroll->device_id, "");
  EXPECT_EQ(seen_.count({"enroll:" + key_.thumbprint(), ok_enroll->jti}), 1u);

  // A private key in the header is refused, whatever it signs.
  auto priv = key_.to_private_json();
  ASSERT_TRUE(priv);
  expect_refused(enroll({{"jwk", *priv}}, key_), "public P-256 jwk");
  // An RSA key, a missing key, or a key other than the signer's.
  auto rsa = crypto::Jwk::generate_rsa();
  ASSERT_TRUE(rsa);
  expect_refused(enroll({{"jwk", rsa->to_public_json()}}, key_), "public P-256 jwk");
  expect_refused(enroll(json::object(), key_), "public P-256 jwk");
  expect_refused(enroll({{"jwk", new_key().to_public_json()}}, key_), "");
  // A kid that names another key.
  auto named = crypto::jws::sign(key_.with_kid("someone-else"), {{"typ", "avow-device+jwt"}, {"jwk", pub}},
                                 payload("POST", "/api/device/v1/enroll").dump());
  ASSERT_TRUE(named);
  expect_refused(verify(post(*named, "/api/device/v1/enroll"), KeyMode::kEnrollment), "public P-256 jwk");
}

TEST_F(DeviceAuthTest, KeyModesDoNotMix) {
  // A device request carrying a jwk is refused (the stored key decides, never the sender).
  const json pub = key_.public_key().to_public_json();
  expect_refused(
      verify(post(sign(key_, kDeviceId, payload("POST", kScanTarget), {{"typ", "avow-device+jwt"}, {"jwk", pub}}))),
      "kid");
}

TEST_F(DeviceAuthTest, TheCarrierIsChecked) {
  const std::string token = sign(key_, kDeviceId, payload("POST", kScanTarget));
  // Oversized body.
  const std::string huge(kMaxSignedRequestBytes + 1, 'a');
  expect_refused(verify(SignedRequest{"POST", kScanTarget, huge, std::string_view("application/jose"), std::nullopt}),
                 "not a signed device request");
  // Bodies that are not a JWS.
  for (std::string_view junk : {"", "hello", R"({"code":"abc"})", "a.b", "a.b.c.d", "!!.??.##"}) {
    SCOPED_TRACE(std::string(junk));
    expect_refused(verify(SignedRequest{"POST", kScanTarget, junk, std::string_view("application/jose"), std::nullopt}),
                   "not a signed device request");
  }
  // Wrong or missing content type; a parameter is fine.
  expect_refused(verify(SignedRequest{"POST", kScanTarget, token, std::string_view("application/json"), std::nullopt}),
                 "not a signed device request");
  expect_refused(verify(SignedRequest{"POST", kScanTarget, token, std::nullopt, std::nullopt}), "not a signed");
  EXPECT_TRUE(verify(
      SignedRequest{"POST", kScanTarget, token, std::string_view("Application/JOSE; charset=us-ascii"), std::nullopt}));
  // A GET needs the AvowDevice scheme and no body.
  const std::string list = sign(key_, kDeviceId, payload("GET", kListTarget));
  auth_ = "Bearer " + list;
  expect_refused(verify(SignedRequest{"GET", kListTarget, "", std::nullopt, std::string_view(auth_)}), "not a signed");
  expect_refused(verify(SignedRequest{"GET", kListTarget, "", std::nullopt, std::nullopt}), "not a signed");
  auth_ = "AvowDevice " + list;
  expect_refused(verify(SignedRequest{"GET", kListTarget, "x", std::nullopt, std::string_view(auth_)}), "not a signed");
  EXPECT_EQ(seen_.size(), 1u) << "only the one well-carried request recorded its jti";
}

TEST_F(DeviceAuthTest, ClaimedDeviceIdReadsTheKidWithoutTrustingIt) {
  const std::string token = sign(new_key(), kDeviceId, payload("GET", kListTarget));
  EXPECT_EQ(claimed_device_id(get(token)), kDeviceId);
  EXPECT_EQ(claimed_device_id(get("garbage")), std::nullopt);
  EXPECT_EQ(claimed_device_id(get(sign(key_, "bad id!", payload("GET", kListTarget)))), std::nullopt);
  EXPECT_EQ(claimed_device_id(post(token)), kDeviceId);
}

TEST(DeviceKeyCache, ReusesParsedKeysAndNoticesAChangedKey) {
  DeviceKeyCache cache(2);
  const crypto::Jwk a = new_key(), b = new_key(), c = new_key();
  const std::string a_text = a.public_key().to_public_json().dump();
  const std::string b_text = b.public_key().to_public_json().dump();
  const std::string c_text = c.public_key().to_public_json().dump();

  auto k1 = cache.get("d1", a_text);
  ASSERT_TRUE(k1);
  auto k1_again = cache.get("d1", a_text);
  ASSERT_TRUE(k1_again);
  // The same parsed key object: no second parse.
  EXPECT_EQ(k1->evp_pkey(), k1_again->evp_pkey());
  // The stored text changed: parsed afresh.
  auto k1_new = cache.get("d1", b_text);
  ASSERT_TRUE(k1_new);
  EXPECT_TRUE(k1_new->same_public_key(b));

  // Bounded, least recently used out: d1 used after d2, so d2 goes when d3 arrives.
  auto d2_first = cache.get("d2", a_text);
  ASSERT_TRUE(d2_first);
  ASSERT_TRUE(cache.get("d1", b_text));
  ASSERT_TRUE(cache.get("d3", c_text));
  EXPECT_EQ(cache.size(), 2u);
  auto d1 = cache.get("d1", b_text);
  ASSERT_TRUE(d1);
  EXPECT_EQ(d1->evp_pkey(), k1_new->evp_pkey());
  auto d2 = cache.get("d2", a_text);
  ASSERT_TRUE(d2);
  EXPECT_NE(d2->evp_pkey(), d2_first->evp_pkey()) << "d2 was evicted and parsed again";

  // Only public P-256 keys are cached.
  auto priv = a.to_private_json();
  ASSERT_TRUE(priv);
  EXPECT_FALSE(cache.get("d4", priv->dump()));
  EXPECT_FALSE(cache.get("d4", "not json"));
}

}  // namespace
}  // namespace avow::api
