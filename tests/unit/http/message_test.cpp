#include "http/message.h"

#include <gtest/gtest.h>

#include "http/request_id.h"

namespace avow::http {
namespace {

TEST(PercentDecode, DecodesAndRejects) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%41%6a"), "Aj");
  EXPECT_EQ(percent_decode("%"), std::nullopt);
  EXPECT_EQ(percent_decode("%4"), std::nullopt);
  EXPECT_EQ(percent_decode("%g0"), std::nullopt);
  EXPECT_EQ(percent_decode(""), "");
}

TEST(Request, HeaderLookupIgnoresCase) {
  Request r;
  r.headers = {{"Content-Type", "text/plain"}, {"X-Thing", "1"}, {"x-thing", "2"}};
  EXPECT_EQ(r.header("content-type"), "text/plain");
  EXPECT_EQ(r.header("X-THING"), "1");  // the first one
  EXPECT_EQ(r.header("missing"), std::nullopt);
}

TEST(Request, QueryParameters) {
  Request r;
  r.query = "ms=1500&name=a%20b+c&flag&empty=";
  EXPECT_EQ(r.query_param("ms"), "1500");
  EXPECT_EQ(r.query_param("name"), "a b c");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("empty"), "");
  EXPECT_EQ(r.query_param("nope"), std::nullopt);
  r.query = "bad=%zz";
  EXPECT_EQ(r.query_param("bad"), std::nullopt);
}

TEST(Request, Params) {
  Request r;
  r.params = {{"id", "42"}};
  EXPECT_EQ(r.param("id"), "42");
  EXPECT_EQ(r.param("other"), std::nullopt);
}

TEST(Response, SetHeaderReplacesCaseInsensitively) {
  Response r;
  r.set_header("Cache-Control", "no-store");
  r.set_header("cache-control", "max-age=5");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.header("CACHE-CONTROL"), "max-age=5");
}

TEST(Response, ErrorShape) {
  Response r = Response::error(404, "not_found", "no such resource");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body), (nlohmann::json{{"error", "not_found"}, {"message", "no such resource"}}));
}

TEST(RequestId, AcceptsOnlySafeBoundedIds) {
  EXPECT_TRUE(is_acceptable_request_id("abc-123_X.y:z"));
  EXPECT_TRUE(is_acceptable_request_id(std::string(64, 'a')));
  EXPECT_FALSE(is_acceptable_request_id(std::string(65, 'a')));
  EXPECT_FALSE(is_acceptable_request_id(""));
  EXPECT_FALSE(is_acceptable_request_id("a b"));
  EXPECT_FALSE(is_acceptable_request_id("a\nb"));
  EXPECT_FALSE(is_acceptable_request_id("a\"b"));
  EXPECT_FALSE(is_acceptable_request_id("é"));
}

TEST(RequestId, AcceptOrGenerate) {
  EXPECT_EQ(accept_or_generate_request_id(std::string_view("req-1")), "req-1");
  const std::string generated = accept_or_generate_request_id(std::string_view("bad id"));
  EXPECT_NE(generated, "bad id");
  EXPECT_TRUE(is_acceptable_request_id(generated));
  EXPECT_EQ(generated.size(), 22u);
  const std::string a = accept_or_generate_request_id(std::nullopt);
  const std::string b = accept_or_generate_request_id(std::nullopt);
  EXPECT_TRUE(is_acceptable_request_id(a));
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace avow::http
