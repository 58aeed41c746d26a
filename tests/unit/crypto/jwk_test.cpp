#include <gtest/gtest.h>

#include "common/base64url.h"
#include "crypto/hash.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "rfc_vectors.h"
#include "test_keys.h"

namespace avow::crypto {
namespace {

using json = nlohmann::json;
using testing::ec_key;
using testing::rsa_key;

// Expects `r` to be an error of `code` whose message contains `needle`.
template <class T>
void expect_error(const Result<T>& r, ErrorCode code, std::string_view needle) {
  ASSERT_FALSE(r.has_value()) << "expected an error containing: " << needle;
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

TEST(Jwk, Rfc7638Thumbprint) {
  auto k = Jwk::parse(std::string_view(testing::kRfc7638Jwk));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->thumbprint(), testing::kRfc7638Thumbprint);
  EXPECT_EQ(k->kid(), "2011-04-29");  // an explicit kid wins over the thumbprint
  EXPECT_EQ(k->alg(), "RS256");
  EXPECT_EQ(k->kty(), "RSA");
  EXPECT_FALSE(k->is_private());
  EXPECT_EQ(k->bits(), 2048);
}

TEST(Jwk, KidDefaultsToThumbprint) {
  json j = json::parse(testing::kRfc7638Jwk);
  j.erase("kid");
  auto k = Jwk::parse(j);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kid(), testing::kRfc7638Thumbprint);
  EXPECT_EQ(rsa_key().kid(), rsa_key().thumbprint());
}

TEST(Jwk, EcThumbprintIsOverCanonicalMembers) {
  const Jwk& k = ec_key();
  const std::string canonical =
      R"({"crv":"P-256","kty":"EC","x":")" + k.public_member_1() + R"(","y":")" + k.public_member_2() + R"("})";
  EXPECT_EQ(k.thumbprint(), base64url_encode(sha256(canonical)));
}

TEST(Jwk, Rfc7515A3PrivateKeyRoundTrip) {
  auto k = Jwk::parse(std::string_view(testing::kRfc7515A3PrivateJwk));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(k->is_private());
  EXPECT_EQ(k->alg(), "ES256");
  auto priv = k->to_private_json();
  ASSERT_TRUE(priv);
  const json expected = json::parse(testing::kRfc7515A3PrivateJwk);
  for (const char* m : {"kty", "crv", "x", "y", "d"}) EXPECT_EQ((*priv)[m], expected[m]) << m;
  auto pub = k->to_public_json();
  EXPECT_FALSE(pub.contains("d"));
  EXPECT_EQ(pub["x"], expected["x"]);
}

TEST(Jwk, GeneratedRsaRoundTrips) {
  const Jwk& k = rsa_key();
  EXPECT_TRUE(k.is_private());
  EXPECT_EQ(k.type(), KeyType::kRsa);
  EXPECT_EQ(k.bits(), 2048);

  json pub = k.to_public_json();
  EXPECT_EQ(pub["kty"], "RSA");
  EXPECT_EQ(pub["e"], "AQAB");
  EXPECT_FALSE(pub.contains("d"));
  auto pub_key = Jwk::parse(pub);
  ASSERT_TRUE(pub_key);
  EXPECT_FALSE(pub_key->is_private());
  EXPECT_TRUE(pub_key->same_public_key(k));
  EXPECT_EQ(pub_key->kid(), k.kid());

  auto priv = k.to_private_json();
  ASSERT_TRUE(priv);
  for (const char* m : {"d", "p", "q", "dp", "dq", "qi"}) EXPECT_TRUE(priv->contains(m)) << m;
  auto back = Jwk::parse(*priv);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->is_private());
  EXPECT_TRUE(back->same_public_key(k));
  // The re-imported private key signs what the original public key verifies.
  auto token = jws::sign(*back, nullptr, "x");
  ASSERT_TRUE(token);
  EXPECT_TRUE(jws::verify(*token, *pub_key));

  // d alone (no CRT members) is a valid private key too.
  json d_only = *priv;
  for (const char* m : {"p", "q", "dp", "dq", "qi"}) d_only.erase(m);
  auto slim = Jwk::parse(d_only);
  ASSERT_TRUE(slim) << slim.error().message;
  EXPECT_TRUE(jws::verify(jws::sign(*slim, nullptr, "y").value(), k));
}

TEST(Jwk, GeneratedEcRoundTrips) {
  const Jwk& k = ec_key();
  EXPECT_EQ(k.type(), KeyType::kEcP256);
  EXPECT_EQ(k.alg(), "ES256");
  EXPECT_EQ(k.bits(), 256);
  auto priv = k.to_private_json();
  ASSERT_TRUE(priv);
  auto back = Jwk::parse(*priv);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->is_private());
  EXPECT_TRUE(back->same_public_key(k));
  auto pub = Jwk::parse(k.to_public_json());
  ASSERT_TRUE(pub);
  EXPECT_TRUE(jws::verify(jws::sign(*back, nullptr, "z").value(), *pub));
  EXPECT_FALSE(pub->to_private_json());
}

