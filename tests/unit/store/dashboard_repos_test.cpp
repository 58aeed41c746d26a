// Schema v3 (the admin dashboard) on every backend: deleted integrations, claimed scan codes, re-authenticated
// sessions, org settings, and the dashboard's queries (users search, audit filters, a user's challenges,
// devices shared with other orgs).
#include <gtest/gtest.h>

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

class DashboardRepoTest : public ::testing::TestWithParam<Backend> {
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

  UserRecord add_user(const std::string& org_id, std::string upn, std::string display_name, UnixTime created_at = kT0) {
    UserRecord u = make_user(org_id);
    u.upn = std::move(upn);
    u.display_name = std::move(display_name);
    u.created_at = created_at;
    EXPECT_TRUE(UserRepo(db()).create(u));
    return u;
  }

  AdminRecord add_admin(const std::string& org_id, std::string email, UnixTime created_at) {
    AdminRecord a{new_id(), org_id, "Grace", std::move(email), AdminRole::kOwner, std::nullopt, created_at, {}};
    EXPECT_TRUE(AdminRepo(db()).create(a));
    return a;
  }

  // Runs `fn` on a connection to a fresh, empty database of this backend (for upgrade tests).
  template <class Fn>
  void on_empty_database(Fn fn) {
    auto fresh = ScratchDatabase::create(GetParam());
    ASSERT_TRUE(fresh);
    auto database = fresh->open(1);
    ASSERT_TRUE(database);
    {
      auto c = database->connection();
      ASSERT_TRUE(c);
      fn(**c);
    }
    database->close();
  }

  std::vector<std::string> upns(const std::vector<UserRecord>& users) {
    std::vector<std::string> out;
    for (const auto& u : users) out.push_back(u.upn);
    return out;
  }

  std::unique_ptr<ScratchDatabase> scratch_;
  std::shared_ptr<Database> db_;
  std::optional<Connection> conn_;
  Seed s_;
};

INSTANTIATE_TEST_SUITE_P(All, DashboardRepoTest, testing::kAllBackends, testing::backend_name);

TEST_P(DashboardRepoTest, MigratesToVersionThree) {
  EXPECT_GE(schema_version(db()).value(), 3);
  auto row = db().query_one("SELECT name FROM schema_migrations WHERE version = 3");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->text(0).value(), "dashboard");
  EXPECT_TRUE(testing::table_exists(db(), "org_settings"));
  // Rows start without the new stamps.
  EXPECT_FALSE(IntegrationRepo(db()).get(s_.integration.id).value().deleted_at);
}

// A database made at version 2 keeps its rows through version 3, with the new columns NULL.
TEST_P(DashboardRepoTest, UpgradeFromVersionTwoKeepsRows) {
  on_empty_database([&](Db& old) {
    ASSERT_TRUE(migrate(old, all_migrations().first(2)));
    EXPECT_EQ(schema_version(old).value(), 2);
    ASSERT_TRUE(old.execute("INSERT INTO orgs (id, name, created_at) VALUES ('o1', 'Old', 1)"));
    ASSERT_TRUE(old.execute(
        "INSERT INTO integrations (id, org_id, name, directory_id, app_id, client_id, cloud, claim_type, "
        "claim_value, guest_policy, guest_tenants, status, created_at, last_success_at) VALUES ('i1', "
        "'o1', 'Old Entra', 'dir', NULL, 'client-1', 'global', 't', 'v', 'any', '[]', 'enabled', 1, NULL)"));
    ASSERT_TRUE(
        old.execute("INSERT INTO admins (id, org_id, display_name, email, role, device_id, created_at) VALUES "
                    "('a1', 'o1', 'Grace', 'g@old.example', 'owner', NULL, 1)"));
    ASSERT_TRUE(
        old.execute("INSERT INTO sessions (id_hash, admin_id, org_id, created_at, last_seen_at, idle_expires_at, "
                    "absolute_expires_at, revoked_at, csrf_secret) VALUES ('h1', 'a1', 'o1', 1, 1, 100, 1000, NULL, "
                    "'c')"));
    ASSERT_TRUE(migrate(old));
    EXPECT_EQ(schema_version(old).value(), latest_schema_version());
    auto i = IntegrationRepo(old).get("i1");
    ASSERT_TRUE(i) << i.error().message;
    EXPECT_EQ(i->name, "Old Entra");
    EXPECT_FALSE(i->deleted_at);
    EXPECT_EQ(IntegrationRepo(old).list_by_org("o1").value().size(), 1u);
    auto s = SessionRepo(old).find("h1");
    ASSERT_TRUE(s && *s);
    EXPECT_FALSE((*s)->reauthenticated_at);
    EXPECT_FALSE(OrgSettingsRepo(old).find("o1").value());
  });
}

