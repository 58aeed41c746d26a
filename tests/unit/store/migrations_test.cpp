// Migrations: from empty, re-run, newer and divergent databases refused, failures roll back, dialect tokens.
#include <gtest/gtest.h>

#include <array>

#include "test_support.h"

namespace avow::store {
namespace {

using testing::open_file;
using testing::TempDir;

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = open_file(dir_.file("m.db"), 2);
    auto c = db_->connection();
    ASSERT_TRUE(c);
    conn_.emplace(std::move(*c));
  }
  Db& conn() { return **conn_; }

  bool table_exists(std::string_view name) {
    auto row = conn().query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", {name});
    return row && row->has_value();
  }
  std::int64_t count(std::string_view sql) { return (*conn().query_one(sql))->int64(0).value(); }

  TempDir dir_;
  std::shared_ptr<Database> db_;
  std::optional<Connection> conn_;
};

TEST_F(MigrationsTest, FromEmptyCreatesEveryTable) {
  EXPECT_EQ(schema_version(conn()).value(), 0);
  ASSERT_TRUE(migrate(conn()));
  EXPECT_EQ(schema_version(conn()).value(), latest_schema_version());
  for (const char* t :
       {"orgs", "admins", "integrations", "users", "devices", "bindings", "challenges", "scan_codes", "used_hints",
        "device_nonces", "audit_events", "sessions", "signing_keys", "schema_migrations"}) {
    EXPECT_TRUE(table_exists(t)) << t;
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), static_cast<std::int64_t>(all_migrations().size()));
  auto row = conn().query_one("SELECT name FROM schema_migrations WHERE version = 1");
  EXPECT_EQ((*row)->text(0).value(), all_migrations()[0].name);
}

TEST_F(MigrationsTest, ReRunIsANoOp) {
  ASSERT_TRUE(migrate(conn()));
  ASSERT_TRUE(conn().execute("UPDATE schema_migrations SET applied_at = 7"));
  ASSERT_TRUE(migrate(conn()));
  ASSERT_TRUE(db_->migrate());
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), static_cast<std::int64_t>(all_migrations().size()));
  EXPECT_EQ(count("SELECT MIN(applied_at) FROM schema_migrations"), 7);
}

TEST_F(MigrationsTest, RefusesANewerDatabaseAndLeavesItUntouched) {
  ASSERT_TRUE(conn().execute_script(
      "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);"
      "INSERT INTO schema_migrations VALUES (1, 'initial schema', 1), (999, 'from the future', 2);"));
  Status st = migrate(conn());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_NE(st.error().message.find("999"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("newer"), std::string::npos) << st.error().message;
  EXPECT_FALSE(table_exists("orgs"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), 2);
  EXPECT_EQ(schema_version(conn()).value(), 999);
  EXPECT_FALSE(db_->migrate());
}

TEST_F(MigrationsTest, RefusesADatabaseWithADifferentHistory) {
  ASSERT_TRUE(conn().execute_script(
      "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);"
      "INSERT INTO schema_migrations VALUES (1, 'some other schema', 1);"));
  Status st = migrate(conn());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_FALSE(table_exists("orgs"));
}

constexpr std::array<Migration, 1> kOld = {{{1, "one", "CREATE TABLE a (id TEXT PRIMARY KEY, b {{bytes}});"}}};
constexpr std::array<Migration, 2> kNew = {{
    {1, "one", "CREATE TABLE a (id TEXT PRIMARY KEY, b {{bytes}});"},
    {2, "two", "CREATE TABLE c (id {{serial_pk}}, v TEXT); INSERT INTO c (v) VALUES ('seeded');"},
}};
constexpr std::array<Migration, 2> kBroken = {{
    {1, "one", "CREATE TABLE a (id TEXT PRIMARY KEY, b {{bytes}});"},
    {2, "two", "CREATE TABLE half (id TEXT); INSERT INTO nowhere VALUES (1);"},
}};
constexpr std::array<Migration, 1> kGap = {{{2, "two", "SELECT 1;"}}};

TEST_F(MigrationsTest, AppliesOnlyWhatIsMissingInOrder) {
  ASSERT_TRUE(migrate(conn(), kOld));
  EXPECT_EQ(schema_version(conn()).value(), 1);
  EXPECT_FALSE(table_exists("c"));
  ASSERT_TRUE(migrate(conn(), kNew));
  EXPECT_EQ(schema_version(conn()).value(), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM c"), 1);
  ASSERT_TRUE(migrate(conn(), kNew));
  EXPECT_EQ(count("SELECT COUNT(*) FROM c"), 1);  // not seeded twice
  // An older binary refuses the newer database.
  EXPECT_EQ(migrate(conn(), kOld).error().code, ErrorCode::kConflict);
}

TEST_F(MigrationsTest, AFailedMigrationRollsBackWhole) {
  Status st = migrate(conn(), kBroken);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("migration 2"), std::string::npos) << st.error().message;
  EXPECT_EQ(schema_version(conn()).value(), 1);
  EXPECT_TRUE(table_exists("a"));
  EXPECT_FALSE(table_exists("half"));
}

TEST_F(MigrationsTest, RefusesAListWithGaps) { EXPECT_EQ(migrate(conn(), kGap).error().code, ErrorCode::kInternal); }

TEST(MigrationSqlTest, DialectTokens) {
  auto sqlite = render_migration_sql("a {{bytes}} b {{serial_pk}} c", "sqlite");
  ASSERT_TRUE(sqlite);
  EXPECT_EQ(*sqlite, "a BLOB b INTEGER PRIMARY KEY AUTOINCREMENT c");
  auto pg = render_migration_sql("a {{bytes}} b {{serial_pk}} c", "postgres");
  ASSERT_TRUE(pg);
  EXPECT_EQ(*pg, "a BYTEA b BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY c");
  EXPECT_EQ(render_migration_sql("{{nope}}", "sqlite").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_migration_sql("{{bytes", "sqlite").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(render_migration_sql("x", "oracle").error().code, ErrorCode::kInvalidArgument);
}

TEST(MigrationSqlTest, BuiltInSchemaRendersForBothDialectsWithoutLeftovers) {
  int expected = 1;
  for (const Migration& m : all_migrations()) {
    EXPECT_EQ(m.version, expected++);
    for (const char* dialect : {"sqlite", "postgres"}) {
      auto sql = render_migration_sql(m.sql, dialect);
      ASSERT_TRUE(sql) << m.name << " " << dialect;
      EXPECT_EQ(sql->find("{{"), std::string::npos);
      if (std::string_view(dialect) == "postgres") {
        EXPECT_EQ(sql->find("BLOB"), std::string::npos);
        EXPECT_EQ(sql->find("AUTOINCREMENT"), std::string::npos);
      }
    }
  }
  EXPECT_EQ(latest_schema_version(), all_migrations().back().version);
}

}  // namespace
}  // namespace avow::store
