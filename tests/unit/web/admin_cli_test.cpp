// `avowd admin …` on a migrated in-memory database, parsed by CLI11 as avowd parses it.
#include "server/admin_cli.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/logging.h"
#include "common/random.h"
#include "domain/users.h"
#include "server/app.h"
#include "store/database.h"
#include "store/repositories.h"

namespace avow::server {
namespace {

using nlohmann::json;

constexpr char kPublicUrl[] = "https://mfa.example.com";
constexpr char kDirectory[] = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";
constexpr char kAppId[] = "11111111-2222-4333-8444-555555555555";
constexpr char kGuestTenant[] = "44444444-4444-4444-8444-444444444444";

struct Outcome {
  int rc = -1;
  std::string out;
  std::string err;
  json json_out() const { return json::parse(out); }
};

class AdminCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init(log::Level::kWarn);
    store::SqliteOptions opts;
    opts.path = ":memory:";
    auto db = store::open_sqlite(opts);
    ASSERT_TRUE(db) << db.error().message;
    database_ = *db;
    ASSERT_TRUE(database_->migrate());
  }

  // Parses `args` (after "avowd") the way cli.cpp does and runs the admin command.
  Outcome run(std::vector<std::string> args) {
    CLI::App app{"avowd"};
    std::string config_file;
    AdminCli admin;
    admin.attach(app, [&](CLI::App* cmd) { cmd->add_option("--config", config_file); });
    args.insert(args.begin(), "avowd");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    app.parse(static_cast<int>(argv.size()), argv.data());  // CLI::ParseError escapes: cli.cpp turns it into 2
    EXPECT_TRUE(admin.parsed());
    std::ostringstream out, err;
    Outcome o;
    o.rc = admin.run(*database_, clock_, kPublicUrl, out, err);
    o.out = out.str();
    o.err = err.str();
    return o;
  }

  std::string create_org(const std::string& name) {
    Outcome o = run({"admin", "org", "create", "--name", name, "--json"});
    EXPECT_EQ(o.rc, kExitOk) << o.err;
    return o.json_out()["id"];
  }

  json create_integration(const std::string& org, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"admin",         "integration",    "create",   "--org",    org,    "--name",
                                     "Contoso Entra", "--directory-id", kDirectory, "--app-id", kAppId, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome o = run(args);
    EXPECT_EQ(o.rc, kExitOk) << o.err;
    return o.rc == kExitOk ? o.json_out() : json();
  }

  ManualClock clock_;
  std::shared_ptr<store::Database> database_;
};

TEST_F(AdminCliTest, OrgCreateAndList) {
  Outcome created = run({"admin", "org", "create", "--name", "  Contoso  ", "--json"});
  ASSERT_EQ(created.rc, kExitOk) << created.err;
  json org = created.json_out();
  EXPECT_EQ(org["name"], "Contoso");
  EXPECT_TRUE(is_guid(org["id"].get<std::string>()));
  EXPECT_EQ(org["created_at"], "2023-11-14T22:13:20Z");

  Outcome listed = run({"admin", "org", "list", "--json"});
  ASSERT_EQ(listed.rc, kExitOk);
  ASSERT_EQ(listed.json_out()["orgs"].size(), 1u);
  EXPECT_EQ(listed.json_out()["orgs"][0]["id"], org["id"]);

  Outcome human = run({"admin", "org", "list"});
  ASSERT_EQ(human.rc, kExitOk);
  EXPECT_NE(human.out.find("Contoso"), std::string::npos);
  EXPECT_NE(human.out.find(org["id"].get<std::string>()), std::string::npos);
}

TEST_F(AdminCliTest, OrgCreateRefusesABadName) {
  Outcome o = run({"admin", "org", "create", "--name", "   "});
  EXPECT_EQ(o.rc, kExitUsage);
  EXPECT_NE(o.err.find("--name"), std::string::npos) << o.err;
  EXPECT_TRUE(run({"admin", "org", "list", "--json"}).json_out()["orgs"].empty());
}