// Version 4 re-keys device request ids by expiry: the ids recorded before the upgrade are still replays after.
TEST_P(DashboardRepoTest, UpgradeToVersionFourKeepsDeviceRequestIds) {
  on_empty_database([&](Db& old) {
    ASSERT_TRUE(migrate(old, all_migrations().first(3)));
    ASSERT_TRUE(old.execute("INSERT INTO device_nonces (device_id, jti, expires_at) VALUES ('d1', 'j1', 100)"));
    ASSERT_TRUE(old.execute("INSERT INTO device_nonces (device_id, jti, expires_at) VALUES ('d1', 'j2', 200)"));
    ASSERT_TRUE(migrate(old));
    EXPECT_EQ(schema_version(old).value(), latest_schema_version());
    DeviceNonceRepo nonces(old);
    EXPECT_FALSE(nonces.record_once("d1", "j1", 100).value());  // still a replay
    EXPECT_FALSE(nonces.record_once("d1", "j2", 200).value());
    EXPECT_TRUE(nonces.record_once("d2", "j1", 100).value());  // another device's id
    EXPECT_EQ(nonces.purge_expired(150, 10).value(), 2);       // j1 of d1 and of d2
    EXPECT_FALSE(nonces.record_once("d1", "j2", 200).value());
  });
}

// Version 5 re-keys used hints by the hint's iat. Hints recorded before the upgrade (iat unknown) are still
// replays after it, until they expire.
TEST_P(DashboardRepoTest, UpgradeToVersionFiveKeepsUsedHints) {
  on_empty_database([&](Db& old) {
    ASSERT_TRUE(migrate(old, all_migrations().first(4)));
    ASSERT_TRUE(old.execute("INSERT INTO used_hints (hint_key, expires_at) VALUES ('h1', 100)"));
    ASSERT_TRUE(old.execute("INSERT INTO used_hints (hint_key, expires_at) VALUES ('h2', 200)"));
    ASSERT_TRUE(migrate(old));
    EXPECT_EQ(schema_version(old).value(), latest_schema_version());
    UsedHintRepo hints(old);
    EXPECT_FALSE(hints.record_once("h1", 50, 110).value());  // still a replay, whatever its iat
    EXPECT_FALSE(hints.record_once("h2", 60, 120).value());
    EXPECT_TRUE(hints.record_once("h3", 50, 150).value());
    EXPECT_EQ(hints.purge_expired(150, 10).value(), 2);     // h1 (recorded before) and h3
    EXPECT_TRUE(hints.record_once("h1", 50, 300).value());  // forgotten: accepted again
    EXPECT_FALSE(hints.record_once("h2", 60, 300).value());
    EXPECT_FALSE(hints.record_once("h1", 50, 300).value());
  });
}

TEST_P(DashboardRepoTest, OrgCount) {
  OrgRepo orgs(db());
  EXPECT_EQ(orgs.count().value(), 1);
  ASSERT_TRUE(orgs.create(make_org("Fabrikam")));
  ASSERT_TRUE(orgs.create(make_org("Northwind")));
  EXPECT_EQ(orgs.count().value(), 3);
}

