// ChallengeService: opening (one pending per user), answering, expiry, cancelling, completing once.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "domain/challenges.h"
#include "domain/states.h"
#include "fixture.h"

namespace avow::domain {
namespace {

using std::chrono::seconds;
using store::ChallengeState;

class ChallengesTest : public testing::DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    bind(user_, device_);
  }

  ChallengeService service(LockoutPolicy lockout = {}) { return ChallengeService(db(), clock_, policy_, lockout); }

  NewChallenge request(const store::UserRecord& u) {
    NewChallenge r;
    r.kind = store::ChallengeKind::kEam;
    r.org_id = org_.id;
    r.user_id = u.id;
    r.integration_id = integration_.id;
    r.context.ip = "203.0.113.9";
    r.context.user_agent = "Mozilla/5.0";
    r.context.integration_name = integration_.name;
    r.context.user_label = u.upn;
    r.nonce = "nonce-1";
    r.state_param = "state-1";
    r.redirect_uri = "https://login.microsoftonline.com/common/federation/externalauthprovider";
    r.client_id = integration_.client_id;
    r.hint_sub = "pairwise-sub";
    return r;
  }

  store::ChallengeRecord open_for(const store::UserRecord& u) {
    auto c = service().open(request(u));
    EXPECT_TRUE(c) << c.error().message;
    return c->challenge;
  }

  int wrong_number(const store::ChallengeRecord& c) {
    for (int n : c.choices)
      if (n != c.number) return n;
    return c.number == 10 ? 11 : 10;
  }

  ChallengePolicy policy_;
};

TEST_F(ChallengesTest, OpenCreatesAPendingChallengeWithANumberToMatch) {
  auto opened = service().open(request(user_));
  ASSERT_TRUE(opened) << opened.error().message;
  const store::ChallengeRecord& c = opened->challenge;
  EXPECT_EQ(opened->replaced_id, std::nullopt);
  EXPECT_EQ(c.state, ChallengeState::kPending);
  EXPECT_TRUE(is_well_formed({c.number, c.choices}, 2));
  EXPECT_EQ(c.created_at, now());
  EXPECT_EQ(c.expires_at, now() + policy_.ttl.count());
  EXPECT_EQ(c.nonce, "nonce-1");
  EXPECT_EQ(c.hint_sub, "pairwise-sub");
  auto ctx = nlohmann::json::parse(c.context);
  EXPECT_EQ(ctx["ip"], "203.0.113.9");
  EXPECT_EQ(ctx["integration"], integration_.name);
  // Stored as returned.
  auto stored = store::ChallengeRepo(db()).get(c.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->number, c.number);
  EXPECT_EQ(stored->choices, c.choices);
}

TEST_F(ChallengesTest, ANewChallengeCancelsThePendingOne) {
  auto first = open_for(user_);
  advance(seconds(5));
  auto second = service().open(request(user_));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->replaced_id, std::optional<std::string>(first.id));
  EXPECT_EQ(service().get(first.id)->state, ChallengeState::kCancelled);
  EXPECT_EQ(service().get(second->challenge.id)->state, ChallengeState::kPending);
  // The cancelled one can no longer be answered.
  auto late = service().answer(first.id, device_.id, {Action::kApprove, first.number});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kConflict);
  // Other users are unaffected.
  auto other = new_user();
  auto theirs = open_for(other);
  EXPECT_EQ(service().get(second->challenge.id)->state, ChallengeState::kPending);
  EXPECT_EQ(theirs.state, ChallengeState::kPending);
}

TEST_F(ChallengesTest, AStalePendingChallengeIsRecordedExpiredWhenReplaced) {
  auto first = open_for(user_);
  advance(policy_.ttl);
  auto second = service().open(request(user_));
  ASSERT_TRUE(second);
  EXPECT_EQ(store::ChallengeRepo(db()).get(first.id)->state, ChallengeState::kExpired);
}

