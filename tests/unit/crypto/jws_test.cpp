#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "common/base64url.h"
#include "crypto/hash.h"
#include "crypto/jws.h"
#include "rfc_vectors.h"
#include "test_keys.h"

namespace avow::crypto {
namespace {

using json = nlohmann::json;
using testing::ec_key;
using testing::rsa_key;

template <class T>
void expect_error(const Result<T>& r, ErrorCode code, std::string_view needle) {
  ASSERT_FALSE(r.has_value()) << "expected an error containing: " << needle;
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

// Signs an arbitrary header text with RS256, bypassing jws::sign's header rules, to build hostile tokens
// that are validly signed.
std::string rs256_with_header(const Jwk& key, std::string_view header, std::string_view payload) {
  const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(512, '\0');
  std::size_t len = sig.size();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.evp_pkey()), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return input + "." + base64url_encode(sig);
}

TEST(Jws, Rfc7515A2Rs256Verifies) {
  auto key = Jwk::parse(std::string_view(testing::kRfc7515A2PublicJwk));
  ASSERT_TRUE(key) << key.error().message;
  auto v = jws::verify(testing::kRfc7515A2Token, *key);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->header, json({{"alg", "RS256"}}));
  EXPECT_EQ(v->payload, testing::kRfc7515Payload);
}

TEST(Jws, Rfc7515A3Es256Verifies) {
  auto key = Jwk::parse(std::string_view(testing::kRfc7515A3PublicJwk));
  ASSERT_TRUE(key) << key.error().message;
  auto v = jws::verify(testing::kRfc7515A3Token, *key);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->header, json({{"alg", "ES256"}}));
  EXPECT_EQ(v->payload, testing::kRfc7515Payload);
  // The private key of A.3 verifies it too, and signs tokens its public key accepts.
  auto priv = Jwk::parse(std::string_view(testing::kRfc7515A3PrivateJwk));
  ASSERT_TRUE(priv);
  EXPECT_TRUE(jws::verify(testing::kRfc7515A3Token, *priv));
  EXPECT_TRUE(jws::verify(jws::sign(*priv, nullptr, "hello").value(), *key));
}

TEST(Jws, RfcVectorsFailWhenAltered) {
  auto rsa = Jwk::parse(std::string_view(testing::kRfc7515A2PublicJwk)).value();
  auto ec = Jwk::parse(std::string_view(testing::kRfc7515A3PublicJwk)).value();
  // Payload segment of A.2 with one character changed: still base64url, no longer signed.
  std::string t = testing::kRfc7515A2Token;
  t[25] = t[25] == 'A' ? 'B' : 'A';
  expect_error(jws::verify(t, rsa), ErrorCode::kUnauthenticated, "does not verify");
  std::string e = testing::kRfc7515A3Token;
  e[e.size() - 5] = e[e.size() - 5] == 'A' ? 'B' : 'A';
  expect_error(jws::verify(e, ec), ErrorCode::kUnauthenticated, "does not verify");
  // Right token, other key of the right type.
  expect_error(jws::verify(testing::kRfc7515A2Token, rsa_key()), ErrorCode::kUnauthenticated, "does not verify");
}

TEST(Jws, SignVerifyRoundTrips) {
  for (const Jwk* key : {&rsa_key(), &ec_key()}) {
    const std::string payload = R"({"sub":"user","nonce":"n-0S6_WzA2Mj"})";
    auto token = jws::sign(*key, {{"typ", "JWT"}}, payload);
    ASSERT_TRUE(token) << token.error().message;
    auto v = jws::verify(*token, key->public_key());
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->payload, payload);
    EXPECT_EQ(v->header["alg"], key->alg());
    EXPECT_EQ(v->header["kid"], key->kid());
    EXPECT_EQ(v->header["typ"], "JWT");
    const std::string sig = token->substr(token->rfind('.') + 1);
    EXPECT_EQ(base64url_decode(sig).value().size(), key->type() == KeyType::kRsa ? 256u : 64u);
  }
}

TEST(Jws, VerifyWithJwksPicksByKid) {
  Jwks set;
  ASSERT_TRUE(set.add(rsa_key().public_key()));
  ASSERT_TRUE(set.add(ec_key().public_key()));
  auto r = jws::verify(jws::sign(rsa_key(), nullptr, "r").value(), set);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload, "r");
  auto e = jws::verify(jws::sign(ec_key(), nullptr, "e").value(), set);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->payload, "e");

  auto unknown = jws::sign(testing::rsa_key2(), nullptr, "x").value();
  expect_error(jws::verify(unknown, set), ErrorCode::kNotFound, "no key with kid");
  // No kid: only acceptable when the set holds a single key.
  const std::string no_kid = rs256_with_header(rsa_key(), R"({"alg":"RS256"})", "p");
  expect_error(jws::verify(no_kid, set), ErrorCode::kInvalidArgument, "no \"kid\"");
  Jwks single;
  ASSERT_TRUE(single.add(rsa_key().public_key()));
  EXPECT_TRUE(jws::verify(no_kid, single));
  const std::string numeric_kid = rs256_with_header(rsa_key(), R"({"alg":"RS256","kid":7})", "p");
  expect_error(jws::verify(numeric_kid, set), ErrorCode::kInvalidArgument, "\"kid\" is not a string");
}

