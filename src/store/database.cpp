#include "store/database.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include "store/migrations.h"

namespace avow::store {

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    give_back();
    db_ = std::move(other.db_);
    release_ = std::move(other.release_);
  }
  return *this;
}

Connection::~Connection() { give_back(); }

void Connection::give_back() {
  if (db_ && release_) release_(std::move(db_));
  db_.reset();
}

Status Database::migrate() {
  auto conn = connection();
  AVOW_TRY(conn);
  if (dialect() != "postgres") return store::migrate(**conn);  // SQLite: BEGIN IMMEDIATE already serialises
  // Several nodes may start at once: concurrent CREATE TABLE (even IF NOT EXISTS) collides in PostgreSQL's
  // catalog, so migrations take a session-wide advisory lock (released on unlock or when the session ends).
  constexpr std::int64_t kMigrationLock = 0x61766f77'6d696772;  // "avowmigr"
  AVOW_TRY((*conn)->execute("SELECT pg_advisory_lock($1)", {kMigrationLock}));
  Status st = store::migrate(**conn);
  (void)(*conn)->execute("SELECT pg_advisory_unlock($1)", {kMigrationLock});
  return st;
}

Result<int> Database::schema_version() {
  auto conn = connection();
  AVOW_TRY(conn);
  return store::schema_version(**conn);
}

Status Database::ping() {
  auto conn = connection();
  AVOW_TRY(conn);
  auto row = (*conn)->query_one("SELECT 1");
  if (!row) return fail(ErrorCode::kUnavailable, "database ping failed: " + row.error().message);
  if (!*row || (*row)->int64(0).value_or(0) != 1) {
    return fail(ErrorCode::kUnavailable, "database ping returned an unexpected answer");
  }
  return ok();
}

Status Database::transaction(const Db::TransactionFn& fn) {
  auto conn = connection();
  AVOW_TRY(conn);
  return (*conn)->transaction(fn);
}

bool is_postgres_url(std::string_view s) {
  auto starts = [&](std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    }
    return true;
  };
  return starts("postgres://") || starts("postgresql://");
}

std::string redact_database_url(std::string_view url) {
  std::string out(url);
  if (is_postgres_url(url)) {
    // userinfo: scheme://user:password@host…; the authority ends at the first '/', '?' or '#'.
    const std::size_t start = out.find("://") + 3;
    const std::size_t authority_end = std::min(out.find_first_of("/?#", start), out.size());
    const std::size_t at = out.rfind('@', authority_end);
    if (at != std::string::npos && at >= start) {
      const std::size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=… as a URI query parameter or a key=value conninfo word.
  for (std::size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    const bool word_start = pos == 0 || out[pos - 1] == '?' || out[pos - 1] == '&' || out[pos - 1] == ' ';
    pos += 9;
    if (!word_start) continue;
    std::size_t end = pos;
    if (end < out.size() && out[end] == '\'') {
      end = out.find('\'', end + 1);
      end = end == std::string::npos ? out.size() : end + 1;
    } else {
      end = std::min(out.find_first_of("& ", pos), out.size());
    }
    out.replace(pos, end - pos, "***");
    pos += 3;
  }
  return out;
}

Result<std::shared_ptr<Database>> open_database(const DatabaseOptions& options) {
  if (is_postgres_url(options.url_or_path)) {
    PostgresOptions pg;
    pg.url = options.url_or_path;
    pg.pool_size = options.pool_size;
    pg.acquire_timeout = options.acquire_timeout;
    pg.connect_timeout = options.connect_timeout;
    pg.statement_timeout = options.statement_timeout;
    if (options.max_transaction_attempts > 0) pg.max_transaction_attempts = options.max_transaction_attempts;
    pg.on_transaction_retry = options.on_transaction_retry;
    return open_postgres(pg);
  }
  SqliteOptions sqlite;
  sqlite.path = options.url_or_path;
  sqlite.pool_size = options.pool_size;
  sqlite.acquire_timeout = options.acquire_timeout;
  sqlite.busy_timeout = options.busy_timeout;
  if (options.max_transaction_attempts > 0) sqlite.max_transaction_attempts = options.max_transaction_attempts;
  sqlite.on_transaction_retry = options.on_transaction_retry;
  sqlite.create_if_missing = options.create_if_missing;
  return open_sqlite(sqlite);
}

Result<std::int64_t> purge_in_batches(Database& database, int batch, std::chrono::milliseconds pause,
                                      const PurgeFn& purge, const std::stop_token& stop) {
  std::int64_t total = 0;
  for (;;) {
    std::int64_t forgotten = 0;
    Status st = database.transaction([&](Db& db) -> Status {
      auto n = purge(db, batch);
      AVOW_TRY(n);
      forgotten = *n;
      return ok();
    });
    if (!st) return tl::unexpected(st.error());
    total += forgotten;
    // A short batch does not mean the end: a batch stops at a whole second of expiries (at 450 records a
    // second, batches of 500 forget 450), so only an empty one does.
    if (forgotten == 0 || stop.stop_requested()) return total;
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace avow::store
