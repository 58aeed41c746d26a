// Migrations on every backend: from empty, re-run, newer and divergent databases refused, failures roll
// back; and the dialect tokens.
#include <gtest/gtest.h>

#include <array>
#include <future>

#include "backends.h"

namespace avow::store {
namespace {

using testing::Backend;
using testing::ScratchDatabase;

class MigrationsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    scratch_ = ScratchDatabase::create(GetParam());
    AVOW_SKIP_IF_NO_BACKEND(scratch_);
    db_ = scratch_->open(2);
    ASSERT_TRUE(db_);
    auto c = db_->connection();
    ASSERT_TRUE(c);
    conn_.emplace(std::move(*c));
  }
  void TearDown() override {
    conn_.reset();
    if (db_) db_->close();
  }
  Db& conn() { return **conn_; }

  // Database::migrate borrows a connection of its own: :memory: has only one, so give ours back meanwhile.
  Status migrate_db() {
    conn_.reset();
    Status st = db_->migrate();
    auto c = db_->connection();
    EXPECT_TRUE(c);
    conn_.emplace(std::move(*c));
    return st;
  }
  bool table_exists(std::string_view name) { return testing::table_exists(conn(), name); }
  std::int64_t count(std::string_view sql) { return (*conn().query_one(sql))->int64(0).value(); }

  std::unique_ptr<ScratchDatabase> scratch_;
  std::shared_ptr<Database> db_;
  std::optional<Connection> conn_;
};

INSTANTIATE_TEST_SUITE_P(All, MigrationsTest, testing::kAllBackends, testing::backend_name);

TEST_P(MigrationsTest, FromEmptyCreatesEveryTable) {
  EXPECT_EQ(schema_version(conn()).value(), 0);
  ASSERT_TRUE(migrate(conn()));
  EXPECT_EQ(schema_version(conn()).value(), latest_schema_version());
  for (const char* t : {"orgs", "admins", "integrations", "users", "devices", "bindings", "challenges", "scan_codes",
                        "used_hints", "device_nonces", "audit_events", "sessions", "signing_keys",
                        "binding_code_secrets", "org_settings", "schema_migrations"}) {
    EXPECT_TRUE(table_exists(t)) << t;
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), static_cast<std::int64_t>(all_migrations().size()));
  auto row = conn().query_one("SELECT name FROM schema_migrations WHERE version = 1");
  EXPECT_EQ((*row)->text(0).value(), all_migrations()[0].name);
}

TEST_P(MigrationsTest, ReRunIsANoOp) {
  ASSERT_TRUE(migrate(conn()));
  ASSERT_TRUE(conn().execute("UPDATE schema_migrations SET applied_at = 7"));
  ASSERT_TRUE(migrate(conn()));
  ASSERT_TRUE(migrate_db());
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), static_cast<std::int64_t>(all_migrations().size()));
  EXPECT_EQ(count("SELECT MIN(applied_at) FROM schema_migrations"), 7);
}

TEST_P(MigrationsTest, RefusesANewerDatabaseAndLeavesItUntouched) {
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
  EXPECT_FALSE(migrate_db());
}

TEST_P(MigrationsTest, RefusesADatabaseWithADifferentHistory) {
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

TEST_P(MigrationsTest, AppliesOnlyWhatIsMissingInOrder) {
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

TEST_P(MigrationsTest, AFailedMigrationRollsBackWhole) {
  Status st = migrate(conn(), kBroken);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("migration 2"), std::string::npos) << st.error().message;
  EXPECT_EQ(schema_version(conn()).value(), 1);
  EXPECT_TRUE(table_exists("a"));
  EXPECT_FALSE(table_exists("half"));
}

TEST_P(MigrationsTest, RefusesAListWithGaps) { EXPECT_EQ(migrate(conn(), kGap).error().code, ErrorCode::kInternal); }

// Nodes starting together migrate the same empty database at once: one applies, the other waits and sees
// it done; neither fails.
TEST_P(MigrationsTest, ConcurrentMigrationsFromSeveralDatabasesAllSucceed) {
  if (GetParam() == Backend::kSqliteMemory) GTEST_SKIP() << ":memory: is private to one connection";
  conn_.reset();
  std::vector<std::shared_ptr<Database>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(scratch_->open(2));
  std::vector<std::future<Status>> runs;
  for (auto& n : nodes) runs.push_back(std::async(std::launch::async, [n] { return n->migrate(); }));
  for (auto& r : runs) {
    Status st = r.get();
    EXPECT_TRUE(st) << st.error().message;
  }
  EXPECT_EQ(nodes[0]->schema_version().value(), latest_schema_version());
  auto c = nodes[0]->connection();
  ASSERT_TRUE(c);
  EXPECT_EQ((*(*c)->query_one("SELECT COUNT(*) FROM schema_migrations"))->int64(0).value(),
            static_cast<std::int64_t>(all_migrations().size()));
}

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
