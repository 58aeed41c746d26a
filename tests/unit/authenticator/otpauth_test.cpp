// otpauth:// key URIs (every rule and every malformed case), the Google Authenticator migration export (a
// payload built here byte by byte), and formatting back to a URI.
#include "authenticator/otpauth.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/base64url.h"
#include "crypto/otp.h"

namespace avow::device {
namespace {

using crypto::OtpAlgorithm;

const std::string kSecret = "12345678901234567890";  // RFC 6238's SHA-1 seed
const std::string kSecretB32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

std::string uri_with(const std::string& query) { return "otpauth://totp/ACME:alice@acme.com?" + query; }

// The error message of a URI that must be refused, after checking it is kInvalidArgument.
std::string refusal(std::string_view uri) {
  auto r = parse_otpauth_uri(uri);
  EXPECT_FALSE(r) << uri;
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << uri;
  return r.error().message;
}

#define EXPECT_REFUSED(uri, words) EXPECT_NE(refusal(uri).find(words), std::string::npos) << refusal(uri)

TEST(Otpauth, ParsesAFullUri) {
  auto a =
      parse_otpauth_uri("otpauth://totp/ACME%20Co:alice%40acme.com?secret=" + kSecretB32 +
                        "&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60&image=https%3A%2F%2Fx.example%2Fi.png");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->issuer, "ACME Co");
  EXPECT_EQ(a->account, "alice@acme.com");
  EXPECT_EQ(a->secret, kSecret);
  EXPECT_EQ(a->algorithm, OtpAlgorithm::kSha256);
  EXPECT_EQ(a->digits, 8);
  EXPECT_EQ(a->period, 60);
  EXPECT_EQ(a->label(), "ACME Co:alice@acme.com");
}

TEST(Otpauth, AppliesDefaults) {
  auto a = parse_otpauth_uri("otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->issuer, "");
  EXPECT_EQ(a->account, "alice");
  EXPECT_EQ(a->algorithm, OtpAlgorithm::kSha1);
  EXPECT_EQ(a->digits, 6);
  EXPECT_EQ(a->period, 30);
  EXPECT_EQ(a->label(), "alice");
  EXPECT_EQ(a->secret, "Hello!\xDE\xAD\xBE\xEF");
}

TEST(Otpauth, IssuerFromParameterOrPrefix) {
  auto param_only = parse_otpauth_uri("otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&issuer=ACME");
  ASSERT_TRUE(param_only);
  EXPECT_EQ(param_only->label(), "ACME:alice");
  auto prefix_only = parse_otpauth_uri("otpauth://totp/ACME:%20%20alice?secret=JBSWY3DPEHPK3PXP");
  ASSERT_TRUE(prefix_only);
  EXPECT_EQ(prefix_only->issuer, "ACME");
  EXPECT_EQ(prefix_only->account, "alice");  // spaces after the colon are dropped
  auto literal_colon = parse_otpauth_uri("otpauth://totp/ACME%3Aalice?secret=JBSWY3DPEHPK3PXP&issuer=ACME");
  ASSERT_TRUE(literal_colon);
  EXPECT_EQ(literal_colon->label(), "ACME:alice");
  auto plus_space = parse_otpauth_uri("otpauth://totp/Big%20Bank:bob?secret=JBSWY3DPEHPK3PXP&issuer=Big+Bank");
  ASSERT_TRUE(plus_space) << plus_space.error().message;
  EXPECT_EQ(plus_space->issuer, "Big Bank");
  auto empty_issuer_param = parse_otpauth_uri("otpauth://totp/ACME:bob?secret=JBSWY3DPEHPK3PXP&issuer=");
  ASSERT_TRUE(empty_issuer_param);
  EXPECT_EQ(empty_issuer_param->issuer, "ACME");
}

TEST(Otpauth, SecretIsLenientBase32) {
  for (const char* s :
       {"gezdgnbvgy3tqojqgezdgnbvgy3tqojq", "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====", "gezd%20gnbv%20gy3t%20qojq%20gezd%20gnbv%20gy3t%20qojq"}) {
    auto a = parse_otpauth_uri(uri_with(std::string("secret=") + s));
    ASSERT_TRUE(a) << s << ": " << a.error().message;
    EXPECT_EQ(a->secret, kSecret) << s;
  }
  // 26 characters = 130 bits: the 2 extra bits are dropped, as authenticator apps do.
  auto odd = parse_otpauth_uri(uri_with("secret=GEZDGNBVGY3TQOJQGEZDGNBVGZ"));
  ASSERT_TRUE(odd) << odd.error().message;
  EXPECT_EQ(odd->secret.size(), 16u);
}

TEST(Otpauth, ParameterNamesAndValuesAreCaseInsensitiveWhereTheSpecAllows) {
  auto a = parse_otpauth_uri("OTPAUTH://TOTP/ACME:alice?SECRET=" + kSecretB32 + "&Algorithm=sha512&DIGITS=7");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->algorithm, OtpAlgorithm::kSha512);
  EXPECT_EQ(a->digits, 7);
}

TEST(Otpauth, RefusesHotpWithAClearMessage) {
  EXPECT_REFUSED("otpauth://hotp/ACME:alice?secret=" + kSecretB32 + "&counter=3", "HOTP");
  EXPECT_REFUSED("otpauth://hotp/ACME:alice?secret=" + kSecretB32 + "&counter=3", "TOTP");
}

TEST(Otpauth, RefusesEveryMalformedUriNamingThePart) {
  EXPECT_REFUSED("https://acme.com/?secret=" + kSecretB32, "otpauth://");
  EXPECT_REFUSED("otpauth:/totp/alice?secret=" + kSecretB32, "otpauth://");
  EXPECT_REFUSED("", "otpauth://");
  EXPECT_REFUSED("otpauth://motp/alice?secret=" + kSecretB32, "type");
  EXPECT_REFUSED("otpauth://totp", "label");
  EXPECT_REFUSED("otpauth://totp/?secret=" + kSecretB32, "account");
  EXPECT_REFUSED("otpauth://totp/ACME:?secret=" + kSecretB32, "account");
  EXPECT_REFUSED("otpauth://totp/ACME:%20?secret=" + kSecretB32, "account");
  EXPECT_REFUSED("otpauth://totp/:alice?secret=" + kSecretB32, "issuer prefix");
  EXPECT_REFUSED("otpauth://totp/ACME:al%2ice?secret=" + kSecretB32, "label");
  EXPECT_REFUSED("otpauth://totp/ACME:alice%4?secret=" + kSecretB32, "label");
  EXPECT_REFUSED("otpauth://totp/ACME:al%0Aice?secret=" + kSecretB32, "control");
  EXPECT_REFUSED("otpauth://totp/ACME:al%C2%9Bice?secret=" + kSecretB32, "account");  // C1 CSI
  EXPECT_REFUSED("otpauth://totp/ACME:al%FFice?secret=" + kSecretB32, "UTF-8");
  EXPECT_REFUSED("otpauth://totp/" + std::string(300, 'a') + "?secret=" + kSecretB32, "longer than");
  EXPECT_REFUSED("otpauth://totp/alice", "secret");
  EXPECT_REFUSED(uri_with("issuer=ACME"), "secret");
  EXPECT_REFUSED(uri_with("secret="), "secret");
  EXPECT_REFUSED(uri_with("secret=%20%20"), "secret");
  EXPECT_REFUSED(uri_with("secret=GEZDGNBVGY3TQOJ1"), "secret");  // '1' is not base32
  EXPECT_REFUSED(uri_with("secret=GEZDGNBVGY3TQOJ!"), "secret");
  EXPECT_REFUSED(uri_with("secret=GEZDGNBV"), "too short");  // 5 bytes
  EXPECT_REFUSED(uri_with("secret=" + std::string(1700, 'A')), "longer than");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&secret=" + kSecretB32), "more than once");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&issuer=Other"), "differs");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&issuer=acme"), "issuer parameter");  // equal means equal
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&issuer=AC%0DME"), "issuer parameter");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&issuer=AC%ZZME"), "issuer parameter");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&algorithm=MD5"), "algorithm");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&algorithm="), "algorithm");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&algorithm=SHA384"), "algorithm");
  for (const char* d : {"5", "9", "0", "-6", "+6", "6.0", "six", "", "60000000000"})
    EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&digits=" + d), "digits");
  for (const char* p : {"0", "-30", "30s", "", "86401", "1e3", "99999999999"})
    EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&period=" + p), "period");
  EXPECT_REFUSED(uri_with("secret=" + kSecretB32 + "&period=30&period=60"), "more than once");
  EXPECT_REFUSED("otpauth://totp/alice?secret=" + kSecretB32 + "&x=" + std::string(5000, 'x'), "longer than");
}

