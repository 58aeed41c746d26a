#include "http/router.h"

#include <gtest/gtest.h>

namespace avow::http {
namespace {

Response ok_response(const Request&) { return Response::json(200, {{"ok", true}}); }

TEST(Router, MatchesLiteralPath) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/healthz", SyncHandler(ok_response)));
  RouteMatch m = r.match("GET", "/healthz");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route->pattern, "/healthz");
  EXPECT_TRUE(m.params.empty());
  EXPECT_EQ(r.match("GET", "/healthz/").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.match("GET", "/health").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.match("GET", "/").kind, RouteMatch::kNotFound);
}

TEST(Router, ExtractsDecodedParameters) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/orgs/{org}/users/{user}", SyncHandler(ok_response)));
  RouteMatch m = r.match("GET", "/orgs/o%201/users/a%2Fb");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], (std::pair<std::string, std::string>{"org", "o 1"}));
  // An encoded slash stays inside its segment.
  EXPECT_EQ(m.params[1], (std::pair<std::string, std::string>{"user", "a/b"}));
}

TEST(Router, ParameterNeverMatchesEmptySegment) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/devices/{id}", SyncHandler(ok_response)));
  EXPECT_EQ(r.match("GET", "/devices/").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.match("GET", "/devices").kind, RouteMatch::kNotFound);
  EXPECT_EQ(r.match("GET", "/devices/x/y").kind, RouteMatch::kNotFound);
}

TEST(Router, LiteralBeatsParameter) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/users/{id}", SyncHandler(ok_response)));
  ASSERT_TRUE(r.add("GET", "/users/me", SyncHandler(ok_response)));
  ASSERT_TRUE(r.add("GET", "/{a}/x", SyncHandler(ok_response)));
  ASSERT_TRUE(r.add("GET", "/users/{id}/x", SyncHandler(ok_response)));
  EXPECT_EQ(r.match("GET", "/users/me").route->pattern, "/users/me");
  EXPECT_EQ(r.match("GET", "/users/42").route->pattern, "/users/{id}");
  // The first differing segment decides: literal "users" beats {a}.
  EXPECT_EQ(r.match("GET", "/users/1/x").route->pattern, "/users/{id}/x");
  EXPECT_EQ(r.match("GET", "/other/x").route->pattern, "/{a}/x");
}

TEST(Router, FallsBackToLessSpecificPatternThatAllowsTheMethod) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/users/me", SyncHandler(ok_response)));
  ASSERT_TRUE(r.add("DELETE", "/users/{id}", SyncHandler(ok_response)));
  RouteMatch m = r.match("DELETE", "/users/me");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route->pattern, "/users/{id}");
}

TEST(Router, MethodNotAllowedListsAllowedMethods) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/items/{id}", SyncHandler(ok_response)));
  ASSERT_TRUE(r.add("PUT", "/items/{id}", SyncHandler(ok_response)));
  ASSERT_TRUE(r.add("POST", "/items/new", SyncHandler(ok_response)));
  RouteMatch m = r.match("DELETE", "/items/new");
  ASSERT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD, POST, PUT");
  ASSERT_NE(m.route, nullptr);
}

TEST(Router, HeadUsesGetRoute) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/a", SyncHandler(ok_response)));
  RouteMatch m = r.match("HEAD", "/a");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route->method, "GET");
  EXPECT_EQ(r.match("POST", "/a").allow, "GET, HEAD");
}

TEST(Router, MethodsAreCaseSensitive) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/a", SyncHandler(ok_response)));
  EXPECT_EQ(r.match("get", "/a").kind, RouteMatch::kMethodNotAllowed);
}

TEST(Router, BadPaths) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/a", SyncHandler(ok_response)));
  EXPECT_EQ(r.match("GET", "a").kind, RouteMatch::kBadPath);
  EXPECT_EQ(r.match("GET", "").kind, RouteMatch::kBadPath);
  EXPECT_EQ(r.match("GET", "*").kind, RouteMatch::kBadPath);
  EXPECT_EQ(r.match("GET", "http://x/a").kind, RouteMatch::kBadPath);
  EXPECT_EQ(r.match("GET", "/a%zz").kind, RouteMatch::kBadPath);
  EXPECT_EQ(r.match("GET", "/a%2").kind, RouteMatch::kBadPath);
}

TEST(Router, PercentEncodedLiteralMatches) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/healthz", SyncHandler(ok_response)));
  EXPECT_EQ(r.match("GET", "/heal%74hz").kind, RouteMatch::kFound);
}

TEST(Router, RejectsMalformedRegistrations) {
  Router r;
  EXPECT_FALSE(r.add("GET", "healthz", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("GET", "", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("G ET", "/a", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("", "/a", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("GET", "/a/{}", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("GET", "/a/x{id}", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("GET", "/a/{id}/{id}", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("GET", "/a/{i{d}", SyncHandler(ok_response)));
  EXPECT_FALSE(r.add("GET", "/a", SyncHandler()));
  ASSERT_TRUE(r.add("GET", "/a", SyncHandler(ok_response)));
  Status dup = r.add("GET", "/a", SyncHandler(ok_response));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_TRUE(r.add("POST", "/a", SyncHandler(ok_response)));
  EXPECT_EQ(r.routes().size(), 2u);
}

TEST(Router, RouteIndexesAreStable) {
  Router r;
  ASSERT_TRUE(r.add("GET", "/a", SyncHandler(ok_response)));
  ASSERT_TRUE(r.add("GET", "/b/{x}", SyncHandler(ok_response), {.max_body_bytes = 99}));
  ASSERT_EQ(r.routes().size(), 2u);
  EXPECT_EQ(r.routes()[1].index, 1u);
  EXPECT_EQ(r.match("GET", "/b/1").route->index, 1u);
  EXPECT_EQ(r.match("GET", "/b/1").route->options.max_body_bytes, 99u);
}

TEST(SplitPath, Segments) {
  EXPECT_EQ(split_path("/"), (std::vector<std::string_view>{""}));
  EXPECT_EQ(split_path("/a/b"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(split_path("/a/"), (std::vector<std::string_view>{"a", ""}));
  EXPECT_TRUE(split_path("a").empty());
}

}  // namespace
}  // namespace avow::http
