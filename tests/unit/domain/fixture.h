// Shared by the domain tests: a migrated in-memory database, a ManualClock and a small org.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>

#include "common/clock.h"
#include "common/random.h"
#include "domain/admins.h"
#include "domain/devices.h"
#include "domain/integrations.h"
#include "domain/users.h"
#include "store/database.h"
#include "store/repositories.h"

namespace avow::domain::testing {

inline constexpr char kDirectory[] = "22222222-2222-4222-8222-222222222222";
inline constexpr char kGuestTenant[] = "44444444-4444-4444-8444-444444444444";

class DomainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions opts;
    opts.path = ":memory:";
    auto opened = store::open_sqlite(opts);
    ASSERT_TRUE(opened) << opened.error().message;
    database_ = *opened;
    ASSERT_TRUE(database_->migrate());
    auto c = database_->connection();
    ASSERT_TRUE(c);
    conn_.emplace(std::move(*c));

    auto o = AdminService(db(), clock_).create_org("Contoso", {"Grace", "grace@contoso.example", {}});
    ASSERT_TRUE(o) << o.error().message;
    org_ = o->org;
    owner_ = o->owner;
    IntegrationSpec spec;
    spec.name = "Contoso Entra";
    spec.directory_id = kDirectory;
    auto i = IntegrationService(db(), clock_).create(org_.id, spec);
    ASSERT_TRUE(i) << i.error().message;
    integration_ = *i;
    user_ = new_user();
    device_ = new_device();
  }

  store::Db& db() { return **conn_; }

  store::UserRecord new_user(std::string tid = kDirectory) {
    auto u =
        UserService(db(), clock_).find_or_create(org_.id, kDirectory, {tid, new_id(), "ada@contoso.example", "Ada"});
    EXPECT_TRUE(u) << u.error().message;
    return *u;
  }

  store::DeviceRecord new_device() {
    NewDevice d;
    d.name = "Ada's phone";
    d.public_jwk = R"({"kty":"EC","crv":"P-256","x":"x","y":"y"})";
    auto r = DeviceService(db(), clock_).enroll(d);
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }

  void bind(const store::UserRecord& u, const store::DeviceRecord& d) {
    auto b = BindingService(db(), clock_).bind(u.id, d.id);
    ASSERT_TRUE(b) << b.error().message;
  }

  void advance(std::chrono::seconds s) { clock_.advance(s); }
  store::UnixTime now() const { return clock_.unix_now(); }

  ManualClock clock_;
  std::shared_ptr<store::Database> database_;
  std::optional<store::Connection> conn_;
  store::OrgRecord org_;
  store::AdminRecord owner_;
  store::IntegrationRecord integration_;
  store::UserRecord user_;
  store::DeviceRecord device_;
};

}  // namespace avow::domain::testing