TEST(Jwk, PemAndDerRoundTrips) {
  for (const Jwk* k : {&rsa_key(), &ec_key()}) {
    auto priv_pem = k->private_pem();
    ASSERT_TRUE(priv_pem);
    EXPECT_NE(priv_pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    auto a = Jwk::from_pem(*priv_pem);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_TRUE(a->is_private());
    EXPECT_TRUE(a->same_public_key(*k));

    auto pub_pem = k->public_pem();
    ASSERT_TRUE(pub_pem);
    EXPECT_NE(pub_pem->find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
    auto b = Jwk::from_pem(*pub_pem);
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->is_private());
    EXPECT_TRUE(b->same_public_key(*k));
    EXPECT_EQ(b->kid(), k->thumbprint());

    auto c = Jwk::from_der(k->private_der().value());
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->is_private());
    EXPECT_TRUE(c->same_public_key(*k));
    auto d = Jwk::from_der(k->public_der().value());
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->is_private());
    EXPECT_TRUE(d->same_public_key(*k));
  }
  EXPECT_FALSE(rsa_key().public_key().private_pem());
  EXPECT_FALSE(rsa_key().public_key().is_private());
}

TEST(Jwk, PemRejects) {
  expect_error(Jwk::from_pem("not a key"), ErrorCode::kInvalidArgument, "not a supported PEM key");
  expect_error(Jwk::from_der(std::string("\x30\x03\x02\x01\x00", 5)), ErrorCode::kInvalidArgument, "DER");
  std::string der = rsa_key().public_der().value();
  expect_error(Jwk::from_der(der + "x"), ErrorCode::kInvalidArgument, "trailing");
  expect_error(Jwk::from_pem(""), ErrorCode::kInvalidArgument, "empty");
}

TEST(Jwk, PublicJsonOptions) {
  PublicJwkOptions o;
  o.use_sig = true;
  o.alg = true;
  o.x5c = {"MIIB"};
  o.x5t = "abc";
  json j = rsa_key().to_public_json(o);
  EXPECT_EQ(j["use"], "sig");
  EXPECT_EQ(j["alg"], "RS256");
  EXPECT_EQ(j["x5c"], json::array({"MIIB"}));
  EXPECT_EQ(j["x5t"], "abc");
  EXPECT_EQ(j["kid"], rsa_key().kid());
  json plain = ec_key().to_public_json();
  EXPECT_FALSE(plain.contains("use"));
  EXPECT_FALSE(plain.contains("alg"));
  EXPECT_FALSE(plain.contains("x5c"));
  EXPECT_EQ(plain["crv"], "P-256");
}

class JwkRejects : public ::testing::Test {
 protected:
  json rsa_ = json::parse(testing::kRfc7638Jwk);
  json ec_ = json::parse(testing::kRfc7515A3PublicJwk);
};

TEST_F(JwkRejects, Structure) {
  expect_error(Jwk::parse(json::array()), ErrorCode::kInvalidArgument, "not a JSON object");
  expect_error(Jwk::parse(std::string_view("{")), ErrorCode::kInvalidArgument, "not valid JSON");
  expect_error(Jwk::parse(std::string_view(std::string(kMaxJwkTextSize + 1, ' '))), ErrorCode::kInvalidArgument,
               "larger");
  json j = rsa_;
  j.erase("kty");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "missing \"kty\"");
  j["kty"] = "oct";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "unsupported kty");
  j["kty"] = "OKP";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "unsupported kty");
  j["kty"] = 5;
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "not a string");
}

TEST_F(JwkRejects, RsaMembers) {
  json j = rsa_;
  j.erase("n");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "missing \"n\"");
  j = rsa_;
  j.erase("e");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "missing \"e\"");
  j = rsa_;
  j["n"] = std::string(j["n"]).replace(0, 1, "+");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "\"n\" is not base64url");
  j = rsa_;
  j["e"] = "AQAB=";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "\"e\" is not base64url");
  j = rsa_;
  j["n"] = "";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "empty");
  j = rsa_;
  j["e"] = "AAEAAQ";  // leading zero octet
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "leading zero");
  j = rsa_;
  j["e"] = "AQAA";  // even
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "odd");
  j = rsa_;
  j["e"] = "AQ";  // 1
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "at least 3");
  j = rsa_;
  j["n"] = base64url_encode(std::string(127, '\x7f') + "\x01");  // 1023 bits
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "at least 2048");
  j = rsa_;
  j["n"] = base64url_encode(std::string(1025, '\x7f'));  // over 8192 bits
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "too long");
  j = rsa_;
  j["alg"] = "RS384";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "does not match the key");
  j = rsa_;
  j["alg"] = "HS256";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "does not match the key");
  j = rsa_;
  j["use"] = "enc";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "use");
  j = rsa_;
  j["kid"] = "";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "kid");
  j = rsa_;
  j["kid"] = std::string(kMaxKidSize + 1, 'k');
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "kid");
}

