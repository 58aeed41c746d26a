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

}  // namespace avow::store
