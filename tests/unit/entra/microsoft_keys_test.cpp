#include "entra/microsoft_keys.h"

#include <gtest/gtest.h>

namespace avow::entra {
namespace {

class FakeFetcher : public KeyFetcher {
 public:
  Result<std::string> fetch(const std::string& url) override {
    ++calls;
    last_url = url;
    if (!up) return fail(ErrorCode::kUnavailable, "connection refused");
    return body;
  }
  int calls = 0;
  bool up = true;
  std::string body;
  std::string last_url;
};

class MicrosoftKeysTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    a_ = new crypto::Jwk(*crypto::Jwk::generate_ec_p256());
    b_ = new crypto::Jwk(*crypto::Jwk::generate_ec_p256());
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
  }
  static std::string jwks_of(std::initializer_list<const crypto::Jwk*> keys) {
    crypto::Jwks set;
    for (auto* k : keys) EXPECT_TRUE(set.add(k->public_key()));
    return set.to_json().dump();
  }

  static crypto::Jwk* a_;
  static crypto::Jwk* b_;
  FakeFetcher fetcher_;
  ManualClock clock_;
  const std::string url_ = "https://login.microsoftonline.com/common/discovery/v2.0/keys";
};
crypto::Jwk* MicrosoftKeysTest::a_ = nullptr;
crypto::Jwk* MicrosoftKeysTest::b_ = nullptr;

TEST_F(MicrosoftKeysTest, FetchesOnceAndCachesForTheTtl) {
  fetcher_.body = jwks_of({a_});
  MicrosoftKeys keys(fetcher_, clock_);
  auto first = keys.get(url_);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_NE((*first)->find(a_->kid()), nullptr);
  EXPECT_TRUE(keys.get(url_));
  EXPECT_EQ(fetcher_.calls, 1);
  EXPECT_EQ(fetcher_.last_url, url_);
  clock_.advance(std::chrono::hours(25));
  fetcher_.body = jwks_of({a_, b_});
  auto later = keys.get(url_);
  ASSERT_TRUE(later);
  EXPECT_EQ(fetcher_.calls, 2);
  EXPECT_NE((*later)->find(b_->kid()), nullptr);
}

TEST_F(MicrosoftKeysTest, UnknownKidRefreshIsRateLimited) {
  fetcher_.body = jwks_of({a_});
  MicrosoftKeys keys(fetcher_, clock_);
  ASSERT_TRUE(keys.get(url_));
  fetcher_.body = jwks_of({a_, b_});
  // Microsoft rolled a key right after our fetch: the first unknown kid re-fetches at once.
  auto fresh = keys.refresh_for_unknown_kid(url_);
  ASSERT_TRUE(fresh);
  EXPECT_NE((*fresh)->find(b_->kid()), nullptr);
  EXPECT_EQ(fetcher_.calls, 2);
  // Further unknown kids within the interval are answered from the cache, so forged kids cannot hammer Microsoft.
  fetcher_.body = jwks_of({a_});
  auto same = keys.refresh_for_unknown_kid(url_);
  ASSERT_TRUE(same);
  EXPECT_NE((*same)->find(b_->kid()), nullptr);
  EXPECT_EQ(fetcher_.calls, 2);
  clock_.advance(std::chrono::minutes(6));
  EXPECT_TRUE(keys.refresh_for_unknown_kid(url_));
  EXPECT_EQ(fetcher_.calls, 3);
}

TEST_F(MicrosoftKeysTest, UnreachableWithoutACopyIsUnavailable) {
  fetcher_.up = false;
  MicrosoftKeys keys(fetcher_, clock_);
  auto r = keys.get(url_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
}

TEST_F(MicrosoftKeysTest, ServesAStaleCopyForABoundedTime) {
  fetcher_.body = jwks_of({a_});
  MicrosoftKeys keys(fetcher_, clock_);
  ASSERT_TRUE(keys.get(url_));
  fetcher_.up = false;
  clock_.advance(std::chrono::hours(25));
  EXPECT_TRUE(keys.get(url_));  // stale but within max_stale
  clock_.advance(std::chrono::hours(48));
  auto r = keys.get(url_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
}

TEST_F(MicrosoftKeysTest, RefusesABodyThatIsNotAKeySet) {
  fetcher_.body = "<html>captive portal</html>";
  MicrosoftKeys keys(fetcher_, clock_);
  auto r = keys.get(url_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  fetcher_.body = R"({"keys":[]})";
  clock_.advance(std::chrono::minutes(6));
  EXPECT_FALSE(keys.get(url_));
}

TEST(CurlKeyFetcher, RefusesPlainHttpExceptLoopbackWhenAllowed) {
  CurlKeyFetcher strict(FetchOptions{});
  auto r = strict.fetch("http://login.microsoftonline.com/common/discovery/v2.0/keys");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(strict.fetch("http://127.0.0.1:1/keys"));
  FetchOptions o;
  o.allow_loopback_http = true;
  o.connect_timeout = std::chrono::milliseconds(500);
  CurlKeyFetcher loose(o);
  // Port 1 on loopback: nothing listens, so the refusal is a network one, not a policy one.
  auto down = loose.fetch("http://127.0.0.1:1/keys");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(loose.fetch("http://10.0.0.1/keys").error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace avow::entra