TEST_P(DashboardRepoTest, AdminsByEmailInEveryOrgOldestFirst) {
  OrgRecord fabrikam = make_org("Fabrikam");
  ASSERT_TRUE(OrgRepo(db()).create(fabrikam));
  AdminRecord newer = add_admin(s_.org.id, "grace@example.com", kT0 + 10);
  AdminRecord older = add_admin(fabrikam.id, "grace@example.com", kT0 + 5);
  add_admin(s_.org.id, "someone@example.com", kT0);
  ASSERT_TRUE(AdminRepo(db()).disable(older.id, kT0 + 20).value());  // disabled ones are listed too

  auto found = AdminRepo(db()).find_by_email_any_org("grace@example.com");
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].id, older.id);
  EXPECT_EQ((*found)[0].org_id, fabrikam.id);
  EXPECT_TRUE((*found)[0].disabled_at);
  EXPECT_EQ((*found)[1].id, newer.id);
  EXPECT_TRUE(AdminRepo(db()).find_by_email_any_org("nobody@example.com").value().empty());
}

TEST_P(DashboardRepoTest, DeletedIntegrationsLeaveTheListButStayReadable) {
  IntegrationRepo integrations(db());
  IntegrationRecord second = make_integration(s_.org.id);
  second.created_at = kT0 + 1;
  ASSERT_TRUE(integrations.create(second));
  EXPECT_EQ(integrations.list_by_org(s_.org.id).value().size(), 2u);

  EXPECT_TRUE(integrations.mark_deleted(s_.integration.id, kT0 + 7).value());
  EXPECT_FALSE(integrations.mark_deleted(s_.integration.id, kT0 + 8).value()) << "deleted once";
  EXPECT_FALSE(integrations.mark_deleted("missing", kT0 + 8).value());

  auto list = integrations.list_by_org(s_.org.id);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().id, second.id);
  EXPECT_FALSE(list->front().deleted_at);

  auto got = integrations.get(s_.integration.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->deleted_at, std::optional<UnixTime>(kT0 + 7));
  auto by_client = integrations.find_by_client_id(s_.integration.client_id).value();
  ASSERT_TRUE(by_client);
  EXPECT_EQ(by_client->deleted_at, std::optional<UnixTime>(kT0 + 7));

  // The stamp round-trips through create too (export/import, tests).
  IntegrationRecord gone = make_integration(s_.org.id);
  gone.deleted_at = kT0 + 3;
  ASSERT_TRUE(integrations.create(gone));
  EXPECT_EQ(integrations.get(gone.id)->deleted_at, std::optional<UnixTime>(kT0 + 3));
  EXPECT_EQ(integrations.list_by_org(s_.org.id).value().size(), 1u);
}

TEST_P(DashboardRepoTest, CreateIfAbsentLeavesAnExistingIdentityAlone) {
  UserRecord u = make_user(s_.org.id);
  auto first = UserRepo(db()).create_if_absent(u);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(*first);
  UserRecord twin = make_user(s_.org.id);  // a new id, the same (org, tid, oid)
  twin.tenant_id = u.tenant_id;
  twin.object_id = u.object_id;
  twin.upn = "twin@contoso.example";
  auto second = UserRepo(db()).create_if_absent(twin);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(*second);
  auto kept = UserRepo(db()).find_by_identity(s_.org.id, u.tenant_id, u.object_id);
  ASSERT_TRUE(kept && *kept);
  EXPECT_EQ((*kept)->id, u.id);
  EXPECT_EQ(UserRepo(db()).get(twin.id).error().code, ErrorCode::kNotFound);
}

