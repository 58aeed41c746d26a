// Every repository's reads and writes, on every backend (SQLite file, SQLite :memory:, PostgreSQL).
#include <gtest/gtest.h>

#include <limits>

#include "backends.h"

namespace avow::store {
namespace {

using testing::Backend;
using testing::kT0;
using testing::make_challenge;
using testing::make_device;
using testing::make_integration;
using testing::make_org;
using testing::make_user;
using testing::ScratchDatabase;
using testing::Seed;

class RepoTest : public ::testing::TestWithParam<Backend> {
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
};

INSTANTIATE_TEST_SUITE_P(All, RepoTest, testing::kAllBackends, testing::backend_name);

TEST_P(RepoTest, Orgs) {
  OrgRepo orgs(db());
  auto got = orgs.get(s_.org.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, "Contoso");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(orgs.create(s_.org).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(orgs.get("missing").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(orgs.rename(s_.org.id, "Fabrikam"));
  EXPECT_EQ(orgs.get(s_.org.id)->name, "Fabrikam");
  EXPECT_EQ(orgs.rename("missing", "x").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(orgs.create(make_org("Second")));
  EXPECT_EQ(orgs.list().value().size(), 2u);
  EXPECT_EQ(orgs.list(1).value().size(), 1u);
  EXPECT_EQ(orgs.list(10, 1).value().size(), 1u);
}

TEST_P(RepoTest, Admins) {
  AdminRepo admins(db());
  AdminRecord a{new_id(), s_.org.id, "Grace", "grace@contoso.example", AdminRole::kOwner, std::nullopt, kT0, {}};
  ASSERT_TRUE(admins.create(a));
  AdminRecord dup = a;
  dup.id = new_id();
  EXPECT_EQ(admins.create(dup).error().code, ErrorCode::kAlreadyExists);  // same email in the org
  AdminRecord orphan = a;
  orphan.id = new_id();
  orphan.org_id = "no-such-org";
  orphan.email = "x@y";
  EXPECT_EQ(admins.create(orphan).error().code, ErrorCode::kInvalidArgument);

  auto got = admins.get(a.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->role, AdminRole::kOwner);
  EXPECT_EQ(got->device_id, std::nullopt);
  EXPECT_EQ(admins.find_by_email(s_.org.id, "grace@contoso.example").value()->id, a.id);
  EXPECT_FALSE(admins.find_by_email(s_.org.id, "nobody@contoso.example").value());
  EXPECT_EQ(admins.count_active_owners(s_.org.id).value(), 1);

  ASSERT_TRUE(admins.set_device(a.id, s_.device.id));
  EXPECT_EQ(admins.find_by_device(s_.device.id).value()->id, a.id);
  EXPECT_EQ(admins.set_device(a.id, std::string("no-such-device")).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(admins.set_device(a.id, std::nullopt));
  EXPECT_FALSE(admins.find_by_device(s_.device.id).value());

  EXPECT_TRUE(admins.disable(a.id, kT0 + 5).value());
  EXPECT_FALSE(admins.disable(a.id, kT0 + 6).value());
  EXPECT_EQ(admins.get(a.id)->disabled_at, std::optional<UnixTime>(kT0 + 5));
  EXPECT_EQ(admins.count_active_owners(s_.org.id).value(), 0);
  EXPECT_TRUE(admins.enable(a.id).value());
  EXPECT_FALSE(admins.enable(a.id).value());
  ASSERT_TRUE(admins.set_role(a.id, AdminRole::kAdmin));
  EXPECT_EQ(admins.count_active_owners(s_.org.id).value(), 0);
  EXPECT_EQ(admins.list_by_org(s_.org.id).value().size(), 1u);
}

TEST_P(RepoTest, Integrations) {
  IntegrationRepo integrations(db());
  auto got = integrations.get(s_.integration.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->directory_id, s_.integration.directory_id);
  EXPECT_EQ(got->app_id, s_.integration.app_id);
  EXPECT_EQ(got->cloud, Cloud::kGlobal);
  EXPECT_EQ(got->guest_policy, GuestPolicy::kAny);
  EXPECT_TRUE(got->guest_tenants.empty());
  EXPECT_EQ(got->status, IntegrationStatus::kEnabled);

  IntegrationRecord same_client = make_integration(s_.org.id);
  same_client.client_id = s_.integration.client_id;
  EXPECT_EQ(integrations.create(same_client).error().code, ErrorCode::kAlreadyExists);

  IntegrationRecord edited = *got;
  edited.name = "Renamed";
  edited.app_id = std::nullopt;
  edited.cloud = Cloud::kUsGov;
  edited.guest_policy = GuestPolicy::kList;
  edited.guest_tenants = {"44444444-4444-4444-8444-444444444444", "55555555-5555-4555-8555-555555555555"};
  edited.client_id = "ignored";
  ASSERT_TRUE(integrations.update_settings(edited));
  auto after = integrations.get(s_.integration.id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->name, "Renamed");
  EXPECT_EQ(after->app_id, std::nullopt);
  EXPECT_EQ(after->cloud, Cloud::kUsGov);
  EXPECT_EQ(after->guest_tenants, edited.guest_tenants);
  EXPECT_EQ(after->client_id, s_.integration.client_id);  // not editable
  edited.id = "missing";
  EXPECT_EQ(integrations.update_settings(edited).error().code, ErrorCode::kNotFound);

  EXPECT_EQ(integrations.find_by_client_id(s_.integration.client_id).value()->id, s_.integration.id);
  EXPECT_FALSE(integrations.find_by_client_id("nope").value());
  EXPECT_TRUE(
      integrations.set_status(s_.integration.id, IntegrationStatus::kEnabled, IntegrationStatus::kDisabled).value());
  EXPECT_FALSE(
      integrations.set_status(s_.integration.id, IntegrationStatus::kEnabled, IntegrationStatus::kDisabled).value());
  EXPECT_EQ(integrations.get(s_.integration.id)->status, IntegrationStatus::kDisabled);
  ASSERT_TRUE(integrations.mark_success(s_.integration.id, kT0 + 9));
  EXPECT_EQ(integrations.get(s_.integration.id)->last_success_at, std::optional<UnixTime>(kT0 + 9));
  EXPECT_EQ(integrations.list_by_org(s_.org.id).value().size(), 1u);
}

TEST_P(RepoTest, Users) {
  UserRepo users(db());
  auto got = users.get(s_.user.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->object_id, s_.user.object_id);
  EXPECT_EQ(got->status, UserStatus::kActive);
  EXPECT_FALSE(got->is_guest);

  UserRecord twin = make_user(s_.org.id, s_.user.object_id);  // same (org, tid, oid)
  EXPECT_EQ(users.create(twin).error().code, ErrorCode::kAlreadyExists);
  UserRecord other_tenant = twin;
  other_tenant.tenant_id = "99999999-9999-4999-8999-999999999999";
  other_tenant.is_guest = true;
  other_tenant.created_at = kT0 + 1;
  ASSERT_TRUE(users.create(other_tenant));
  EXPECT_TRUE(users.get(other_tenant.id)->is_guest);

  auto found = users.find_by_identity(s_.org.id, s_.user.tenant_id, s_.user.object_id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->id, s_.user.id);
  EXPECT_FALSE(users.find_by_identity(s_.org.id, s_.user.tenant_id, "other").value());

  ASSERT_TRUE(users.update_profile(s_.user.id, "ada@fabrikam.example", "Ada L.", false));
  EXPECT_EQ(users.get(s_.user.id)->display_name, "Ada L.");

  EXPECT_EQ(users.record_failure(s_.user.id).value(), 1);
  EXPECT_EQ(users.record_failure(s_.user.id).value(), 2);
  EXPECT_EQ(users.record_failure("missing").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(users.lock(s_.user.id, kT0 + 1).value());
  EXPECT_FALSE(users.lock(s_.user.id, kT0 + 2).value());
  got = users.get(s_.user.id);
  EXPECT_EQ(got->status, UserStatus::kLocked);
  EXPECT_EQ(got->locked_at, std::optional<UnixTime>(kT0 + 1));
  EXPECT_TRUE(users.unlock(s_.user.id).value());
  EXPECT_FALSE(users.unlock(s_.user.id).value());
  got = users.get(s_.user.id);
  EXPECT_EQ(got->status, UserStatus::kActive);
  EXPECT_EQ(got->locked_at, std::nullopt);
  EXPECT_EQ(got->failed_attempts, 0);

  EXPECT_FALSE(users.consume_allow_new_device(s_.user.id).value());
  ASSERT_TRUE(users.set_allow_new_device(s_.user.id, true));
  EXPECT_TRUE(users.get(s_.user.id)->allow_new_device);
  EXPECT_TRUE(users.consume_allow_new_device(s_.user.id).value());
  EXPECT_FALSE(users.consume_allow_new_device(s_.user.id).value());

  ASSERT_TRUE(users.record_failure(s_.user.id));
  ASSERT_TRUE(users.record_sign_in(s_.user.id, kT0 + 3));
  got = users.get(s_.user.id);
  EXPECT_EQ(got->last_sign_in_at, std::optional<UnixTime>(kT0 + 3));
  EXPECT_EQ(got->failed_attempts, 0);
  EXPECT_EQ(users.list_by_org(s_.org.id).value().size(), 2u);
  EXPECT_EQ(users.list_by_org(s_.org.id, 1, 1).value().front().id, other_tenant.id);
}

TEST_P(RepoTest, DevicesAndBindings) {
  DeviceRepo devices(db());
  BindingRepo bindings(db());
  auto d = devices.get(s_.device.id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->public_jwk, s_.device.public_jwk);
  EXPECT_EQ(d->push_platform, PushPlatform::kNone);
  ASSERT_TRUE(devices.set_push(s_.device.id, PushPlatform::kApns, std::string("tok")));
  ASSERT_TRUE(devices.touch(s_.device.id, kT0 + 4));
  ASSERT_TRUE(devices.rename(s_.device.id, "Work phone"));
  d = devices.get(s_.device.id);
  EXPECT_EQ(d->push_platform, PushPlatform::kApns);
  EXPECT_EQ(d->push_token, std::optional<std::string>("tok"));
  EXPECT_EQ(d->last_seen_at, std::optional<UnixTime>(kT0 + 4));
  EXPECT_EQ(d->name, "Work phone");
  EXPECT_EQ(devices.touch("missing", kT0).error().code, ErrorCode::kNotFound);

  BindingRecord b{new_id(), s_.user.id, s_.device.id, BindingStatus::kActive, kT0, {}};
  ASSERT_TRUE(bindings.create(b));
  BindingRecord again{new_id(), s_.user.id, s_.device.id, BindingStatus::kActive, kT0, {}};
  EXPECT_EQ(bindings.create(again).error().code, ErrorCode::kAlreadyExists);  // one active per pair
  BindingRecord dangling{new_id(), s_.user.id, "no-such-device", BindingStatus::kActive, kT0, {}};
  EXPECT_EQ(bindings.create(dangling).error().code, ErrorCode::kInvalidArgument);

  EXPECT_EQ(bindings.find_active(s_.user.id, s_.device.id).value()->id, b.id);
  EXPECT_EQ(bindings.count_active_for_user(s_.user.id).value(), 1);
  EXPECT_EQ(devices.list_active_for_user(s_.user.id).value().size(), 1u);

  // A revoked device does not count, even while the binding row is still active.
  DeviceRecord second = make_device();
  ASSERT_TRUE(devices.create(second));
  ASSERT_TRUE(bindings.create(BindingRecord{new_id(), s_.user.id, second.id, BindingStatus::kActive, kT0, {}}));
  EXPECT_EQ(bindings.count_active_for_user(s_.user.id).value(), 2);
  EXPECT_TRUE(devices.revoke(second.id, kT0 + 1).value());
  EXPECT_FALSE(devices.revoke(second.id, kT0 + 2).value());
  EXPECT_EQ(devices.get(second.id)->status, DeviceStatus::kRevoked);
  EXPECT_EQ(bindings.count_active_for_user(s_.user.id).value(), 1);
  EXPECT_EQ(devices.list_active_for_user(s_.user.id).value().size(), 1u);
  EXPECT_EQ(bindings.revoke_all_for_device(second.id, kT0 + 2).value(), 1);

  EXPECT_TRUE(bindings.revoke(b.id, kT0 + 3).value());
  EXPECT_FALSE(bindings.revoke(b.id, kT0 + 4).value());
  EXPECT_EQ(bindings.get(b.id)->status, BindingStatus::kRevoked);
  EXPECT_EQ(bindings.get(b.id)->revoked_at, std::optional<UnixTime>(kT0 + 3));
  EXPECT_FALSE(bindings.find_active(s_.user.id, s_.device.id).value());
  // After revocation the pair may bind again.
  ASSERT_TRUE(bindings.create(again));
  EXPECT_EQ(bindings.list_for_user(s_.user.id).value().size(), 3u);
  EXPECT_EQ(bindings.list_for_device(s_.device.id).value().size(), 2u);
  EXPECT_EQ(bindings.revoke_all_for_user(s_.user.id, kT0 + 5).value(), 1);
}

TEST_P(RepoTest, DevicesOfAnOrgFollowTheirBindings) {
  DeviceRepo devices(db());
  BindingRepo bindings(db());
  EXPECT_TRUE(devices.list_for_org(s_.org.id).value().empty());  // enrolled, bound to no one yet

  // One phone, bound to a user here and to a guest account in another org (B2B).
  OrgRecord fabrikam = make_org("Fabrikam");
  ASSERT_TRUE(OrgRepo(db()).create(fabrikam));
  UserRecord guest = make_user(fabrikam.id, s_.user.object_id);
  ASSERT_TRUE(UserRepo(db()).create(guest));
  BindingRecord here{new_id(), s_.user.id, s_.device.id, BindingStatus::kActive, kT0, {}};
  ASSERT_TRUE(bindings.create(here));
  ASSERT_TRUE(bindings.create(BindingRecord{new_id(), guest.id, s_.device.id, BindingStatus::kActive, kT0, {}}));
  // Listed once per org, even with two users of the org bound to it.
  UserRecord colleague = make_user(s_.org.id);
  ASSERT_TRUE(UserRepo(db()).create(colleague));
  ASSERT_TRUE(bindings.create(BindingRecord{new_id(), colleague.id, s_.device.id, BindingStatus::kActive, kT0, {}}));
  DeviceRecord unbound = make_device();
  ASSERT_TRUE(devices.create(unbound));

  auto mine = devices.list_for_org(s_.org.id);
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ(mine->front().id, s_.device.id);
  auto theirs = devices.list_for_org(fabrikam.id);
  ASSERT_EQ(theirs->size(), 1u);
  EXPECT_EQ(theirs->front().id, s_.device.id);

  // Revoking its bindings here takes it off this org's list only.
  EXPECT_TRUE(bindings.revoke(here.id, kT0 + 1).value());
  EXPECT_EQ(devices.list_for_org(s_.org.id).value().size(), 1u);  // the colleague's binding remains
  EXPECT_EQ(bindings.revoke_all_for_user(colleague.id, kT0 + 1).value(), 1);
  EXPECT_TRUE(devices.list_for_org(s_.org.id).value().empty());
  EXPECT_EQ(devices.list_for_org(fabrikam.id).value().size(), 1u);
}

TEST_P(RepoTest, ChallengesRoundTripAndStateChanges) {
  ChallengeRepo challenges(db());
  ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  ASSERT_TRUE(challenges.create(c));
  auto got = challenges.get(c.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->choices, c.choices);
  EXPECT_EQ(got->context, c.context);
  EXPECT_EQ(got->redirect_uri, c.redirect_uri);
  EXPECT_EQ(got->response_params, "{}");  // the default
  EXPECT_EQ(got->flow_secret_hash, "");
  EXPECT_EQ(got->state, ChallengeState::kPending);
  EXPECT_EQ(challenges.find_pending_for_user(s_.user.id).value()->id, c.id);

  EXPECT_EQ(challenges.decide(c.id, ChallengeState::kExpired, s_.device.id, kT0).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(challenges.close_pending(c.id, ChallengeState::kApproved, kT0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(challenges.mark_completed(c.id, kT0).value());  // still pending

  // Past its expiry an answer loses, even before any sweep.
  EXPECT_FALSE(challenges.decide(c.id, ChallengeState::kApproved, s_.device.id, c.expires_at).value());
  EXPECT_TRUE(challenges.decide(c.id, ChallengeState::kApproved, s_.device.id, kT0 + 10).value());
  EXPECT_FALSE(challenges.decide(c.id, ChallengeState::kDenied, s_.device.id, kT0 + 11).value());
  got = challenges.get(c.id);
  EXPECT_EQ(got->state, ChallengeState::kApproved);
  EXPECT_EQ(got->decided_by_device, std::optional<std::string>(s_.device.id));
  EXPECT_EQ(got->decided_at, std::optional<UnixTime>(kT0 + 10));
  EXPECT_FALSE(challenges.find_pending_for_user(s_.user.id).value());

  EXPECT_TRUE(challenges.mark_completed(c.id, kT0 + 12).value());
  EXPECT_FALSE(challenges.mark_completed(c.id, kT0 + 13).value());  // exactly once
  EXPECT_EQ(challenges.get(c.id)->completed_at, std::optional<UnixTime>(kT0 + 12));
}

TEST_P(RepoTest, OnePendingChallengePerUser) {
  ChallengeRepo challenges(db());
  ChallengeRecord first = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  ASSERT_TRUE(challenges.create(first));
  ChallengeRecord second = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  auto refused = challenges.create(second);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  // A different user is unaffected.
  UserRecord other = make_user(s_.org.id);
  ASSERT_TRUE(UserRepo(db()).create(other));
  ASSERT_TRUE(challenges.create(make_challenge(s_.org.id, other.id, s_.integration.id)));
  // Once the first is no longer pending, the user may have a new one; finished ones pile up freely.
  EXPECT_TRUE(challenges.close_pending(first.id, ChallengeState::kCancelled, kT0 + 1).value());
  EXPECT_FALSE(challenges.close_pending(first.id, ChallengeState::kExpired, kT0 + 1).value());
  ASSERT_TRUE(challenges.create(second));
  EXPECT_TRUE(challenges.close_pending(second.id, ChallengeState::kExpired, kT0 + 2).value());
  ASSERT_TRUE(challenges.create(make_challenge(s_.org.id, s_.user.id, s_.integration.id)));
}

TEST_P(RepoTest, ChallengeConstraints) {
  ChallengeRepo challenges(db());
  ChallengeRecord no_integration = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  no_integration.integration_id.reset();
  EXPECT_EQ(challenges.create(no_integration).error().code, ErrorCode::kInvalidArgument);
  ChallengeRecord unknown_user = make_challenge(s_.org.id, "no-such-user", s_.integration.id);
  EXPECT_EQ(challenges.create(unknown_user).error().code, ErrorCode::kInvalidArgument);

  // Admin sign-in challenges carry an admin and follow the same one-pending rule.
  AdminRecord a{new_id(), s_.org.id, "Grace", "g@x", AdminRole::kOwner, s_.device.id, kT0, {}};
  ASSERT_TRUE(AdminRepo(db()).create(a));
  ChallengeRecord admin_signin = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  admin_signin.kind = ChallengeKind::kAdminSignin;
  admin_signin.user_id.reset();
  admin_signin.integration_id.reset();
  admin_signin.admin_id = a.id;
  ASSERT_TRUE(challenges.create(admin_signin));
  EXPECT_EQ(challenges.find_pending_for_admin(a.id).value()->id, admin_signin.id);
  admin_signin.id = new_id();
  EXPECT_EQ(challenges.create(admin_signin).error().code, ErrorCode::kAlreadyExists);
}

TEST_P(RepoTest, ChallengeFlowFieldsRoundTrip) {
  ChallengeRepo challenges(db());
  ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  c.response_params = R"({"acr":"possessionorinherence","amr":["swk"]})";
  c.flow_secret_hash = std::string(64, 'a');
  ASSERT_TRUE(challenges.create(c));
  auto got = challenges.get(c.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->response_params, c.response_params);
  EXPECT_EQ(got->flow_secret_hash, c.flow_secret_hash);
}

TEST_P(RepoTest, PendingChallengesForADevice) {
  ChallengeRepo challenges(db());
  ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  ASSERT_TRUE(challenges.create(c));
  EXPECT_TRUE(challenges.list_pending_for_device(s_.device.id, kT0).value().empty());  // not bound yet
  BindingRecord b{new_id(), s_.user.id, s_.device.id, BindingStatus::kActive, kT0, {}};
  ASSERT_TRUE(BindingRepo(db()).create(b));
  auto pending = challenges.list_pending_for_device(s_.device.id, kT0);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().id, c.id);
  AdminRecord a{new_id(), s_.org.id, "Grace", "g@x", AdminRole::kOwner, s_.device.id, kT0, {}};
  ASSERT_TRUE(AdminRepo(db()).create(a));
  ChallengeRecord admin_signin = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  admin_signin.kind = ChallengeKind::kAdminSignin;
  admin_signin.user_id.reset();
  admin_signin.integration_id.reset();
  admin_signin.admin_id = a.id;
  admin_signin.created_at = kT0 + 1;
  ASSERT_TRUE(challenges.create(admin_signin));
  EXPECT_EQ(challenges.list_pending_for_device(s_.device.id, kT0 + 1).value().size(), 2u);
  // Another device (not bound, not the admin's) sees neither.
  DeviceRecord other = make_device();
  ASSERT_TRUE(DeviceRepo(db()).create(other));
  EXPECT_TRUE(challenges.list_pending_for_device(other.id, kT0 + 1).value().empty());
  // Past its expiry a challenge leaves the list even before a sweep marks it.
  EXPECT_TRUE(challenges.list_pending_for_device(s_.device.id, c.expires_at).value().empty());
  ASSERT_TRUE(BindingRepo(db()).revoke(b.id, kT0 + 2));
  auto left = challenges.list_pending_for_device(s_.device.id, kT0 + 2);
  ASSERT_EQ(left.value().size(), 1u);
  EXPECT_EQ(left->front().id, admin_signin.id);
}

// A challenge that names both a user bound to the device and the device's admin comes once, not twice.
TEST_P(RepoTest, APendingChallengeReachingADeviceTwoWaysIsListedOnce) {
  ChallengeRepo challenges(db());
  ASSERT_TRUE(
      BindingRepo(db()).create(BindingRecord{new_id(), s_.user.id, s_.device.id, BindingStatus::kActive, kT0, {}}));
  AdminRecord a{new_id(), s_.org.id, "Grace", "g@x", AdminRole::kOwner, s_.device.id, kT0, {}};
  ASSERT_TRUE(AdminRepo(db()).create(a));
  ChallengeRecord both = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  both.admin_id = a.id;
  ASSERT_TRUE(challenges.create(both));
  auto pending = challenges.list_pending_for_device(s_.device.id, kT0);
  ASSERT_TRUE(pending) << pending.error().message;
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().id, both.id);
}

TEST_P(RepoTest, PendingChallengesForADeviceAcrossOrgsOldestFirstAndBounded) {
  ChallengeRepo challenges(db());
  BindingRepo bindings(db());
  OrgRecord fabrikam = make_org("Fabrikam");
  ASSERT_TRUE(OrgRepo(db()).create(fabrikam));
  IntegrationRecord theirs = make_integration(fabrikam.id);
  ASSERT_TRUE(IntegrationRepo(db()).create(theirs));
  UserRecord guest = make_user(fabrikam.id);
  ASSERT_TRUE(UserRepo(db()).create(guest));
  ASSERT_TRUE(bindings.create(BindingRecord{new_id(), s_.user.id, s_.device.id, BindingStatus::kActive, kT0, {}}));
  ASSERT_TRUE(bindings.create(BindingRecord{new_id(), guest.id, s_.device.id, BindingStatus::kActive, kT0, {}}));
  ChallengeRecord newer = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  newer.created_at = kT0 + 5;
  ChallengeRecord older = make_challenge(fabrikam.id, guest.id, theirs.id);
  ASSERT_TRUE(challenges.create(newer));
  ASSERT_TRUE(challenges.create(older));
  auto pending = challenges.list_pending_for_device(s_.device.id, kT0 + 6);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, older.id);
  EXPECT_EQ((*pending)[1].id, newer.id);
  EXPECT_EQ(challenges.list_pending_for_device(s_.device.id, kT0 + 6, 1).value().size(), 1u);
  EXPECT_EQ(challenges.list_pending_for_device(s_.device.id, kT0 + 6, 0).value().size(), 1u);  // clamped
}

TEST_P(RepoTest, ExpireDueChallenges) {
  ChallengeRepo challenges(db());
  ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  ASSERT_TRUE(challenges.create(c));
  EXPECT_EQ(challenges.expire_due(c.expires_at - 1).value(), 0);
  EXPECT_EQ(challenges.expire_due(c.expires_at).value(), 1);
  EXPECT_EQ(challenges.get(c.id)->state, ChallengeState::kExpired);
  EXPECT_EQ(challenges.expire_due(c.expires_at + 100).value(), 0);
}

TEST_P(RepoTest, ScanCodesAreSingleUse) {
  ScanCodeRepo codes(db());
  ScanCodeRecord s;
  s.id = new_id();
  s.org_id = s_.org.id;
  s.code_hash = std::string(64, 'a');
  s.purpose = ScanCodePurpose::kBindUser;
  s.user_id = s_.user.id;
  s.created_at = kT0;
  s.expires_at = kT0 + 60;
  ASSERT_TRUE(codes.create(s));
  ScanCodeRecord same_hash = s;
  same_hash.id = new_id();
  EXPECT_EQ(codes.create(same_hash).error().code, ErrorCode::kAlreadyExists);

  auto found = codes.find_by_hash(s.code_hash);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->user_id, std::optional<std::string>(s_.user.id));
  EXPECT_EQ((*found)->purpose, ScanCodePurpose::kBindUser);
  EXPECT_FALSE(codes.find_by_hash(std::string(64, 'b')).value());

  EXPECT_FALSE(codes.consume(s.id, s_.device.id, kT0 + 60).value());  // at expiry: too late
  EXPECT_TRUE(codes.consume(s.id, s_.device.id, kT0 + 59).value());
  EXPECT_FALSE(codes.consume(s.id, s_.device.id, kT0 + 59).value());  // second use fails
  auto got = codes.get(s.id);
  EXPECT_EQ(got->state, ScanCodeState::kConsumed);
  EXPECT_EQ(got->consumed_by_device, std::optional<std::string>(s_.device.id));
  EXPECT_EQ(got->consumed_at, std::optional<UnixTime>(kT0 + 59));
  EXPECT_FALSE(codes.expire(s.id).value());

  ScanCodeRecord signup = s;
  signup.id = new_id();
  signup.org_id.reset();
  signup.user_id.reset();
  signup.purpose = ScanCodePurpose::kAdminSignup;
  signup.code_hash = std::string(64, 'c');
  ASSERT_TRUE(codes.create(signup));
  EXPECT_EQ(codes.expire_due(kT0 + 60).value(), 1);
  EXPECT_EQ(codes.get(signup.id)->state, ScanCodeState::kExpired);
  EXPECT_FALSE(codes.consume(signup.id, std::nullopt, kT0).value());
  EXPECT_EQ(codes.get("missing").error().code, ErrorCode::kNotFound);
}

TEST_P(RepoTest, ActiveScanCodesOfAChallenge) {
  ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  ASSERT_TRUE(ChallengeRepo(db()).create(c));
  ScanCodeRepo codes(db());
  auto code = [&](char h, UnixTime created, UnixTime expires) {
    ScanCodeRecord s;
    s.id = new_id();
    s.org_id = s_.org.id;
    s.code_hash = std::string(64, h);
    s.purpose = ScanCodePurpose::kBindUser;
    s.user_id = s_.user.id;
    s.challenge_id = c.id;
    s.created_at = created;
    s.expires_at = expires;
    EXPECT_TRUE(codes.create(s));
    return s;
  };
  ScanCodeRecord old = code('a', kT0, kT0 + 60);
  ScanCodeRecord fresh = code('b', kT0 + 30, kT0 + 90);
  ScanCodeRecord withdrawn = code('c', kT0 + 31, kT0 + 90);
  ASSERT_TRUE(codes.expire(withdrawn.id).value());
  auto active = codes.list_active_for_challenge(c.id, ScanCodePurpose::kBindUser, kT0 + 40);
  ASSERT_TRUE(active);
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0].id, fresh.id);  // newest first
  EXPECT_EQ((*active)[1].id, old.id);
  EXPECT_EQ(codes.list_active_for_challenge(c.id, ScanCodePurpose::kBindUser, kT0 + 60).value().size(), 1u);
  EXPECT_TRUE(codes.list_active_for_challenge(c.id, ScanCodePurpose::kAdminSignin, kT0).value().empty());
  EXPECT_TRUE(codes.list_active_for_challenge("other", ScanCodePurpose::kBindUser, kT0).value().empty());
}

TEST_P(RepoTest, DeviceNoncesRecordOncePerDevice) {
  DeviceNonceRepo nonces(db());
  const std::string jti = "0123456789abcdefXYZ";
  EXPECT_TRUE(nonces.record_once(s_.device.id, jti, kT0 + 61).value());
  EXPECT_FALSE(nonces.record_once(s_.device.id, jti, kT0 + 61).value());     // a replay
  EXPECT_TRUE(nonces.record_once("another-device", jti, kT0 + 61).value());  // scoped per device
  EXPECT_TRUE(nonces.record_once(s_.device.id, "a-second-jti-value", kT0 + 10).value());
  EXPECT_EQ(nonces.purge_expired(kT0 + 9, 100).value(), 0);
  EXPECT_EQ(nonces.purge_expired(kT0 + 10, 100).value(), 1);
  EXPECT_FALSE(nonces.record_once(s_.device.id, jti, kT0 + 61).value());  // not purged yet
  EXPECT_EQ(nonces.purge_expired(kT0 + 61, 100).value(), 2);
  EXPECT_TRUE(nonces.record_once(s_.device.id, jti, kT0 + 200).value());
}

TEST_P(RepoTest, UsedHintsRecordOnce) {
  UsedHintRepo hints(db());
  EXPECT_TRUE(hints.record_once("k1", kT0, kT0 + 600).value());
  EXPECT_FALSE(hints.record_once("k1", kT0, kT0 + 600).value());
  EXPECT_FALSE(hints.record_once("k1", kT0, kT0 + 900).value());  // replayed later: the key is the same
  EXPECT_TRUE(hints.record_once("k2", kT0 - 5, kT0 + 10).value());
  EXPECT_EQ(hints.purge_expired(kT0 + 10, 100).value(), 1);
  EXPECT_TRUE(hints.record_once("k2", kT0 - 5, kT0 + 700).value());
  EXPECT_FALSE(hints.record_once("k1", kT0, kT0 + 600).value());
}

// The sweep forgets replay records in bounded batches: never more than the limit, the earliest first, and
// never one that has not expired.
TEST_P(RepoTest, ReplayRecordsArePurgedInBoundedBatchesEarliestFirst) {
  UsedHintRepo hints(db());
  DeviceNonceRepo nonces(db());
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(hints.record_once("hint-" + std::to_string(i), kT0 + 10 * i - 600, kT0 + 10 * i).value());
    ASSERT_TRUE(
        nonces.record_once(i % 2 ? s_.device.id : "another-device", "jti-" + std::to_string(i), kT0 + 10 * i).value());
  }
  // Expired at kT0 + 45: i = 0..4. Batches of 3: 3, then 2, then none.
  EXPECT_EQ(hints.purge_expired(kT0 + 45, 3).value(), 3);
  EXPECT_EQ(nonces.purge_expired(kT0 + 45, 3).value(), 3);
  // The three earliest are gone (recording them again succeeds), the fourth is still there.
  EXPECT_TRUE(hints.record_once("hint-2", kT0 + 20 - 600, kT0 + 1000).value());
  EXPECT_FALSE(hints.record_once("hint-3", kT0 + 30 - 600, kT0 + 1000).value());
  // (A device request id is recorded with the expiry its signed iat gives, the same for a replay.)
  EXPECT_TRUE(nonces.record_once("another-device", "jti-2", kT0 + 20).value());  // recorded again: expired
  EXPECT_FALSE(nonces.record_once(s_.device.id, "jti-3", kT0 + 30).value());
  EXPECT_EQ(hints.purge_expired(kT0 + 45, 3).value(), 2);
  EXPECT_EQ(nonces.purge_expired(kT0 + 45, 3).value(), 3);  // jti-2 (again), jti-3, jti-4
  EXPECT_EQ(hints.purge_expired(kT0 + 45, 3).value(), 0);
  EXPECT_EQ(nonces.purge_expired(kT0 + 45, 3).value(), 0);
  // Not yet expired: kept.
  EXPECT_FALSE(hints.record_once("hint-6", kT0 + 60 - 600, kT0 + 1000).value());
  EXPECT_FALSE(nonces.record_once("another-device", "jti-6", kT0 + 60).value());

  EXPECT_EQ(nonces.purge_expired(kT0 + 100, 3).value(), 2);  // jti-5 and jti-6
  // More than the limit sharing the earliest second go together (a batch always makes progress).
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(nonces.record_once(s_.device.id, "same-second-" + std::to_string(i), kT0 + 500).value());
  }
  EXPECT_EQ(nonces.purge_expired(kT0 + 500, 3).value(), 5);
  EXPECT_EQ(nonces.purge_expired(kT0 + 500, 3).value(), 0);

  // No limit: everything expired in one statement (the sweep does this for used hints).
  EXPECT_EQ(hints.purge_expired(kT0 + 5000, std::numeric_limits<int>::max()).value(), 3);  // hint-2, -5, -6
  EXPECT_EQ(hints.purge_expired(kT0 + 5000, std::numeric_limits<int>::max()).value(), 0);
}

// The sweep's batches go on until nothing expired is left, also after a batch that forgot fewer than its size:
// a batch stops at a whole second of expiries, so at 300 records a second batches of 500 forget 300 each.
TEST_P(RepoTest, PurgeInBatchesForgetsEverythingExpired) {
  ASSERT_TRUE(db().transaction([&](Db& tx) -> Status {
    for (int second = 0; second < 5; ++second) {
      for (int i = 0; i < 300; ++i) {
        const std::string id = std::to_string(second) + "-" + std::to_string(i);
        AVOW_TRY(UsedHintRepo(tx).record_once("hint-" + id, kT0 + second - 600, kT0 + second));
        AVOW_TRY(DeviceNonceRepo(tx).record_once("device", "jti-" + id, kT0 + second));
      }
    }
    AVOW_TRY(UsedHintRepo(tx).record_once("hint-kept", kT0 + 5 - 600, kT0 + 5));
    AVOW_TRY(DeviceNonceRepo(tx).record_once("device", "jti-kept", kT0 + 5));
    return ok();
  }));
  conn_.reset();  // an in-memory database has one connection

  int runs = 0;
  auto hints = purge_in_batches(*db_, 500, std::chrono::milliseconds(0), [&](Db& tx, int batch) {
    ++runs;
    return UsedHintRepo(tx).purge_expired(kT0 + 4, batch);
  });
  ASSERT_TRUE(hints) << hints.error().message;
  EXPECT_EQ(*hints, 1500);
  EXPECT_EQ(runs, 6);  // five batches of one second each, then an empty one
  auto nonces = purge_in_batches(*db_, 500, std::chrono::milliseconds(0),
                                 [&](Db& tx, int batch) { return DeviceNonceRepo(tx).purge_expired(kT0 + 4, batch); });
  ASSERT_TRUE(nonces) << nonces.error().message;
  EXPECT_EQ(*nonces, 1500);

  // An error ends the batches and is reported.
  auto failed = purge_in_batches(*db_, 500, std::chrono::milliseconds(0), [&](Db&, int) -> Result<std::int64_t> {
    return fail(ErrorCode::kUnavailable, "disk gone");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "disk gone");

  auto c = db_->connection();
  ASSERT_TRUE(c);
  conn_.emplace(std::move(*c));
  EXPECT_FALSE(UsedHintRepo(db()).record_once("hint-kept", kT0 + 5 - 600, kT0 + 5).value());  // not expired
  EXPECT_FALSE(DeviceNonceRepo(db()).record_once("device", "jti-kept", kT0 + 5).value());
  EXPECT_TRUE(UsedHintRepo(db()).record_once("hint-4-299", kT0 + 4 - 600, kT0 + 4).value());  // forgotten
}

TEST_P(RepoTest, AuditEvents) {
  AuditRepo audit(db());
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    AuditEventRecord e;
    e.org_id = s_.org.id;
    e.at = kT0 + i;
    e.actor_kind = "system";
    e.kind = i % 2 ? "challenge.approved" : "challenge.denied";
    e.user_id = i < 3 ? std::optional<std::string>(s_.user.id) : std::nullopt;
    e.details = R"({"i":)" + std::to_string(i) + "}";
    auto id = audit.append(e);
    ASSERT_TRUE(id) << id.error().message;
    if (!ids.empty()) {
      EXPECT_GT(*id, ids.back());
    }
    ids.push_back(*id);
  }
  AuditEventRecord other_org;
  other_org.org_id = "other";
  other_org.at = kT0;
  other_org.actor_kind = "system";
  other_org.kind = "org.created";
  ASSERT_TRUE(audit.append(other_org));

  AuditQuery q;
  q.org_id = s_.org.id;
  auto all = audit.list(q);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ(all->front().id, ids.back());  // newest first
  EXPECT_EQ(all->front().details, R"({"i":4})");

  q.limit = 2;
  auto page1 = audit.list(q);
  ASSERT_EQ(page1->size(), 2u);
  q.before_id = page1->back().id;
  auto page2 = audit.list(q);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_LT(page2->front().id, page1->back().id);

  AuditQuery by_user;
  by_user.user_id = s_.user.id;
  by_user.kind = "challenge.denied";
  EXPECT_EQ(audit.list(by_user).value().size(), 2u);  // i = 0, 2
  EXPECT_EQ(audit.list(AuditQuery{}).value().size(), 6u);

  EXPECT_EQ(audit.purge_before(kT0 + 2).value(), 3);  // i = 0, 1 and the other org's
  EXPECT_EQ(audit.list(AuditQuery{}).value().size(), 3u);
}

TEST_P(RepoTest, Sessions) {
  AdminRecord a{new_id(), s_.org.id, "Grace", "g@x", AdminRole::kOwner, std::nullopt, kT0, {}};
  ASSERT_TRUE(AdminRepo(db()).create(a));
  SessionRepo sessions(db());
  SessionRecord s{"hash-1", a.id, s_.org.id, kT0, kT0, kT0 + 100, kT0 + 1000, {}, "csrf", {}};
  ASSERT_TRUE(sessions.create(s));
  EXPECT_EQ(sessions.create(s).error().code, ErrorCode::kAlreadyExists);
  auto got = sessions.find("hash-1");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->csrf_secret, "csrf");
  EXPECT_FALSE(sessions.find("hash-2").value());

