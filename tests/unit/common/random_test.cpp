#include "common/random.h"

#include <gtest/gtest.h>

#include <set>

namespace avow {
namespace {

TEST(Random, BytesHaveRequestedLengthAndDiffer) {
  EXPECT_EQ(random_bytes(0).size(), 0u);
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(16), random_bytes(16));
}

TEST(Random, TokenIsBase64UrlOfRequestedEntropy) {
  const std::string t = random_token(32);
  EXPECT_EQ(t.size(), 43u);
  EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
}

TEST(Random, BelowStaysInRangeAndCoversIt) {
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto v = random_below(10);
    ASSERT_LT(v, 10u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 10u);
}

TEST(Ids, NewIdIsAVersion4Guid) {
  const std::string id = new_id();
  EXPECT_TRUE(is_guid(id));
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_NE(new_id(), id);
}

TEST(Ids, GuidValidation) {
  EXPECT_TRUE(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
  EXPECT_TRUE(is_guid("72F988BF-86F1-41AF-91AB-2D7CD011DB47"));
  EXPECT_FALSE(is_guid("72f988bf86f141af91ab2d7cd011db47"));
  EXPECT_FALSE(is_guid("{72f988bf-86f1-41af-91ab-2d7cd011db47}"));
  EXPECT_FALSE(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db4g"));
  EXPECT_FALSE(is_guid("72f988bf-86f1-41af-91ab_2d7cd011db47"));
  EXPECT_FALSE(is_guid(""));
  EXPECT_EQ(normalize_guid("72F988BF-86F1-41AF-91AB-2D7CD011DB47"), "72f988bf-86f1-41af-91ab-2d7cd011db47");
}

TEST(ConstantTime, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("123456", "123456"));
  EXPECT_FALSE(constant_time_equal("123456", "123457"));
  EXPECT_FALSE(constant_time_equal("123456", "12345"));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

}  // namespace
}  // namespace avow
