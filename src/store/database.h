// avow/store/database.h — the database handle the server holds, and how threads borrow connections.
//
//   SqliteOptions opts;
//   opts.path = "/var/lib/avow/avow.db";
//   Result<std::shared_ptr<Database>> db = open_sqlite(opts);
//   if (!db) { log::error("database", {{"error", db.error().message}}); return 1; }
//   if (Status m = (*db)->migrate(); !m) { … refuse to start … }
//
//   // On a database worker thread:
//   Result<Connection> conn = (*db)->connection();   // waits for a free connection, bounded
//   if (!conn) return tl::unexpected(conn.error());
//   UserRepo users(**conn);                            // repositories work on a Db&
//   Result<UserRecord> u = users.get(id);
//   // the connection goes back to the pool when `conn` is destroyed
//
// Two backends: SQLite (one file, one process's writers; the default) and PostgreSQL (many avowd nodes on
// one server). open_database() picks one from a path or a postgres:// URL.
//
// Thread model: a `Database` is shared by every thread; a `Connection` belongs to the thread that
// borrowed it until it is destroyed. Do not hold two connections of one Database at once on one thread
// (a write transaction on the second could wait for the first forever).
//
// SQLite: a pool of connections to one file in WAL mode (readers run concurrently with the one writer),
// `synchronous=NORMAL`, `foreign_keys=ON`, a busy timeout, and `BEGIN IMMEDIATE` for write transactions.
// Write transactions of one process are serialised by an in-process lock before they reach SQLite, so
// they queue fairly instead of spinning in SQLite's sleep-based busy handler; the busy timeout then only
// matters against another process (e.g. `avowd admin …`) using the same file.
// `:memory:` databases are private to a connection, so the pool has exactly one connection there.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/db.h"

namespace avow::store {

// A borrowed connection. Move-only; returns the connection to its pool when destroyed.
class Connection {
 public:
  using Release = std::function<void(std::unique_ptr<Db>)>;

  Connection(std::unique_ptr<Db> db, Release release) : db_(std::move(db)), release_(std::move(release)) {}
  Connection(Connection&& other) noexcept = default;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  Db& operator*() const { return *db_; }
  Db* operator->() const { return db_.get(); }
  Db& db() const { return *db_; }

 private:
  void give_back();

  std::unique_ptr<Db> db_;
  Release release_;
};

class Database {
 public:
  virtual ~Database() = default;

  // "sqlite" or "postgres".
  virtual std::string_view dialect() const = 0;

  // Borrows a connection, waiting up to the configured acquire timeout for one to come free.
  // kUnavailable when none frees up in time or the database has been closed.
  virtual Result<Connection> connection() = 0;

  // Checkpoints and closes every idle connection; connections still borrowed are closed when returned.
  // Afterwards connection() fails with kUnavailable. Idempotent.
  virtual void close() = 0;

  // Applies every migration this binary knows and the database has not seen, each in its own transaction.
  // Re-running is a no-op. A database whose schema is newer than this binary knows (or whose recorded
  // history disagrees with the binary's) is refused with kConflict and left untouched.
  Status migrate();

  // The highest applied migration version; 0 for an empty database.
  Result<int> schema_version();

  // A trivial round trip (`SELECT 1`) for readiness checks. kUnavailable when it fails.
  Status ping();