TEST_F(JwkRejects, RsaPrivateMembers) {
  json priv = rsa_key().to_private_json().value();
  json j = priv;
  j.erase("qi");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "all of p, q, dp, dq, qi");
  j = priv;
  j.erase("d");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "without \"d\"");
  j = priv;
  j["oth"] = json::array();
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "oth");
  // Another key's private exponent under this key's modulus.
  j = priv;
  j["d"] = testing::rsa_key2().to_private_json().value()["d"];
  for (const char* m : {"p", "q", "dp", "dq", "qi"}) j.erase(m);
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "does not match");
  // Another key's factors.
  j = priv;
  json other = testing::rsa_key2().to_private_json().value();
  for (const char* m : {"p", "q"}) j[m] = other[m];
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "p·q");
}

TEST_F(JwkRejects, EcMembers) {
  json j = ec_;
  j["crv"] = "P-384";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "unsupported crv");
  j["crv"] = "secp256k1";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "unsupported crv");
  j = ec_;
  j.erase("crv");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "crv");
  j = ec_;
  j.erase("y");
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "missing \"y\"");
  j = ec_;
  j["x"] = base64url_encode(std::string(31, '\x01'));
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "32 octets");
  j = ec_;
  j["x"] = std::string(j["x"]) + "A";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "x");
  j = ec_;
  // Flip the last bit of y: (x, y') is not on the curve.
  std::string y = base64url_decode(std::string(j["y"])).value();
  y.back() = static_cast<char>(y.back() ^ 1);
  j["y"] = base64url_encode(y);
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "P-256");
  j = ec_;
  j["alg"] = "RS256";
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "does not match the key");
  // A private scalar that does not belong to the public point.
  j = ec_;
  j["d"] = testing::ec_key2().to_private_json().value()["d"];
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "does not match");
  j = ec_;
  j["d"] = base64url_encode(std::string(31, '\x01'));
  expect_error(Jwk::parse(j), ErrorCode::kInvalidArgument, "32 octets");
}

TEST(Jwks, ParseSkipsUnusableKeysAndFindsByKid) {
  json set = {{"keys", json::array()}};
  set["keys"].push_back(rsa_key().to_public_json({.use_sig = true, .alg = true, .x5c = {"MIIB"}, .x5t = "t"}));
  set["keys"].push_back(json{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}});
  set["keys"].push_back(ec_key().to_public_json());
  set["keys"].push_back(rsa_key().to_public_json());  // duplicate kid
  auto jwks = Jwks::parse(set.dump());
  ASSERT_TRUE(jwks) << jwks.error().message;
  EXPECT_EQ(jwks->keys().size(), 2u);
  EXPECT_EQ(jwks->skipped(), 2u);
  ASSERT_NE(jwks->find(rsa_key().kid()), nullptr);
  EXPECT_TRUE(jwks->find(rsa_key().kid())->same_public_key(rsa_key()));
  ASSERT_NE(jwks->find(ec_key().kid()), nullptr);
  EXPECT_EQ(jwks->find("hmac"), nullptr);
  EXPECT_EQ(jwks->find("nope"), nullptr);

  json out = jwks->to_json();
  EXPECT_EQ(out["keys"].size(), 2u);
  EXPECT_FALSE(out["keys"][0].contains("d"));
}

TEST(Jwks, Rejects) {
  expect_error(Jwks::parse(std::string_view("[]")), ErrorCode::kInvalidArgument, "not a JSON object");
  expect_error(Jwks::parse(std::string_view("{\"keys\":{}}")), ErrorCode::kInvalidArgument, "not an array");
  expect_error(Jwks::parse(std::string_view("{")), ErrorCode::kInvalidArgument, "not valid JSON");
  json many = {{"keys", json::array()}};
  for (std::size_t i = 0; i <= kMaxJwksKeys; ++i) many["keys"].push_back(json::object());
  expect_error(Jwks::parse(many), ErrorCode::kInvalidArgument, "more than 64");
  expect_error(Jwks::parse(std::string_view(std::string(kMaxJwksTextSize + 1, ' '))), ErrorCode::kInvalidArgument,
               "larger");
  Jwks set;
  ASSERT_TRUE(set.add(rsa_key()));
  EXPECT_EQ(set.add(rsa_key()).error().code, ErrorCode::kAlreadyExists);
}

}  // namespace
}  // namespace avow::crypto
