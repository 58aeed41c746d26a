// The PostgreSQL backend: a Db over one libpq connection, and a Database that pools them.
//
// Parameters are sent in binary format with explicit types (int8, float8, text, bytea; NULL untyped so
// the server infers it from context); results come back in text format and are typed by column OID.
// Statements are prepared once per connection and cached by (SQL text, parameter kinds).
//
// Isolation: write transactions run SERIALIZABLE and are retried on serialization failure (40001) and
// deadlock (40P01). That keeps the guarantee the SQLite backend gives (its writers are strictly serial),
// so a check-then-act transaction written and tested against SQLite stays correct here without an audit
// of every caller; the price is an occasional retry under contention, which the Db contract already
// allows for. Statements outside a transaction run in the server's default (READ COMMITTED), where the
// repositories' compare-and-set UPDATEs re-check their WHERE clause on the latest row version.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/random.h"
#include "store/database.h"

namespace avow::store {

namespace {

// Type OIDs (pg_type.h; stable across PostgreSQL versions).
constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23, kTextOid = 25, kOidOid = 26,
              kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// The $N placeholders of `sql` (outside string literals, quoted identifiers and comments) must be exactly
// $1..$count: PostgreSQL itself accepts unused declared parameters, SQLite does not, and one rule for both
// backends keeps the SQL portable. Returns the count, or an error naming the problem.
Result<std::size_t> count_placeholders(std::string_view sql) {
  std::vector<bool> seen;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const std::size_t end = sql.find(c, i + 1);
      if (end == std::string_view::npos) break;  // the server reports the unterminated literal
      i = end;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const std::size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) break;
      i = end;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const std::size_t end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) break;
      i = end + 1;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      std::size_t n = 0, j = i + 1;
      for (; j < sql.size() && sql[j] >= '0' && sql[j] <= '9'; ++j) {
        n = n * 10 + static_cast<std::size_t>(sql[j] - '0');
        if (n > 10000) return fail(ErrorCode::kInternal, "SQL placeholder number too large");
      }
      if (n == 0) return fail(ErrorCode::kInternal, "SQL placeholders start at $1");
      if (seen.size() < n) seen.resize(n, false);
      seen[n - 1] = true;
      i = j - 1;
    }
  }
  if (std::find(seen.begin(), seen.end(), false) != seen.end()) {
    return fail(ErrorCode::kInternal, "SQL placeholders must be $1..$N without gaps");
  }
  return seen.size();
}

// SQLSTATE → ErrorCode (see db.h). `retryable` is set for the transient conflicts a transaction retries.
ErrorCode code_for_sqlstate(std::string_view state, bool* retryable) {
  *retryable = false;
  if (state == "40001" || state == "40P01") {
    *retryable = true;
    return ErrorCode::kUnavailable;
  }
  if (state == "23505") return ErrorCode::kAlreadyExists;
  if (state == "23503" || state == "23514" || state == "23502") return ErrorCode::kInvalidArgument;
  // Data exceptions (class 22): a value the column cannot hold, e.g. a NUL byte in text.
  if (state.starts_with("22")) return ErrorCode::kInvalidArgument;
  // Connection failures, the server shutting down or refusing connections, resource exhaustion,
  // lock/statement timeouts: all "try again later".
  if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("53") || state == "57014" ||
      state == "55P03") {
    return ErrorCode::kUnavailable;
  }
  return ErrorCode::kInternal;
}

void ignore_notice(void*, const char*) {}

// Parses one text-format result value by its column type.
Value decode(Oid type, const char* p, int len) {
  const std::string_view s(p, static_cast<std::size_t>(len));
  switch (type) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid: {
      std::int64_t v = 0;
      std::from_chars(s.data(), s.data() + s.size(), v);
      return Value(v);
    }
    case kBoolOid:
      return Value(std::int64_t{s == "t" ? 1 : 0});
    case kFloat4Oid:
    case kFloat8Oid:
      return Value(std::strtod(std::string(s).c_str(), nullptr));
    case kNumericOid: {
      // SUM() and friends: integral results stay integers, the rest become reals.
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && end == s.data() + s.size()) return Value(v);
      return Value(std::strtod(std::string(s).c_str(), nullptr));
    }
    case kByteaOid: {
      // Text format of bytea is "\x" followed by hex (bytea_output = hex, set on connect).
      std::string out;
      if (s.size() >= 2 && s[0] == '\\' && s[1] == 'x') {
        out.reserve((s.size() - 2) / 2);
        auto hex = [](char h) -> int {
          if (h >= '0' && h <= '9') return h - '0';
          if (h >= 'a' && h <= 'f') return h - 'a' + 10;
          if (h >= 'A' && h <= 'F') return h - 'A' + 10;
          return 0;
        };
        for (std::size_t i = 2; i + 1 < s.size(); i += 2) {
          out.push_back(static_cast<char>(hex(s[i]) << 4 | hex(s[i + 1])));
        }
      }
      return Value(Blob{std::move(out)});
    }
    default:
      return Value(std::string(s));
  }
}

