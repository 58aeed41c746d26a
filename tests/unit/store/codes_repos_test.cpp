// Schema v2 (fallback codes) on every backend: sealed secrets per binding with a forward-only accepted
// step, the per-user code lockout apart from failed_attempts, and the per-challenge attempt budget.
#include <gtest/gtest.h>

#include "backends.h"

namespace avow::store {
namespace {

using testing::Backend;
using testing::kT0;
using testing::make_challenge;
using testing::make_device;
using testing::ScratchDatabase;
using testing::Seed;

class CodesRepoTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    scratch_ = ScratchDatabase::create(GetParam());
    AVOW_SKIP_IF_NO_BACKEND(scratch_);
    db_ = scratch_->open();
    ASSERT_TRUE(db_);
    ASSERT_TRUE(db_->migrate());
    auto c = db_->connection();
    ASSERT_TRUE(c);
    conn_.emplace(std::move(*c));
    s_ = testing::seed(db());
    binding_.id = new_id();
    binding_.user_id = s_.user.id;
    binding_.device_id = s_.device.id;
    binding_.created_at = kT0;
    ASSERT_TRUE(BindingRepo(db()).create(binding_));
  }
  void TearDown() override {
    conn_.reset();
    if (db_) db_->close();
  }
  Db& db() { return **conn_; }

  std::unique_ptr<ScratchDatabase> scratch_;
  std::shared_ptr<Database> db_;
  std::optional<Connection> conn_;
  Seed s_;
  BindingRecord binding_;
};

INSTANTIATE_TEST_SUITE_P(All, CodesRepoTest, testing::kAllBackends, testing::backend_name);

TEST_P(CodesRepoTest, MigratesToVersionTwo) {
  EXPECT_GE(schema_version(db()).value(), 2);
  auto row = db().query_one("SELECT name FROM schema_migrations WHERE version = 2");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->text(0).value(), "fallback codes");
  // Existing rows get the new columns' defaults.
  EXPECT_EQ(UserRepo(db()).code_lock(s_.user.id).value().failures, 0);
  EXPECT_FALSE(UserRepo(db()).code_lock(s_.user.id).value().locked());
}

TEST_P(CodesRepoTest, SecretsAreBytesWithAForwardOnlyStep) {
  CodeSecretRepo secrets(db());
  EXPECT_FALSE(secrets.find(binding_.id).value());
  std::string sealed("\x01\x00\xff sealed \x80", 12);
  ASSERT_TRUE(secrets.create({binding_.id, sealed, std::nullopt, kT0}));
  EXPECT_EQ(secrets.create({binding_.id, sealed, std::nullopt, kT0}).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(secrets.create({"no-such-binding", sealed, std::nullopt, kT0}).error().code, ErrorCode::kInvalidArgument);
  auto got = secrets.find(binding_.id).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->secret_sealed, sealed) << "bytes round-trip exactly";
  EXPECT_FALSE(got->last_step);
  EXPECT_EQ(got->created_at, kT0);

  EXPECT_TRUE(secrets.advance_step(binding_.id, 100).value());
  EXPECT_FALSE(secrets.advance_step(binding_.id, 100).value()) << "the same step twice";
  EXPECT_FALSE(secrets.advance_step(binding_.id, 99).value()) << "an older step";
  EXPECT_TRUE(secrets.advance_step(binding_.id, 102).value());
  EXPECT_EQ(*secrets.find(binding_.id).value()->last_step, 102);
  EXPECT_FALSE(secrets.advance_step("no-such-binding", 1).value());
}

