// The SQLite backend: a Db over one sqlite3 connection, and a Database that pools them.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/random.h"
#include "store/database.h"
#include "store/sqlite/write_gate.h"

namespace avow::store {

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

bool is_blank_tail(const char* p, const char* end) {
  for (; p < end; ++p) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';') return false;
  }
  return true;
}

// Frames in the WAL (pages of 4 KiB) that wake the background checkpointer: ~2 MiB. Measured with
// `avow-bench soak --rate 450` (bench/README.md): small, frequent checkpoints keep p99 approve→finished at
// 4–5 ms and flat; at 4000 frames each checkpoint's burst of copying and syncing pushed it to 10–15 ms,
// growing with the database; 250 frames was no better than 500.
constexpr int kCheckpointFrames = 500;

// WAL frames (~16 MiB) past which a writer waits for the checkpointer's round to end before it writes more.
// Only reached when writers outpace the checkpointer, on a machine short of CPU: in the test where two writers
// append 94 MiB beside busy loops on both cores, the WAL reached 75 MiB with a plain writer mutex, up to 46 MiB
// with the WriteGate alone, 13–22 MiB with this bound. It bounds the WAL, so the disk it takes and the next
// checkpoint's pause. Writers do not wait while the checkpointer backs off from a long reader, and never
// longer than kStallLimit.
constexpr int kCheckpointStallFrames = 4000;
constexpr std::chrono::milliseconds kStallLimit{250};

// What every connection of one pool shares.
struct PoolShared {
  // Serialises this process's writers before they reach SQLite (see database.h); the checkpointer goes first.
  WriteGate write_gate;

  // The WAL's size in frames after the last commit (any connection of the pool).
  std::atomic<int> wal_frames{0};

  // Set by a committing connection when the WAL has grown past kCheckpointFrames; cleared by the checkpointer
  // when its round (and back-off, after a failure) is over.
  std::mutex checkpoint_mu;
  std::condition_variable checkpoint_cv;  // wakes the checkpointer
  std::condition_variable round_over_cv;  // wakes writers waiting in enter_writer()
  bool checkpoint_wanted = false;
  bool checkpoint_backing_off = false;
  bool checkpoint_stop = false;

  // Takes the write gate, first waiting (see kCheckpointStallFrames) when the WAL is far past the threshold
  // and the checkpointer is at work on it.
  std::unique_lock<WriteGate> enter_writer() {
    if (wal_frames.load(std::memory_order_relaxed) >= kCheckpointStallFrames) {
      std::unique_lock lock(checkpoint_mu);
      round_over_cv.wait_for(lock, kStallLimit,
                             [&] { return !checkpoint_wanted || checkpoint_backing_off || checkpoint_stop; });
    }
    return std::unique_lock(write_gate);
  }
};

// Installed with sqlite3_wal_hook on every pool connection instead of SQLite's automatic checkpoint, which
// runs inside the COMMIT that crosses the threshold — i.e. while this process's write gate is held, so
// every other writer waited for the whole copy and both fsyncs (10–20 ms measured). Here the committing
// thread only wakes the checkpointer.
int on_wal_commit(void* arg, sqlite3*, const char*, int frames) {
  auto* shared = static_cast<PoolShared*>(arg);
  shared->wal_frames.store(frames, std::memory_order_relaxed);
  if (frames >= kCheckpointFrames) {
    {
      std::lock_guard lock(shared->checkpoint_mu);
      if (shared->checkpoint_wanted) return SQLITE_OK;
      shared->checkpoint_wanted = true;
    }
    shared->checkpoint_cv.notify_one();
  }
  return SQLITE_OK;
}

class SqliteDb final : public Db {
 public:
  SqliteDb(sqlite3* db, std::shared_ptr<PoolShared> shared, const SqliteOptions& opts)
      : db_(db),
        shared_(std::move(shared)),
        max_attempts_(std::max(1, opts.max_transaction_attempts)),
        on_retry_(opts.on_transaction_retry),
        cache_limit_(static_cast<std::size_t>(std::max(1, opts.statement_cache_size))) {}

  ~SqliteDb() override {
    clear_cache();
    sqlite3_close_v2(db_);
  }

  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  std::string_view dialect() const override { return "sqlite"; }
  bool in_transaction() const override { return depth_ > 0; }