TEST_F(AdminCliTest, IntegrationCreateJsonHasEverythingEntraNeeds) {
  const std::string org = create_org("Contoso");
  json i = create_integration("Contoso");  // by name
  ASSERT_FALSE(i.is_null());
  const std::string client_id = i["client_id"];
  const std::string issuer = std::string(kPublicUrl) + "/entra/" + client_id;
  EXPECT_TRUE(is_guid(i["id"].get<std::string>()));
  EXPECT_TRUE(is_guid(client_id));
  EXPECT_EQ(i["org_id"], org);
  EXPECT_EQ(i["name"], "Contoso Entra");
  EXPECT_EQ(i["directory_id"], "72f988bf-86f1-41af-91ab-2d7cd011db47");  // lowercased
  EXPECT_EQ(i["app_id"], kAppId);
  EXPECT_EQ(i["cloud"], "global");
  EXPECT_EQ(i["status"], "enabled");
  EXPECT_EQ(i["guest_policy"], "any");
  EXPECT_TRUE(i["guest_tenants"].empty());
  EXPECT_EQ(i["issuer"], issuer);
  EXPECT_EQ(i["discovery_url"], issuer + "/.well-known/openid-configuration");
  EXPECT_EQ(i["authorize_url"], issuer + "/authorize");
  EXPECT_EQ(i["jwks_url"], issuer + "/jwks");
  EXPECT_EQ(i["eam"], (json{{"name", "Contoso Entra"},
                            {"client_id", client_id},
                            {"discovery_url", issuer + "/.well-known/openid-configuration"},
                            {"app_id", kAppId}}));
  // entra-protocol.md §1, exactly.
  const json expected_control = json::parse(R"({
    "Name": "Contoso Entra", "AppId": ")" + std::string(kAppId) +
                                            R"(", "ClientId": ")" + client_id + R"(",
    "DiscoveryUrl": ")" + issuer + R"(/.well-known/openid-configuration",
    "Controls": [ { "Id": "RequireAvowMfa", "Name": "RequireAvowMfa",
                    "ClaimsRequested": [ { "Type": "AvowMfa", "Value": "MfaDone", "Values": null } ] } ] })");
  EXPECT_EQ(i["custom_control"], expected_control);
}

TEST_F(AdminCliTest, IntegrationCreateWithCloudAndGuestList) {
  const std::string org = create_org("Contoso");
  json i = create_integration(
      org, {"--cloud", "usgov", "--guests", "list", "--guest-tenant", kGuestTenant, "--guest-tenant", kGuestTenant});
  ASSERT_FALSE(i.is_null());
  EXPECT_EQ(i["cloud"], "usgov");
  EXPECT_EQ(i["guest_policy"], "list");
  EXPECT_EQ(i["guest_tenants"], json::array({kGuestTenant}));  // de-duplicated
}

TEST_F(AdminCliTest, IntegrationCreateRefusesBadInputWithUsageStatus) {
  const std::string org = create_org("Contoso");
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {{"--directory-id", "not-a-guid", "--app-id", kAppId}, "directory"},
      {{"--directory-id", kDirectory, "--app-id", "nope"}, "app"},
      {{"--directory-id", kDirectory, "--app-id", kAppId, "--cloud", "mars"}, "cloud"},
      {{"--directory-id", kDirectory, "--app-id", kAppId, "--guests", "list"}, "guest"},
      {{"--directory-id", kDirectory, "--app-id", kAppId, "--guest-tenant", kGuestTenant}, "guest"},
      {{"--directory-id", kDirectory, "--app-id", " "}, "app-id"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"admin", "integration", "create", "--org", org, "--name", "X"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Outcome o = run(args);
    EXPECT_EQ(o.rc, kExitUsage) << c.mentions << ": " << o.err;
    EXPECT_NE(o.err.find(c.mentions), std::string::npos) << o.err;
  }
  EXPECT_TRUE(run({"admin", "integration", "list", "--json"}).json_out()["integrations"].empty());
}