TEST_P(CodesRepoTest, TheCodeLockoutIsApartFromFailedAttempts) {
  UserRepo users(db());
  EXPECT_EQ(users.record_code_failure(s_.user.id).value(), 1);
  EXPECT_EQ(users.record_code_failure(s_.user.id).value(), 2);
  EXPECT_EQ(users.get(s_.user.id).value().failed_attempts, 0);
  EXPECT_EQ(users.record_failure(s_.user.id).value(), 1);
  EXPECT_EQ(users.code_lock(s_.user.id).value().failures, 2);

  EXPECT_TRUE(users.lock_codes(s_.user.id, kT0 + 5).value());
  EXPECT_FALSE(users.lock_codes(s_.user.id, kT0 + 6).value()) << "already locked";
  EXPECT_EQ(*users.code_lock(s_.user.id).value().locked_at, kT0 + 5);
  EXPECT_EQ(users.get(s_.user.id).value().status, UserStatus::kActive) << "the user is not locked";

  EXPECT_TRUE(users.reset_codes(s_.user.id).value());
  EXPECT_FALSE(users.code_lock(s_.user.id).value().locked());
  EXPECT_EQ(users.code_lock(s_.user.id).value().failures, 0);
  EXPECT_FALSE(users.reset_codes(s_.user.id).value()) << "nothing left to clear";
  EXPECT_EQ(users.get(s_.user.id).value().failed_attempts, 1) << "push failures untouched";

  EXPECT_EQ(users.record_code_failure(s_.user.id).value(), 1);
  ASSERT_TRUE(users.record_code_sign_in(s_.user.id, kT0 + 9));
  EXPECT_EQ(users.code_lock(s_.user.id).value().failures, 0);
  EXPECT_EQ(*users.get(s_.user.id).value().last_sign_in_at, kT0 + 9);
  EXPECT_EQ(users.get(s_.user.id).value().failed_attempts, 1);

  for (auto code : {users.code_lock("missing").error().code, users.record_code_failure("missing").error().code,
                    users.lock_codes("missing", kT0).error().code, users.reset_codes("missing").error().code,
                    users.record_code_sign_in("missing", kT0).error().code})
    EXPECT_EQ(code, ErrorCode::kNotFound);
}

TEST_P(CodesRepoTest, ChallengesCountAttemptsAndRecordACodeApproval) {
  ChallengeRepo challenges(db());
  ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  ASSERT_TRUE(challenges.create(c));
  EXPECT_EQ(challenges.get(c.id).value().code_attempts, 0);
  EXPECT_FALSE(challenges.get(c.id).value().approved_by_code);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(challenges.count_code_attempt(c.id, 3).value()) << i;
  EXPECT_FALSE(challenges.count_code_attempt(c.id, 3).value()) << "the budget is spent";
  EXPECT_EQ(challenges.get(c.id).value().code_attempts, 3);

  EXPECT_FALSE(challenges.approve_by_code(c.id, s_.device.id, c.expires_at).value()) << "too late";
  EXPECT_TRUE(challenges.approve_by_code(c.id, s_.device.id, c.created_at + 1).value());
  ChallengeRecord got = challenges.get(c.id).value();
  EXPECT_EQ(got.state, ChallengeState::kApproved);
  EXPECT_TRUE(got.approved_by_code);
  EXPECT_EQ(got.decided_by_device, s_.device.id);
  EXPECT_FALSE(challenges.approve_by_code(c.id, s_.device.id, c.created_at + 2).value()) << "decided once";

  // A device's push approval is not a code's.
  ChallengeRecord pushed = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  ASSERT_TRUE(challenges.create(pushed));
  ASSERT_TRUE(challenges.decide(pushed.id, ChallengeState::kApproved, s_.device.id, pushed.created_at + 1).value());
  EXPECT_FALSE(challenges.get(pushed.id).value().approved_by_code);
}

TEST_P(CodesRepoTest, ActiveBindingsOfAUserSkipRevokedOnesAndRevokedDevices) {
  BindingRepo bindings(db());
  DeviceRecord second = make_device();
  ASSERT_TRUE(DeviceRepo(db()).create(second));
  BindingRecord b2{new_id(), s_.user.id, second.id, BindingStatus::kActive, kT0 + 1, std::nullopt};
  ASSERT_TRUE(bindings.create(b2));
  EXPECT_EQ(bindings.list_active_for_user(s_.user.id).value().size(), 2u);
  ASSERT_TRUE(DeviceRepo(db()).revoke(second.id, kT0 + 2).value());
  auto list = bindings.list_active_for_user(s_.user.id).value();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, binding_.id);
  ASSERT_TRUE(bindings.revoke(binding_.id, kT0 + 3).value());
  EXPECT_TRUE(bindings.list_active_for_user(s_.user.id).value().empty());
}

}  // namespace
}  // namespace avow::store