  Result<std::int64_t> run(std::string_view sql, std::span<const Value> params, std::vector<Row>* rows) override {
    auto prepared = prepare(sql);
    AVOW_TRY(prepared);
    Statement& st = **prepared;
    if (params.size() != st.slots.size()) {
      return fail(ErrorCode::kInternal, "statement takes " + std::to_string(st.slots.size()) + " parameters, " +
                                            std::to_string(params.size()) + " given");
    }
    // Always leave the cached statement reset and unbound, whichever way we leave.
    struct ResetGuard {
      sqlite3_stmt* s;
      ~ResetGuard() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } guard{st.stmt};

    for (std::size_t n = 0; n < params.size(); ++n) {
      const int idx = st.slots[n];
      const Value& v = params[n];
      int rc = SQLITE_OK;
      switch (v.kind()) {
        case Value::Kind::kNull:
          rc = sqlite3_bind_null(st.stmt, idx);
          break;
        case Value::Kind::kInt:
          rc = sqlite3_bind_int64(st.stmt, idx, v.as_int());
          break;
        case Value::Kind::kReal:
          rc = sqlite3_bind_double(st.stmt, idx, v.as_real());
          break;
        case Value::Kind::kText:
          // SQLITE_STATIC: `params` outlives the steps below, and the guard clears the bindings.
          rc = sqlite3_bind_text64(st.stmt, idx, v.as_text().data(), v.as_text().size(), SQLITE_STATIC, SQLITE_UTF8);
          break;
        case Value::Kind::kBlob:
          // A zero-length blob bound from a null pointer would read back as NULL.
          rc = v.as_blob().empty()
                   ? sqlite3_bind_zeroblob(st.stmt, idx, 0)
                   : sqlite3_bind_blob64(st.stmt, idx, v.as_blob().data(), v.as_blob().size(), SQLITE_STATIC);
          break;
      }
      if (rc != SQLITE_OK) return tl::unexpected(error_from(rc, "bind"));
    }

    std::unique_lock<WriteGate> write_lock;
    if (depth_ == 0 && !sqlite3_stmt_readonly(st.stmt)) write_lock = shared_->enter_writer();

    const sqlite3_int64 before = sqlite3_total_changes64(db_);
    const int columns = sqlite3_column_count(st.stmt);
    for (;;) {
      const int rc = sqlite3_step(st.stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return tl::unexpected(error_from(rc, "step"));
      if (!rows) continue;
      std::vector<Value> values;
      values.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) values.push_back(read_column(st.stmt, c));
      rows->emplace_back(st.names, std::move(values));
    }
    return static_cast<std::int64_t>(sqlite3_total_changes64(db_) - before);
  }

  Status execute_script(std::string_view sql) override {
    std::unique_lock<WriteGate> write_lock;
    if (depth_ == 0) write_lock = shared_->enter_writer();
    const char* p = sql.data();
    const char* end = sql.data() + sql.size();
    while (p < end && !is_blank_tail(p, end)) {
      sqlite3_stmt* stmt = nullptr;
      const char* tail = nullptr;
      int rc = sqlite3_prepare_v2(db_, p, static_cast<int>(end - p), &stmt, &tail);
      if (rc != SQLITE_OK) return tl::unexpected(error_from(rc, "prepare"));
      p = tail;
      if (!stmt) continue;  // a comment or whitespace
      if (sqlite3_bind_parameter_count(stmt) != 0) {
        sqlite3_finalize(stmt);
        return fail(ErrorCode::kInternal, "scripts take no parameters");
      }
      do rc = sqlite3_step(stmt);
      while (rc == SQLITE_ROW);
      Error err;
      if (rc != SQLITE_DONE) err = error_from(rc, "step");
      sqlite3_finalize(stmt);
      if (rc != SQLITE_DONE) return tl::unexpected(err);
    }
    // The schema may have changed under cached statements; SQLite re-prepares them, but their column
    // names could be stale.
    clear_cache();
    return ok();
  }