TEST_P(DashboardRepoTest, UserSearchMatchesUpnOrNameIgnoringCase) {
  UserRepo users(db());
  // The seed user is ada@contoso.example / "Ada".
  UserRecord bob = add_user(s_.org.id, "bob@contoso.example", "Robert Tables");
  UserRecord carol = add_user(s_.org.id, "Carol.Danvers@Contoso.example", "Carol");
  UserRecord dave = add_user(s_.org.id, "dave@fabrikam.example", "Dave ADAMS");
  OrgRecord other = make_org("Other");
  ASSERT_TRUE(OrgRepo(db()).create(other));
  add_user(other.id, "ada@other.example", "Ada Elsewhere");

  UserQuery all;
  EXPECT_EQ(upns(users.search(s_.org.id, all).value()),
            (std::vector<std::string>{"Carol.Danvers@Contoso.example", "ada@contoso.example", "bob@contoso.example",
                                      "dave@fabrikam.example"}))
      << "ordered by UPN (bytewise on both engines for these)";
  EXPECT_EQ(users.count_matching(s_.org.id, all).value(), 4);

  UserQuery q;
  q.text = "ADA";  // ada@… by UPN, Dave ADAMS by name; not the other org's Ada
  auto found = users.search(s_.org.id, q);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(upns(*found), (std::vector<std::string>{"ada@contoso.example", "dave@fabrikam.example"}));
  EXPECT_EQ(users.count_matching(s_.org.id, q).value(), 2);

  q.text = "contoso";
  EXPECT_EQ(users.count_matching(s_.org.id, q).value(), 3);
  q.text = "tables";
  ASSERT_EQ(users.search(s_.org.id, q).value().size(), 1u);
  EXPECT_EQ(users.search(s_.org.id, q).value().front().id, bob.id);
  q.text = "nobody";
  EXPECT_TRUE(users.search(s_.org.id, q).value().empty());
  EXPECT_EQ(users.count_matching(s_.org.id, q).value(), 0);

  // Status filter, alone and with text.
  ASSERT_TRUE(users.lock(carol.id, kT0 + 1).value());
  ASSERT_TRUE(users.lock(dave.id, kT0 + 1).value());
  UserQuery locked;
  locked.status = UserStatus::kLocked;
  EXPECT_EQ(upns(users.search(s_.org.id, locked).value()),
            (std::vector<std::string>{"Carol.Danvers@Contoso.example", "dave@fabrikam.example"}));
  locked.text = "carol";
  EXPECT_EQ(users.count_matching(s_.org.id, locked).value(), 1);
  UserQuery active;
  active.status = UserStatus::kActive;
  active.text = "a";
  EXPECT_EQ(upns(users.search(s_.org.id, active).value()),
            (std::vector<std::string>{"ada@contoso.example", "bob@contoso.example"}));
  EXPECT_EQ(users.count_matching(s_.org.id, active).value(), 2);
}

TEST_P(DashboardRepoTest, UserSearchTakesLikeCharactersLiterally) {
  UserRepo users(db());
  add_user(s_.org.id, "p100%@contoso.example", "Percent");
  add_user(s_.org.id, "p1000@contoso.example", "Zeroes");
  add_user(s_.org.id, "under_score@contoso.example", "Under");
  add_user(s_.org.id, "underXscore@contoso.example", "Letter");
  add_user(s_.org.id, "back\\slash@contoso.example", "Backslash");
  add_user(s_.org.id, "backslash@contoso.example", "No backslash");

  auto match = [&](const std::string& text) {
    UserQuery q;
    q.text = text;
    EXPECT_EQ(static_cast<std::int64_t>(users.search(s_.org.id, q).value().size()),
              users.count_matching(s_.org.id, q).value())
        << text;
    return upns(users.search(s_.org.id, q).value());
  };
  EXPECT_EQ(match("0%"), (std::vector<std::string>{"p100%@contoso.example"}));
  EXPECT_EQ(match("r_s"), (std::vector<std::string>{"under_score@contoso.example"}));
  EXPECT_EQ(match("k\\s"), (std::vector<std::string>{"back\\slash@contoso.example"}));
  EXPECT_EQ(match("%"), (std::vector<std::string>{"p100%@contoso.example"}));
  EXPECT_EQ(match("_"), (std::vector<std::string>{"under_score@contoso.example"}));
  EXPECT_EQ(match("\\"), (std::vector<std::string>{"back\\slash@contoso.example"}));
  EXPECT_EQ(match("'; DROP TABLE users; --"), std::vector<std::string>{});
}

