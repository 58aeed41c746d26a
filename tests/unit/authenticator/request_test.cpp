// Request signing per docs/device-api.md, the context hash, server URLs and ScanCode targets.
#include <gtest/gtest.h>

#include "authenticator/device.h"
#include "common/base64url.h"
#include "crypto/hash.h"
#include "crypto/jws.h"
#include "test_util.h"

namespace avow::device {
namespace {

using nlohmann::json;
using testing::make_identity;

struct Verified {
  json header;
  json payload;
};

Verified verify_with(const std::string& token, const crypto::Jwk& public_key) {
  auto v = crypto::jws::verify(token, public_key);
  EXPECT_TRUE(v) << (v ? "" : v.error().message);
  if (!v) return {};
  return {v->header, json::parse(v->payload)};
}

TEST(SignRequest, PostCarriesTheJwsAsBodyWithKidAndFields) {
  const DeviceIdentity id = make_identity();
  auto r =
      sign_request(id.key, "dev-1", "POST", "https://avow.example.com", "/scan", json{{"code", "abc"}}, 1'700'000'123);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->target, "/api/device/v1/scan");
  EXPECT_EQ(r->url, "https://avow.example.com/api/device/v1/scan");
  EXPECT_EQ(r->content_type, "application/jose");
  EXPECT_EQ(r->authorization, "");
  EXPECT_EQ(r->body, r->jws);

  const Verified v = verify_with(r->body, id.key.public_key());
  EXPECT_EQ(v.header["alg"], "ES256");
  EXPECT_EQ(v.header["typ"], "avow-device+jwt");
  EXPECT_EQ(v.header["kid"], "dev-1");
  EXPECT_FALSE(v.header.contains("jwk"));
  EXPECT_EQ(v.payload["htm"], "POST");
  EXPECT_EQ(v.payload["htu"], "/api/device/v1/scan");
  EXPECT_EQ(v.payload["iat"], 1'700'000'123);
  EXPECT_EQ(v.payload["code"], "abc");
  ASSERT_TRUE(v.payload["jti"].is_string());
  auto jti = base64url_decode(v.payload["jti"].get<std::string>());
  ASSERT_TRUE(jti);
  EXPECT_GE(jti->size(), 16u);

  // Another key does not verify it.
  EXPECT_FALSE(crypto::jws::verify(r->body, make_identity().key.public_key()));
}

TEST(SignRequest, GetCarriesTheJwsInTheAuthorizationHeader) {
  const DeviceIdentity id = make_identity();
  auto r = sign_request(id.key, "dev-1", "GET", "https://avow.example.com", "/challenges?wait=25", nullptr, 42);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->content_type, "");
  EXPECT_EQ(r->authorization, "AvowDevice " + r->jws);
  EXPECT_EQ(r->url, "https://avow.example.com/api/device/v1/challenges?wait=25");
  const Verified v = verify_with(r->jws, id.key.public_key());
  EXPECT_EQ(v.payload["htm"], "GET");
  EXPECT_EQ(v.payload["htu"], "/api/device/v1/challenges?wait=25");
  EXPECT_EQ(v.payload["iat"], 42);
  EXPECT_EQ(v.payload.size(), 4u);  // htm, htu, iat, jti — nothing else
}

TEST(SignRequest, EnrolmentCarriesThePublicJwkInTheHeader) {
  const DeviceIdentity id = make_identity();
  auto r = sign_request(id.key, "", "POST", "https://avow.example.com", "/enroll",
                        json{{"name", "laptop"}, {"platform", "builtin"}}, 7);
  ASSERT_TRUE(r) << r.error().message;
  auto unverified = crypto::jws::decode_unverified(r->jws);
  ASSERT_TRUE(unverified);
  const json& jwk = unverified->header["jwk"];
  ASSERT_TRUE(jwk.is_object());
  EXPECT_FALSE(jwk.contains("d")) << "the private key must never travel";
  auto header_key = crypto::Jwk::parse(jwk);
  ASSERT_TRUE(header_key) << header_key.error().message;
  EXPECT_FALSE(header_key->is_private());
  EXPECT_TRUE(header_key->same_public_key(id.key));

  // What a server does at enrolment: verify with the key the request itself carries.
  const Verified v = verify_with(r->jws, *header_key);
  EXPECT_EQ(v.header["typ"], "avow-device+jwt");
  // jws::sign always writes a kid; for enrolment it is the key's RFC 7638 thumbprint.
  EXPECT_EQ(v.header["kid"], id.key.thumbprint());
  EXPECT_EQ(v.payload["htu"], "/api/device/v1/enroll");
  EXPECT_EQ(v.payload["name"], "laptop");
  EXPECT_EQ(v.payload["platform"], "builtin");
}

TEST(SignRequest, ServerPathPrefixIsPartOfTheTarget) {
  const DeviceIdentity id = make_identity();
  auto r = sign_request(id.key, "dev-1", "POST", "https://example.com:8443/avow", "/scan", json{{"code", "c"}}, 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->target, "/avow/api/device/v1/scan");
  EXPECT_EQ(r->url, "https://example.com:8443/avow/api/device/v1/scan");
  EXPECT_EQ(verify_with(r->jws, id.key).payload["htu"], "/avow/api/device/v1/scan");
}

TEST(SignRequest, EveryRequestHasAFreshJti) {
  const DeviceIdentity id = make_identity();
  auto a = sign_request(id.key, "dev-1", "GET", "https://avow.example.com", "/accounts", nullptr, 1);
  auto b = sign_request(id.key, "dev-1", "GET", "https://avow.example.com", "/accounts", nullptr, 1);
  ASSERT_TRUE(a && b);
  EXPECT_NE(verify_with(a->jws, id.key).payload["jti"], verify_with(b->jws, id.key).payload["jti"]);
}

TEST(SignRequest, RefusesWhatTheProtocolDoesNotAllow) {
  const DeviceIdentity id = make_identity();
  const std::string server = "https://avow.example.com";
  auto rsa = crypto::Jwk::generate_rsa();
  ASSERT_TRUE(rsa);
  EXPECT_FALSE(sign_request(id.key.public_key(), "d", "POST", server, "/scan", json::object(), 1));
  EXPECT_FALSE(sign_request(*rsa, "d", "POST", server, "/scan", json::object(), 1));
  EXPECT_FALSE(sign_request(id.key, "d", "PUT", server, "/scan", json::object(), 1));
  EXPECT_FALSE(sign_request(id.key, "d", "POST", server, "scan", json::object(), 1));
  EXPECT_FALSE(sign_request(id.key, "d", "POST", server, "/scan", json::array(), 1));
  EXPECT_FALSE(sign_request(id.key, "d", "GET", server, "/accounts", json{{"x", 1}}, 1));
  for (const char* reserved : {"htm", "htu", "iat", "jti"})
    EXPECT_FALSE(sign_request(id.key, "d", "POST", server, "/scan", json{{reserved, "x"}}, 1)) << reserved;
  EXPECT_FALSE(sign_request(id.key, "d", "POST", "https://Avow.example.com/", "/scan", json::object(), 1));
  EXPECT_FALSE(sign_request(id.key, "d", "POST", "avow.example.com", "/scan", json::object(), 1));
}

TEST(ContextHash, IsBase64urlSha256OfTheCompactSortedText) {
  // Members out of order and spaced as a server might never send them: the hash is over dump() of the
  // parsed object, which sorts members and writes no spaces.
  const json context = json::parse(R"({"user": "alice@contoso.com", "ip": "203.0.113.7", "created_at": 1700000000})");
  const std::string expected_text = R"({"created_at":1700000000,"ip":"203.0.113.7","user":"alice@contoso.com"})";
  EXPECT_EQ(context.dump(), expected_text);
  EXPECT_EQ(context_hash(context), base64url_encode(crypto::sha256(expected_text)));
  EXPECT_EQ(context_hash(context).size(), 43u);
  EXPECT_NE(context_hash(context), context_hash(json::parse(R"({"user":"mallory"})")));
}

TEST(ContextHash, KeepsNonAsciiTextAsUtf8) {
  const json context = json::parse("{\"org\":\"Zürich AG\"}");
  EXPECT_EQ(context_hash(context), base64url_encode(crypto::sha256("{\"org\":\"Zürich AG\"}")));
}

TEST(NormalizeServerUrl, Normalises) {
  EXPECT_EQ(*normalize_server_url("HTTPS://Avow.Example.COM:443/"), "https://avow.example.com");
  EXPECT_EQ(*normalize_server_url("https://avow.example.com"), "https://avow.example.com");
  EXPECT_EQ(*normalize_server_url("https://h.example:8443/base/"), "https://h.example:8443/base");
  EXPECT_EQ(*normalize_server_url("http://localhost:8080"), "http://localhost:8080");
  EXPECT_EQ(*normalize_server_url("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
  EXPECT_EQ(*normalize_server_url("http://[::1]:8080"), "http://[::1]:8080");
}

TEST(NormalizeServerUrl, Refuses) {
  for (const char* bad : {"", "avow.example.com", "ftp://avow.example.com", "https://avow.example.com/?x=1",
                          "https://avow.example.com/#top", "https://user:pw@avow.example.com",
                          "https://avow.example.com/a b", "http://avow.example.com", "http://127.0.0.1.evil.com"}) {
    auto r = normalize_server_url(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
  EXPECT_FALSE(normalize_server_url("https://x.example/" + std::string(kMaxUrlSize, 'a')));
  EXPECT_EQ(*normalize_server_url("http://avow.internal:8080", /*allow_insecure_http=*/true),
            "http://avow.internal:8080");
}

TEST(ParseScanTarget, UrlsAndBareCodes) {
  auto full = parse_scan_target("https://Avow.example.com/s/Xk3_-9");
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->server, "https://avow.example.com");
  EXPECT_EQ(full->code, "Xk3_-9");

  auto prefixed = parse_scan_target("https://example.com:8443/avow/s/abc");
  ASSERT_TRUE(prefixed);
  EXPECT_EQ(prefixed->server, "https://example.com:8443/avow");
  EXPECT_EQ(prefixed->code, "abc");

  auto bare = parse_scan_target("  Xk3_-9\n");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->server, "");
  EXPECT_EQ(bare->code, "Xk3_-9");
}

TEST(ParseScanTarget, Refuses) {
  for (const char* bad :
       {"", "https://avow.example.com/", "https://avow.example.com/s/", "https://avow.example.com/s/a/b",
        "https://avow.example.com/x/abc", "https://avow.example.com/s/abc?x=1", "https://avow.example.com/s/a%2Fb",
        "not a code", "abc/def", "http://evil.example/s/abc"}) {
    EXPECT_FALSE(parse_scan_target(bad)) << bad;
  }
  EXPECT_FALSE(parse_scan_target(std::string(kMaxCodeSize + 1, 'a')));
  EXPECT_TRUE(parse_scan_target(std::string(kMaxCodeSize, 'a')));
}

TEST(DefaultDeviceName, IsShortAndPrintable) {
  const std::string name = default_device_name();
  EXPECT_FALSE(name.empty());
  EXPECT_LE(name.size(), kMaxNameSize);
  for (unsigned char c : name) EXPECT_TRUE(c > 0x20 && c < 0x7f);
}

}  // namespace
}  // namespace avow::device