  Status transaction(const TransactionFn& fn) override {
    if (depth_ > 0) return savepoint(fn);

    std::unique_lock<WriteGate> write_lock = shared_->enter_writer();
    Error last{ErrorCode::kUnavailable, "database busy"};
    for (int attempt = 1; attempt <= max_attempts_; ++attempt) {
      if (attempt > 1) {
        if (on_retry_) on_retry_(attempt - 1, last);
        backoff(attempt);
      }
      retryable_ = false;
      if (Status b = exec_cached("BEGIN IMMEDIATE"); !b) {
        if (retryable_) {
          last = b.error();
          continue;
        }
        return b;
      }
      depth_ = 1;
      Status result;
      try {
        result = fn(*this);
      } catch (...) {
        rollback();
        throw;
      }
      if (!result) {
        const bool retry = retryable_;
        rollback();
        if (retry) {
          last = result.error();
          continue;
        }
        return result;
      }
      if (Status c = exec_cached("COMMIT"); !c) {
        const bool retry = retryable_;
        rollback();
        if (retry) {
          last = c.error();
          continue;
        }
        return c;
      }
      depth_ = 0;
      return ok();
    }
    return fail(ErrorCode::kUnavailable,
                "transaction gave up after " + std::to_string(max_attempts_) + " attempts: " + last.message);
  }

  // Folds the WAL back into the main file (on close).
  void checkpoint() {
    sqlite3_exec(db_, "PRAGMA optimize", nullptr, nullptr, nullptr);
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }

