// The Db interface on every backend: values, placeholders, errors, transactions, pool; and SQLite's
// connection settings. PostgreSQL-only behaviour is in postgres_test.cpp.
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "backends.h"

namespace avow::store {
namespace {

using testing::Backend;
using testing::open_file;
using testing::open_or_die;
using testing::ScratchDatabase;
using testing::TempDir;

class DbTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    scratch_ = ScratchDatabase::create(GetParam());
    AVOW_SKIP_IF_NO_BACKEND(scratch_);
    db_ = scratch_->open();
    ASSERT_TRUE(db_);
    auto c = db_->connection();
    ASSERT_TRUE(c) << c.error().message;
    conn_.emplace(std::move(*c));
    // The same table on both engines: BLOB and REAL are SQLite's spellings of BYTEA and DOUBLE PRECISION.
    ASSERT_TRUE(conn().execute(postgres()
                                   ? "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, data BYTEA, x DOUBLE "
                                     "PRECISION)"
                                   : "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, data BLOB, x REAL)"));
  }
  void TearDown() override {
    conn_.reset();
    if (db_) db_->close();
  }
  Db& conn() { return **conn_; }
  bool postgres() const { return GetParam() == Backend::kPostgres; }

  std::unique_ptr<ScratchDatabase> scratch_;
  std::shared_ptr<Database> db_;
  std::optional<Connection> conn_;
};

INSTANTIATE_TEST_SUITE_P(All, DbTest, testing::kAllBackends, testing::backend_name);

TEST_P(DbTest, ValuesRoundTripWithTheirTypes) {
  const std::string bytes("\0\x01\xff\0z", 5);
  // SQLite keeps a NUL inside text; PostgreSQL text cannot hold one and refuses it (never truncates).
  const std::string name = postgres() ? std::string("na\xc3\xa9me") : std::string("na\0me", 5);
  if (postgres()) {
    auto nul = conn().execute("INSERT INTO t (id, name) VALUES ($1, $2)", {8, std::string("na\0me", 5)});
    ASSERT_FALSE(nul);
    EXPECT_EQ(nul.error().code, ErrorCode::kInvalidArgument) << nul.error().message;
  }
  ASSERT_TRUE(conn().execute("INSERT INTO t (id, name, data, x) VALUES ($1, $2, $3, $4)", {7, name, Blob{bytes}, 2.5}));
  auto row = conn().query_one("SELECT id, name, data, x FROM t WHERE id = $1", {7});
  ASSERT_TRUE(row && *row);
  const Row& r = **row;
  EXPECT_EQ(r.int64(0).value(), 7);
  EXPECT_EQ(r.text(1).value(), name);
  EXPECT_EQ(r.blob(2).value(), bytes);
  EXPECT_DOUBLE_EQ(r.real(3).value(), 2.5);
  EXPECT_EQ(r.column_name(1), "name");
}

TEST_P(DbTest, EmptyBlobStaysAnEmptyBlobNotNull) {
  ASSERT_TRUE(conn().execute("INSERT INTO t (id, data) VALUES (1, $1)", {Blob{}}));
  auto row = conn().query_one("SELECT data, data IS NULL FROM t WHERE id = 1");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->blob(0).value(), "");
  EXPECT_EQ((*row)->int64(1).value(), 0);
}

TEST_P(DbTest, NullsAndOptionals) {
  std::optional<std::string> none;
  std::optional<std::int64_t> some = 5;
  auto row = conn().query_one("SELECT $1, $2, $3", {none, some, 7});
  ASSERT_TRUE(row && *row);
  EXPECT_TRUE((*row)->is_null(0));
  EXPECT_EQ((*row)->opt_text(0).value(), std::nullopt);
  EXPECT_EQ((*row)->opt_int64(0).value(), std::nullopt);
  EXPECT_EQ((*row)->opt_int64(1).value(), std::optional<std::int64_t>(5));
  // Typed getters refuse the wrong type and say which column.
  auto bad = (*row)->text(0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInternal);
  EXPECT_NE(bad.error().message.find("column 0"), std::string::npos);
  EXPECT_FALSE((*row)->int64(0));
  EXPECT_FALSE((*row)->text(2));
  EXPECT_FALSE((*row)->int64(9));    // out of range
  EXPECT_FALSE((*row)->boolean(1));  // 5 is not a boolean
}

TEST_P(DbTest, PlaceholdersBindByNumberInAnyOrderAndRepeat) {
  auto row = conn().query_one("SELECT $2 || '-' || $1 || '-' || $2, $3", {"a", "b", 3});
  ASSERT_TRUE(row && *row) << row.error().message;
  EXPECT_EQ((*row)->text(0).value(), "b-a-b");
  EXPECT_EQ((*row)->int64(1).value(), 3);
}

