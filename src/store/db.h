// avow/store/db.h — the one SQL interface every repository is written against.
//
// A `Db` is one database connection, used by one thread at a time (borrow it from a `Database`, see
// store/database.h). SQL text uses `$1, $2, …` placeholders, which PostgreSQL takes natively and SQLite
// takes as named parameters; the SQLite backend maps each `$N` to its slot by name, so a placeholder may
// appear more than once and in any order. Keep SQL portable: the same text serves every backend.
//
//   Result<std::int64_t> n = db.execute("UPDATE users SET status = $2 WHERE id = $1", {id, "locked"});
//   Result<std::vector<Row>> rows = db.query("SELECT id, name FROM orgs WHERE id = $1", {id});
//   for (const Row& r : *rows) { Result<std::string> name = r.text(1); … }
//
//   Status st = db.transaction([&](Db& tx) -> Status {
//     AVOW_TRY(tx.execute("…", {…}));
//     return ok();                      // commit; any error rolls back
//   });
//
// Transactions are write transactions (SQLite: `BEGIN IMMEDIATE`). When the backend reports a transient
// conflict (SQLite: SQLITE_BUSY; PostgreSQL: serialization failure / deadlock) the whole function is run
// again, a bounded number of times — so the function must touch nothing but the database (or be safe to
// repeat). A transaction opened inside a transaction becomes a savepoint: its failure rolls back only its
// own work, and the caller decides what to do with the error.
//
// Errors map onto avow::ErrorCode: a unique-key violation is kAlreadyExists, a foreign-key, CHECK or
// NOT NULL violation kInvalidArgument, a busy/locked database kUnavailable, anything else kInternal.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"

namespace avow::store {

// Bytes, kept apart from text so that a BLOB/BYTEA column round-trips as bytes.
struct Blob {
  std::string bytes;
  friend bool operator==(const Blob&, const Blob&) = default;
};

// One SQL value: NULL, a 64-bit integer, a double, text or bytes. Booleans are stored as 0/1 integers.
class Value {
 public:
  enum class Kind { kNull, kInt, kReal, kText, kBlob };

  Value() = default;
  Value(std::nullptr_t) {}
  template <class I>
  requires std::is_integral_v<I> Value(I v) : v_(static_cast<std::int64_t>(v)) {}
  Value(double v) : v_(v) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  Value(const char* v) : v_(std::string(v)) {}
  Value(Blob v) : v_(std::move(v)) {}
  template <class T>
  Value(const std::optional<T>& v) {
    if (v) *this = Value(*v);
  }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_null() const { return kind() == Kind::kNull; }
  // Unchecked accessors: call only after checking kind().
  std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  double as_real() const { return std::get<double>(v_); }
  const std::string& as_text() const { return std::get<std::string>(v_); }
  const std::string& as_blob() const { return std::get<Blob>(v_).bytes; }

  friend bool operator==(const Value&, const Value&) = default;

 private:
  std::variant<std::monostate, std::int64_t, double, std::string, Blob> v_;
};

// One result row. The typed getters check the column index and the stored type; on a mismatch they
// return kInternal naming the column (a mismatch is a bug in the SQL or the schema, not user error).
class Row {
 public:
  Row(std::shared_ptr<const std::vector<std::string>> names, std::vector<Value> values)
      : names_(std::move(names)), values_(std::move(values)) {}

  std::size_t size() const { return values_.size(); }
  // The raw value; kInternal when `i` is out of range.
  Result<Value> value(std::size_t i) const;
  bool is_null(std::size_t i) const { return i < values_.size() && values_[i].is_null(); }
  std::string_view column_name(std::size_t i) const;

  Result<std::int64_t> int64(std::size_t i) const;                     // not NULL, integer
  Result<std::optional<std::int64_t>> opt_int64(std::size_t i) const;  // NULL → nullopt
  Result<bool> boolean(std::size_t i) const;                           // integer 0 or 1
  Result<double> real(std::size_t i) const;                            // integer or real
  Result<std::string> text(std::size_t i) const;                       // not NULL, text
  Result<std::optional<std::string>> opt_text(std::size_t i) const;    // NULL → nullopt
  Result<std::string> blob(std::size_t i) const;                       // not NULL, bytes (text accepted)

 private:
  Error mismatch(std::size_t i, std::string_view want) const;

  std::shared_ptr<const std::vector<std::string>> names_;
  std::vector<Value> values_;
};

class Db {
 public:
  using TransactionFn = std::function<Status(Db&)>;

  virtual ~Db() = default;

  // "sqlite" or "postgres": the only place where code may ask which engine it runs on (migrations do).
  virtual std::string_view dialect() const = 0;

  // Runs one statement with `params` bound to $1..$N (the count must match the statement's highest $N).
  // Appends result rows to `*rows` when `rows` is not null. Returns the number of rows changed by an
  // INSERT/UPDATE/DELETE (0 for other statements). Errors as described at the top of this file.
  virtual Result<std::int64_t> run(std::string_view sql, std::span<const Value> params, std::vector<Row>* rows) = 0;

  // Runs several `;`-separated statements without parameters (migrations). Stops at the first error.
  virtual Status execute_script(std::string_view sql) = 0;

  // Runs `fn` in a write transaction: commits when it returns ok, rolls back when it returns an error
  // (which is passed on) or throws (rethrown). Retries transient conflicts as described above; gives up
  // with kUnavailable after the configured number of attempts.
  virtual Status transaction(const TransactionFn& fn) = 0;

  virtual bool in_transaction() const = 0;

  // Convenience wrappers over run().
  Result<std::int64_t> execute(std::string_view sql, std::initializer_list<Value> params = {}) {
    return run(sql, std::span<const Value>(params.begin(), params.size()), nullptr);
  }
  Result<std::int64_t> execute(std::string_view sql, std::span<const Value> params) {
    return run(sql, params, nullptr);
  }
  Result<std::vector<Row>> query(std::string_view sql, std::initializer_list<Value> params = {}) {
    return query(sql, std::span<const Value>(params.begin(), params.size()));
  }
  Result<std::vector<Row>> query(std::string_view sql, std::span<const Value> params);
  // The first row, or nullopt when there is none.
  Result<std::optional<Row>> query_one(std::string_view sql, std::initializer_list<Value> params = {}) {
    return query_one(sql, std::span<const Value>(params.begin(), params.size()));
  }
  Result<std::optional<Row>> query_one(std::string_view sql, std::span<const Value> params);
};

// Runs `fn(Db&) -> Result<T>` in a transaction and hands back its value. The value of the last attempt
// wins when the transaction is retried.
template <class F>
auto transaction_value(Db& db, F&& fn) -> std::invoke_result_t<F&, Db&> {
  using R = std::invoke_result_t<F&, Db&>;
  std::optional<typename R::value_type> out;
  Status st = db.transaction([&](Db& tx) -> Status {
    R r = fn(tx);
    if (!r) return tl::unexpected(r.error());
    out.emplace(std::move(*r));
    return ok();
  });
  if (!st) return tl::unexpected(st.error());
  return std::move(*out);
}

}  // namespace avow::store