  // Applies the per-connection settings. `first` also switches the file to WAL (a persistent setting).
  Status configure(const SqliteOptions& opts, bool first, bool in_memory) {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, static_cast<int>(std::min<std::int64_t>(opts.busy_timeout.count(), INT32_MAX)));
    AVOW_TRY(exec_plain("PRAGMA foreign_keys = ON"));
    AVOW_TRY(exec_plain("PRAGMA synchronous = NORMAL"));
    // Performance only (none changes what is stored or when it is durable):
    // - sorts and temporary b-trees stay in memory instead of temporary files;
    // - no automatic checkpoint in the committing thread: the pool's checkpointer does it (see
    //   on_wal_commit).
    // Not mmap_size: in WAL mode SQLite drops a connection's whole mapping whenever another connection has
    // written (as it drops its page cache), so with a pool and a write per request the map is torn down
    // and faulted in again all the time — measured slower (munmap + page faults) than pread().
    AVOW_TRY(exec_plain("PRAGMA temp_store = MEMORY"));
    if (!in_memory) sqlite3_wal_hook(db_, &on_wal_commit, shared_.get());
    auto fk = query_one("PRAGMA foreign_keys");
    AVOW_TRY(fk);
    if (!*fk || (*fk)->int64(0).value_or(0) != 1) {
      return fail(ErrorCode::kUnavailable, "this SQLite build does not enforce foreign keys");
    }
    if (first && !in_memory) {
      auto mode = query_one("PRAGMA journal_mode = WAL");
      AVOW_TRY(mode);
      if (!*mode || (*mode)->text(0).value_or("") != "wal") {
        return fail(ErrorCode::kUnavailable, "could not switch the database to WAL journal mode");
      }
    }
    return ok();
  }

 private:
  struct Statement {
    sqlite3_stmt* stmt = nullptr;
    std::vector<int> slots;  // slots[n] = SQLite parameter index of $(n+1)
    std::shared_ptr<const std::vector<std::string>> names;
  };

  Result<Statement*> prepare(std::string_view sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) return &it->second;
    if (cache_.size() >= cache_limit_) clear_cache();

    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return tl::unexpected(error_from(rc, "prepare"));
    if (!stmt) return fail(ErrorCode::kInternal, "empty SQL statement");
    if (!is_blank_tail(tail, sql.data() + sql.size())) {
      sqlite3_finalize(stmt);
      return fail(ErrorCode::kInternal, "one SQL statement per call (use execute_script for several)");
    }

    Statement st;
    st.stmt = stmt;
    // Map $N to SQLite's slot by name: SQLite numbers named parameters by first appearance, which need not be
    // N's order, and a repeated $N shares one slot.
    const int count = sqlite3_bind_parameter_count(stmt);
    std::vector<int> slots(static_cast<std::size_t>(count), 0);
    for (int i = 1; i <= count; ++i) {
      const char* name = sqlite3_bind_parameter_name(stmt, i);
      int n = 0;
      if (name && name[0] == '$' && name[1] >= '1' && name[1] <= '9') {
        n = 0;
        for (const char* p = name + 1; *p; ++p) {
          if (*p < '0' || *p > '9' || n > 10000) {
            n = 0;
            break;
          }
          n = n * 10 + (*p - '0');
        }
      }
      if (n < 1 || n > count) {
        sqlite3_finalize(stmt);
        return fail(ErrorCode::kInternal, "SQL placeholders must be $1..$N without gaps");
      }
      slots[static_cast<std::size_t>(n - 1)] = i;
    }
    st.slots = std::move(slots);

    auto names = std::make_shared<std::vector<std::string>>();
    const int columns = sqlite3_column_count(stmt);
    for (int c = 0; c < columns; ++c) {
      const char* name = sqlite3_column_name(stmt, c);
      names->emplace_back(name ? name : "");
    }
    st.names = std::move(names);
    auto [it, inserted] = cache_.emplace(std::string(sql), std::move(st));
    return &it->second;
  }

  static Value read_column(sqlite3_stmt* stmt, int c) {
    switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_INTEGER:
        return Value(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c)));
      case SQLITE_FLOAT:
        return Value(sqlite3_column_double(stmt, c));
      case SQLITE_TEXT: {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        const int n = sqlite3_column_bytes(stmt, c);
        return Value(std::string(p ? p : "", static_cast<std::size_t>(n)));
      }
      case SQLITE_BLOB: {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
        const int n = sqlite3_column_bytes(stmt, c);
        return Value(Blob{p ? std::string(p, static_cast<std::size_t>(n)) : std::string()});
      }
      default:
        return Value();
    }
  }

  Error error_from(int rc, std::string_view what) {
    const int ext = sqlite3_extended_errcode(db_);
    const int primary = rc & 0xff;
    std::string msg = "sqlite " + std::string(what) + ": " + sqlite3_errmsg(db_);
    ErrorCode code = ErrorCode::kInternal;
    if (primary == SQLITE_CONSTRAINT) {
      code = (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) ? ErrorCode::kAlreadyExists
                                                                                      : ErrorCode::kInvalidArgument;
    } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      code = ErrorCode::kUnavailable;
      retryable_ = true;
    } else if (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR || primary == SQLITE_FULL ||
               primary == SQLITE_READONLY || primary == SQLITE_NOMEM) {
      code = ErrorCode::kUnavailable;
    }
    return Error{code, std::move(msg)};
  }

  Status exec_plain(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return tl::unexpected(error_from(rc, sql));
    return ok();
  }

  // One parameterless statement that returns no rows (BEGIN, COMMIT, SAVEPOINT …), prepared once per
  // connection: sqlite3_exec would parse it again on every transaction.
  Status exec_cached(std::string_view sql) {
    auto prepared = prepare(sql);
    AVOW_TRY(prepared);
    sqlite3_stmt* stmt = (*prepared)->stmt;
    int rc = sqlite3_step(stmt);
    while (rc == SQLITE_ROW) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
      Error e = error_from(rc, sql);
      sqlite3_reset(stmt);
      return tl::unexpected(std::move(e));
    }
    sqlite3_reset(stmt);
    return ok();
  }

  void rollback() {
    // SQLite rolls some failures back by itself; only roll back a transaction that is still open.
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    depth_ = 0;
  }

  Status savepoint(const TransactionFn& fn) {
    const std::string name = "avow_sp" + std::to_string(depth_);
    AVOW_TRY(exec_cached("SAVEPOINT " + name));
    ++depth_;
    Status result;
    try {
      result = fn(*this);
    } catch (...) {
      --depth_;
      sqlite3_exec(db_, ("ROLLBACK TO " + name + "; RELEASE " + name).c_str(), nullptr, nullptr, nullptr);
      throw;
    }
    --depth_;
    if (!result) {
      sqlite3_exec(db_, ("ROLLBACK TO " + name + "; RELEASE " + name).c_str(), nullptr, nullptr, nullptr);
      return result;
    }
    return exec_cached("RELEASE " + name);
  }

  static void backoff(int attempt) {
    // A little jitter so that writers from several processes do not collide again in step.
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + random_below(static_cast<std::uint32_t>(5 * attempt))));
  }

  void clear_cache() {
    for (auto& [sql, st] : cache_) sqlite3_finalize(st.stmt);
    cache_.clear();
  }

  sqlite3* db_;
  std::shared_ptr<PoolShared> shared_;
  int max_attempts_;
  std::function<void(int, const Error&)> on_retry_;
  std::size_t cache_limit_;
  std::unordered_map<std::string, Statement, StringHash, std::equal_to<>> cache_;
  int depth_ = 0;           // 0 outside a transaction, 1 in it, more inside savepoints
  bool retryable_ = false;  // a statement of the current attempt hit a transient conflict
};