TEST_P(DbTest, ParameterCountMustMatch) {
  auto r = conn().query("SELECT $1, $2", {1});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  EXPECT_FALSE(conn().query("SELECT $1", {1, 2}));
}

TEST_P(DbTest, RefusesQuestionMarksGapsAndSeveralStatements) {
  EXPECT_FALSE(conn().query("SELECT ?", {1}));
  EXPECT_FALSE(conn().query("SELECT $1, $3", {1, 2}));
  auto two = conn().execute("INSERT INTO t (id) VALUES (1); INSERT INTO t (id) VALUES (2)");
  ASSERT_FALSE(two);
  auto count = conn().query_one("SELECT COUNT(*) FROM t");
  EXPECT_EQ((*count)->int64(0).value(), 0);
}

TEST_P(DbTest, ExecuteReturnsRowsChanged) {
  ASSERT_TRUE(conn().execute_script("INSERT INTO t (id) VALUES (1); INSERT INTO t (id) VALUES (2);"));
  auto n = conn().execute("UPDATE t SET x = 1.0");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(conn().execute("UPDATE t SET x = 2.0 WHERE id = 99").value(), 0);
  EXPECT_EQ(conn().execute("SELECT * FROM t").value(), 0);
}

TEST_P(DbTest, ConstraintViolationsMapToErrorCodes) {
  ASSERT_TRUE(conn().execute("INSERT INTO t (id, name) VALUES (1, 'a')"));
  auto dup = conn().execute("INSERT INTO t (id, name) VALUES (2, 'a')");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto dup_pk = conn().execute("INSERT INTO t (id, name) VALUES (1, 'b')");
  ASSERT_FALSE(dup_pk);
  EXPECT_EQ(dup_pk.error().code, ErrorCode::kAlreadyExists);

  ASSERT_TRUE(
      conn().execute_script("CREATE TABLE parent (id TEXT PRIMARY KEY);"
                            "CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent(id), n "
                            "INTEGER CHECK (n > 0));"));
  auto fk = conn().execute("INSERT INTO child (id, parent_id, n) VALUES ('c', 'nobody', 1)");
  ASSERT_FALSE(fk);
  EXPECT_EQ(fk.error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(conn().execute("INSERT INTO parent (id) VALUES ('p')"));
  auto check = conn().execute("INSERT INTO child (id, parent_id, n) VALUES ('c', 'p', 0)");
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, ErrorCode::kInvalidArgument);
  auto not_null = conn().execute("INSERT INTO child (id, parent_id, n) VALUES ('c', NULL, 1)");
  ASSERT_FALSE(not_null);
  EXPECT_EQ(not_null.error().code, ErrorCode::kInvalidArgument);
  auto syntax = conn().execute("INSERT INTO nowhere VALUES (1)");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code, ErrorCode::kInternal);
}

