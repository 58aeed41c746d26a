// store_bench — what the 30-s housekeeping sweep costs the sign-ins on a SQLite file in steady state: how
// long it holds the write lock at a stretch (every sign-in waits that long), and in all, for the used-hint
// replay records keyed as before schema version 5 (by the hint's hash) and as since (by the hint's iat); and
// how long the upgrade to version 5 takes.
//
// The table holds what a server keeps at 450 sign-ins a second with the default hint age (10 minutes, plus
// 5 minutes of clock skew): 405,000 records. Each iteration is one sweep interval: 13,500 sign-ins each
// record one hint in its own transaction (not timed), then the sweep forgets the 13,500 that expired — in one
// statement with the hash key (the only way that was not worse, bench/README.md), in batches of 500 with the
// time key, as avowd's sweep does. The manual time is the total time the sweep held the lock.
//
//   store_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <thread>

#include "common/random.h"
#include "store/database.h"
#include "store/migrations.h"
#include "store/repositories.h"

namespace {

using avow::store::Database;
using avow::store::Db;
using Clock = std::chrono::steady_clock;

constexpr int kRate = 450;                        // sign-ins a second
constexpr std::int64_t kKeptSeconds = 600 + 300;  // hint_max_age + hint_clock_skew
constexpr std::int64_t kSweepSeconds = 30;        // avowd's sweep interval
constexpr int kBatch = 500;                       // avowd's sweep batch
constexpr auto kPause = std::chrono::milliseconds(2);

// A hint's key as avowd makes it: hex SHA-256 of the hint, then Entra's nonce.
std::string hint_key() { return avow::random_token(48) + "-" + avow::random_token(27); }

class Scratch {
 public:
  explicit Scratch(bool migrate = true) {
    dir_ = std::filesystem::temp_directory_path() / ("avow-store-bench-" + avow::random_token(9));
    std::filesystem::create_directories(dir_);
    avow::store::SqliteOptions opts;
    opts.path = (dir_ / "bench.db").string();
    opts.pool_size = 2;
    auto db = avow::store::open_sqlite(opts);
    if (!db) throw std::runtime_error("open_sqlite: " + db.error().message);
    db_ = *db;
    if (!migrate) return;
    if (auto m = db_->migrate(); !m) throw std::runtime_error("migrate: " + m.error().message);
  }
  ~Scratch() {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Database& db() { return *db_; }

 private:
  std::filesystem::path dir_;
  std::shared_ptr<Database> db_;
};

// One layout of the used-hint records: how a sign-in records one, and how the sweep forgets what expired.
struct Layout {
  virtual ~Layout() = default;
  virtual void create(Db&) {}
  virtual void record(Db& db, std::int64_t iat, std::int64_t expires_at) = 0;
  // Forgets at most `limit` records expired at `now`; returns how many.
  virtual std::int64_t purge(Db& db, std::int64_t now, int limit) = 0;
  virtual bool batched() const = 0;
};

// Before schema version 5: the key is the hint's hash, so records of one second are spread over the whole
// index. (The table under another name, beside the real one.)
struct ByHash final : Layout {
  void create(Db& db) override {
    must(
        db.execute_script("CREATE TABLE used_hints_by_hash (hint_key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);"
                          "CREATE INDEX used_hints_by_hash_expiry ON used_hints_by_hash (expires_at);"));
  }
  void record(Db& db, std::int64_t, std::int64_t expires_at) override {
    must(db.execute("INSERT INTO used_hints_by_hash (hint_key, expires_at) VALUES ($1, $2)", {hint_key(), expires_at}));
  }
  std::int64_t purge(Db& db, std::int64_t now, int) override {
    auto n = db.execute("DELETE FROM used_hints_by_hash WHERE expires_at <= $1", {now});
    must(n);
    return *n;
  }
  bool batched() const override { return false; }
  template <class R>
  static void must(const R& r) {
    if (!r) throw std::runtime_error(r.error().message);
  }
};

// Since schema version 5: the repository itself, keyed by the hint's iat.
struct ByIssueTime final : Layout {
  void record(Db& db, std::int64_t iat, std::int64_t expires_at) override {
    auto r = avow::store::UsedHintRepo(db).record_once(hint_key(), iat, expires_at);
    if (!r || !*r) throw std::runtime_error("record_once failed");
  }
  std::int64_t purge(Db& db, std::int64_t now, int limit) override {
    auto n = avow::store::UsedHintRepo(db).purge_expired(now, limit);
    if (!n) throw std::runtime_error(n.error().message);
    return *n;
  }
  bool batched() const override { return true; }
};

template <class L>
void BM_SweepUsedHints(benchmark::State& state) {
  Scratch scratch;
  L layout;
  auto conn = scratch.db().connection();
  if (!conn) throw std::runtime_error(conn.error().message);
  Db& db = **conn;
  layout.create(db);

  // Sign-in number i happens at t(i) = i / kRate seconds; its hint was signed 3 s before.
  std::int64_t next = 0;
  auto sign_in = [&](Db& tx) {
    const std::int64_t at = next++ / kRate;
    layout.record(tx, at - 3, at + kKeptSeconds);
  };
  // Fill: the records a server holds in steady state, in large transactions (not timed).
  const std::int64_t kept = kRate * kKeptSeconds;
  while (next < kept) {
    auto st = db.transaction([&](Db& tx) -> avow::Status {
      for (int i = 0; i < 10'000 && next < kept; ++i) sign_in(tx);
      return avow::ok();
    });
    if (!st) throw std::runtime_error(st.error().message);
  }

  double longest_ms = 0;
  double total_ms = 0;
  std::int64_t forgotten = 0;
  int transactions = 0;
  for (auto _ : state) {
    // One sweep interval of sign-ins, each its own transaction.
    for (int i = 0; i < kRate * kSweepSeconds; ++i) {
      auto st = db.transaction([&](Db& tx) -> avow::Status {
        sign_in(tx);
        return avow::ok();
      });
      if (!st) throw std::runtime_error(st.error().message);
    }
    // The sweep, at the time of the last sign-in.
    const std::int64_t now = (next - 1) / kRate;
    double held_ms = 0;
    for (;;) {
      std::int64_t n = 0;
      const auto start = Clock::now();
      auto st = db.transaction([&](Db& tx) -> avow::Status {
        n = layout.purge(tx, now, layout.batched() ? kBatch : std::numeric_limits<int>::max());
        return avow::ok();
      });
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (!st) throw std::runtime_error(st.error().message);
      held_ms += ms;
      longest_ms = std::max(longest_ms, ms);
      forgotten += n;
      ++transactions;
      if (!layout.batched() || n == 0) break;  // as store::purge_in_batches
      std::this_thread::sleep_for(kPause);
    }
    total_ms += held_ms;
    state.SetIterationTime(held_ms / 1000.0);
  }
  const double sweeps = static_cast<double>(state.iterations());
  state.counters["longest_hold_ms"] = longest_ms;
  state.counters["hold_ms_per_sweep"] = total_ms / sweeps;
  state.counters["rows_per_sweep"] = static_cast<double>(forgotten) / sweeps;
  state.counters["transactions_per_sweep"] = transactions / sweeps;
}

// The upgrade to schema version 5 rewrites the used-hint records: how long it takes with as many as a server
// keeps at 450 sign-ins a second (405,000).
void BM_MigrateUsedHintsToVersion5(benchmark::State& state) {
  const auto known = avow::store::all_migrations();
  const std::int64_t kept = kRate * kKeptSeconds;
  for (auto _ : state) {
    state.PauseTiming();
    auto scratch = std::make_unique<Scratch>(/*migrate=*/false);
    {
      auto conn = scratch->db().connection();
      if (!conn) throw std::runtime_error(conn.error().message);
      Db& db = **conn;
      if (auto m = avow::store::migrate(db, known.first(4)); !m) throw std::runtime_error(m.error().message);
      for (std::int64_t next = 0; next < kept;) {
        auto st = db.transaction([&](Db& tx) -> avow::Status {
          for (int i = 0; i < 10'000 && next < kept; ++i, ++next) {
            auto r = tx.execute("INSERT INTO used_hints (hint_key, expires_at) VALUES ($1, $2)",
                                {hint_key(), next / kRate + kKeptSeconds});
            if (!r) return tl::unexpected(r.error());
          }
          return avow::ok();
        });
        if (!st) throw std::runtime_error(st.error().message);
      }
      state.ResumeTiming();
      if (auto m = avow::store::migrate(db, known); !m) throw std::runtime_error(m.error().message);
      state.PauseTiming();
      auto n = db.query_one("SELECT COUNT(*) FROM used_hints WHERE issued_at = 0");
      if (!n || !*n || (*n)->int64(0).value() != kept) throw std::runtime_error("records lost in the migration");
    }
    scratch.reset();
    state.ResumeTiming();
  }
  state.counters["records"] = static_cast<double>(kept);
}

BENCHMARK(BM_MigrateUsedHintsToVersion5)
    ->Name("Migrate/used_hints_to_v5")
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_SweepUsedHints<ByHash>)
    ->Name("Sweep/used_hints_by_hash")
    ->UseManualTime()
    ->Iterations(6)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SweepUsedHints<ByIssueTime>)
    ->Name("Sweep/used_hints_by_issue_time")
    ->UseManualTime()
    ->Iterations(6)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