class PgDb final : public Db {
 public:
  PgDb(PgConnPtr conn, std::shared_ptr<const PostgresOptions> opts)
      : conn_(std::move(conn)),
        opts_(std::move(opts)),
        max_attempts_(std::max(1, opts_->max_transaction_attempts)),
        cache_limit_(static_cast<std::size_t>(std::max(1, opts_->statement_cache_size))) {}

  std::string_view dialect() const override { return "postgres"; }
  bool in_transaction() const override { return depth_ > 0; }

  // True while the connection can be used. An idle connection receives nothing unasked (no LISTEN on pool
  // connections), so a readable socket means the server is going or gone: a restart or shutdown sends an
  // error and closes, a crash or failover closes or resets. Such a connection is replaced, not reused.
  bool healthy() {
    if (PQstatus(conn_.get()) != CONNECTION_OK || PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) return false;
    pollfd pfd{PQsocket(conn_.get()), POLLIN, 0};
    if (pfd.fd < 0) return false;
    return ::poll(&pfd, 1, 0) == 0;
  }

  Result<std::int64_t> run(std::string_view sql, std::span<const Value> params, std::vector<Row>* rows) override {
    auto prepared = prepare(sql, params);
    AVOW_TRY(prepared);
    const Statement& st = **prepared;

    // Binary parameters: no quoting, NUL-safe, exact integers and doubles.
    const std::size_t n = params.size();
    std::vector<const char*> values(n, nullptr);
    std::vector<int> lengths(n, 0), formats(n, 1);
    std::vector<std::array<char, 8>> scratch(n);
    for (std::size_t i = 0; i < n; ++i) {
      const Value& v = params[i];
      switch (v.kind()) {
        case Value::Kind::kNull:
          break;
        case Value::Kind::kInt: {
          const auto be = to_big_endian(static_cast<std::uint64_t>(v.as_int()));
          std::memcpy(scratch[i].data(), &be, 8);
          values[i] = scratch[i].data();
          lengths[i] = 8;
          break;
        }
        case Value::Kind::kReal: {
          const auto be = to_big_endian(std::bit_cast<std::uint64_t>(v.as_real()));
          std::memcpy(scratch[i].data(), &be, 8);
          values[i] = scratch[i].data();
          lengths[i] = 8;
          break;
        }
        case Value::Kind::kText:
          values[i] = v.as_text().data();
          lengths[i] = static_cast<int>(v.as_text().size());
          break;
        case Value::Kind::kBlob:
          // A non-null pointer even for zero bytes: a null pointer means SQL NULL.
          values[i] = v.as_blob().empty() ? "" : v.as_blob().data();
          lengths[i] = static_cast<int>(v.as_blob().size());
          break;
      }
    }
    PgResultPtr res(PQexecPrepared(conn_.get(), st.name.c_str(), static_cast<int>(n), values.data(), lengths.data(),
                                   formats.data(), /*resultFormat=*/0));
    const ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return tl::unexpected(error_from(res.get(), "run"));

    if (rows && status == PGRES_TUPLES_OK) {
      const int nrows = PQntuples(res.get());
      const int ncols = PQnfields(res.get());
      auto names = std::make_shared<std::vector<std::string>>();
      std::vector<Oid> types;
      for (int c = 0; c < ncols; ++c) {
        names->emplace_back(PQfname(res.get(), c));
        types.push_back(PQftype(res.get(), c));
      }
      std::shared_ptr<const std::vector<std::string>> shared_names = std::move(names);
      rows->reserve(rows->size() + static_cast<std::size_t>(nrows));
      for (int r = 0; r < nrows; ++r) {
        std::vector<Value> vals;
        vals.reserve(static_cast<std::size_t>(ncols));
        for (int c = 0; c < ncols; ++c) {
          if (PQgetisnull(res.get(), r, c)) {
            vals.emplace_back();
          } else {
            vals.push_back(
                decode(types[static_cast<std::size_t>(c)], PQgetvalue(res.get(), r, c), PQgetlength(res.get(), r, c)));
          }
        }
        rows->emplace_back(shared_names, std::move(vals));
      }
    }
    // Rows changed counts only for data-changing statements (PQcmdTuples also counts SELECTed rows).
    const std::string_view cmd = PQcmdStatus(res.get());
    if (cmd.starts_with("INSERT") || cmd.starts_with("UPDATE") || cmd.starts_with("DELETE") ||
        cmd.starts_with("MERGE")) {
      std::int64_t changed = 0;
      const std::string_view tuples = PQcmdTuples(res.get());
      std::from_chars(tuples.data(), tuples.data() + tuples.size(), changed);
      return changed;
    }
    return std::int64_t{0};
  }

