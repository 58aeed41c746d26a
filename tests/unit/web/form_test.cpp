#include "web/form.h"

#include <gtest/gtest.h>

#include <string>

namespace avow::web {
namespace {

using Fields = FormFields;

TEST(ParseForm, DecodesPairsInOrderAndKeepsRepeatedNames) {
  auto f = parse_form("scope=openid&state=a%2Bb+c&claims=%7B%22x%22%3A1%7D&scope=profile");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(*f, (Fields{{"scope", "openid"}, {"state", "a+b c"}, {"claims", "{\"x\":1}"}, {"scope", "profile"}}));
}

TEST(ParseForm, DecodesNamesAndLowercaseHex) {
  auto f = parse_form("client%2did=%c3%a9");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, (Fields{{"client-id", "\xc3\xa9"}}));
}

TEST(ParseForm, EmptyBodyAndEmptyPairsAreNothing) {
  auto f = parse_form("");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->empty());
  f = parse_form("&a=1&&b=2&");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, (Fields{{"a", "1"}, {"b", "2"}}));
}

TEST(ParseForm, PairWithoutEqualsHasEmptyValueAndValueMayContainEquals) {
  auto f = parse_form("flag&x=a=b");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, (Fields{{"flag", ""}, {"x", "a=b"}}));
}

TEST(ParseForm, KeepsEncodedNulAndControlBytes) {
  auto f = parse_form("a=%00%0A");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->size(), 1u);
  EXPECT_EQ((*f)[0].second, std::string("\0\n", 2));
}

TEST(ParseForm, RefusesMalformedEscapes) {
  for (const char* body : {"a=%", "a=%4", "a=%zz", "a=%4g", "%=1", "a%2=1", "a=1&b=%%41"}) {
    auto f = parse_form(body);
    ASSERT_FALSE(f) << body;
    EXPECT_EQ(f.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(f.error().message.find("escape"), std::string::npos) << f.error().message;
  }
}

TEST(ParseForm, RefusesAnEmptyName) {
  EXPECT_FALSE(parse_form("=x"));
  EXPECT_FALSE(parse_form("a=1&=2"));
  auto space = parse_form("%20=x");  // a space is a name, if an odd one
  ASSERT_TRUE(space);
  EXPECT_EQ(*space, (Fields{{" ", "x"}}));
}

TEST(ParseForm, EnforcesLimits) {
  FormLimits limits;
  limits.max_body_bytes = 16;
  limits.max_fields = 3;
  limits.max_name_bytes = 4;
  EXPECT_TRUE(parse_form("a=1&b=2&c=3", limits));
  EXPECT_FALSE(parse_form("a=1&b=2&c=3&d=4", limits));     // 4 fields
  EXPECT_FALSE(parse_form("a=1234567890123456", limits));  // 18 bytes
  EXPECT_TRUE(parse_form("abcd=1", limits));
  EXPECT_FALSE(parse_form("abcde=1", limits));
  EXPECT_TRUE(parse_form("%41%42%43%44=1", limits));     // the name limit applies after decoding
  auto f = parse_form(std::string(32 * 1024 + 1, 'a'));  // default body limit
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, ErrorCode::kInvalidArgument);
}

TEST(ParseForm, ErrorMessagesDoNotEchoInput) {
  auto f = parse_form("secretname=%zzsecretvalue");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message.find("secret"), std::string::npos);
}

TEST(CookieValue, FindsTheNamedCookie) {
  EXPECT_EQ(cookie_value("a=1; avow_flow=abc-_123; b=2", "avow_flow"), "abc-_123");
  EXPECT_EQ(cookie_value("avow_flow=x", "avow_flow"), "x");
  EXPECT_EQ(cookie_value("  avow_flow = y ;", "avow_flow"), "y");
  EXPECT_EQ(cookie_value("avow_flow=\"quoted\"", "avow_flow"), "quoted");
  EXPECT_EQ(cookie_value("avow_flow=", "avow_flow"), "");
}

TEST(CookieValue, FirstOccurrenceWinsAndNamesMatchExactly) {
  EXPECT_EQ(cookie_value("avow_flow=first; avow_flow=second", "avow_flow"), "first");
  EXPECT_EQ(cookie_value("xavow_flow=1; avow_flowx=2", "avow_flow"), std::nullopt);
  EXPECT_EQ(cookie_value("AVOW_FLOW=1", "avow_flow"), std::nullopt);
}

TEST(CookieValue, AbsentEmptyOrOversizedHeader) {
  EXPECT_EQ(cookie_value("", "avow_flow"), std::nullopt);
  EXPECT_EQ(cookie_value("novalue; other", "avow_flow"), std::nullopt);
  EXPECT_EQ(cookie_value("avow_flow=1", ""), std::nullopt);
  const std::string big = "avow_flow=1; pad=" + std::string(9000, 'x');
  EXPECT_EQ(cookie_value(big, "avow_flow"), std::nullopt);
}

}  // namespace
}  // namespace avow::web
