// The pure rules: state machines, expiry, number matching, lockout and session policies.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "domain/devices.h"
#include "domain/hashing.h"
#include "domain/policy.h"
#include "domain/sessions.h"
#include "domain/states.h"

namespace avow::domain {
namespace {

using store::ChallengeState;

TEST(StatesTest, ChallengeMachine) {
  const ChallengeState all[] = {ChallengeState::kPending, ChallengeState::kApproved, ChallengeState::kDenied,
                                ChallengeState::kExpired, ChallengeState::kCancelled};
  for (ChallengeState from : all) {
    for (ChallengeState to : all) {
      const bool expected = from == ChallengeState::kPending && to != ChallengeState::kPending;
      EXPECT_EQ(can_transition(from, to), expected) << store::to_string(from) << " -> " << store::to_string(to);
      EXPECT_EQ(check_transition(from, to, "challenge").has_value(), expected);
    }
    EXPECT_EQ(is_final(from), from != ChallengeState::kPending);
  }
  auto refused = check_transition(ChallengeState::kApproved, ChallengeState::kDenied, "challenge");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message, "challenge is approved, cannot become denied");
}

TEST(StatesTest, ScanCodeMachine) {
  using store::ScanCodeState;
  EXPECT_TRUE(can_transition(ScanCodeState::kActive, ScanCodeState::kConsumed));
  EXPECT_TRUE(can_transition(ScanCodeState::kActive, ScanCodeState::kExpired));
  EXPECT_FALSE(can_transition(ScanCodeState::kActive, ScanCodeState::kActive));
  for (ScanCodeState from : {ScanCodeState::kConsumed, ScanCodeState::kExpired}) {
    for (ScanCodeState to : {ScanCodeState::kActive, ScanCodeState::kConsumed, ScanCodeState::kExpired}) {
      EXPECT_FALSE(can_transition(from, to));
    }
  }
}

TEST(StatesTest, DeviceBindingUserIntegrationMachines) {
  using store::BindingStatus;
  using store::DeviceStatus;
  using store::IntegrationStatus;
  using store::UserStatus;
  EXPECT_TRUE(can_transition(DeviceStatus::kActive, DeviceStatus::kRevoked));
  EXPECT_FALSE(can_transition(DeviceStatus::kRevoked, DeviceStatus::kActive));
  EXPECT_FALSE(can_transition(DeviceStatus::kRevoked, DeviceStatus::kRevoked));
  EXPECT_FALSE(can_transition(DeviceStatus::kActive, DeviceStatus::kActive));
  EXPECT_TRUE(can_transition(BindingStatus::kActive, BindingStatus::kRevoked));
  EXPECT_FALSE(can_transition(BindingStatus::kRevoked, BindingStatus::kActive));
  EXPECT_FALSE(can_transition(BindingStatus::kRevoked, BindingStatus::kRevoked));
  EXPECT_TRUE(can_transition(UserStatus::kActive, UserStatus::kLocked));
  EXPECT_TRUE(can_transition(UserStatus::kLocked, UserStatus::kActive));
  EXPECT_FALSE(can_transition(UserStatus::kLocked, UserStatus::kLocked));
  EXPECT_FALSE(can_transition(UserStatus::kActive, UserStatus::kActive));
  EXPECT_TRUE(can_transition(IntegrationStatus::kEnabled, IntegrationStatus::kDisabled));
  EXPECT_TRUE(can_transition(IntegrationStatus::kDisabled, IntegrationStatus::kEnabled));
  EXPECT_FALSE(can_transition(IntegrationStatus::kEnabled, IntegrationStatus::kEnabled));
  EXPECT_EQ(check_transition(DeviceStatus::kRevoked, DeviceStatus::kRevoked, "device").error().message,
            "device is revoked, cannot become revoked");
}

TEST(StatesTest, EffectiveStateAppliesExpiry) {
  store::ChallengeRecord c;
  c.state = ChallengeState::kPending;
  c.expires_at = 1000;
  EXPECT_EQ(effective_state(c, 999), ChallengeState::kPending);
  EXPECT_EQ(effective_state(c, 1000), ChallengeState::kExpired);
  c.state = ChallengeState::kApproved;
  EXPECT_EQ(effective_state(c, 5000), ChallengeState::kApproved);  // a decision outlives the expiry

  store::ScanCodeRecord s;
  s.state = store::ScanCodeState::kActive;
  s.expires_at = 1000;
  EXPECT_EQ(effective_state(s, 999), store::ScanCodeState::kActive);
  EXPECT_EQ(effective_state(s, 1000), store::ScanCodeState::kExpired);
  s.state = store::ScanCodeState::kConsumed;
  EXPECT_EQ(effective_state(s, 5000), store::ScanCodeState::kConsumed);
}

TEST(NumberMatchTest, TwoDigitsThreeDistinctChoices) {
  std::set<int> numbers_seen;
  std::map<std::size_t, int> position_of_number;
  for (int i = 0; i < 2000; ++i) {
    auto m = make_number_match();
    ASSERT_TRUE(m);
    ASSERT_EQ(m->choices.size(), 3u);
    ASSERT_TRUE(is_well_formed(*m, 2));
    EXPECT_GE(m->number, 10);
    EXPECT_LE(m->number, 99);
    numbers_seen.insert(m->number);
    for (std::size_t p = 0; p < 3; ++p) {
      if (m->choices[p] == m->number) ++position_of_number[p];
    }
  }
  // Not a statistics test: just that the draw is not stuck (90 values, 2000 draws) and the number is
  // not always in the same place (each position is expected ~667 times).
  EXPECT_GT(numbers_seen.size(), 80u);
  for (std::size_t p = 0; p < 3; ++p) EXPECT_GT(position_of_number[p], 400) << "position " << p;
}

TEST(NumberMatchTest, OtherWidthsAndBounds) {
  auto m = make_number_match(3, 5);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->choices.size(), 5u);
  EXPECT_TRUE(is_well_formed(*m, 3));
  EXPECT_FALSE(is_well_formed(*m, 2));
  EXPECT_GE(m->number, 100);
  EXPECT_LE(m->number, 999);
  EXPECT_EQ(make_number_match(1, 3).error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(make_number_match(7, 3));
  EXPECT_FALSE(make_number_match(2, 1));
  EXPECT_FALSE(make_number_match(2, 10));
  EXPECT_TRUE(make_number_match(6, 9));
}

TEST(NumberMatchTest, WellFormedRejectsBadShapes) {
  EXPECT_FALSE(is_well_formed({42, {42, 42, 17}}, 2));   // duplicate
  EXPECT_FALSE(is_well_formed({42, {17, 18, 19}}, 2));   // number missing
  EXPECT_FALSE(is_well_formed({42, {42, 17, 100}}, 2));  // wrong width
  EXPECT_FALSE(is_well_formed({42, {42, 17, 9}}, 2));
  EXPECT_TRUE(is_well_formed({42, {17, 42, 93}}, 2));
}

TEST(PolicyTest, ExpiryAndLifetimes) {
  EXPECT_EQ(expires_after(1000, std::chrono::seconds(120)), 1120);
  ChallengePolicy c;
  EXPECT_LT(c.ttl, std::chrono::seconds(300));  // well inside Entra's five minutes
  ScanCodePolicy s;
  EXPECT_EQ(s.ttl_for(store::ScanCodePurpose::kBindUser), s.bind_user_ttl);
  EXPECT_EQ(s.ttl_for(store::ScanCodePurpose::kAdminSignin), s.admin_signin_ttl);
  EXPECT_EQ(s.ttl_for(store::ScanCodePurpose::kAdminSignup), s.admin_signup_ttl);
  EXPECT_EQ(s.ttl_for(store::ScanCodePurpose::kAdminInvite), s.admin_invite_ttl);
  EXPECT_LT(s.bind_user_ttl, std::chrono::seconds(300));
}

TEST(PolicyTest, Lockout) {
  LockoutPolicy p;
  p.max_failures = 3;
  EXPECT_FALSE(p.should_lock(0));
  EXPECT_FALSE(p.should_lock(2));
  EXPECT_TRUE(p.should_lock(3));
  EXPECT_TRUE(p.should_lock(4));
  p.max_failures = 0;  // disabled
  EXPECT_FALSE(p.should_lock(1000));
}

TEST(PolicyTest, SessionIdleExpiryIsCappedByAbsolute) {
  SessionPolicy p;
  p.idle = std::chrono::seconds(100);
  p.absolute = std::chrono::seconds(1000);
  EXPECT_EQ(p.idle_expiry(0, 1000), 100);
  EXPECT_EQ(p.idle_expiry(950, 1000), 1000);
  store::SessionRecord s;
  s.idle_expires_at = 100;
  s.absolute_expires_at = 1000;
  EXPECT_EQ(session_status(s, 99), SessionStatus::kActive);
  EXPECT_EQ(session_status(s, 100), SessionStatus::kIdleExpired);
  EXPECT_EQ(session_status(s, 1000), SessionStatus::kAbsoluteExpired);
  s.revoked_at = 50;
  EXPECT_EQ(session_status(s, 60), SessionStatus::kRevoked);
}

TEST(BindingRuleTest, TrustOnFirstUse) {
  EXPECT_EQ(decide_binding(0, false), BindingDecision::kFirstDevice);
  EXPECT_EQ(decide_binding(0, true), BindingDecision::kFirstDevice);
  EXPECT_EQ(decide_binding(1, false), BindingDecision::kRefused);
  EXPECT_EQ(decide_binding(1, true), BindingDecision::kAdminAllowed);
  EXPECT_EQ(decide_binding(3, true), BindingDecision::kAdminAllowed);
}

TEST(HashingTest, Sha256Hex) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace avow::domain