TEST(Otpauth, IgnoresUnknownParametersEmptyPairsAndFragments) {
  auto a = parse_otpauth_uri(uri_with("&&secret=" + kSecretB32 + "&counter=5&icon&foo=bar#frag"));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->secret, kSecret);
}

TEST(Otpauth, FormatsBackToAnEqualAccount) {
  OtpAccount a;
  a.issuer = "Big Bank & Co: Ltd";
  a.account = "bob+mfa@example.com";
  a.secret = std::string("\x00\x01\xFE\xFF sixteen bytes!!", 20);
  a.algorithm = OtpAlgorithm::kSha512;
  a.digits = 7;
  a.period = 45;
  const std::string uri = format_otpauth_uri(a);
  // A label's issuer prefix cannot hold a ':', so such an issuer travels in the parameter only.
  EXPECT_EQ(uri.rfind("otpauth://totp/bob%2Bmfa%40example.com?secret=", 0), 0u) << uri;
  EXPECT_NE(uri.find("&issuer=Big%20Bank%20%26%20Co%3A%20Ltd&"), std::string::npos) << uri;
  EXPECT_NE(uri.find("&algorithm=SHA512&digits=7&period=45"), std::string::npos) << uri;
  auto back = parse_otpauth_uri(uri);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->issuer, a.issuer);
  EXPECT_EQ(back->account, a.account);
  EXPECT_EQ(back->secret, a.secret);
  EXPECT_EQ(back->algorithm, a.algorithm);
  EXPECT_EQ(back->digits, a.digits);
  EXPECT_EQ(back->period, a.period);

  OtpAccount plain;
  plain.account = "carol";
  plain.secret = kSecret;
  EXPECT_EQ(format_otpauth_uri(plain),
            "otpauth://totp/carol?secret=" + kSecretB32 + "&algorithm=SHA1&digits=6&period=30");
  plain.issuer = "ACME";
  EXPECT_EQ(format_otpauth_uri(plain),
            "otpauth://totp/ACME:carol?secret=" + kSecretB32 + "&issuer=ACME&algorithm=SHA1&digits=6&period=30");
}