  Status execute_script(std::string_view sql) override {
    AVOW_TRY(exec_plain(std::string(sql).c_str()));
    // The schema may have changed under cached statements (a cached SELECT * would fail with "cached plan
    // must not change result type"): forget them.
    return clear_cache();
  }

  Status transaction(const TransactionFn& fn) override {
    if (depth_ > 0) return savepoint(fn);

    Error last{ErrorCode::kUnavailable, "transaction conflict"};
    for (int attempt = 1; attempt <= max_attempts_; ++attempt) {
      if (attempt > 1) {
        if (opts_->on_transaction_retry) opts_->on_transaction_retry(attempt - 1, last);
        backoff(attempt);
      }
      retryable_ = false;
      if (Status b = exec_plain("BEGIN ISOLATION LEVEL SERIALIZABLE"); !b) {
        // Nothing has run yet: a connection lost while idle can be re-opened and the attempt repeated.
        if (PQstatus(conn_.get()) != CONNECTION_OK) {
          PQreset(conn_.get());
          if (PQstatus(conn_.get()) == CONNECTION_OK && configure().has_value()) {
            last = b.error();
            continue;
          }
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
      if (Status c = exec_plain("COMMIT"); !c) {
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

  // Per-connection settings, applied after every (re)connect.
  Status configure() {
    PQsetNoticeProcessor(conn_.get(), ignore_notice, nullptr);
    if (PQsetClientEncoding(conn_.get(), "UTF8") != 0) {
      return fail(ErrorCode::kUnavailable, "PostgreSQL: cannot set client encoding UTF8");
    }
    const std::string set =
        "SET bytea_output = 'hex'; SET statement_timeout = " + std::to_string(opts_->statement_timeout.count()) +
        "; SET default_transaction_isolation = 'read committed'";
    AVOW_TRY(exec_plain(set.c_str()));
    cache_.clear();  // prepared statements die with the server session
    return ok();
  }

 private:
  struct Statement {
    std::string name;
  };

  static std::uint64_t to_big_endian(std::uint64_t v) {
    if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(v);
    return v;
  }

  static char kind_char(Value::Kind k) {
    switch (k) {
      case Value::Kind::kNull:
        return '0';
      case Value::Kind::kInt:
        return 'i';
      case Value::Kind::kReal:
        return 'r';
      case Value::Kind::kText:
        return 't';
      case Value::Kind::kBlob:
        return 'b';
    }
    return '?';
  }

  static Oid kind_oid(Value::Kind k) {
    switch (k) {
      case Value::Kind::kNull:
        return 0;  // let the server infer it from context
      case Value::Kind::kInt:
        return kInt8Oid;
      case Value::Kind::kReal:
        return kFloat8Oid;
      case Value::Kind::kText:
        return kTextOid;
      case Value::Kind::kBlob:
        return kByteaOid;
    }
    return 0;
  }

  // The cache key is the SQL text plus the parameter kinds: a prepared statement's parameter types are
  // fixed, and the same SQL may be called with NULL in one place and a value in another.
  Result<const Statement*> prepare(std::string_view sql, std::span<const Value> params) {
    std::string key;
    key.reserve(sql.size() + 1 + params.size());
    key.append(sql);
    key.push_back('\0');
    for (const Value& v : params) key.push_back(kind_char(v.kind()));
    if (auto it = cache_.find(key); it != cache_.end()) return &it->second;

    auto count = count_placeholders(sql);
    AVOW_TRY(count);
    if (*count != params.size()) {
      return fail(ErrorCode::kInternal, "statement takes " + std::to_string(*count) + " parameters, " +
                                            std::to_string(params.size()) + " given");
    }
    // Evict everything when full, but not inside a transaction (DEALLOCATE fails in an aborted one).
    if (cache_.size() >= cache_limit_ && depth_ == 0) AVOW_TRY(clear_cache());

    std::vector<Oid> types;
    types.reserve(params.size());
    for (const Value& v : params) types.push_back(kind_oid(v.kind()));
    Statement st{"avow_" + std::to_string(++statement_counter_)};
    const std::string text(sql);
    PgResultPtr res(
        PQprepare(conn_.get(), st.name.c_str(), text.c_str(), static_cast<int>(types.size()), types.data()));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) return tl::unexpected(error_from(res.get(), "prepare"));
    auto [it, inserted] = cache_.emplace(std::move(key), std::move(st));
    return &it->second;
  }

  Status clear_cache() {
    if (cache_.empty()) return ok();
    cache_.clear();
    return exec_plain("DEALLOCATE ALL");
  }

  Error error_from(const PGresult* res, std::string_view what) {
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    std::string msg(res ? PQresultErrorMessage(res) : "");
    if (msg.empty()) msg = PQerrorMessage(conn_.get());
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    bool retryable = false;
    ErrorCode code = ErrorCode::kInternal;
    if (state) {
      code = code_for_sqlstate(state, &retryable);
    } else if (PQstatus(conn_.get()) != CONNECTION_OK) {
      code = ErrorCode::kUnavailable;  // the connection is gone (no SQLSTATE from a dead socket)
    }
    if (retryable) retryable_ = true;
    return Error{code, "postgres " + std::string(what) + ": " + msg + (state ? " [" + std::string(state) + "]" : "")};
  }

  Status exec_plain(const char* sql) {
    PgResultPtr res(PQexec(conn_.get(), sql));
    const ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
      return tl::unexpected(error_from(res.get(), "exec"));
    }
    return ok();
  }

  void rollback() {
    if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) PgResultPtr(PQexec(conn_.get(), "ROLLBACK"));
    depth_ = 0;
  }

  Status savepoint(const TransactionFn& fn) {
    const std::string name = "avow_sp" + std::to_string(depth_);
    AVOW_TRY(exec_plain(("SAVEPOINT " + name).c_str()));
    ++depth_;
    Status result;
    auto undo = [&] {
      PgResultPtr(PQexec(conn_.get(), ("ROLLBACK TO SAVEPOINT " + name + "; RELEASE SAVEPOINT " + name).c_str()));
    };
    try {
      result = fn(*this);
    } catch (...) {
      --depth_;
      undo();
      throw;
    }
    --depth_;
    if (!result) {
      // A serialization failure dooms the whole transaction: leave it for the outer retry.
      if (!retryable_) undo();
      return result;
    }
    return exec_plain(("RELEASE SAVEPOINT " + name).c_str());
  }

  static void backoff(int attempt) {
    // Exponential with full jitter (1 ms … 2^attempt ms, capped at 100 ms), so that transactions that
    // conflicted do not collide again in step, and a burst spreads out instead of retrying in lockstep.
    const std::uint32_t cap = std::min<std::uint32_t>(100, 1u << std::min(attempt, 7));
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + random_below(cap)));
  }

