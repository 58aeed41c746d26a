// Shared by the store tests: temporary database files and a migrated database with a few rows.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/random.h"
#include "store/database.h"
#include "store/migrations.h"
#include "store/records.h"
#include "store/repositories.h"

namespace avow::store::testing {

// A directory under the system temp dir, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("avow-store-" + new_id())) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::shared_ptr<Database> open_or_die(SqliteOptions opts) {
  auto db = open_sqlite(opts);
  if (!db) ADD_FAILURE() << "open_sqlite: " << db.error().message;
  return db ? *db : nullptr;
}

inline std::shared_ptr<Database> open_file(const std::string& path, int pool = 4) {
  SqliteOptions opts;
  opts.path = path;
  opts.pool_size = pool;
  return open_or_die(opts);
}

constexpr UnixTime kT0 = 1'700'000'000;

inline OrgRecord make_org(std::string name = "Contoso") { return OrgRecord{new_id(), std::move(name), kT0}; }

inline UserRecord make_user(const std::string& org_id, std::string oid = new_id()) {
  UserRecord u;
  u.id = new_id();
  u.org_id = org_id;
  u.tenant_id = "11111111-1111-4111-8111-111111111111";
  u.object_id = std::move(oid);
  u.upn = "ada@contoso.example";
  u.display_name = "Ada";
  u.created_at = kT0;
  return u;
}

inline DeviceRecord make_device() {
  DeviceRecord d;
  d.id = new_id();
  d.name = "Ada's phone";
  d.public_jwk = R"({"kty":"EC","crv":"P-256","x":"x","y":"y"})";
  d.created_at = kT0;
  return d;
}

inline IntegrationRecord make_integration(const std::string& org_id) {
  IntegrationRecord i;
  i.id = new_id();
  i.org_id = org_id;
  i.name = "Contoso Entra";
  i.directory_id = "22222222-2222-4222-8222-222222222222";
  i.app_id = "33333333-3333-4333-8333-333333333333";
  i.client_id = new_id();
  i.claim_type = "AvowMfa";
  i.claim_value = "MfaDone";
  i.created_at = kT0;
  return i;
}

inline ChallengeRecord make_challenge(const std::string& org_id, const std::string& user_id,
                                      const std::string& integration_id) {
  ChallengeRecord c;
  c.id = new_id();
  c.org_id = org_id;
  c.kind = ChallengeKind::kEam;
  c.user_id = user_id;
  c.integration_id = integration_id;
  c.number = 42;
  c.choices = {17, 42, 93};
  c.context = R"({"ip":"203.0.113.9"})";
  c.nonce = "n-1";
  c.state_param = "s-1";
  c.redirect_uri = "https://login.microsoftonline.com/common/federation/externalauthprovider";
  c.client_id = "client";
  c.hint_sub = "sub-1";
  c.created_at = kT0;
  c.expires_at = kT0 + 120;
  return c;
}

// Rows most tests need: one org, one integration, one user, one device.
struct Seed {
  OrgRecord org;
  IntegrationRecord integration;
  UserRecord user;
  DeviceRecord device;
};

inline Seed seed(Db& db) {
  Seed s;
  s.org = make_org();
  EXPECT_TRUE(OrgRepo(db).create(s.org));
  s.integration = make_integration(s.org.id);
  EXPECT_TRUE(IntegrationRepo(db).create(s.integration));
  s.user = make_user(s.org.id);
  EXPECT_TRUE(UserRepo(db).create(s.user));
  s.device = make_device();
  EXPECT_TRUE(DeviceRepo(db).create(s.device));
  return s;
}

}  // namespace avow::store::testing