TEST_P(DbTest, TransactionCommitsOnOk) {
  Status st = conn().transaction([](Db& tx) -> Status {
    EXPECT_TRUE(tx.in_transaction());
    AVOW_TRY(tx.execute("INSERT INTO t (id) VALUES (1)"));
    AVOW_TRY(tx.execute("INSERT INTO t (id) VALUES (2)"));
    return ok();
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_FALSE(conn().in_transaction());
  EXPECT_EQ((*conn().query_one("SELECT COUNT(*) FROM t"))->int64(0).value(), 2);
}

TEST_P(DbTest, TransactionRollsBackOnErrorAndPassesItOn) {
  Status st = conn().transaction([](Db& tx) -> Status {
    AVOW_TRY(tx.execute("INSERT INTO t (id) VALUES (1)"));
    return fail(ErrorCode::kConflict, "changed my mind");
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(st.error().message, "changed my mind");
  EXPECT_EQ((*conn().query_one("SELECT COUNT(*) FROM t"))->int64(0).value(), 0);
}

TEST_P(DbTest, TransactionRollsBackOnFailedStatement) {
  ASSERT_TRUE(conn().execute("INSERT INTO t (id, name) VALUES (1, 'a')"));
  Status st = conn().transaction([](Db& tx) -> Status {
    AVOW_TRY(tx.execute("INSERT INTO t (id, name) VALUES (2, 'b')"));
    AVOW_TRY(tx.execute("INSERT INTO t (id, name) VALUES (3, 'a')"));  // unique violation
    return ok();
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ((*conn().query_one("SELECT COUNT(*) FROM t"))->int64(0).value(), 1);
}

TEST_P(DbTest, TransactionRollsBackAndRethrowsOnException) {
  EXPECT_THROW(conn().transaction([](Db& tx) -> Status {
    (void)tx.execute("INSERT INTO t (id) VALUES (1)");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_FALSE(conn().in_transaction());
  EXPECT_EQ((*conn().query_one("SELECT COUNT(*) FROM t"))->int64(0).value(), 0);
  // The connection is still usable for a new transaction.
  EXPECT_TRUE(conn().transaction(
      [](Db& tx) -> Status { return tx.execute("INSERT INTO t (id) VALUES (5)").map([](auto) {}); }));
}

TEST_P(DbTest, NestedTransactionIsASavepoint) {
  Status st = conn().transaction([](Db& tx) -> Status {
    AVOW_TRY(tx.execute("INSERT INTO t (id) VALUES (1)"));
    Status inner = tx.transaction([](Db& tx2) -> Status {
      AVOW_TRY(tx2.execute("INSERT INTO t (id) VALUES (2)"));
      return fail(ErrorCode::kConflict, "inner fails");
    });
    EXPECT_FALSE(inner);
    Status inner_ok = tx.transaction([](Db& tx2) -> Status {
      AVOW_TRY(tx2.execute("INSERT INTO t (id) VALUES (3)"));
      return ok();
    });
    EXPECT_TRUE(inner_ok);
    return ok();
  });
  ASSERT_TRUE(st) << st.error().message;
  auto rows = conn().query("SELECT id FROM t ORDER BY id");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].int64(0).value(), 1);
  EXPECT_EQ((*rows)[1].int64(0).value(), 3);
}

TEST_P(DbTest, TransactionValueReturnsTheValue) {
  Result<std::int64_t> id = transaction_value(conn(), [](Db& tx) -> Result<std::int64_t> {
    AVOW_TRY(tx.execute("INSERT INTO t (id) VALUES (41)"));
    auto row = tx.query_one("SELECT id + 1 FROM t");
    AVOW_TRY(row);
    return (*row)->int64(0);
  });
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 42);
}

TEST_P(DbTest, ConnectionSettings) {
  if (GetParam() != Backend::kSqliteFile) GTEST_SKIP() << "SQLite file settings";
  EXPECT_EQ((*conn().query_one("PRAGMA journal_mode"))->text(0).value(), "wal");
  EXPECT_EQ((*conn().query_one("PRAGMA foreign_keys"))->int64(0).value(), 1);
  EXPECT_EQ((*conn().query_one("PRAGMA synchronous"))->int64(0).value(), 1);  // NORMAL
  EXPECT_EQ((*conn().query_one("PRAGMA busy_timeout"))->int64(0).value(), 5000);
  EXPECT_EQ(conn().dialect(), "sqlite");
  EXPECT_EQ(db_->dialect(), "sqlite");
}

TEST_P(DbTest, EveryPooledConnectionHasTheSettings) {
  if (GetParam() != Backend::kSqliteFile) GTEST_SKIP() << "SQLite file settings";
  conn_.reset();
  std::vector<Connection> all;
  for (int i = 0; i < 4; ++i) {
    auto c = db_->connection();
    ASSERT_TRUE(c);
    EXPECT_EQ((*(*c)->query_one("PRAGMA foreign_keys"))->int64(0).value(), 1);
    EXPECT_EQ((*(*c)->query_one("PRAGMA journal_mode"))->text(0).value(), "wal");
    all.push_back(std::move(*c));
  }
}

TEST_P(DbTest, StatementCacheSurvivesEviction) {
  conn_.reset();
  std::shared_ptr<Database> db;
  if (postgres()) {
    PostgresOptions opts;
    opts.url = scratch_->where();
    opts.pool_size = 1;
    opts.statement_cache_size = 2;
    db = open_postgres(opts).value();
  } else {
    SqliteOptions opts;
    opts.path = scratch_->where();
    opts.pool_size = 1;
    opts.statement_cache_size = 2;
    if (GetParam() == Backend::kSqliteMemory) db_->close();  // one connection per :memory: database
    db = open_or_die(opts);
  }
  auto c = db->connection();
  ASSERT_TRUE(c);
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 5; ++k) {
      auto row = (*c)->query_one("SELECT $1 + " + std::to_string(k), {round});
      ASSERT_TRUE(row && *row);
      EXPECT_EQ((*row)->int64(0).value(), round + k);
    }
  }
}

TEST_P(DbTest, SchemaChangeRefreshesCachedColumnNames) {
  ASSERT_TRUE(conn().execute("INSERT INTO t (id) VALUES (1)"));
  auto before = conn().query_one("SELECT * FROM t");
  ASSERT_TRUE(before && *before);
  EXPECT_EQ((*before)->size(), 4u);
  ASSERT_TRUE(conn().execute_script("ALTER TABLE t ADD COLUMN extra TEXT"));
  auto after = conn().query_one("SELECT * FROM t");
  ASSERT_TRUE(after && *after);
  EXPECT_EQ((*after)->size(), 5u);
  EXPECT_EQ((*after)->column_name(4), "extra");
}

TEST(DatabaseTest, MemoryDatabaseWorksWithOneConnection) {
  SqliteOptions opts;
  opts.path = ":memory:";
  opts.pool_size = 8;
  opts.acquire_timeout = std::chrono::milliseconds(10);
  auto db = open_or_die(opts);
  ASSERT_TRUE(db);
  auto c = db->connection();
  ASSERT_TRUE(c);
  ASSERT_TRUE((*c)->execute("CREATE TABLE m (x INTEGER)"));
  // The only connection is out: a second borrow times out instead of seeing an empty private database.
  auto second = db->connection();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
}

class PoolTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    scratch_ = ScratchDatabase::create(GetParam());
    AVOW_SKIP_IF_NO_BACKEND(scratch_);
  }
  std::unique_ptr<ScratchDatabase> scratch_;
};

INSTANTIATE_TEST_SUITE_P(All, PoolTest, testing::kAllBackends, testing::backend_name);

TEST_P(PoolTest, ConnectionsReturnToThePool) {
  DatabaseOptions opts = scratch_->options(1);
  opts.acquire_timeout = std::chrono::milliseconds(10);
  auto db = ScratchDatabase::open(opts);
  ASSERT_TRUE(db);
  for (int i = 0; i < 3; ++i) {
    auto c = db->connection();
    ASSERT_TRUE(c) << "borrow " << i;
  }
  auto a = db->connection();
  ASSERT_TRUE(a);
  Connection moved = std::move(*a);
  auto none = db->connection();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(moved->query_one("SELECT 1"));
  moved = Connection(nullptr, nullptr);  // assigning over a lease gives the old connection back
  EXPECT_TRUE(db->connection());
}

TEST_P(PoolTest, PingMigrateAndClose) {
  auto db = scratch_->open();
  ASSERT_TRUE(db);
  EXPECT_EQ(db->dialect(), GetParam() == Backend::kPostgres ? "postgres" : "sqlite");
  ASSERT_TRUE(db->ping());
  EXPECT_EQ(db->schema_version().value(), 0);
  ASSERT_TRUE(db->migrate());
  EXPECT_EQ(db->schema_version().value(), latest_schema_version());
  ASSERT_TRUE(db->migrate());  // again: a no-op
  auto held = db->connection();
  ASSERT_TRUE(held);
  db->close();
  db->close();  // idempotent
  auto after = db->connection();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(db->ping());
  // A connection borrowed before close keeps working until returned.
  EXPECT_TRUE((*held)->query_one("SELECT COUNT(*) FROM orgs"));
}

TEST(DatabaseTest, CloseCheckpointsTheWal) {
  TempDir dir;
  const std::string path = dir.file("w.db");
  {
    auto db = open_file(path);
    ASSERT_TRUE(db->migrate());
    ASSERT_TRUE(db->transaction([](Db& tx) -> Status { return OrgRepo(tx).create(testing::make_org()); }));
    db->close();
  }
  // Everything is in the main file: the WAL is gone or empty.
  std::error_code ec;
  const auto wal_size = std::filesystem::file_size(path + "-wal", ec);
  EXPECT_TRUE(ec || wal_size == 0);
  auto db = open_file(path);
  auto c = db->connection();
  ASSERT_TRUE(c);
  EXPECT_EQ(OrgRepo(**c).list().value().size(), 1u);
}

TEST(DatabaseTest, RejectsBadOptions) {
  SqliteOptions opts;
  EXPECT_EQ(open_sqlite(opts).error().code, ErrorCode::kInvalidArgument);  // empty path
  opts.path = ":memory:";
  opts.pool_size = 0;
  EXPECT_EQ(open_sqlite(opts).error().code, ErrorCode::kInvalidArgument);
  opts.pool_size = 1;
  opts.path = "/nonexistent-dir-for-avow/x.db";
  auto r = open_sqlite(opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  TempDir dir;
  opts.path = dir.file("missing.db");
  opts.create_if_missing = false;
  EXPECT_EQ(open_sqlite(opts).error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace avow::store
