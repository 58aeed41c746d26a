// Races between connections and between Database objects on SQLite and PostgreSQL: compare-and-set
// winners, the one-pending rule, concurrent transactions; SQLite's busy retries.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <set>
#include <thread>

#include "backends.h"

namespace avow::store {
namespace {

using testing::Backend;
using testing::kT0;
using testing::make_challenge;
using testing::open_file;
using testing::open_or_die;
using testing::ScratchDatabase;
using testing::Seed;
using testing::TempDir;

// Runs a(db_a) and b(db_b) on two threads released together; returns both results.
template <class A, class B>
auto race(Database& db_a, Database& db_b, A a, B b) {
  std::latch start(2);
  auto run = [&start](Database& db, auto fn) {
    auto conn = db.connection();
    EXPECT_TRUE(conn);
    start.arrive_and_wait();
    return fn(**conn);
  };
  auto fa = std::async(std::launch::async, run, std::ref(db_a), a);
  auto fb = std::async(std::launch::async, run, std::ref(db_b), b);
  return std::make_pair(fa.get(), fb.get());
}

// (backend, two Database objects?) — two objects act as two processes (or two avowd nodes) would.
using RaceParam = std::tuple<Backend, bool>;

class RaceTest : public ::testing::TestWithParam<RaceParam> {
 protected:
  void SetUp() override {
    scratch_ = ScratchDatabase::create(std::get<0>(GetParam()));
    AVOW_SKIP_IF_NO_BACKEND(scratch_);
    first_ = scratch_->open(2);
    ASSERT_TRUE(first_);
    ASSERT_TRUE(first_->migrate());
    // Two separate Database objects (the engine's own locking decides), or two connections of one pool.
    second_ = std::get<1>(GetParam()) ? scratch_->open(2) : first_;
    auto c = first_->connection();
    ASSERT_TRUE(c);
    s_ = testing::seed(**c);
  }