TEST_P(DashboardRepoTest, UserSearchPagesAndClamps) {
  UserRepo users(db());
  for (int i = 0; i < 6; ++i) add_user(s_.org.id, "user" + std::to_string(i) + "@contoso.example", "User");
  UserQuery q;
  q.text = "user";
  q.limit = 4;
  EXPECT_EQ(upns(users.search(s_.org.id, q).value()),
            (std::vector<std::string>{"user0@contoso.example", "user1@contoso.example", "user2@contoso.example",
                                      "user3@contoso.example"}));
  q.offset = 4;
  EXPECT_EQ(upns(users.search(s_.org.id, q).value()),
            (std::vector<std::string>{"user4@contoso.example", "user5@contoso.example"}));
  EXPECT_EQ(users.count_matching(s_.org.id, q).value(), 6) << "the count ignores paging";
  q.offset = 99;
  EXPECT_TRUE(users.search(s_.org.id, q).value().empty());
  q.offset = -5;  // clamped to 0
  q.limit = 0;    // clamped to 1
  EXPECT_EQ(upns(users.search(s_.org.id, q).value()), (std::vector<std::string>{"user0@contoso.example"}));
  q.limit = 100000;  // clamped to 500
  EXPECT_EQ(users.search(s_.org.id, q).value().size(), 6u);

  // Equal UPNs come in id order.
  UserRecord twin1 = add_user(s_.org.id, "twin@contoso.example", "One");
  UserRecord twin2 = add_user(s_.org.id, "twin@contoso.example", "Two");
  UserQuery twins;
  twins.text = "twin@";
  auto got = users.search(s_.org.id, twins).value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, std::min(twin1.id, twin2.id));
  EXPECT_EQ(got[1].id, std::max(twin1.id, twin2.id));
}

TEST_P(DashboardRepoTest, DeviceBindingsInAndOutsideAnOrg) {
  DeviceRepo devices(db());
  BindingRepo bindings(db());
  OrgRecord fabrikam = make_org("Fabrikam");
  ASSERT_TRUE(OrgRepo(db()).create(fabrikam));
  UserRecord guest = make_user(fabrikam.id, s_.user.object_id);
  ASSERT_TRUE(UserRepo(db()).create(guest));
  UserRecord colleague = make_user(s_.org.id);
  ASSERT_TRUE(UserRepo(db()).create(colleague));

  EXPECT_EQ(devices.count_bindings_outside_org(s_.device.id, s_.org.id).value(), 0);
  BindingRecord here{new_id(), s_.user.id, s_.device.id, BindingStatus::kActive, kT0, {}};
  BindingRecord here2{new_id(), colleague.id, s_.device.id, BindingStatus::kActive, kT0, {}};
  BindingRecord there{new_id(), guest.id, s_.device.id, BindingStatus::kActive, kT0, {}};
  ASSERT_TRUE(bindings.create(here));
  ASSERT_TRUE(bindings.create(here2));
  ASSERT_TRUE(bindings.create(there));
  // Another device of the same user is not touched.
  DeviceRecord other_device = make_device();
  ASSERT_TRUE(devices.create(other_device));
  BindingRecord other{new_id(), s_.user.id, other_device.id, BindingStatus::kActive, kT0, {}};
  ASSERT_TRUE(bindings.create(other));

  EXPECT_EQ(devices.count_bindings_outside_org(s_.device.id, s_.org.id).value(), 1);
  EXPECT_EQ(devices.count_bindings_outside_org(s_.device.id, fabrikam.id).value(), 2);
  EXPECT_EQ(devices.count_bindings_outside_org("missing", s_.org.id).value(), 0);

  EXPECT_EQ(bindings.revoke_for_device_in_org(s_.device.id, s_.org.id, kT0 + 5).value(), 2);
  EXPECT_EQ(bindings.revoke_for_device_in_org(s_.device.id, s_.org.id, kT0 + 6).value(), 0) << "nothing left";
  EXPECT_EQ(bindings.get(here.id)->status, BindingStatus::kRevoked);
  EXPECT_EQ(bindings.get(here.id)->revoked_at, std::optional<UnixTime>(kT0 + 5));
  EXPECT_EQ(bindings.get(here2.id)->status, BindingStatus::kRevoked);
  EXPECT_EQ(bindings.get(there.id)->status, BindingStatus::kActive);
  EXPECT_EQ(bindings.get(other.id)->status, BindingStatus::kActive);
  EXPECT_EQ(devices.get(s_.device.id)->status, DeviceStatus::kActive) << "the device itself stays";
  auto still_here = devices.list_for_org(s_.org.id).value();
  ASSERT_EQ(still_here.size(), 1u) << "only the other device";
  EXPECT_EQ(still_here.front().id, other_device.id);
  EXPECT_EQ(devices.list_for_org(fabrikam.id).value().size(), 1u);
  // Revoked bindings do not count as outside.
  EXPECT_EQ(devices.count_bindings_outside_org(s_.device.id, fabrikam.id).value(), 0);
}