TEST_F(ChallengesTest, OpenRefusals) {
  NewChallenge r = request(user_);
  r.user_id = "no-such-user";
  EXPECT_EQ(service().open(r).error().code, ErrorCode::kNotFound);

  r = request(user_);
  r.integration_id.clear();
  EXPECT_EQ(service().open(r).error().code, ErrorCode::kInvalidArgument);
  r = request(user_);
  r.admin_id = owner_.id;
  EXPECT_EQ(service().open(r).error().code, ErrorCode::kInvalidArgument);
  r = request(user_);
  r.nonce.assign(kMaxNonceBytes + 1, 'n');
  EXPECT_EQ(service().open(r).error().message, "nonce is too long");
  r = request(user_);
  r.redirect_uri.assign(kMaxRedirectUriBytes + 1, 'r');
  EXPECT_EQ(service().open(r).error().code, ErrorCode::kInvalidArgument);

  // Objects of another org.
  auto other = AdminService(db(), clock_).create_org("Fabrikam", {"Bob", "bob@fabrikam.example", {}});
  ASSERT_TRUE(other);
  r = request(user_);
  r.org_id = other->org.id;
  EXPECT_EQ(service().open(r).error().code, ErrorCode::kPermissionDenied);

  ASSERT_TRUE(IntegrationService(db(), clock_).disable(integration_.id));
  auto disabled = service().open(request(user_));
  ASSERT_FALSE(disabled);
  EXPECT_EQ(disabled.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(disabled.error().message, "integration is disabled");
  ASSERT_TRUE(IntegrationService(db(), clock_).enable(integration_.id));

  ASSERT_TRUE(UserService(db(), clock_).lock(user_.id));
  auto locked = service().open(request(user_));
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().message, "user is locked");

  policy_.number_digits = 1;
  EXPECT_EQ(service().open(request(new_user())).error().code, ErrorCode::kInvalidArgument);
  // Nothing was left pending by the refusals.
  EXPECT_FALSE(store::ChallengeRepo(db()).find_pending_for_user(user_.id).value());
}

TEST_F(ChallengesTest, ApproveWithTheRightNumber) {
  auto c = open_for(user_);
  ASSERT_TRUE(store::UserRepo(db()).record_failure(user_.id));
  advance(seconds(10));
  auto d = service().answer(c.id, device_.id, {Action::kApprove, c.number});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->challenge.state, ChallengeState::kApproved);
  EXPECT_FALSE(d->wrong_number);
  EXPECT_FALSE(d->user_locked);
  EXPECT_EQ(d->challenge.decided_by_device, std::optional<std::string>(device_.id));
  EXPECT_EQ(d->challenge.decided_at, std::optional<store::UnixTime>(now()));
  auto u = UserService(db(), clock_).get(user_.id);
  EXPECT_EQ(u->failed_attempts, 0);
  EXPECT_EQ(u->last_sign_in_at, std::optional<store::UnixTime>(now()));
}

TEST_F(ChallengesTest, Deny) {
  auto c = open_for(user_);
  auto d = service().answer(c.id, device_.id, {Action::kDeny, 0});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->challenge.state, ChallengeState::kDenied);
  EXPECT_FALSE(d->wrong_number);
  EXPECT_EQ(UserService(db(), clock_).get(user_.id)->failed_attempts, 0);  // a denial is not a failure
}