  std::unique_ptr<ScratchDatabase> scratch_;
  std::shared_ptr<Database> first_, second_;
  Seed s_;
};

INSTANTIATE_TEST_SUITE_P(All, RaceTest, ::testing::Combine(testing::kSharedBackends, ::testing::Bool()),
                         [](const ::testing::TestParamInfo<RaceParam>& info) {
                           return testing::backend_name({std::get<0>(info.param), info.index}) +
                                  (std::get<1>(info.param) ? "TwoDatabases" : "OnePool");
                         });

TEST_P(RaceTest, ExactlyOneDeciderWins) {
  for (int round = 0; round < 20; ++round) {
    ChallengeRecord c = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
    {
      auto conn = first_->connection();
      ASSERT_TRUE(ChallengeRepo(**conn).create(c));
    }
    auto [approve, deny] = race(
        *first_, *second_,
        [&](Db& db) { return ChallengeRepo(db).decide(c.id, ChallengeState::kApproved, s_.device.id, kT0 + 1); },
        [&](Db& db) { return ChallengeRepo(db).decide(c.id, ChallengeState::kDenied, s_.device.id, kT0 + 1); });
    ASSERT_TRUE(approve) << approve.error().message;
    ASSERT_TRUE(deny) << deny.error().message;
    ASSERT_NE(*approve, *deny) << "round " << round;
    auto conn = first_->connection();
    EXPECT_EQ(ChallengeRepo(**conn).get(c.id)->state, *approve ? ChallengeState::kApproved : ChallengeState::kDenied);
  }
}

TEST_P(RaceTest, OnlyOnePendingChallengeCanBeCreated) {
  for (int round = 0; round < 20; ++round) {
    ChallengeRecord a = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
    ChallengeRecord b = make_challenge(s_.org.id, s_.user.id, s_.integration.id);
    auto [ra, rb] = race(
        *first_, *second_, [&](Db& db) { return ChallengeRepo(db).create(a); },
        [&](Db& db) { return ChallengeRepo(db).create(b); });
    ASSERT_NE(ra.has_value(), rb.has_value()) << "round " << round;
    const Error& lost = ra ? rb.error() : ra.error();
    EXPECT_EQ(lost.code, ErrorCode::kAlreadyExists) << lost.message;
    auto conn = first_->connection();
    ASSERT_TRUE(ChallengeRepo(**conn).close_pending(ra ? a.id : b.id, ChallengeState::kCancelled, kT0).value());
  }
}

TEST_P(RaceTest, AScanCodeIsConsumedOnce) {
  for (int round = 0; round < 20; ++round) {
    ScanCodeRecord s;
    s.id = new_id();
    s.org_id = s_.org.id;
    s.code_hash = new_id();
    s.user_id = s_.user.id;
    s.created_at = kT0;
    s.expires_at = kT0 + 60;
    {
      auto conn = first_->connection();
      ASSERT_TRUE(ScanCodeRepo(**conn).create(s));
    }
    auto consume = [&](Db& db) { return ScanCodeRepo(db).consume(s.id, s_.device.id, kT0 + 1); };
    auto [ra, rb] = race(*first_, *second_, consume, consume);
    ASSERT_TRUE(ra && rb);
    EXPECT_NE(*ra, *rb) << "round " << round;
  }
}

TEST_P(RaceTest, ConcurrentTransactionsAllCommit) {
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Database& db = t % 2 ? *second_ : *first_;
      for (int i = 0; i < kEach; ++i) {
        Status st = db.transaction([&](Db& tx) -> Status {
          AVOW_TRY(tx.execute("UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1", {s_.user.id}));
          return ok();
        });
        if (!st) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto conn = first_->connection();
  EXPECT_EQ(UserRepo(**conn).get(s_.user.id)->failed_attempts, kThreads * kEach);
}

// Holds the file's write lock on another Database until released.
class WriteLockHolder {
 public:
  explicit WriteLockHolder(Database& db) {
    thread_ = std::thread([this, &db] {
      Status st = db.transaction([&](Db& tx) -> Status {
        AVOW_TRY(tx.execute("UPDATE orgs SET name = 'held'"));
        held_.count_down();
        release_.wait();
        return ok();
      });
      EXPECT_TRUE(st) << st.error().message;
      done_.count_down();
    });
    held_.wait();
  }
  void release() {
    if (!released_) release_.count_down();
    released_ = true;
  }
  void wait_done() { done_.wait(); }
  ~WriteLockHolder() {
    release();
    thread_.join();
  }

 private:
  std::latch held_{1}, release_{1}, done_{1};
  bool released_ = false;
  std::thread thread_;
};

TEST(RetryTest, BusyTransactionIsRetriedAndSucceeds) {
  TempDir dir;
  const std::string path = dir.file("retry.db");
  auto holder_db = open_file(path, 1);
  ASSERT_TRUE(holder_db->migrate());
  Seed s;
  {
    auto c = holder_db->connection();
    ASSERT_TRUE(c);
    s = testing::seed(**c);
  }

  std::atomic<int> retries{0};
  WriteLockHolder* holder_ptr = nullptr;
  SqliteOptions opts;
  opts.path = path;
  opts.pool_size = 1;
  opts.busy_timeout = std::chrono::milliseconds(0);  // report SQLITE_BUSY at once
  opts.max_transaction_attempts = 5;
  opts.on_transaction_retry = [&](int attempt, const Error& error) {
    ++retries;
    EXPECT_EQ(attempt, 1);
    EXPECT_EQ(error.code, ErrorCode::kUnavailable);
    // Let the other writer finish before the next attempt, so that attempt must succeed.
    holder_ptr->release();
    holder_ptr->wait_done();
  };
  auto retrying = open_or_die(opts);
  ASSERT_TRUE(retrying);

  WriteLockHolder holder(*holder_db);
  holder_ptr = &holder;
  int runs = 0;
  Status st = retrying->transaction([&](Db& tx) -> Status {
    ++runs;
    return OrgRepo(tx).rename(s.org.id, "after");
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(retries.load(), 1);
  EXPECT_EQ(runs, 1);  // the function runs only once BEGIN IMMEDIATE has the lock
  auto c = retrying->connection();
  EXPECT_EQ(OrgRepo(**c).get(s.org.id)->name, "after");
}

TEST(RetryTest, GivesUpAfterTheConfiguredAttempts) {
  TempDir dir;
  const std::string path = dir.file("giveup.db");
  auto holder_db = open_file(path, 1);
  ASSERT_TRUE(holder_db->migrate());
  {
    auto c = holder_db->connection();
    testing::seed(**c);
  }
  std::atomic<int> retries{0};
  SqliteOptions opts;
  opts.path = path;
  opts.pool_size = 1;
  opts.busy_timeout = std::chrono::milliseconds(0);
  opts.max_transaction_attempts = 3;
  opts.on_transaction_retry = [&](int, const Error&) { ++retries; };
  auto retrying = open_or_die(opts);

  WriteLockHolder holder(*holder_db);
  int runs = 0;
  Status st = retrying->transaction([&](Db&) -> Status {
    ++runs;
    return ok();
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(st.error().message.find("3 attempts"), std::string::npos) << st.error().message;
  EXPECT_EQ(retries.load(), 2);
  EXPECT_EQ(runs, 0);
  // An autocommit write outside a transaction reports the busy file as kUnavailable too.
  auto c = retrying->connection();
  auto w = (*c)->execute("UPDATE orgs SET name = 'x'");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kUnavailable);
  // Readers are not blocked by the writer (WAL): they see the last committed state.
  auto r = (*c)->query_one("SELECT COUNT(*) FROM orgs WHERE name = 'held'");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->int64(0).value(), 0);
}

}  // namespace
}  // namespace avow::store

namespace avow::store {
namespace {

// A SQLite file's WAL as the tests watch it: its size, and its header's salt, which SQLite changes each time
// the WAL starts over (empty when there is no WAL yet).
struct WalState {
  std::uintmax_t size = 0;
  std::string salt;
};
WalState wal_state(const std::string& db_path) {
  std::ifstream in(db_path + "-wal", std::ios::binary);
  std::string header(32, '\0');
  if (!in.read(header.data(), 32)) return {};
  in.seekg(0, std::ios::end);
  return {static_cast<std::uintmax_t>(in.tellg()), header.substr(16, 8)};
}

// A pool on a new SQLite file with a table of large rows for the WAL tests.
std::shared_ptr<Database> open_scratch_file(const std::string& path, int pool) {
  auto db = open_file(path, pool);
  if (!db) return nullptr;
  auto c = db->connection();
  if (!c || !(*c)->execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")) return nullptr;
  return db;
}

// The pool's background checkpointer keeps the WAL bounded while writers never stop: two writers append
// ~48 MiB each (many times the ~2 MiB checkpoint threshold) while a reader keeps opening snapshots.
// SQLite's own automatic checkpoint is off on pool connections, so without the checkpointer (or with one that
// never empties the WAL under load) the WAL would never start over and its file would hold all ~96 MiB.
TEST(CheckpointTest, TheWalStartsOverWhileWritersNeverStop) {
  TempDir dir;
  const std::string path = dir.file("wal.db");
  auto db = open_scratch_file(path, 4);
  ASSERT_TRUE(db);
  constexpr int kWriters = 2;
  constexpr int kPerWriter = 3000;
  const std::string body(16 * 1024, 'x');
  std::atomic<bool> writing{true};
  std::atomic<int> reads{0};

  std::uintmax_t largest_wal = 0;
  std::set<std::string> salts;

  std::thread reader([&] {
    auto c = db->connection();
    ASSERT_TRUE(c);
    while (writing.load()) {
      auto n = (*c)->query_one("SELECT COUNT(*) FROM scratch");
      ASSERT_TRUE(n) << n.error().message;
      ++reads;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto c = db->connection();
      ASSERT_TRUE(c);
      for (int i = 0; i < kPerWriter; ++i) {
        Status st = (*c)->transaction([&](Db& tx) -> Status {
          auto r = tx.execute("INSERT INTO scratch (body) VALUES ($1)", {Blob{body}});
          if (!r) return tl::unexpected(r.error());
          return ok();
        });
        ASSERT_TRUE(st) << st.error().message;
        if (w == 0) {
          auto [size, salt] = wal_state(path);
          largest_wal = std::max(largest_wal, size);
          if (!salt.empty()) salts.insert(salt);
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  writing = false;
  reader.join();

  const std::uintmax_t written = std::uintmax_t{kWriters} * kPerWriter * body.size();
  std::printf("largest WAL %ju bytes of %ju written; the WAL started over %zu times\n", largest_wal, written,
              salts.size() - 1);
  EXPECT_GT(reads.load(), 0);
  EXPECT_GE(salts.size(), 3u) << "the WAL started over fewer than twice";
  // Writers wait for the checkpointer past ~16 MiB of WAL (never longer than a quarter second each).
  EXPECT_LT(largest_wal, written / 3);
  auto c = db->connection();
  auto n = (*c)->query_one("SELECT COUNT(*), SUM(length(body)) FROM scratch");
  ASSERT_TRUE(n && *n);
  EXPECT_EQ((*n)->int64(0).value(), kWriters * kPerWriter);
  EXPECT_EQ(static_cast<std::uintmax_t>((*n)->int64(1).value()), written);
}

// A reader that keeps one snapshot open for long (an export, say) stops the WAL from starting over, and
// the checkpointer backs off instead of holding the writers again and again; once the reader ends, the
// WAL starts over within the longest back-off (a second) while the writers go on.
TEST(CheckpointTest, TheWalStartsOverSoonAfterALongReaderEnds) {
  TempDir dir;
  const std::string path = dir.file("long-reader.db");
  auto db = open_scratch_file(path, 2);
  ASSERT_TRUE(db);
  auto c = db->connection();
  ASSERT_TRUE(c);
  const std::string body(16 * 1024, 'x');
  auto write_one = [&] {
    auto r = (*c)->execute("INSERT INTO scratch (body) VALUES ($1)", {Blob{body}});
    ASSERT_TRUE(r) << r.error().message;
  };
  auto salt = [&] { return wal_state(path).salt; };
  write_one();

  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT COUNT(*) FROM scratch", nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string held = salt();
  // ~25 MiB: past the size where writers wait for a checkpoint round; with a reader holding the WAL they must
  // go on anyway (the checkpointer backs off, and they do not wait for it then).
  const auto writing = std::chrono::steady_clock::now();
  for (int i = 0; i < 1600; ++i) write_one();
  std::printf(
      "1600 writes under a long reader took %lld ms\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - writing).count()));
  EXPECT_EQ(salt(), held) << "the WAL started over under a reader's snapshot";
  EXPECT_GT(std::filesystem::file_size(path + "-wal"), 1600u * body.size());

  ASSERT_EQ(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto ended = std::chrono::steady_clock::now();
  const auto deadline = ended + std::chrono::seconds(10);
  while (salt() == held && std::chrono::steady_clock::now() < deadline) write_one();
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ended);
  std::printf("the WAL started over %lld ms after the reader ended\n", static_cast<long long>(waited.count()));
  EXPECT_NE(salt(), held) << "the WAL never started over after the reader ended";
  sqlite3_close_v2(reader);
}

}  // namespace
}  // namespace avow::store
