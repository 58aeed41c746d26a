// Users, integrations, admins and dashboard sessions.
#include <gtest/gtest.h>

#include "domain/hashing.h"
#include "domain/sessions.h"
#include "fixture.h"

namespace avow::domain {
namespace {

using std::chrono::seconds;

class UsersTest : public testing::DomainTest {
 protected:
  UserService users() { return UserService(db(), clock_); }
};

TEST_F(UsersTest, FindOrCreateKeysOnTenantAndObject) {
  const std::string oid = "AAAAAAAA-1111-4111-8111-111111111111";
  auto first = users().find_or_create(org_.id, testing::kDirectory, {testing::kDirectory, oid, "ada@x", "Ada"});
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->object_id, "aaaaaaaa-1111-4111-8111-111111111111");  // normalised
  EXPECT_FALSE(first->is_guest);
  EXPECT_EQ(first->status, store::UserStatus::kActive);
  EXPECT_EQ(first->created_at, now());

  // Same identity (any case): same user, profile refreshed; an empty claim keeps the known value.
  auto again = users().find_or_create(org_.id, testing::kDirectory, {testing::kDirectory, oid, "ada@new", ""});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->upn, "ada@new");
  EXPECT_EQ(again->display_name, "Ada");
  EXPECT_EQ(users().get(first->id)->upn, "ada@new");

  // The same oid from another home tenant is another person: a guest.
  auto guest = users().find_or_create(org_.id, testing::kDirectory, {testing::kGuestTenant, oid, "g@y", "G"});
  ASSERT_TRUE(guest);
  EXPECT_NE(guest->id, first->id);
  EXPECT_TRUE(guest->is_guest);
}

TEST_F(UsersTest, FindOrCreateValidatesAndBounds) {
  EXPECT_EQ(users().find_or_create(org_.id, testing::kDirectory, {"not-a-guid", new_id(), "", ""}).error().message,
            "tid must be a GUID like 00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(users().find_or_create(org_.id, testing::kDirectory, {testing::kDirectory, "x", "", ""}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(users().find_or_create(org_.id, "x", {testing::kDirectory, new_id(), "", ""}).error().code,
            ErrorCode::kInvalidArgument);
  auto long_upn = users().find_or_create(
      org_.id, testing::kDirectory, {testing::kDirectory, new_id(), std::string(1000, 'u'), std::string(1000, 'n')});
  ASSERT_TRUE(long_upn);
  EXPECT_EQ(long_upn->upn.size(), kMaxUpnBytes);
  EXPECT_EQ(long_upn->display_name.size(), kMaxDisplayNameBytes);
  EXPECT_EQ(
      users().find_or_create("no-such-org", testing::kDirectory, {testing::kDirectory, new_id(), "", ""}).error().code,
      ErrorCode::kInvalidArgument);
}