class SqlitePool {
 public:
  explicit SqlitePool(SqliteOptions opts) : opts_(std::move(opts)), shared_(std::make_shared<PoolShared>()) {}

  Status open_all() {
    const bool in_memory = opts_.path == ":memory:";
    const int size = in_memory ? 1 : opts_.pool_size;
    for (int i = 0; i < size; ++i) {
      sqlite3* raw = nullptr;
      const int flags =
          SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (opts_.create_if_missing ? SQLITE_OPEN_CREATE : 0);
      const int rc = sqlite3_open_v2(opts_.path.c_str(), &raw, flags, nullptr);
      if (rc != SQLITE_OK) {
        std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
        sqlite3_close_v2(raw);
        return fail(ErrorCode::kUnavailable, "cannot open SQLite database '" + opts_.path + "': " + msg);
      }
      auto db = std::make_unique<SqliteDb>(raw, shared_, opts_);
      AVOW_TRY(db->configure(opts_, i == 0, in_memory));
      idle_.push_back(std::move(db));
    }
    if (!in_memory) AVOW_TRY(start_checkpointer());
    return ok();
  }

  ~SqlitePool() { stop_checkpointer(); }

  Result<std::unique_ptr<SqliteDb>> take() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, opts_.acquire_timeout, [&] { return closed_ || !idle_.empty(); })) {
      return fail(ErrorCode::kUnavailable, "no database connection became free in time");
    }
    if (closed_) return fail(ErrorCode::kUnavailable, "the database is closed");
    auto db = std::move(idle_.back());
    idle_.pop_back();
    return db;
  }

  void give_back(std::unique_ptr<SqliteDb> db) {
    {
      std::lock_guard lock(mu_);
      if (!closed_) {
        idle_.push_back(std::move(db));
        cv_.notify_one();
        return;
      }
    }
    db.reset();  // closed meanwhile: close this one too, outside the lock
  }

  void close() {
    std::vector<std::unique_ptr<SqliteDb>> dbs;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      dbs.swap(idle_);
    }
    cv_.notify_all();
    stop_checkpointer();
    if (!dbs.empty() && opts_.path != ":memory:") dbs.front()->checkpoint();
    dbs.clear();
  }

 private:
  const SqliteOptions opts_;
  std::shared_ptr<PoolShared> shared_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<SqliteDb>> idle_;
  bool closed_ = false;

  // The background checkpointer: its own connection and thread, woken by on_wal_commit.
  Status start_checkpointer() {
    const int rc =
        sqlite3_open_v2(opts_.path.c_str(), &checkpoint_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = checkpoint_db_ ? sqlite3_errmsg(checkpoint_db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(checkpoint_db_);
      checkpoint_db_ = nullptr;
      return fail(ErrorCode::kUnavailable, "cannot open SQLite database '" + opts_.path + "': " + msg);
    }
    // How long each try of the second step may hold this process's writers while it waits for readers.
    sqlite3_busy_timeout(checkpoint_db_, static_cast<int>(kCheckpointWait.count()));
    // SQLite 3.40 opens a connection's WAL on its first read; until then a checkpoint silently does nothing.
    sqlite3_exec(checkpoint_db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
    checkpointer_ = std::thread([this] { checkpoint_loop(); });
    return ok();
  }

  void stop_checkpointer() {
    {
      std::lock_guard lock(shared_->checkpoint_mu);
      shared_->checkpoint_stop = true;
    }
    shared_->checkpoint_cv.notify_all();
    shared_->round_over_cv.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
    if (checkpoint_db_) sqlite3_close_v2(checkpoint_db_);
    checkpoint_db_ = nullptr;
  }

  void checkpoint_loop() {
    PoolShared& sh = *shared_;
    std::unique_lock lock(sh.checkpoint_mu);
    std::chrono::milliseconds backoff{0};
    for (;;) {
      sh.checkpoint_cv.wait(lock, [&] { return sh.checkpoint_wanted || sh.checkpoint_stop; });
      if (sh.checkpoint_stop) return;
      lock.unlock();
      const bool emptied = checkpoint_once();
      lock.lock();
      // A reader holding an old snapshot for long (an export, say) keeps the WAL from being emptied, and every
      // commit would ask again at once: wait before holding the writers again, longer after each failure. A
      // reader that was only descheduled for a moment (a loaded machine) costs one short wait, not a second
      // of WAL growth.
      backoff = emptied ? std::chrono::milliseconds{0}
                        : std::clamp(backoff * 2, kCheckpointBackoffMin, kCheckpointBackoffMax);
      if (!emptied) {
        sh.checkpoint_backing_off = true;
        sh.round_over_cv.notify_all();
        sh.checkpoint_cv.wait_for(lock, backoff, [&] { return sh.checkpoint_stop; });
        sh.checkpoint_backing_off = false;
      }
      // Commits made meanwhile asked for the round just done; the next commit past the threshold asks again.
      sh.checkpoint_wanted = false;
      sh.round_over_cv.notify_all();
    }
  }

  // Two checkpoints. The first, passive, copies the WAL back while this process's writers go on (the WAL's
  // fsync, the copy and the database's fsync: the slow part). The second holds the writers and copies only
  // what they appended meanwhile, then waits (a few kCheckpointWait) for the readers still on the WAL to
  // finish, so that the next write starts the WAL over from the beginning. A passive checkpoint alone never
  // gets there on a busy server (some reader always holds an older snapshot): its WAL grew without bound.
  bool checkpoint_once() {
    if (sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) != SQLITE_OK) {
      return false;  // another process is checkpointing, or the file is busy
    }
    struct HoldWriters {
      WriteGate& gate;
      explicit HoldWriters(WriteGate& g) : gate(g) { gate.lock_first(); }
      ~HoldWriters() { gate.unlock_first(); }
      HoldWriters(const HoldWriters&) = delete;
      HoldWriters& operator=(const HoldWriters&) = delete;
    } writers(shared_->write_gate);
    // SQLITE_BUSY when a reader held an older snapshot for the whole busy timeout; readers are short, and
    // the ones that start once the WAL is fully copied no longer hold it, so a few tries normally do.
    for (int attempt = 0; attempt < kCheckpointTries; ++attempt) {
      if (sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr) ==
          SQLITE_OK) {
        return true;
      }
    }
    return false;
  }

  static constexpr std::chrono::milliseconds kCheckpointBackoffMin{25};
  static constexpr std::chrono::milliseconds kCheckpointBackoffMax{1000};
  static constexpr std::chrono::milliseconds kCheckpointWait{5};  // per try
  static constexpr int kCheckpointTries = 4;
  sqlite3* checkpoint_db_ = nullptr;
  std::thread checkpointer_;
};

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(std::shared_ptr<SqlitePool> pool) : pool_(std::move(pool)) {}
  ~SqliteDatabase() override { close(); }

  std::string_view dialect() const override { return "sqlite"; }

  Result<Connection> connection() override {
    auto db = pool_->take();
    AVOW_TRY(db);
    // The release callback keeps the pool alive for as long as a connection is out.
    std::shared_ptr<SqlitePool> pool = pool_;
    return Connection(std::move(*db), [pool](std::unique_ptr<Db> back) {
      pool->give_back(std::unique_ptr<SqliteDb>(static_cast<SqliteDb*>(back.release())));
    });
  }

  void close() override { pool_->close(); }

 private:
  std::shared_ptr<SqlitePool> pool_;
};

}  // namespace

Result<std::shared_ptr<Database>> open_sqlite(const SqliteOptions& options) {
  if (options.path.empty()) return fail(ErrorCode::kInvalidArgument, "SQLite path is empty");
  if (options.pool_size < 1 || options.pool_size > 64) {
    return fail(ErrorCode::kInvalidArgument, "SQLite pool size must be between 1 and 64");
  }
  if (options.busy_timeout.count() < 0 || options.acquire_timeout.count() < 0) {
    return fail(ErrorCode::kInvalidArgument, "SQLite timeouts must not be negative");
  }
  if (sqlite3_threadsafe() == 0) return fail(ErrorCode::kUnavailable, "SQLite was built without thread support");
  auto pool = std::make_shared<SqlitePool>(options);
  AVOW_TRY(pool->open_all());
  return std::shared_ptr<Database>(std::make_shared<SqliteDatabase>(std::move(pool)));
}

}  // namespace avow::store
