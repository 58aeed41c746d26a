// PostgreSQL-only behaviour: result types by OID, bytea, error mapping, serialization retries, timeouts,
// healing after a server restart, URL redaction and backend selection.
#include <gtest/gtest.h>

#include <latch>
#include <thread>

#include "backends.h"

namespace avow::store {
namespace {

using testing::Backend;
using testing::ScratchDatabase;

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = ScratchDatabase::create(Backend::kPostgres);
    AVOW_SKIP_IF_NO_BACKEND(scratch_);
    db_ = scratch_->open(4);
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

  // Runs a PL/pgSQL block that raises `sqlstate`, as if a statement had hit that condition.
  static Status raise(Db& db, std::string_view sqlstate) {
    return db.execute_script("DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '" + std::string(sqlstate) +
                             "'; END $$");
  }

  std::unique_ptr<ScratchDatabase> scratch_;
  std::shared_ptr<Database> db_;
  std::optional<Connection> conn_;
};

TEST_F(PostgresTest, ResultColumnsAreTypedByTheirType) {
  auto row = conn().query_one(
      "SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.25::float8, true, false, 'v'::varchar, 'x'::text, "
      "'\\x00ff'::bytea, 42::numeric, 4.5::numeric, NULL::int8, 9223372036854775807::int8");
  ASSERT_TRUE(row && *row) << row.error().message;
  const Row& r = **row;
  EXPECT_EQ(r.int64(0).value(), 1);
  EXPECT_EQ(r.int64(1).value(), 2);
  EXPECT_EQ(r.int64(2).value(), 3);
  EXPECT_DOUBLE_EQ(r.real(3).value(), 1.5);
  EXPECT_DOUBLE_EQ(r.real(4).value(), 2.25);
  EXPECT_EQ(r.boolean(5).value(), true);
  EXPECT_EQ(r.boolean(6).value(), false);
  EXPECT_EQ(r.text(7).value(), "v");
  EXPECT_EQ(r.text(8).value(), "x");
  ASSERT_EQ(r.value(9)->kind(), Value::Kind::kBlob);
  EXPECT_EQ(r.blob(9).value(), std::string("\0\xff", 2));
  EXPECT_EQ(r.int64(10).value(), 42);
  EXPECT_DOUBLE_EQ(r.real(11).value(), 4.5);
  EXPECT_TRUE(r.is_null(12));
  EXPECT_EQ(r.int64(13).value(), INT64_MAX);
}

TEST_F(PostgresTest, ParametersKeepTheirTypes) {
  auto row = conn().query_one("SELECT $1 + 1, $2 * 2, $3 || '!', octet_length($4), $5::int8 IS NULL",
                              {INT64_MAX - 1, 1.25, "hé", Blob{std::string(3, '\0')}, std::optional<int>()});
  ASSERT_TRUE(row && *row) << row.error().message;
  EXPECT_EQ((*row)->int64(0).value(), INT64_MAX);
  EXPECT_DOUBLE_EQ((*row)->real(1).value(), 2.5);
  EXPECT_EQ((*row)->text(2).value(), "hé!");
  EXPECT_EQ((*row)->int64(3).value(), 3);
  EXPECT_EQ((*row)->boolean(4).value(), true);
  // The same SQL with a NULL where a value was: a separately prepared statement, same answer shape.
  auto again = conn().query_one("SELECT $1 + 1, $2 * 2, $3 || '!', octet_length($4), $5::int8 IS NULL",
                                {std::optional<int>(), 1.25, "a", Blob{}, 5});
  ASSERT_TRUE(again && *again) << again.error().message;
  EXPECT_TRUE((*again)->is_null(0));
  EXPECT_EQ((*again)->int64(3).value(), 0);
  EXPECT_EQ((*again)->boolean(4).value(), false);
}

TEST_F(PostgresTest, ByteaRoundTripsEveryByteValueAndLargeValues) {
  ASSERT_TRUE(conn().execute("CREATE TABLE b (id INTEGER PRIMARY KEY, data BYTEA)"));
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const std::string big = random_bytes(1 << 20);
  ASSERT_TRUE(conn().execute("INSERT INTO b VALUES (1, $1), (2, $2), (3, $3)", {Blob{all}, Blob{big}, Blob{}}));
  auto rows = conn().query("SELECT data, data IS NULL FROM b ORDER BY id");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].blob(0).value(), all);
  EXPECT_EQ((*rows)[1].blob(0).value(), big);
  EXPECT_EQ((*rows)[2].blob(0).value(), "");
  EXPECT_EQ((*rows)[2].boolean(1).value(), false);  // empty, not NULL
}