TEST_F(UsersTest, LockAndUnlockTransitions) {
  auto locked = users().lock(user_.id);
  ASSERT_TRUE(locked);
  EXPECT_EQ(locked->status, store::UserStatus::kLocked);
  auto twice = users().lock(user_.id);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ErrorCode::kConflict);
  EXPECT_EQ(twice.error().message, "user is locked, cannot become locked");
  auto unlocked = users().unlock(user_.id);
  ASSERT_TRUE(unlocked);
  EXPECT_EQ(unlocked->status, store::UserStatus::kActive);
  EXPECT_EQ(users().unlock(user_.id).error().code, ErrorCode::kConflict);
  EXPECT_EQ(users().lock("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(users().allow_new_device("nope", true).error().code, ErrorCode::kNotFound);
}

class IntegrationsTest : public testing::DomainTest {
 protected:
  IntegrationService integrations() { return IntegrationService(db(), clock_); }
  IntegrationSpec spec() {
    IntegrationSpec s;
    s.name = "Fabrikam";
    s.directory_id = "66666666-6666-4666-8666-666666666666";
    s.app_id = "77777777-7777-4777-8777-777777777777";
    return s;
  }
};

TEST_F(IntegrationsTest, CreateGeneratesAUniqueClientId) {
  auto a = integrations().create(org_.id, spec());
  ASSERT_TRUE(a) << a.error().message;
  auto b = integrations().create(org_.id, spec());
  ASSERT_TRUE(b);
  EXPECT_TRUE(is_guid(a->client_id));
  EXPECT_NE(a->client_id, b->client_id);
  EXPECT_NE(a->client_id, integration_.client_id);
  EXPECT_EQ(a->status, store::IntegrationStatus::kEnabled);
  EXPECT_EQ(a->app_id, std::optional<std::string>("77777777-7777-4777-8777-777777777777"));
  EXPECT_EQ(store::IntegrationRepo(db()).find_by_client_id(a->client_id).value()->id, a->id);
  IntegrationSpec bad = spec();
  bad.directory_id = "fabrikam.com";
  EXPECT_EQ(integrations().create(org_.id, bad).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(integrations().create("no-such-org", spec()).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(IntegrationsTest, UpdateKeepsIdentity) {
  IntegrationSpec s = spec();
  s.cloud = "china";
  s.guest_policy = "members";
  s.claim_type = "DuoMfa";
  auto updated = integrations().update(integration_.id, s);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->name, "Fabrikam");
  EXPECT_EQ(updated->cloud, store::Cloud::kChina);
  EXPECT_EQ(updated->guest_policy, store::GuestPolicy::kMembers);
  EXPECT_EQ(updated->claim_type, "DuoMfa");
  EXPECT_EQ(updated->client_id, integration_.client_id);
  EXPECT_EQ(updated->created_at, integration_.created_at);
  EXPECT_EQ(integrations().update("nope", spec()).error().code, ErrorCode::kNotFound);
  s.name = "";
  EXPECT_EQ(integrations().update(integration_.id, s).error().message, "name must not be empty");
}

TEST_F(IntegrationsTest, EnableDisableTransitions) {
  EXPECT_EQ(integrations().enable(integration_.id).error().code, ErrorCode::kConflict);
  auto off = integrations().disable(integration_.id);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->status, store::IntegrationStatus::kDisabled);
  EXPECT_EQ(integrations().disable(integration_.id).error().code, ErrorCode::kConflict);
  auto on = integrations().enable(integration_.id);
  ASSERT_TRUE(on);
  EXPECT_EQ(on->status, store::IntegrationStatus::kEnabled);
  EXPECT_EQ(integrations().disable("nope").error().code, ErrorCode::kNotFound);
}

class AdminsTest : public testing::DomainTest {
 protected:
  AdminService admins() { return AdminService(db(), clock_); }
};

TEST_F(AdminsTest, CreateOrgMakesTheFirstAdminAnOwner) {
  auto o = admins().create_org("  Fabrikam ", {" Bob ", "Bob@Fabrikam.Example", store::AdminRole::kAdmin});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->org.name, "Fabrikam");
  EXPECT_EQ(o->owner.role, store::AdminRole::kOwner);
  EXPECT_EQ(o->owner.display_name, "Bob");
  EXPECT_EQ(o->owner.email, "bob@fabrikam.example");
  EXPECT_TRUE(store::OrgRepo(db()).get(o->org.id));
  EXPECT_TRUE(store::AdminRepo(db()).get(o->owner.id));
  // All or nothing: a bad owner leaves no org behind.
  const auto orgs_before = store::OrgRepo(db()).list().value().size();
  EXPECT_EQ(admins().create_org("Tailspin", {"T", "not-an-email", {}}).error().message,
            "email must look like name@example.com");
  EXPECT_EQ(admins().create_org("", {"T", "t@t.example", {}}).error().message, "organisation name must not be empty");
  EXPECT_EQ(store::OrgRepo(db()).list().value().size(), orgs_before);
}

TEST_F(AdminsTest, AddAdmin) {
  auto a = admins().add_admin(org_.id, {"Alan", "alan@contoso.example", store::AdminRole::kAdmin});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->role, store::AdminRole::kAdmin);
  auto dup = admins().add_admin(org_.id, {"Alan 2", "ALAN@contoso.example", store::AdminRole::kAdmin});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(admins().add_admin(org_.id, {"", "x@y", {}}).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(AdminsTest, TheLastOwnerCannotBeDisabled) {
  auto last = admins().disable(owner_.id);
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, ErrorCode::kConflict);
  EXPECT_EQ(last.error().message, "cannot disable the organisation's last owner");

  auto second = admins().add_admin(org_.id, {"Ada", "ada@contoso.example", store::AdminRole::kOwner});
  ASSERT_TRUE(second);
  auto sessions = SessionService(db(), clock_);
  auto s = sessions.start(owner_.id);
  ASSERT_TRUE(s);
  auto disabled = admins().disable(owner_.id);
  ASSERT_TRUE(disabled) << disabled.error().message;
  EXPECT_TRUE(disabled->disabled_at);
  EXPECT_EQ(admins().disable(owner_.id).error().code, ErrorCode::kConflict);
  // Their sessions ended with them.
  EXPECT_EQ(sessions.resume(s->token).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(admins().disable(second->id).error().code, ErrorCode::kConflict);  // now the last owner

  auto enabled = admins().enable(owner_.id);
  ASSERT_TRUE(enabled);
  EXPECT_FALSE(enabled->disabled_at);
  EXPECT_EQ(admins().enable(owner_.id).error().code, ErrorCode::kConflict);
  EXPECT_EQ(admins().enable("nope").error().code, ErrorCode::kNotFound);

  // A plain admin can always be disabled.
  auto plain = admins().add_admin(org_.id, {"Al", "al@contoso.example", store::AdminRole::kAdmin});
  EXPECT_TRUE(admins().disable(plain->id));
}

TEST_F(AdminsTest, SetDevice) {
  ASSERT_TRUE(admins().set_device(owner_.id, device_.id));
  EXPECT_EQ(store::AdminRepo(db()).get(owner_.id)->device_id, std::optional<std::string>(device_.id));
  // The admin of another org may sign in with the same phone: devices belong to people, not orgs.
  auto other = admins().create_org("Fabrikam", {"Bob", "bob@fabrikam.example", {}});
  ASSERT_TRUE(other);
  EXPECT_TRUE(admins().set_device(other->owner.id, device_.id));
  auto d = new_device();
  ASSERT_TRUE(DeviceService(db(), clock_).revoke(d.id));
  EXPECT_EQ(admins().set_device(owner_.id, d.id).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(admins().set_device(owner_.id, "nope").error().code, ErrorCode::kNotFound);
}

class SessionsTest : public testing::DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    policy_.idle = seconds(600);
    policy_.absolute = seconds(3600);
  }
  SessionService sessions() { return SessionService(db(), clock_, policy_); }
  SessionPolicy policy_;
};

TEST_F(SessionsTest, StartStoresOnlyTheHash) {
  auto s = sessions().start(owner_.id);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->token.size(), 43u);
  EXPECT_EQ(s->record.id_hash, sha256_hex(s->token));
  EXPECT_EQ(s->record.org_id, org_.id);
  EXPECT_EQ(s->record.idle_expires_at, now() + 600);
  EXPECT_EQ(s->record.absolute_expires_at, now() + 3600);
  EXPECT_FALSE(s->record.csrf_secret.empty());
  EXPECT_FALSE(store::SessionRepo(db()).find(s->token).value());  // not stored under the token itself
  EXPECT_TRUE(store::SessionRepo(db()).find(s->record.id_hash).value());
  EXPECT_EQ(sessions().start("nope").error().code, ErrorCode::kNotFound);
}