TEST_P(DashboardRepoTest, ChallengesOfAUserNewestFirstAndCountedSince) {
  ChallengeRepo challenges(db());
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
    c.created_at = kT0 + 10 * i;
    c.expires_at = c.created_at + 120;
    ASSERT_TRUE(challenges.create(c));
    ASSERT_TRUE(challenges.close_pending(c.id, ChallengeState::kExpired, c.created_at + 1).value());
    ids.push_back(c.id);
  }
  ChallengeRecord pending = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
  pending.created_at = kT0 + 40;
  ASSERT_TRUE(challenges.create(pending));
  ids.push_back(pending.id);
  UserRecord other = make_user(s_.org.id);
  ASSERT_TRUE(UserRepo(db()).create(other));
  ChallengeRecord theirs = make_challenge(s_.org.id, other.id, s_.integration.id);
  theirs.created_at = kT0 + 50;
  ASSERT_TRUE(challenges.create(theirs));

  auto list = challenges.list_for_user(s_.user.id);
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ((*list)[i].id, ids[4 - i]) << i;
  EXPECT_EQ((*list)[0].state, ChallengeState::kPending);
  EXPECT_EQ(challenges.list_for_user(s_.user.id, 2).value().size(), 2u);
  EXPECT_EQ(challenges.list_for_user(s_.user.id, 0).value().size(), 1u);  // clamped
  EXPECT_EQ(challenges.list_for_user(s_.user.id, 1000).value().size(), 5u);
  EXPECT_TRUE(challenges.list_for_user("missing").value().empty());

  EXPECT_EQ(challenges.count_for_user_since(s_.user.id, kT0).value(), 5);
  EXPECT_EQ(challenges.count_for_user_since(s_.user.id, kT0 + 20).value(), 3) << "at or after, any state";
  EXPECT_EQ(challenges.count_for_user_since(s_.user.id, kT0 + 21).value(), 2);
  EXPECT_EQ(challenges.count_for_user_since(s_.user.id, kT0 + 41).value(), 0);
  EXPECT_EQ(challenges.count_for_user_since(other.id, kT0).value(), 1);
}

TEST_P(DashboardRepoTest, AScanCodeIsClaimedOnceAfterItIsConsumed) {
  ScanCodeRepo codes(db());
  ScanCodeRecord s;
  s.id = new_id();
  s.code_hash = std::string(64, 'a');
  s.purpose = ScanCodePurpose::kAdminSignin;
  s.created_at = kT0;
  s.expires_at = kT0 + 60;
  ASSERT_TRUE(codes.create(s));
  EXPECT_FALSE(codes.get(s.id).value().claimed_at);
  EXPECT_FALSE(codes.claim(s.id, kT0 + 1).value()) << "not scanned yet";
  ASSERT_TRUE(codes.consume(s.id, s_.device.id, kT0 + 2).value());
  EXPECT_TRUE(codes.claim(s.id, kT0 + 3).value());
  EXPECT_FALSE(codes.claim(s.id, kT0 + 4).value()) << "once";
  auto got = codes.get(s.id).value();
  EXPECT_EQ(got.claimed_at, std::optional<UnixTime>(kT0 + 3));
  EXPECT_EQ(got.state, ScanCodeState::kConsumed);
  EXPECT_EQ(codes.find_by_hash(s.code_hash).value()->claimed_at, std::optional<UnixTime>(kT0 + 3));

  ScanCodeRecord withdrawn = s;
  withdrawn.id = new_id();
  withdrawn.code_hash = std::string(64, 'b');
  ASSERT_TRUE(codes.create(withdrawn));
  ASSERT_TRUE(codes.expire(withdrawn.id).value());
  EXPECT_FALSE(codes.claim(withdrawn.id, kT0 + 5).value()) << "expired";
  EXPECT_FALSE(codes.claim("missing", kT0 + 5).value());
}