TEST(Jws, RejectsMalformedStructure) {
  const Jwk pub = rsa_key().public_key();
  const std::string good = jws::sign(rsa_key(), nullptr, "p").value();
  const std::string h = good.substr(0, good.find('.'));
  const std::string s = good.substr(good.rfind('.') + 1);

  expect_error(jws::verify("abc", pub), ErrorCode::kInvalidArgument, "not three segments");
  expect_error(jws::verify(h + ".cA", pub), ErrorCode::kInvalidArgument, "not three segments");
  expect_error(jws::verify(good + ".x", pub), ErrorCode::kInvalidArgument, "not three segments");
  expect_error(jws::verify(h + ".." + s, pub), ErrorCode::kInvalidArgument, "empty segment");
  expect_error(jws::verify("." + std::string("cA.") + s, pub), ErrorCode::kInvalidArgument, "empty segment");
  expect_error(jws::verify(h + ".cA.", pub), ErrorCode::kInvalidArgument, "empty segment");
  expect_error(jws::verify("eyJ+bGciOiJSUzI1NiJ9.cA." + s, pub), ErrorCode::kInvalidArgument,
               "header is not base64url");
  expect_error(jws::verify(base64url_encode("[1,2]") + ".cA." + s, pub), ErrorCode::kInvalidArgument,
               "header is not a JSON object");
  expect_error(jws::verify(base64url_encode("{\"alg\":") + ".cA." + s, pub), ErrorCode::kInvalidArgument,
               "header is not a JSON object");
  expect_error(jws::verify(std::string(jws::kMaxTokenSize + 1, 'a'), pub), ErrorCode::kInvalidArgument,
               "larger than 16 KiB");
}

TEST(Jws, RejectsMissingOrNonStringAlg) {
  const Jwk pub = rsa_key().public_key();
  expect_error(jws::verify(rs256_with_header(rsa_key(), R"({"kid":"k"})", "p"), pub), ErrorCode::kInvalidArgument,
               "no \"alg\"");
  expect_error(jws::verify(rs256_with_header(rsa_key(), R"({"alg":256})", "p"), pub), ErrorCode::kInvalidArgument,
               "\"alg\" is not a string");
}

TEST(Jws, RejectsAlgNone) {
  const std::string token = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode("{}") + ".c2ln";
  expect_error(jws::verify(token, rsa_key().public_key()), ErrorCode::kUnauthenticated, "alg \"none\"");
  // Even with the empty signature RFC 7519 §6.1 prescribes: refused for its empty segment first.
  const std::string unsecured = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode("{}") + ".";
  expect_error(jws::verify(unsecured, rsa_key().public_key()), ErrorCode::kInvalidArgument, "empty segment");
}

// The classic confusion: HS256 keyed with the RSA public key's bytes, presented to an RSA verifier.
TEST(Jws, RejectsHs256AgainstRsaKey) {
  const Jwk pub = rsa_key().public_key();
  const std::string input =
      base64url_encode(R"({"alg":"HS256","kid":")" + pub.kid() + "\"}") + "." + base64url_encode(R"({"sub":"admin"})");
  const std::string mac = hmac(HashAlgorithm::kSha256, pub.public_pem().value(), input);
  expect_error(jws::verify(input + "." + base64url_encode(mac), pub), ErrorCode::kUnauthenticated,
               "alg \"HS256\" does not match the RS256 key");
}

TEST(Jws, RejectsAlgOfOtherKeyType) {
  // An RS256 token against an EC key, and ES256 against an RSA key.
  const std::string rs = jws::sign(rsa_key(), nullptr, "p").value();
  expect_error(jws::verify(rs, ec_key().public_key()), ErrorCode::kUnauthenticated,
               "alg \"RS256\" does not match the ES256 key");
  const std::string es = jws::sign(ec_key(), nullptr, "p").value();
  expect_error(jws::verify(es, rsa_key().public_key()), ErrorCode::kUnauthenticated,
               "alg \"ES256\" does not match the RS256 key");
  // RS512 is not ours either.
  expect_error(jws::verify(rs256_with_header(rsa_key(), R"({"alg":"RS512"})", "p"), rsa_key()),
               ErrorCode::kUnauthenticated, "does not match");
}

TEST(Jws, RejectsCrit) {
  const std::string empty_crit = rs256_with_header(rsa_key(), R"({"alg":"RS256","crit":[]})", "p");
  expect_error(jws::verify(empty_crit, rsa_key()), ErrorCode::kInvalidArgument, "\"crit\"");
  const std::string b64 = rs256_with_header(rsa_key(), R"({"alg":"RS256","b64":false,"crit":["b64"]})", "p");
  expect_error(jws::verify(b64, rsa_key()), ErrorCode::kInvalidArgument, "\"crit\"");
  expect_error(jws::sign(rsa_key(), {{"crit", {"exp"}}}, "p"), ErrorCode::kInvalidArgument, "crit");
}