TEST_F(ChallengesTest, WrongNumberDeniesAndCountsTowardsLockout) {
  LockoutPolicy lockout;
  lockout.max_failures = 2;
  auto c1 = open_for(user_);
  auto d1 = service(lockout).answer(c1.id, device_.id, {Action::kApprove, wrong_number(c1)});
  ASSERT_TRUE(d1) << d1.error().message;
  EXPECT_EQ(d1->challenge.state, ChallengeState::kDenied);
  EXPECT_TRUE(d1->wrong_number);
  EXPECT_FALSE(d1->user_locked);
  EXPECT_EQ(UserService(db(), clock_).get(user_.id)->failed_attempts, 1);

  auto c2 = open_for(user_);
  auto d2 = service(lockout).answer(c2.id, device_.id, {Action::kApprove, 7});  // not even a choice
  ASSERT_TRUE(d2);
  EXPECT_TRUE(d2->wrong_number);
  EXPECT_TRUE(d2->user_locked);
  auto u = UserService(db(), clock_).get(user_.id);
  EXPECT_EQ(u->status, store::UserStatus::kLocked);
  EXPECT_EQ(u->locked_at, std::optional<store::UnixTime>(now()));
  EXPECT_EQ(service().open(request(user_)).error().code, ErrorCode::kPermissionDenied);

  ASSERT_TRUE(UserService(db(), clock_).unlock(user_.id));
  EXPECT_EQ(UserService(db(), clock_).get(user_.id)->failed_attempts, 0);
  EXPECT_TRUE(service().open(request(user_)));
}

TEST_F(ChallengesTest, OnlyABoundActiveDeviceMayAnswer) {
  auto c = open_for(user_);
  auto stranger = new_device();  // enrolled, not bound
  auto r = service().answer(c.id, stranger.id, {Action::kApprove, c.number});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(service().answer(c.id, "no-such-device", {Action::kDeny, 0}).error().code, ErrorCode::kPermissionDenied);

  // Bound to a user of another org only: that binding says nothing about this user.
  auto other = AdminService(db(), clock_).create_org("Fabrikam", {"Bob", "bob@fabrikam.example", {}});
  ASSERT_TRUE(other);
  auto foreign = new_device();
  auto fabrikam_user = UserService(db(), clock_)
                           .find_or_create(other->org.id, testing::kDirectory, {testing::kDirectory, new_id(), "", ""});
  ASSERT_TRUE(fabrikam_user);
  bind(*fabrikam_user, foreign);
  EXPECT_EQ(service().answer(c.id, foreign.id, {Action::kApprove, c.number}).error().code,
            ErrorCode::kPermissionDenied);
  // The admin's device answers admin sign-ins, not users' challenges.
  ASSERT_TRUE(AdminService(db(), clock_).set_device(owner_.id, stranger.id));
  EXPECT_EQ(service().answer(c.id, stranger.id, {Action::kApprove, c.number}).error().code,
            ErrorCode::kPermissionDenied);

  // Still pending after all the refusals.
  EXPECT_EQ(service().get(c.id)->state, ChallengeState::kPending);

  ASSERT_TRUE(DeviceService(db(), clock_).revoke(device_.id));
  EXPECT_EQ(service().answer(c.id, device_.id, {Action::kApprove, c.number}).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(service().get(c.id)->state, ChallengeState::kPending);
}

TEST_F(ChallengesTest, AnswerAfterExpiryIsRefusedAndRecorded) {
  auto c = open_for(user_);
  advance(policy_.ttl - seconds(1));
  EXPECT_EQ(service().get(c.id)->state, ChallengeState::kPending);
  advance(seconds(1));
  EXPECT_EQ(service().get(c.id)->state, ChallengeState::kExpired);                   // as of now…
  EXPECT_EQ(store::ChallengeRepo(db()).get(c.id)->state, ChallengeState::kPending);  // …nothing written yet
  auto late = service().answer(c.id, device_.id, {Action::kApprove, c.number});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kExpired);
  EXPECT_EQ(store::ChallengeRepo(db()).get(c.id)->state, ChallengeState::kExpired);
  EXPECT_EQ(service().answer(c.id, device_.id, {Action::kApprove, c.number}).error().code, ErrorCode::kConflict);
}

TEST_F(ChallengesTest, ASecondAnswerIsRefused) {
  auto c = open_for(user_);
  ASSERT_TRUE(service().answer(c.id, device_.id, {Action::kApprove, c.number}));
  auto again = service().answer(c.id, device_.id, {Action::kDeny, 0});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(service().get(c.id)->state, ChallengeState::kApproved);
}