TEST_F(AdminCliTest, IntegrationCreateForAnUnknownOrgIsNotFound) {
  Outcome o = run({"admin", "integration", "create", "--org", "Nobody", "--name", "X", "--directory-id", kDirectory,
                   "--app-id", kAppId});
  EXPECT_EQ(o.rc, kExitFailure);
  EXPECT_NE(o.err.find("not found"), std::string::npos);
  o = run({"admin", "integration", "create", "--org", new_id(), "--name", "X", "--directory-id", kDirectory, "--app-id",
           kAppId});
  EXPECT_EQ(o.rc, kExitFailure);
}

TEST_F(AdminCliTest, AmbiguousOrgNameIsAUsageError) {
  create_org("Twin");
  create_org("Twin");
  Outcome o = run({"admin", "integration", "list", "--org", "Twin"});
  EXPECT_EQ(o.rc, kExitUsage);
  EXPECT_NE(o.err.find("use its id"), std::string::npos);
}

TEST_F(AdminCliTest, RequiredOptionsAreEnforcedByTheParser) {
  EXPECT_THROW(run({"admin", "integration", "create", "--org", "x", "--name", "X", "--directory-id", kDirectory}),
               CLI::ParseError);
  EXPECT_THROW(run({"admin", "integration", "show"}), CLI::ParseError);
}

TEST_F(AdminCliTest, ShowByIdOrClientId) {
  create_org("Contoso");
  json i = create_integration("Contoso");
  Outcome by_id = run({"admin", "integration", "show", i["id"], "--json"});
  ASSERT_EQ(by_id.rc, kExitOk) << by_id.err;
  EXPECT_EQ(by_id.json_out(), i);
  Outcome by_client = run({"admin", "integration", "show", i["client_id"].get<std::string>(), "--json"});
  ASSERT_EQ(by_client.rc, kExitOk);
  EXPECT_EQ(by_client.json_out(), i);

  Outcome human = run({"admin", "integration", "show", i["client_id"]});
  ASSERT_EQ(human.rc, kExitOk);
  for (const std::string& s : {std::string("Discovery Endpoint"), i["discovery_url"].get<std::string>(),
                               std::string("\"ClaimsRequested\""), std::string("Contoso (")})
    EXPECT_NE(human.out.find(s), std::string::npos) << s;
  EXPECT_EQ(human.out.find("not https"), std::string::npos);
}

TEST_F(AdminCliTest, ShowUnknownIsNotFound) {
  Outcome o = run({"admin", "integration", "show", new_id()});
  EXPECT_EQ(o.rc, kExitFailure);
  EXPECT_NE(o.err.find("not found"), std::string::npos);
}

TEST_F(AdminCliTest, ListAllOrOneOrg) {
  create_org("A");
  create_org("B");
  create_integration("A");
  create_integration("B");
  create_integration("B");
  EXPECT_EQ(run({"admin", "integration", "list", "--json"}).json_out()["integrations"].size(), 3u);
  json only_b = run({"admin", "integration", "list", "--org", "B", "--json"}).json_out()["integrations"];
  ASSERT_EQ(only_b.size(), 2u);
  for (const auto& i : only_b) EXPECT_TRUE(i.contains("client_id"));
}

TEST_F(AdminCliTest, DisableAndEnable) {
  create_org("Contoso");
  json i = create_integration("Contoso");
  const std::string id = i["id"];
  Outcome off = run({"admin", "integration", "disable", id});
  ASSERT_EQ(off.rc, kExitOk) << off.err;
  EXPECT_NE(off.out.find("now disabled"), std::string::npos);
  EXPECT_EQ(run({"admin", "integration", "show", id, "--json"}).json_out()["status"], "disabled");
  Outcome again = run({"admin", "integration", "disable", i["client_id"]});
  EXPECT_EQ(again.rc, kExitOk);
  EXPECT_NE(again.out.find("already disabled"), std::string::npos);
  ASSERT_EQ(run({"admin", "integration", "enable", id}).rc, kExitOk);
  EXPECT_EQ(run({"admin", "integration", "show", id, "--json"}).json_out()["status"], "enabled");
  EXPECT_EQ(run({"admin", "integration", "enable", new_id()}).rc, kExitFailure);
}