TEST(Jws, RejectsWrongSignatureLength) {
  for (const Jwk* key : {&rsa_key(), &ec_key()}) {
    const std::string token = jws::sign(*key, nullptr, "p").value();
    const std::string input = token.substr(0, token.rfind('.'));
    std::string sig = base64url_decode(token.substr(token.rfind('.') + 1)).value();
    expect_error(jws::verify(input + "." + base64url_encode(sig.substr(0, sig.size() - 1)), *key),
                 ErrorCode::kUnauthenticated, "wrong length");
    expect_error(jws::verify(input + "." + base64url_encode(sig + "x"), *key), ErrorCode::kUnauthenticated,
                 "wrong length");
  }
  // A DER-encoded ECDSA signature (what OpenSSL emits) is not a JWS ES256 signature.
  const std::string a3 = testing::kRfc7515A3Token;
  expect_error(jws::verify(a3.substr(0, a3.rfind('.')) + "." + base64url_encode(std::string(71, '\x30')),
                           Jwk::parse(std::string_view(testing::kRfc7515A3PublicJwk)).value()),
               ErrorCode::kUnauthenticated, "wrong length");
}

TEST(Jws, RejectsSignatureMismatch) {
  for (const Jwk* key : {&rsa_key(), &ec_key()}) {
    const std::string token = jws::sign(*key, nullptr, "p").value();
    const std::string input = token.substr(0, token.rfind('.'));
    std::string sig = base64url_decode(token.substr(token.rfind('.') + 1)).value();
    sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x01);
    expect_error(jws::verify(input + "." + base64url_encode(sig), *key), ErrorCode::kUnauthenticated,
                 "does not verify");
    // Same signature over another payload.
    const std::string other =
        input.substr(0, input.find('.')) + "." + base64url_encode("q") + "." + token.substr(token.rfind('.') + 1);
    expect_error(jws::verify(other, *key), ErrorCode::kUnauthenticated, "does not verify");
  }
  // ES256 R or S of zero.
  const std::string token = jws::sign(ec_key(), nullptr, "p").value();
  const std::string input = token.substr(0, token.rfind('.'));
  expect_error(jws::verify(input + "." + base64url_encode(std::string(64, '\0')), ec_key()),
               ErrorCode::kUnauthenticated, "does not verify");
}

TEST(Jws, RejectsSignatureNotBase64url) {
  const std::string token = jws::sign(rsa_key(), nullptr, "p").value();
  std::string bad = token;
  bad[bad.size() - 3] = '+';
  expect_error(jws::verify(bad, rsa_key()), ErrorCode::kInvalidArgument, "signature is not base64url");
}

TEST(Jws, RejectsPayloadNotBase64urlAfterValidSignature) {
  // A signature over a payload segment that is not base64url: authentic, but malformed.
  const std::string input = base64url_encode(R"({"alg":"RS256"})") + ".a+b";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(256, '\0');
  std::size_t len = sig.size();
  ASSERT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, rsa_key().evp_pkey()), 1);
  ASSERT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  expect_error(jws::verify(input + "." + base64url_encode(sig), rsa_key()), ErrorCode::kInvalidArgument,
               "payload is not base64url");
}

TEST(Jws, SignRejects) {
  expect_error(jws::sign(rsa_key().public_key(), nullptr, "p"), ErrorCode::kInvalidArgument, "private key");
  expect_error(jws::sign(rsa_key(), json::array(), "p"), ErrorCode::kInvalidArgument, "not a JSON object");
  expect_error(jws::sign(rsa_key(), {{"alg", "HS256"}}, "p"), ErrorCode::kInvalidArgument, "alg");
  expect_error(jws::sign(rsa_key(), {{"kid", "other"}}, "p"), ErrorCode::kInvalidArgument, "kid");
  expect_error(jws::sign(rsa_key(), {{"typ", "\xff"}}, "p"), ErrorCode::kInvalidArgument, "UTF-8");
  EXPECT_TRUE(jws::sign(rsa_key(), {{"alg", "RS256"}, {"kid", rsa_key().kid()}}, "p"));
}

TEST(Jws, DecodeUnverified) {
  const std::string token = jws::sign(ec_key(), {{"typ", "JWT"}}, R"({"iss":"x"})").value();
  auto d = jws::decode_unverified(token);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header["kid"], ec_key().kid());
  EXPECT_EQ(d->payload, R"({"iss":"x"})");
  // It does not check the signature — only its shape.
  std::string forged = token.substr(0, token.rfind('.')) + ".AAAA";
  EXPECT_TRUE(jws::decode_unverified(forged));
  expect_error(jws::decode_unverified("a.b"), ErrorCode::kInvalidArgument, "three segments");
  expect_error(jws::decode_unverified(token.substr(0, token.rfind('.')) + ".A+"), ErrorCode::kInvalidArgument,
               "signature is not base64url");
  expect_error(jws::decode_unverified(base64url_encode("nope") + ".cA.cA"), ErrorCode::kInvalidArgument,
               "header is not a JSON object");
}

}  // namespace
}  // namespace avow::crypto