  // Borrows a connection and runs `fn` in a write transaction on it (see Db::transaction).
  Status transaction(const Db::TransactionFn& fn);
};

struct SqliteOptions {
  // File path, or ":memory:" for a private in-memory database (tests).
  std::string path;
  // Connections in the pool; readers run concurrently up to this many. Forced to 1 for ":memory:".
  int pool_size = 4;
  // How long SQLite waits on a lock held by another process before reporting SQLITE_BUSY.
  std::chrono::milliseconds busy_timeout{5000};
  // How long connection() waits for a free connection.
  std::chrono::milliseconds acquire_timeout{5000};
  // Attempts of a write transaction before giving up on repeated SQLITE_BUSY.
  int max_transaction_attempts = 5;
  // Called (on the retrying thread, before it backs off) each time a write transaction is retried: a hook
  // for a retry counter metric. `attempt` is the attempt that failed (1-based). Must not use the database.
  std::function<void(int attempt, const Error& error)> on_transaction_retry;
  // Prepared statements cached per connection (the hot paths use a few dozen).
  int statement_cache_size = 256;
  // Create the file when it does not exist.
  bool create_if_missing = true;
};

// Opens (and with create_if_missing, creates) a SQLite database and its connection pool, applying the
// connection settings above. kInvalidArgument for bad options; kUnavailable when the file cannot be opened
// or WAL mode cannot be enabled. Does not migrate.
Result<std::shared_ptr<Database>> open_sqlite(const SqliteOptions& options);

// PostgreSQL: a pool of libpq connections opened on demand up to pool_size. Write transactions run
// SERIALIZABLE (the same guarantee as SQLite's serial writers) and are retried on serialization failure or
// deadlock. A connection whose server went away (restart, failover, network) is noticed when it is next
// borrowed and replaced by a new one, so the pool heals by itself once the server is back; meanwhile
// connection() and every statement fail with kUnavailable (and /readyz reports not ready).
struct PostgresOptions {
  // postgres://user:password@host:port/dbname?param=value (any libpq URI or key=value conninfo). The
  // password never appears in messages (see redact_database_url).
  std::string url;
  // The most connections open at once; they are opened when first needed.
  int pool_size = 8;
  // How long connection() waits for a free connection.
  std::chrono::milliseconds acquire_timeout{5000};
  // How long opening one connection may take (libpq counts whole seconds, at least 2).
  std::chrono::milliseconds connect_timeout{5000};
  // Server-side limit on one statement (0 = none); a statement past it fails with kUnavailable.
  std::chrono::milliseconds statement_timeout{30000};
  // Attempts of a write transaction before giving up on repeated conflicts (kUnavailable). Serializable
  // transactions of several nodes conflict far more often than SQLite's single writer waits, and a conflict
  // costs only a short back-off, so the bound is generous (40 attempts back off for about 3 s in all): a
  // sign-in must not fail for want of a retry.
  int max_transaction_attempts = 40;
  // As SqliteOptions::on_transaction_retry.
  std::function<void(int attempt, const Error& error)> on_transaction_retry;
  // Prepared statements cached per connection.
  int statement_cache_size = 256;
};

// Opens the pool and its first connection (so a wrong URL or password fails now). kInvalidArgument for
// bad options; kUnavailable when the server cannot be reached or refuses the login. Does not migrate.
Result<std::shared_ptr<Database>> open_postgres(const PostgresOptions& options);

// True for "postgres://…" and "postgresql://…" (the scheme is case-insensitive).
bool is_postgres_url(std::string_view url_or_path);

// The URL with any password replaced by "***" (userinfo password and a `password=` parameter), fit for
// logs and error messages. A SQLite path comes back unchanged.
std::string redact_database_url(std::string_view url_or_path);

// What the server's configuration says about its database; open_database() picks the backend.
struct DatabaseOptions {
  // A postgres:// URL selects PostgreSQL; anything else is a SQLite file path.
  std::string url_or_path;
  int pool_size = 4;
  std::chrono::milliseconds acquire_timeout{5000};
  std::chrono::milliseconds busy_timeout{5000};        // SQLite only
  std::chrono::milliseconds connect_timeout{5000};     // PostgreSQL only
  std::chrono::milliseconds statement_timeout{30000};  // PostgreSQL only
  int max_transaction_attempts = 0;                    // 0: the backend's default (SQLite 5, PostgreSQL 40)
  std::function<void(int attempt, const Error& error)> on_transaction_retry;
  bool create_if_missing = true;  // SQLite only
};

// open_postgres or open_sqlite, by the form of url_or_path. Errors as theirs.
Result<std::shared_ptr<Database>> open_database(const DatabaseOptions& options);

// Forgets expired rows in short transactions so that other writers are never held behind one long delete:
// runs `purge(db, batch)` (which forgets at most about `batch` rows, see UsedHintRepo::purge_expired) in a
// transaction of its own, again until a run forgets nothing or `stop` is requested, pausing `pause` between
// runs (the write lock is not fair: without a pause the caller would take it back at once). Returns how many
// rows were forgotten in all, or the first error.
using PurgeFn = std::function<Result<std::int64_t>(Db& db, int batch)>;
Result<std::int64_t> purge_in_batches(Database& database, int batch, std::chrono::milliseconds pause,
                                      const PurgeFn& purge, const std::stop_token& stop = {});

}  // namespace avow::store
