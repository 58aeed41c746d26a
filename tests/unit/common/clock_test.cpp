#include "common/clock.h"

#include <gtest/gtest.h>

#include "common/result.h"

namespace avow {
namespace {

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock(Clock::from_unix(1'000));
  EXPECT_EQ(clock.unix_now(), 1'000);
  clock.advance(std::chrono::minutes(2));
  EXPECT_EQ(clock.unix_now(), 1'120);
  clock.set(Clock::from_unix(5));
  EXPECT_EQ(clock.unix_now(), 5);
}

TEST(SystemClock, IsNearTheWallClock) {
  const auto a = SystemClock::instance().unix_now();
  EXPECT_GT(a, 1'700'000'000);
}

Status needs_positive(int v) {
  if (v <= 0) return fail(ErrorCode::kInvalidArgument, "must be positive");
  return ok();
}

Status chain(int v) {
  AVOW_TRY(needs_positive(v));
  return ok();
}

TEST(Result, TryPropagatesTheError) {
  EXPECT_TRUE(chain(1));
  auto r = chain(-1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "must be positive");
  EXPECT_EQ(to_string(ErrorCode::kExpired), "expired");
}

}  // namespace
}  // namespace avow