TEST_F(PostgresTest, SqlStatesMapToErrorCodes) {
  const std::pair<const char*, ErrorCode> cases[] = {
      {"23505", ErrorCode::kAlreadyExists},   {"23503", ErrorCode::kInvalidArgument},
      {"23514", ErrorCode::kInvalidArgument}, {"23502", ErrorCode::kInvalidArgument},
      {"40001", ErrorCode::kUnavailable},     {"40P01", ErrorCode::kUnavailable},
      {"57P01", ErrorCode::kUnavailable},     {"08006", ErrorCode::kUnavailable},
      {"57014", ErrorCode::kUnavailable},     {"42P01", ErrorCode::kInternal},
      {"XX000", ErrorCode::kInternal},
  };
  for (const auto& [state, code] : cases) {
    Status st = raise(conn(), state);
    ASSERT_FALSE(st) << state;
    EXPECT_EQ(st.error().code, code) << state << ": " << st.error().message;
    EXPECT_NE(st.error().message.find(state), std::string::npos) << st.error().message;
  }
  // The connection is still good afterwards.
  EXPECT_TRUE(conn().query_one("SELECT 1"));
}

TEST_F(PostgresTest, SerializationFailureIsRetriedAndTheRetrySeesTheWinner) {
  ASSERT_TRUE(conn().execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"));
  ASSERT_TRUE(conn().execute("INSERT INTO counter VALUES (1, 0)"));
  conn_.reset();

  std::atomic<int> retries{0};
  DatabaseOptions opts = scratch_->options(1);
  opts.on_transaction_retry = [&](int attempt, const Error& error) {
    ++retries;
    EXPECT_EQ(error.code, ErrorCode::kUnavailable);
    EXPECT_NE(error.message.find("40001"), std::string::npos) << error.message;
  };
  auto retrying = ScratchDatabase::open(opts);
  ASSERT_TRUE(retrying);

  std::latch read_done(1), other_committed(1);
  std::thread other([&] {
    read_done.wait();
    Status st = db_->transaction(
        [](Db& tx) -> Status { return tx.execute("UPDATE counter SET n = n + 1 WHERE id = 1").map([](auto) {}); });
    EXPECT_TRUE(st) << st.error().message;
    other_committed.count_down();
  });

  int runs = 0;
  Status st = retrying->transaction([&](Db& tx) -> Status {
    ++runs;
    auto row = tx.query_one("SELECT n FROM counter WHERE id = 1");  // takes this attempt's snapshot
    AVOW_TRY(row);
    const std::int64_t n = (**row).int64(0).value();
    if (runs == 1) {
      read_done.count_down();
      other_committed.wait();  // the other writer commits after our snapshot: our update must fail
    }
    return tx.execute("UPDATE counter SET n = $1 WHERE id = 1", {n + 10}).map([](auto) {});
  });
  other.join();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(retries.load(), 1);
  auto c = retrying->connection();
  EXPECT_EQ((*(*c)->query_one("SELECT n FROM counter"))->int64(0).value(), 11);  // no lost update
}

TEST_F(PostgresTest, GivesUpAfterTheConfiguredAttempts) {
  conn_.reset();
  std::atomic<int> retries{0};
  DatabaseOptions opts = scratch_->options(1);
  opts.max_transaction_attempts = 3;
  opts.on_transaction_retry = [&](int, const Error&) { ++retries; };
  auto db = ScratchDatabase::open(opts);
  int runs = 0;
  Status st = db->transaction([&](Db& tx) -> Status {
    ++runs;
    return raise(tx, "40P01");  // a deadlock, every time
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(st.error().message.find("3 attempts"), std::string::npos) << st.error().message;
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(retries.load(), 2);
  // Other errors are not retried.
  runs = 0;
  st = db->transaction([&](Db& tx) -> Status {
    ++runs;
    return raise(tx, "23505");
  });
  EXPECT_EQ(st.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(runs, 1);
}

TEST_F(PostgresTest, AFailedSavepointLeavesTheOuterTransactionUsable) {
  ASSERT_TRUE(conn().execute("CREATE TABLE u (id INTEGER PRIMARY KEY)"));
  Status st = conn().transaction([](Db& tx) -> Status {
    AVOW_TRY(tx.execute("INSERT INTO u VALUES (1)"));
    Status inner = tx.transaction([](Db& tx2) -> Status {
      AVOW_TRY(tx2.execute("INSERT INTO u VALUES (1)"));  // duplicate: aborts only the savepoint
      return ok();
    });
    EXPECT_EQ(inner.error().code, ErrorCode::kAlreadyExists);
    AVOW_TRY(tx.execute("INSERT INTO u VALUES (2)"));
    return ok();
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ((*conn().query_one("SELECT COUNT(*) FROM u"))->int64(0).value(), 2);
}

TEST_F(PostgresTest, StatementTimeoutIsUnavailable) {
  conn_.reset();
  DatabaseOptions opts = scratch_->options(1);
  opts.statement_timeout = std::chrono::milliseconds(50);
  auto db = ScratchDatabase::open(opts);
  auto c = db->connection();
  ASSERT_TRUE(c);
  auto slow = (*c)->query_one("SELECT pg_sleep(5)");
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ErrorCode::kUnavailable) << slow.error().message;
  EXPECT_TRUE((*c)->query_one("SELECT 1"));
}

TEST_F(PostgresTest, PreparedStatementsAreReusedAndTheCacheIsBounded) {
  auto count_prepared = [&] {
    return (*conn().query_one("SELECT COUNT(*) FROM pg_prepared_statements"))->int64(0).value();
  };
  const std::int64_t before = count_prepared();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(conn().query_one("SELECT $1::int8 + 7", {i}));
  EXPECT_EQ(count_prepared(), before + 1);  // one statement, prepared once (the count query is the other)
  conn_.reset();
  PostgresOptions o;
  o.url = scratch_->where();
  o.pool_size = 1;
  o.statement_cache_size = 3;
  auto db = open_postgres(o).value();
  auto c = db->connection();
  for (int k = 0; k < 10; ++k) ASSERT_TRUE((*c)->query_one("SELECT $1::int8 + " + std::to_string(k), {k}));
  EXPECT_LE((*(*c)->query_one("SELECT COUNT(*) FROM pg_prepared_statements"))->int64(0).value(), 4);
}

TEST(PostgresOpenTest, UnreachableServerIsUnavailableAndThePasswordStaysSecret) {
  PostgresOptions o;
  o.url = "postgres://avow:s3cret-pw@127.0.0.1:1/avow";
  o.connect_timeout = std::chrono::milliseconds(2000);
  auto db = open_postgres(o);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(db.error().message.find("s3cret-pw"), std::string::npos) << db.error().message;
  EXPECT_NE(db.error().message.find("127.0.0.1"), std::string::npos) << db.error().message;
}

TEST(PostgresOpenTest, RejectsBadOptions) {
  PostgresOptions o;
  o.url = "/var/lib/avow.db";
  EXPECT_EQ(open_postgres(o).error().code, ErrorCode::kInvalidArgument);
  o.url = "postgres://localhost/x";
  o.pool_size = 0;
  EXPECT_EQ(open_postgres(o).error().code, ErrorCode::kInvalidArgument);
  o.pool_size = 1;
  o.statement_timeout = std::chrono::milliseconds(-1);
  EXPECT_EQ(open_postgres(o).error().code, ErrorCode::kInvalidArgument);
}

TEST(DatabaseUrlTest, RecognisesAndRedacts) {
  EXPECT_TRUE(is_postgres_url("postgres://h/db"));
  EXPECT_TRUE(is_postgres_url("PostgreSQL://h/db"));
  EXPECT_FALSE(is_postgres_url("/var/lib/avow/avow.db"));
  EXPECT_FALSE(is_postgres_url("postgres.db"));
  EXPECT_EQ(redact_database_url("postgres://avow:pw@db:5432/avow"), "postgres://avow:***@db:5432/avow");
  EXPECT_EQ(redact_database_url("postgres://avow@db/avow"), "postgres://avow@db/avow");
  EXPECT_EQ(redact_database_url("postgresql://u:p%40ss@h/d?sslmode=require&password=x2"),
            "postgresql://u:***@h/d?sslmode=require&password=***");
  EXPECT_EQ(redact_database_url("host=db password='a b' user=u"), "host=db password=*** user=u");
  EXPECT_EQ(redact_database_url("/data/avow.db"), "/data/avow.db");
}

TEST(DatabaseUrlTest, OpenDatabasePicksTheBackend) {
  testing::TempDir dir;
  DatabaseOptions o;
  o.url_or_path = dir.file("x.db");
  auto sqlite = open_database(o);
  ASSERT_TRUE(sqlite);
  EXPECT_EQ((*sqlite)->dialect(), "sqlite");
  o.url_or_path = "postgres://nobody:pw@127.0.0.1:1/none";
  auto pg = open_database(o);
  ASSERT_FALSE(pg);
  EXPECT_EQ(pg.error().code, ErrorCode::kUnavailable);  // it tried PostgreSQL, not a file named postgres:
}

// A server of its own (the shared one must keep running for the other tests).
class PostgresRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = server_.start()) {
      if (testing::postgres_required()) FAIL() << "PostgreSQL is required but: " << *why;
      GTEST_SKIP() << *why;
    }
  }
  testing::PrivatePostgres server_;
};

TEST_F(PostgresRestartTest, ThePoolHealsAfterTheServerRestarts) {
  PostgresOptions o;
  o.url = server_.url();
  o.pool_size = 2;
  o.acquire_timeout = std::chrono::milliseconds(500);
  auto opened = open_postgres(o);
  ASSERT_TRUE(opened) << opened.error().message;
  auto db = *opened;
  ASSERT_TRUE(db->migrate());
  {  // both pool connections open and idle
    auto a = db->connection();
    auto b = db->connection();
    ASSERT_TRUE(a && b);
    ASSERT_TRUE((*a)->execute("INSERT INTO orgs (id, name, created_at) VALUES ('o1', 'Before', 1)"));
  }

  // Restarted while the pool was idle: the very next borrow must work (stale connections are noticed).
  server_.stop();
  ASSERT_FALSE(server_.start());
  Status ping = db->ping();
  EXPECT_TRUE(ping) << ping.error().message;
  auto c = db->connection();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ((*(*c)->query_one("SELECT COUNT(*) FROM orgs"))->int64(0).value(), 1);

  // Down: every borrow and statement is kUnavailable, quickly, and readiness fails.
  server_.stop();
  auto during = (*c)->query_one("SELECT 1");
  ASSERT_FALSE(during);
  EXPECT_EQ(during.error().code, ErrorCode::kUnavailable) << during.error().message;
  c = Connection(nullptr, nullptr);  // give the broken one back: it is dropped, not reused
  Status down = db->ping();
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  Status tx = db->transaction([](Db& t) -> Status { return t.execute("SELECT 1").map([](auto) {}); });
  EXPECT_EQ(tx.error().code, ErrorCode::kUnavailable);

  // Back: healed without reopening the Database.
  ASSERT_FALSE(server_.start());
  ping = db->ping();
  EXPECT_TRUE(ping) << ping.error().message;
  Status write = db->transaction([](Db& t) -> Status {
    return t.execute("INSERT INTO orgs (id, name, created_at) VALUES ('o2', 'After', 2)").map([](auto) {});
  });
  EXPECT_TRUE(write) << write.error().message;
  db->close();
}

}  // namespace
}  // namespace avow::store