TEST_P(DashboardRepoTest, AuditFiltersByKindPrefixTimeUserAndIntegration) {
  AuditRepo audit(db());
  IntegrationRecord second = make_integration(s_.org.id);
  ASSERT_TRUE(IntegrationRepo(db()).create(second));
  struct Ev {
    const char* kind;
    UnixTime at;
    bool user;
    bool first_integration;
  };
  const std::vector<Ev> evs = {
      {"signin.approved", kT0 + 0, true, true},    {"signin.denied", kT0 + 10, true, false},
      {"admin.signin", kT0 + 20, false, false},    {"signinXapproved", kT0 + 30, true, true},
      {"SIGNIN.approved", kT0 + 40, false, true},  {"integration.created", kT0 + 50, false, true},
      {"signin.approved", kT0 + 60, false, false},
  };
  std::vector<std::int64_t> ids;
  for (const Ev& ev : evs) {
    AuditEventRecord e;
    e.org_id = s_.org.id;
    e.at = ev.at;
    e.actor_kind = "system";
    e.kind = ev.kind;
    if (ev.user) e.user_id = s_.user.id;
    e.integration_id = ev.first_integration ? s_.integration.id : second.id;
    auto id = audit.append(e);
    ASSERT_TRUE(id) << id.error().message;
    ids.push_back(*id);
  }
  AuditEventRecord elsewhere;
  elsewhere.org_id = "other-org";
  elsewhere.at = kT0;
  elsewhere.actor_kind = "system";
  elsewhere.kind = "signin.approved";
  ASSERT_TRUE(audit.append(elsewhere));

  auto ids_of = [&](const AuditQuery& q) {
    std::vector<std::int64_t> out;
    auto r = audit.list(q);
    EXPECT_TRUE(r) << r.error().message;
    if (r)
      for (const auto& e : *r) out.push_back(e.id);
    return out;
  };
  AuditQuery q;
  q.org_id = s_.org.id;
  q.kind_prefix = "signin.";
  EXPECT_EQ(ids_of(q), (std::vector<std::int64_t>{ids[6], ids[1], ids[0]}))
      << "a literal, case-sensitive prefix: not signinX…, not SIGNIN.…";
  q.kind_prefix = "sign_n";
  EXPECT_TRUE(ids_of(q).empty()) << "_ is no wildcard";
  q.kind_prefix = "%";
  EXPECT_TRUE(ids_of(q).empty()) << "% is no wildcard";

  q.kind_prefix = "signin.";
  q.from = kT0 + 10;
  EXPECT_EQ(ids_of(q), (std::vector<std::int64_t>{ids[6], ids[1]}));
  q.to = kT0 + 60;  // exclusive
  EXPECT_EQ(ids_of(q), (std::vector<std::int64_t>{ids[1]}));
  q.user_id = s_.user.id;
  EXPECT_EQ(ids_of(q), (std::vector<std::int64_t>{ids[1]}));
  q.integration_id = s_.integration.id;
  EXPECT_TRUE(ids_of(q).empty());

  AuditQuery by_integration;
  by_integration.org_id = s_.org.id;
  by_integration.integration_id = s_.integration.id;
  EXPECT_EQ(ids_of(by_integration), (std::vector<std::int64_t>{ids[5], ids[4], ids[3], ids[0]}));
  by_integration.before_id = ids[4];
  by_integration.limit = 1;
  EXPECT_EQ(ids_of(by_integration), (std::vector<std::int64_t>{ids[3]}));

  AuditQuery window;
  window.org_id = s_.org.id;
  window.from = kT0 + 20;
  window.to = kT0 + 41;
  EXPECT_EQ(ids_of(window), (std::vector<std::int64_t>{ids[4], ids[3], ids[2]}));
  window.kind = "admin.signin";
  EXPECT_EQ(ids_of(window), (std::vector<std::int64_t>{ids[2]}));
}