  PgConnPtr conn_;
  std::shared_ptr<const PostgresOptions> opts_;
  int max_attempts_;
  std::size_t cache_limit_;
  std::unordered_map<std::string, Statement, StringHash, std::equal_to<>> cache_;
  std::uint64_t statement_counter_ = 0;
  int depth_ = 0;
  bool retryable_ = false;
};

Result<std::unique_ptr<PgDb>> connect(const std::shared_ptr<const PostgresOptions>& opts) {
  // connect_timeout is whole seconds in libpq (and at least 2).
  const auto secs = std::max<std::int64_t>(2, (opts->connect_timeout.count() + 999) / 1000);
  const std::string timeout = std::to_string(secs);
  // expand_dbname: the URL (or key=value string) in "dbname" is expanded; later keywords override it.
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* vals[] = {opts->url.c_str(), timeout.c_str(), "avowd", nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, vals, /*expand_dbname=*/1));
  if (!conn) return fail(ErrorCode::kUnavailable, "PostgreSQL: out of memory connecting");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn.get());
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return fail(ErrorCode::kUnavailable,
                "cannot connect to PostgreSQL at " + redact_database_url(opts->url) + ": " + msg);
  }
  auto db = std::make_unique<PgDb>(std::move(conn), opts);
  AVOW_TRY(db->configure());
  return db;
}