// ---- otpauth-migration://

// A tiny protobuf writer for the test's payloads.
std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string field_bytes(int number, const std::string& bytes) {
  return varint(static_cast<std::uint64_t>(number) << 3 | 2) + varint(bytes.size()) + bytes;
}
std::string field_varint(int number, std::uint64_t v) {
  return varint(static_cast<std::uint64_t>(number) << 3) + varint(v);
}

struct Params {
  std::string secret = kSecret, name = "alice@acme.com", issuer = "ACME";
  int algorithm = 1, digits = 1, type = 2;
  std::string encode() const {
    return field_bytes(1, secret) + field_bytes(2, name) + field_bytes(3, issuer) + field_varint(4, algorithm) +
           field_varint(5, digits) + field_varint(6, type) + field_varint(7, 0);
  }
};

std::string migration_uri(const std::string& payload) {
  std::string b64 = base64_encode(payload), escaped;
  for (char c : b64) {
    if (c == '+')
      escaped += "%2B";
    else if (c == '/')
      escaped += "%2F";
    else if (c == '=')
      escaped += "%3D";
    else
      escaped += c;
  }
  return "otpauth-migration://offline?data=" + escaped;
}

TEST(OtpauthMigration, DecodesAHandBuiltPayload) {
  Params sha256;
  sha256.name = "Shop:bob";
  sha256.issuer = "";
  sha256.algorithm = 2;
  sha256.digits = 2;
  sha256.secret = std::string(32, '\xAB');
  Params hotp;
  hotp.name = "carol";
  hotp.issuer = "Old";
  hotp.type = 1;
  Params md5;
  md5.name = "dave";
  md5.algorithm = 4;
  const std::string payload = field_bytes(1, Params{}.encode()) + field_bytes(1, sha256.encode()) +
                              field_bytes(1, hotp.encode()) + field_bytes(1, md5.encode()) + field_varint(2, 1) +
                              field_varint(3, 1) + field_varint(4, 0) + field_varint(5, 12345) + varint(6 << 3 | 5) +
                              std::string(4, 'x') + varint(7 << 3 | 1) + std::string(8, 'y');
  auto r = parse_migration_uri(migration_uri(payload));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->accounts.size(), 2u);
  EXPECT_EQ(r->accounts[0].label(), "ACME:alice@acme.com");
  EXPECT_EQ(r->accounts[0].secret, kSecret);
  EXPECT_EQ(r->accounts[0].algorithm, OtpAlgorithm::kSha1);
  EXPECT_EQ(r->accounts[0].digits, 6);
  EXPECT_EQ(r->accounts[0].period, 30);
  EXPECT_EQ(r->accounts[1].issuer, "Shop");  // from the name's prefix
  EXPECT_EQ(r->accounts[1].account, "bob");
  EXPECT_EQ(r->accounts[1].algorithm, OtpAlgorithm::kSha256);
  EXPECT_EQ(r->accounts[1].digits, 8);
  ASSERT_EQ(r->skipped.size(), 2u);
  EXPECT_NE(r->skipped[0].find("Old:carol"), std::string::npos) << r->skipped[0];
  EXPECT_NE(r->skipped[0].find("HOTP"), std::string::npos);
  EXPECT_NE(r->skipped[1].find("MD5"), std::string::npos) << r->skipped[1];

  // parse_key_uri dispatches on the scheme.
  auto via = parse_key_uri(migration_uri(payload));
  ASSERT_TRUE(via);
  EXPECT_EQ(via->accounts.size(), 2u);
  auto single = parse_key_uri("otpauth://totp/x?secret=" + kSecretB32);
  ASSERT_TRUE(single);
  EXPECT_EQ(single->accounts.size(), 1u);
}

