#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "crypto/otp.h"

namespace avow::crypto {
namespace {

TEST(Hash, KnownDigests) {
  EXPECT_EQ(hex_encode(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex_encode(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_encode(sha512("abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

// RFC 2202 / RFC 4231 test case 2.
TEST(Hash, HmacVectors) {
  EXPECT_EQ(hex_encode(hmac(HashAlgorithm::kSha1, "Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(hex_encode(hmac(HashAlgorithm::kSha256, "Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex_encode(hmac(HashAlgorithm::kSha512, "Jefe", "what do ya want for nothing?")),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
  EXPECT_EQ(hmac(HashAlgorithm::kSha256, "", "x").size(), 32u);
}

TEST(Hash, HexRoundTripAndRejects) {
  auto d = hex_decode("00ff10aB");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, std::string("\x00\xff\x10\xab", 4));
  EXPECT_EQ(hex_encode(*d), "00ff10ab");
  EXPECT_FALSE(hex_decode("abc"));
  EXPECT_FALSE(hex_decode("zz"));
  EXPECT_EQ(hex_decode("0g").error().code, ErrorCode::kInvalidArgument);
}

// RFC 4226 Appendix D: secret "12345678901234567890", counters 0..9.
TEST(Otp, Rfc4226AppendixD) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (std::uint64_t c = 0; c < 10; ++c) {
    auto code = hotp("12345678901234567890", c);
    ASSERT_TRUE(code) << code.error().message;
    EXPECT_EQ(*code, expected[c]) << "counter " << c;
  }
}

// RFC 6238 Appendix B: 8 digits, period 30, T0 = 0, one seed per algorithm.
TEST(Otp, Rfc6238AppendixB) {
  struct Vector {
    std::int64_t time;
    OtpAlgorithm algorithm;
    const char* code;
  };
  const Vector vectors[] = {
      {59, OtpAlgorithm::kSha1, "94287082"},
      {59, OtpAlgorithm::kSha256, "46119246"},
      {59, OtpAlgorithm::kSha512, "90693936"},
      {1111111109, OtpAlgorithm::kSha1, "07081804"},
      {1111111109, OtpAlgorithm::kSha256, "68084774"},
      {1111111109, OtpAlgorithm::kSha512, "25091201"},
      {1111111111, OtpAlgorithm::kSha1, "14050471"},
      {1111111111, OtpAlgorithm::kSha256, "67062674"},
      {1111111111, OtpAlgorithm::kSha512, "99943326"},
      {1234567890, OtpAlgorithm::kSha1, "89005924"},
      {1234567890, OtpAlgorithm::kSha256, "91819424"},
      {1234567890, OtpAlgorithm::kSha512, "93441116"},
      {2000000000, OtpAlgorithm::kSha1, "69279037"},
      {2000000000, OtpAlgorithm::kSha256, "90698825"},
      {2000000000, OtpAlgorithm::kSha512, "38618901"},
      {20000000000, OtpAlgorithm::kSha1, "65353130"},
      {20000000000, OtpAlgorithm::kSha256, "77737706"},
      {20000000000, OtpAlgorithm::kSha512, "47863826"},
  };
  const std::string seed20 = "12345678901234567890";
  const std::string seed32 = "12345678901234567890123456789012";
  const std::string seed64 = "1234567890123456789012345678901234567890123456789012345678901234";
  int checked = 0;
  for (const auto& v : vectors) {
    const std::string& seed = v.algorithm == OtpAlgorithm::kSha1     ? seed20
                              : v.algorithm == OtpAlgorithm::kSha256 ? seed32
                                                                     : seed64;
    auto code = totp_at(seed, v.time, 30, 8, v.algorithm);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, v.code) << "t=" << v.time << " " << to_string(v.algorithm);
    // And the verifier accepts it at that time with no window, returning the step.
    auto step = totp_verify(seed, v.code, v.time, 0, 30, 8, v.algorithm);
    ASSERT_TRUE(step);
    EXPECT_EQ(*step, v.time / 30);
    ++checked;
  }
  EXPECT_EQ(checked, 18);
}

TEST(Otp, ParameterChecks) {
  EXPECT_FALSE(hotp("k", 0, 5));
  EXPECT_FALSE(hotp("k", 0, 9));
  EXPECT_FALSE(hotp("", 0, 6));
  EXPECT_FALSE(hotp(std::string(kMaxOtpSecretSize + 1, 'k'), 0, 6));
  EXPECT_TRUE(hotp("k", 0, 7));
  EXPECT_FALSE(totp_at("k", 100, 0));
  EXPECT_FALSE(totp_at("k", 5, 30, 6, OtpAlgorithm::kSha1, /*t0=*/10));
  EXPECT_EQ(totp_at("k", 25, 10, 6, OtpAlgorithm::kSha1, 5).value(), hotp("k", 2, 6).value());
  EXPECT_EQ(parse_otp_algorithm("sha256"), OtpAlgorithm::kSha256);
  EXPECT_EQ(parse_otp_algorithm("SHA512"), OtpAlgorithm::kSha512);
  EXPECT_FALSE(parse_otp_algorithm("MD5"));
}

TEST(Otp, VerifyWindowReturnsMatchedStep) {
  const std::string secret = "12345678901234567890";
  const std::int64_t now = 1'700'000'015;  // step 56666667
  const std::int64_t step = now / 30;
  const std::string prev = hotp(secret, static_cast<std::uint64_t>(step - 1)).value();
  const std::string next = hotp(secret, static_cast<std::uint64_t>(step + 1)).value();
  const std::string far = hotp(secret, static_cast<std::uint64_t>(step + 2)).value();

  EXPECT_EQ(totp_verify(secret, prev, now, 1), step - 1);
  EXPECT_EQ(totp_verify(secret, next, now, 1), step + 1);
  EXPECT_FALSE(totp_verify(secret, prev, now, 0));
  EXPECT_FALSE(totp_verify(secret, far, now, 1));
  EXPECT_EQ(totp_verify(secret, far, now, 2), step + 2);

  const std::string current = totp_at(secret, now).value();
  EXPECT_EQ(totp_verify(secret, current, now, 1), step);
  // Malformed codes never match.
  EXPECT_FALSE(totp_verify(secret, current.substr(0, 5), now, 1));
  EXPECT_FALSE(totp_verify(secret, current + "0", now, 1));
  std::string letters = current;
  letters[0] = 'a';
  EXPECT_FALSE(totp_verify(secret, letters, now, 1));
  EXPECT_FALSE(totp_verify(secret, current, now, kMaxTotpWindowSteps + 1));
  EXPECT_FALSE(totp_verify(secret, current, now, -1));
  EXPECT_FALSE(totp_verify("", current, now, 1));
}

// RFC 4648 §10.
TEST(Base32, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "MY======"},
      {"fo", "MZXQ===="},
      {"foo", "MZXW6==="},
      {"foob", "MZXW6YQ="},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI======"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base32_encode(plain, true), encoded);
    auto d = base32_decode(encoded);
    ASSERT_TRUE(d) << encoded;
    EXPECT_EQ(*d, plain);
    // Unpadded and lowercase spellings decode too.
    std::string bare = encoded;
    while (!bare.empty() && bare.back() == '=') bare.pop_back();
    EXPECT_EQ(base32_encode(plain), bare);
    std::string lower;
    for (char c : bare) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    EXPECT_EQ(base32_decode(lower).value(), plain);
  }
}

TEST(Base32, StrictRejects) {
  EXPECT_FALSE(base32_decode("MY====="));     // padded, not a multiple of 8
  EXPECT_FALSE(base32_decode("MY=="));        // padded, not a multiple of 8
  EXPECT_FALSE(base32_decode("MZXW6Y=="));    // 6 data characters is impossible
  EXPECT_FALSE(base32_decode("MZXQ======"));  // too much padding
  EXPECT_FALSE(base32_decode("M"));           // impossible length
  EXPECT_FALSE(base32_decode("MZ"));          // non-zero trailing bits
  EXPECT_FALSE(base32_decode("MY1="));        // '1' is not in the alphabet
  EXPECT_FALSE(base32_decode("JBSW Y3DP"));   // whitespace
  EXPECT_FALSE(base32_decode("MY=Y===="));    // padding in the middle
  EXPECT_EQ(base32_decode("JBSWY3DPEHPK3PXP").value(), "Hello!\xde\xad\xbe\xef");
}

}  // namespace
}  // namespace avow::crypto