TEST_F(SessionsTest, ResumeSlidesTheIdleExpiryUpToTheAbsolute) {
  auto s = sessions().start(owner_.id);
  ASSERT_TRUE(s);
  for (int i = 0; i < 6; ++i) {
    advance(seconds(500));  // always inside the idle window
    auto r = sessions().resume(s->token);
    ASSERT_TRUE(r) << "step " << i << ": " << r.error().message;
    EXPECT_EQ(r->last_seen_at, now());
    EXPECT_EQ(r->idle_expires_at, std::min(now() + 600, s->record.absolute_expires_at));
  }
  advance(seconds(600));  // t = 3600: the absolute end
  auto r = sessions().resume(s->token);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kExpired);
}

TEST_F(SessionsTest, IdleExpiry) {
  auto s = sessions().start(owner_.id);
  advance(seconds(599));
  EXPECT_TRUE(sessions().resume(s->token));
  advance(seconds(600));
  EXPECT_EQ(sessions().resume(s->token).error().code, ErrorCode::kExpired);
}

TEST_F(SessionsTest, EndAndBadTokens) {
  auto s = sessions().start(owner_.id);
  ASSERT_TRUE(sessions().end(s->token));
  EXPECT_EQ(sessions().resume(s->token).error().code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(sessions().end(s->token));  // idempotent
  EXPECT_TRUE(sessions().end("unknown"));
  EXPECT_EQ(sessions().resume("").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(sessions().resume(std::string(kMaxSessionTokenBytes + 1, 't')).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(sessions().resume("guess").error().code, ErrorCode::kUnauthenticated);
  auto a = sessions().start(owner_.id);
  auto b = sessions().start(owner_.id);
  EXPECT_EQ(sessions().end_all_for_admin(owner_.id).value(), 2);
  EXPECT_FALSE(sessions().resume(a->token));
  EXPECT_FALSE(sessions().resume(b->token));
}

TEST_F(SessionsTest, DisabledAdminsCannotStartOrResume) {
  auto second = AdminService(db(), clock_).add_admin(org_.id, {"Al", "al@contoso.example", store::AdminRole::kAdmin});
  ASSERT_TRUE(second);
  auto s = sessions().start(second->id);
  ASSERT_TRUE(s);
  // Disabled directly in the store (not via AdminService, which would also end the session): resume
  // must still refuse.
  ASSERT_TRUE(store::AdminRepo(db()).disable(second->id, now()).value());
  EXPECT_EQ(sessions().resume(s->token).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(sessions().start(second->id).error().code, ErrorCode::kPermissionDenied);
}

}  // namespace
}  // namespace avow::domain
