#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/base64url.h"
#include "crypto/hash.h"
#include "crypto/x509.h"
#include "test_keys.h"

namespace avow::crypto {
namespace {

using testing::ec_key;
using testing::rsa_key;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
std::unique_ptr<X509, X509Free> parse(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return std::unique_ptr<X509, X509Free>(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

TEST(X509, SelfSignedForSigningKey) {
  auto cert = make_self_signed(rsa_key(), "Avow signing key", {}, std::chrono::hours(24 * 730));
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(cert->x5t(), base64url_encode(sha1(cert->der())));
  EXPECT_EQ(cert->x5t_s256(), base64url_encode(sha256(cert->der())));
  EXPECT_EQ(base64_decode(cert->x5c()).value(), cert->der());
  EXPECT_EQ(cert->not_after_unix() - cert->not_before_unix(), 730 * 24 * 3600);

  auto pub = cert->public_key();
  ASSERT_TRUE(pub) << pub.error().message;
  EXPECT_FALSE(pub->is_private());
  EXPECT_TRUE(pub->same_public_key(rsa_key()));
  EXPECT_FALSE(pub->same_public_key(testing::rsa_key2()));

  auto x = parse(cert->der());
  ASSERT_TRUE(x);
  // Self-signed: its own key verifies its signature, and subject = issuer.
  EXPECT_EQ(X509_verify(x.get(), X509_get0_pubkey(x.get())), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(x.get()), X509_get_issuer_name(x.get())), 0);
  char cn[128] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(x.get()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "Avow signing key");
  EXPECT_EQ(X509_get_version(x.get()), X509_VERSION_3);
  EXPECT_EQ(X509_check_ca(x.get()), 0);
}

TEST(X509, DevTlsCertificateHasDnsAndIpSans) {
  CertificateRequest req;
  req.common_name = "localhost";
  req.dns_sans = {"localhost"};
  req.ip_sans = {"127.0.0.1", "::1"};
  req.server_auth = true;
  req.not_before_unix = 1'700'000'000;
  req.validity = std::chrono::hours(24);
  for (const Jwk* key : {&rsa_key(), &ec_key()}) {
    auto cert = make_self_signed(*key, req);
    ASSERT_TRUE(cert) << cert.error().message;
    EXPECT_EQ(cert->not_before_unix(), 1'700'000'000);
    EXPECT_EQ(cert->not_after_unix(), 1'700'000'000 + 24 * 3600);
    auto x = parse(cert->der());
    ASSERT_TRUE(x);
    EXPECT_EQ(X509_check_host(x.get(), "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(x.get(), "example.com", 0, 0, nullptr), 0);
    EXPECT_EQ(X509_check_ip_asc(x.get(), "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(x.get(), "::1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(x.get(), "10.0.0.1", 0), 0);
    EXPECT_EQ(X509_check_purpose(x.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
    EXPECT_TRUE(cert->public_key().value().same_public_key(*key));
  }
}

TEST(X509, PemRoundTrip) {
  auto cert = make_self_signed(ec_key(), "pem", {"a.example"}, std::chrono::hours(1)).value();
  const std::string pem = cert.pem();
  EXPECT_EQ(pem.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  auto back = Certificate::from_pem(pem);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->der(), cert.der());
  EXPECT_EQ(back->x5t(), cert.x5t());
}

TEST(X509, Rejects) {
  auto err = [](const Result<Certificate>& r) { return r ? ErrorCode::kInternal : r.error().code; };
  EXPECT_EQ(err(make_self_signed(rsa_key().public_key(), "x", {}, std::chrono::hours(1))), ErrorCode::kInvalidArgument);
  EXPECT_EQ(err(make_self_signed(rsa_key(), "", {}, std::chrono::hours(1))), ErrorCode::kInvalidArgument);
  EXPECT_EQ(err(make_self_signed(rsa_key(), std::string(65, 'c'), {}, std::chrono::hours(1))),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(err(make_self_signed(rsa_key(), "x", {}, std::chrono::seconds(0))), ErrorCode::kInvalidArgument);
  EXPECT_EQ(err(make_self_signed(rsa_key(), "x", {"bad name"}, std::chrono::hours(1))), ErrorCode::kInvalidArgument);
  CertificateRequest req;
  req.common_name = "x";
  req.ip_sans = {"300.1.1.1"};
  EXPECT_EQ(err(make_self_signed(rsa_key(), req)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(err(Certificate::from_der("garbage")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(err(Certificate::from_pem("no pem here")), ErrorCode::kInvalidArgument);
  auto cert = make_self_signed(rsa_key(), "x", {}, std::chrono::hours(1)).value();
  EXPECT_EQ(err(Certificate::from_der(cert.der() + "x")), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace avow::crypto
