#include "store/database.h"

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
  return store::migrate(**conn);
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

}  // namespace avow::store