TEST(OtpauthMigration, AcceptsUnescapedAndUnpaddedBase64) {
  const std::string payload = field_bytes(1, Params{}.encode());
  std::string b64 = base64_encode(payload);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  auto r = parse_migration_uri("otpauth-migration://offline?data=" + b64);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->accounts.size(), 1u);
}

std::string migration_refusal(const std::string& uri) {
  auto r = parse_migration_uri(uri);
  EXPECT_FALSE(r);
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

TEST(OtpauthMigration, RefusesMalformedPayloads) {
  const std::string good = field_bytes(1, Params{}.encode());
  auto refused = [&](const std::string& payload, const std::string& words) {
    const std::string m = migration_refusal(migration_uri(payload));
    EXPECT_NE(m.find(words), std::string::npos) << m;
  };
  refused(good.substr(0, good.size() - 1), "past the end");                    // truncated message
  refused(good + "\x0A", "past the end");                                      // a key with no length
  refused(good + std::string("\x0A\xFF\xFF\xFF\xFF\x0F", 6), "past the end");  // a huge length
  refused(good + std::string(11, '\xFF'), "longer than 10 bytes");
  refused(good + varint(9 << 3 | 3), "wire type 3");  // groups are not supported
  refused(field_varint(1, 5), "not a message");
  refused(field_bytes(1, field_varint(1, 7)), "secret");  // secret as a number
  Params no_name;
  no_name.name = "";
  refused(field_bytes(1, no_name.encode()), "no name");
  Params short_secret;
  short_secret.secret = "short";
  refused(field_bytes(1, short_secret.encode()), "too short");
  Params control;
  control.name = "al\x1B[2Jice";
  refused(field_bytes(1, control.encode()), "control");
  Params hotp;
  hotp.type = 1;
  refused(field_bytes(1, hotp.encode()), "no TOTP account");
  refused("", "no data");
  std::string many;
  for (std::size_t i = 0; i <= kMaxMigrationAccounts; ++i) many += good;
  refused(many, "more than");

  EXPECT_NE(migration_refusal("otpauth-migration://offline?data=%%%").find("data"), std::string::npos);
  EXPECT_NE(migration_refusal("otpauth-migration://offline?data=!!!!").find("base64"), std::string::npos);
  EXPECT_NE(migration_refusal("otpauth-migration://offline").find("no data"), std::string::npos);
  EXPECT_NE(migration_refusal("otpauth-migration://online?data=AAAA").find("offline"), std::string::npos);
  EXPECT_NE(migration_refusal("otpauth://totp/x?secret=" + kSecretB32).find("otpauth-migration://"), std::string::npos);
  EXPECT_NE(migration_refusal(migration_uri(good) + "&data=AAAA").find("more than once"), std::string::npos);
  EXPECT_NE(migration_refusal("otpauth-migration://offline?data=" + std::string(kMaxMigrationUriSize, 'A'))
                .find("longer than"),
            std::string::npos);
}

}  // namespace
}  // namespace avow::device