TEST_F(AdminCliTest, UserAllowDevice) {
  const std::string org = create_org("Contoso");
  create_integration(org);
  std::string user_id;
  {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    auto u = domain::UserService(**conn, clock_)
                 .find_or_create(org, "72f988bf-86f1-41af-91ab-2d7cd011db47",
                                 {"72f988bf-86f1-41af-91ab-2d7cd011db47", new_id(), "ada@contoso.example", "Ada"});
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_FALSE(u->allow_new_device);
    user_id = u->id;
  }
  Outcome o = run({"admin", "user", "allow-device", user_id});
  ASSERT_EQ(o.rc, kExitOk) << o.err;
  EXPECT_NE(o.out.find("ada@contoso.example"), std::string::npos);
  {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    auto u = store::UserRepo(**conn).get(user_id);
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->allow_new_device);
  }
  EXPECT_EQ(run({"admin", "user", "allow-device", new_id()}).rc, kExitFailure);
}

TEST_F(AdminCliTest, UserUnlockCodes) {
  const std::string org = create_org("Contoso");
  create_integration(org);
  std::string user_id;
  {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    auto u = domain::UserService(**conn, clock_)
                 .find_or_create(org, "72f988bf-86f1-41af-91ab-2d7cd011db47",
                                 {"72f988bf-86f1-41af-91ab-2d7cd011db47", new_id(), "ada@contoso.example", "Ada"});
    ASSERT_TRUE(u) << u.error().message;
    user_id = u->id;
    store::UserRepo users(**conn);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(users.record_code_failure(user_id));
    ASSERT_TRUE(users.lock_codes(user_id, clock_.unix_now()).value());
  }
  Outcome o = run({"admin", "user", "unlock-codes", user_id, "--json"});
  ASSERT_EQ(o.rc, kExitOk) << o.err;
  EXPECT_EQ(json::parse(o.out), (json{{"user_id", user_id}, {"was_locked", true}, {"codes", "open"}}));
  {
    auto conn = database_->connection();
    ASSERT_TRUE(conn);
    auto lock = store::UserRepo(**conn).code_lock(user_id);
    ASSERT_TRUE(lock);
    EXPECT_FALSE(lock->locked());
    EXPECT_EQ(lock->failures, 0);
    store::AuditQuery q;
    q.user_id = user_id;
    q.kind = "user.codes_unlocked";
    auto events = store::AuditRepo(**conn).list(q);
    ASSERT_TRUE(events);
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ(events->front().actor_kind, "admin");
  }
  Outcome again = run({"admin", "user", "unlock-codes", user_id});
  ASSERT_EQ(again.rc, kExitOk) << again.err;
  EXPECT_NE(again.out.find("was not locked"), std::string::npos) << again.out;
  EXPECT_EQ(run({"admin", "user", "unlock-codes", new_id()}).rc, kExitFailure);
}

TEST_F(AdminCliTest, HttpPublicUrlIsFlagged) {
  create_org("Contoso");
  json i = create_integration("Contoso");
  CLI::App app{"avowd"};
  AdminCli admin;
  admin.attach(app, [](CLI::App*) {});
  std::vector<std::string> args = {"avowd", "admin", "integration", "show", i["id"]};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  std::ostringstream out, err;
  ASSERT_EQ(admin.run(*database_, clock_, "http://127.0.0.1:8080", out, err), kExitOk);
  EXPECT_NE(out.str().find("not https"), std::string::npos);
  EXPECT_NE(out.str().find("http://127.0.0.1:8080/entra/"), std::string::npos);
}

TEST(AdminCliConfig, MissingDatabaseIsAFailure) {
  CLI::App app{"avowd"};
  AdminCli admin;
  admin.attach(app, [](CLI::App*) {});
  std::vector<std::string> args = {"avowd", "admin", "org", "list"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  Config c;
  c.database.path = "/nonexistent-dir-for-avow-test/avow.db";
  std::ostringstream out, err;
  EXPECT_EQ(admin.run(c, out, err), kExitFailure);
  EXPECT_NE(err.str().find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace avow::server