TEST_P(DashboardRepoTest, SessionsRecordReauthentication) {
  AdminRecord a = add_admin(s_.org.id, "g@x", kT0);
  SessionRepo sessions(db());
  SessionRecord s{"hash-1", a.id, s_.org.id, kT0, kT0, kT0 + 100, kT0 + 1000, {}, "csrf", {}};
  ASSERT_TRUE(sessions.create(s));
  EXPECT_FALSE(sessions.find("hash-1").value()->reauthenticated_at);
  EXPECT_TRUE(sessions.mark_reauthenticated("hash-1", kT0 + 5).value());
  EXPECT_EQ(sessions.find("hash-1").value()->reauthenticated_at, std::optional<UnixTime>(kT0 + 5));
  EXPECT_TRUE(sessions.mark_reauthenticated("hash-1", kT0 + 9).value()) << "again, later";
  EXPECT_EQ(sessions.find("hash-1").value()->reauthenticated_at, std::optional<UnixTime>(kT0 + 9));
  EXPECT_FALSE(sessions.mark_reauthenticated("missing", kT0 + 9).value());
  ASSERT_TRUE(sessions.revoke("hash-1", kT0 + 10).value());
  EXPECT_FALSE(sessions.mark_reauthenticated("hash-1", kT0 + 11).value());
  EXPECT_EQ(sessions.find("hash-1").value()->reauthenticated_at, std::optional<UnixTime>(kT0 + 9));

  SessionRecord made{"hash-2", a.id, s_.org.id, kT0, kT0, kT0 + 100, kT0 + 1000, {}, "csrf", kT0 + 1};
  ASSERT_TRUE(sessions.create(made));
  EXPECT_EQ(sessions.find("hash-2").value()->reauthenticated_at, std::optional<UnixTime>(kT0 + 1));
}

TEST_P(DashboardRepoTest, OrgSettingsSaveAndReplace) {
  OrgSettingsRepo settings(db());
  EXPECT_FALSE(settings.find(s_.org.id).value()) << "defaults: no row";

  OrgSettingsRecord o;
  o.org_id = s_.org.id;
  o.challenge_ttl_seconds = 90;
  o.number_digits = 3;
  o.max_pushes_per_hour = 7;
  o.lockout_max_failures = 4;
  o.code_lockout_threshold = 12;
  o.updated_at = kT0 + 1;
  ASSERT_TRUE(settings.save(o));
  auto got = settings.find(s_.org.id).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->org_id, s_.org.id);
  EXPECT_EQ(got->challenge_ttl_seconds, 90);
  EXPECT_EQ(got->number_digits, 3);
  EXPECT_EQ(got->max_pushes_per_hour, 7);
  EXPECT_EQ(got->lockout_max_failures, 4);
  EXPECT_EQ(got->code_lockout_threshold, 12);
  EXPECT_EQ(got->updated_at, kT0 + 1);

  o.challenge_ttl_seconds = 240;
  o.number_digits = 2;
  o.max_pushes_per_hour = 1000;
  o.lockout_max_failures = 100;
  o.code_lockout_threshold = 1;
  o.updated_at = kT0 + 2;
  ASSERT_TRUE(settings.save(o));
  got = settings.find(s_.org.id).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->challenge_ttl_seconds, 240);
  EXPECT_EQ(got->number_digits, 2);
  EXPECT_EQ(got->max_pushes_per_hour, 1000);
  EXPECT_EQ(got->lockout_max_failures, 100);
  EXPECT_EQ(got->code_lockout_threshold, 1);
  EXPECT_EQ(got->updated_at, kT0 + 2);
  EXPECT_EQ((*db().query_one("SELECT COUNT(*) FROM org_settings"))->int64(0).value(), 1) << "replaced, not added";

  OrgRecord other = make_org("Other");
  ASSERT_TRUE(OrgRepo(db()).create(other));
  EXPECT_FALSE(settings.find(other.id).value());

  OrgSettingsRecord orphan = o;
  orphan.org_id = "no-such-org";
  EXPECT_EQ(settings.save(orphan).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace avow::store