class PgPool {
 public:
  explicit PgPool(PostgresOptions opts) : opts_(std::make_shared<const PostgresOptions>(std::move(opts))) {}

  // Opens the first connection now, so that a wrong URL or password fails at start-up.
  Status open_first() {
    auto db = connect(opts_);
    AVOW_TRY(db);
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(*db));
    ++open_;
    return ok();
  }

  // An idle connection (checked and replaced when broken), or a new one while under pool_size.
  Result<std::unique_ptr<PgDb>> take() {
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + opts_->acquire_timeout;
    for (;;) {
      if (!cv_.wait_until(lock, deadline, [&] { return closed_ || !idle_.empty() || open_ < opts_->pool_size; })) {
        return fail(ErrorCode::kUnavailable, "no database connection became free in time");
      }
      if (closed_) return fail(ErrorCode::kUnavailable, "the database is closed");
      if (!idle_.empty()) {
        auto db = std::move(idle_.back());
        idle_.pop_back();
        lock.unlock();
        if (db->healthy()) return db;
        db.reset();  // the server went away: drop it and open a fresh one in its slot
        lock.lock();
        --open_;
        continue;
      }
      ++open_;  // reserve the slot, connect outside the lock
      lock.unlock();
      auto db = connect(opts_);
      if (!db) {
        lock.lock();
        --open_;
        cv_.notify_one();
        return tl::unexpected(db.error());
      }
      return std::move(*db);
    }
  }

  void give_back(std::unique_ptr<PgDb> db) {
    // A connection left broken or inside a transaction is not reused.
    const bool reusable = !db->in_transaction() && db->healthy();
    {
      std::lock_guard lock(mu_);
      if (!closed_ && reusable) {
        idle_.push_back(std::move(db));
        cv_.notify_one();
        return;
      }
      --open_;
      cv_.notify_one();
    }
    db.reset();  // close outside the lock
  }

  void close() {
    std::vector<std::unique_ptr<PgDb>> dbs;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      dbs.swap(idle_);
      open_ -= static_cast<int>(dbs.size());
    }
    cv_.notify_all();
    dbs.clear();
  }

 private:
  std::shared_ptr<const PostgresOptions> opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgDb>> idle_;
  int open_ = 0;  // connections in existence (idle, borrowed, or being opened)
  bool closed_ = false;
};

class PostgresDatabase final : public Database {
 public:
  explicit PostgresDatabase(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}
  ~PostgresDatabase() override { close(); }

  std::string_view dialect() const override { return "postgres"; }

  Result<Connection> connection() override {
    auto db = pool_->take();
    AVOW_TRY(db);
    std::shared_ptr<PgPool> pool = pool_;
    return Connection(std::move(*db), [pool](std::unique_ptr<Db> back) {
      pool->give_back(std::unique_ptr<PgDb>(static_cast<PgDb*>(back.release())));
    });
  }

  void close() override { pool_->close(); }

 private:
  std::shared_ptr<PgPool> pool_;
};

}  // namespace

Result<std::shared_ptr<Database>> open_postgres(const PostgresOptions& options) {
  if (!is_postgres_url(options.url) && options.url.find('=') == std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "PostgreSQL URL must start with postgres:// or postgresql://");
  }
  if (options.pool_size < 1 || options.pool_size > 256) {
    return fail(ErrorCode::kInvalidArgument, "PostgreSQL pool size must be between 1 and 256");
  }
  if (options.acquire_timeout.count() < 0 || options.connect_timeout.count() < 0 ||
      options.statement_timeout.count() < 0) {
    return fail(ErrorCode::kInvalidArgument, "PostgreSQL timeouts must not be negative");
  }
  if (options.max_transaction_attempts < 1) {
    return fail(ErrorCode::kInvalidArgument, "PostgreSQL transaction attempts must be at least 1");
  }
  auto pool = std::make_shared<PgPool>(options);
  AVOW_TRY(pool->open_first());
  return std::shared_ptr<Database>(std::make_shared<PostgresDatabase>(std::move(pool)));
}

}  // namespace avow::store