  EXPECT_TRUE(sessions.touch("hash-1", kT0 + 50, kT0 + 150).value());
  EXPECT_EQ(sessions.find("hash-1").value()->idle_expires_at, kT0 + 150);
  EXPECT_FALSE(sessions.touch("hash-1", kT0 + 150, kT0 + 250).value());  // idle-expired
  SessionRecord s2{"hash-2", a.id, s_.org.id, kT0, kT0, kT0 + 2000, kT0 + 1000, {}, "csrf2", {}};
  ASSERT_TRUE(sessions.create(s2));
  EXPECT_FALSE(sessions.touch("hash-2", kT0 + 1000, kT0 + 1100).value());  // absolute-expired
  EXPECT_TRUE(sessions.touch("hash-2", kT0 + 999, kT0 + 1100).value());

  EXPECT_TRUE(sessions.revoke("hash-2", kT0 + 5).value());
  EXPECT_FALSE(sessions.revoke("hash-2", kT0 + 6).value());
  EXPECT_FALSE(sessions.touch("hash-2", kT0 + 7, kT0 + 100).value());
  SessionRecord s3{"hash-3", a.id, s_.org.id, kT0, kT0, kT0 + 100, kT0 + 1000, {}, "c3", {}};
  ASSERT_TRUE(sessions.create(s3));
  EXPECT_EQ(sessions.revoke_all_for_admin(a.id, kT0 + 8).value(), 2);  // hash-1 and hash-3
  EXPECT_EQ(sessions.purge_expired(kT0 + 8).value(), 3);
}

TEST_P(RepoTest, SigningKeysUpsert) {
  SigningKeyRepo keys(db());
  EXPECT_TRUE(keys.load_all().value().empty());
  const std::string sealed("\x00\x01sealed\xff", 9);
  SigningKeyRow k{"kid-1", "RS256", "next", kT0, 0, 0, sealed, std::string("\x30\x82\x00", 3)};
  ASSERT_TRUE(keys.save(k));
  SigningKeyRow k2{"kid-2", "RS256", "next", kT0 + 1, 0, 0, "s2", "c2"};
  ASSERT_TRUE(keys.save(k2));
  auto all = keys.load_all();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].kid, "kid-1");
  EXPECT_EQ((*all)[0].private_key_sealed, sealed);
  EXPECT_EQ((*all)[0].certificate_der, std::string("\x30\x82\x00", 3));
  EXPECT_EQ((*all)[0].activated_at, 0);

  k.state = "active";
  k.activated_at = kT0 + 5;
  ASSERT_TRUE(keys.save(k));
  all = keys.load_all();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].state, "active");
  EXPECT_EQ((*all)[0].activated_at, kT0 + 5);
  EXPECT_EQ((*all)[0].retired_at, 0);

  SigningKeyRow bad = k2;
  bad.kid = "kid-3";
  bad.state = "lost";
  EXPECT_EQ(keys.save(bad).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(RepoTest, ForeignKeysAreEnforced) {
  UserRecord u = make_user("no-such-org");
  EXPECT_EQ(UserRepo(db()).create(u).error().code, ErrorCode::kInvalidArgument);
  ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, "no-such-integration");
  EXPECT_EQ(ChallengeRepo(db()).create(c).error().code, ErrorCode::kInvalidArgument);
  // A referenced row cannot be deleted from under its dependants.
  auto del = db().execute("DELETE FROM orgs WHERE id = $1", {s_.org.id});
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(RepoTest, CheckConstraintsRejectUnknownEnumSpellings) {
  auto bad = db().execute("UPDATE users SET status = 'frozen' WHERE id = $1", {s_.user.id});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(RecordsTest, EnumSpellingsRoundTrip) {
  for (auto v : {ChallengeState::kPending, ChallengeState::kApproved, ChallengeState::kDenied, ChallengeState::kExpired,
                 ChallengeState::kCancelled}) {
    ChallengeState back{};
    ASSERT_TRUE(parse(to_string(v), &back));
    EXPECT_EQ(back, v);
  }
  Cloud c{};
  EXPECT_TRUE(parse("usgov", &c));
  EXPECT_EQ(c, Cloud::kUsGov);
  EXPECT_FALSE(parse("USGOV", &c));
  EXPECT_FALSE(parse("", &c));
  EXPECT_EQ(to_string(ScanCodePurpose::kAdminInvite), "admin_invite");
  EXPECT_EQ(to_string(ChallengeKind::kCustomControl), "custom_control");
}

}  // namespace
}  // namespace avow::store