TEST_F(ChallengesTest, Cancel) {
  auto c = open_for(user_);
  auto cancelled = service().cancel(c.id);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->state, ChallengeState::kCancelled);
  EXPECT_EQ(service().cancel(c.id).error().code, ErrorCode::kConflict);
  EXPECT_EQ(service().answer(c.id, device_.id, {Action::kApprove, c.number}).error().code, ErrorCode::kConflict);
  EXPECT_EQ(service().cancel("nope").error().code, ErrorCode::kNotFound);
  auto c2 = open_for(user_);
  advance(policy_.ttl);
  EXPECT_EQ(service().cancel(c2.id).error().code, ErrorCode::kConflict);  // already expired
}

TEST_F(ChallengesTest, CompletesExactlyOnce) {
  auto c = open_for(user_);
  auto early = service().complete(c.id);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(service().answer(c.id, device_.id, {Action::kApprove, c.number}));
  advance(seconds(2));
  auto done = service().complete(c.id);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->state, ChallengeState::kApproved);
  EXPECT_EQ(done->completed_at, std::optional<store::UnixTime>(now()));
  EXPECT_EQ(store::IntegrationRepo(db()).get(integration_.id)->last_success_at, std::optional<store::UnixTime>(now()));
  auto again = service().complete(c.id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(again.error().message, "challenge already completed");
}

TEST_F(ChallengesTest, DeniedAndTimedOutChallengesCompleteToo) {
  auto denied = open_for(user_);
  ASSERT_TRUE(service().answer(denied.id, device_.id, {Action::kDeny, 0}));
  auto d = service().complete(denied.id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, ChallengeState::kDenied);
  EXPECT_EQ(store::IntegrationRepo(db()).get(integration_.id)->last_success_at, std::nullopt);

  auto timed_out = open_for(user_);
  advance(policy_.ttl);
  auto t = service().complete(timed_out.id);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->state, ChallengeState::kExpired);
  EXPECT_TRUE(t->completed_at);
  EXPECT_FALSE(service().complete(timed_out.id));
}

TEST_F(ChallengesTest, ExpireDueSweeps) {
  auto a = open_for(user_);
  auto b = open_for(new_user());
  advance(seconds(30));
  auto c = open_for(new_user());
  advance(policy_.ttl - seconds(30));
  EXPECT_EQ(service().expire_due().value(), 2);
  EXPECT_EQ(store::ChallengeRepo(db()).get(a.id)->state, ChallengeState::kExpired);
  EXPECT_EQ(store::ChallengeRepo(db()).get(b.id)->state, ChallengeState::kExpired);
  EXPECT_EQ(store::ChallengeRepo(db()).get(c.id)->state, ChallengeState::kPending);
}

TEST_F(ChallengesTest, AdminSignIn) {
  NewChallenge r;
  r.kind = store::ChallengeKind::kAdminSignin;
  r.org_id = org_.id;
  r.admin_id = owner_.id;
  auto no_device = service().open(r);
  ASSERT_FALSE(no_device);
  EXPECT_EQ(no_device.error().message, "admin has no device to sign in with");

  auto admin_device = new_device();
  ASSERT_TRUE(AdminService(db(), clock_).set_device(owner_.id, admin_device.id));
  auto opened = service().open(r);
  ASSERT_TRUE(opened) << opened.error().message;
  const auto& c = opened->challenge;
  EXPECT_EQ(c.admin_id, std::optional<std::string>(owner_.id));
  EXPECT_EQ(c.user_id, std::nullopt);
  // The user's device may not answer an admin's challenge.
  EXPECT_EQ(service().answer(c.id, device_.id, {Action::kApprove, c.number}).error().code,
            ErrorCode::kPermissionDenied);
  auto d = service().answer(c.id, admin_device.id, {Action::kApprove, c.number});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->challenge.state, ChallengeState::kApproved);
}

}  // namespace
}  // namespace avow::domain
