// avow/domain/transaction_outcome.h — helpers the domain services share inside their transactions (not an
// interface of the module: only its .cpp files include it).
//
//   return unwrap(store::transaction_value(db, [&](store::Db& tx) -> Result<Outcome<T>> {
//     AVOW_TRY(append_audit(tx, event));                         // committed even when…
//     return Outcome<T>{std::nullopt, Error{…refusal…}};       // …the caller gets an error
//   }));
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "store/db.h"
#include "store/records.h"
#include "store/repositories.h"

namespace avow::domain::detail {

// JSON text for stored details: compact, invalid UTF-8 replaced (never an exception).
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Infrastructure failures roll the transaction back; everything else is a refusal worth recording.
inline bool is_refusal(const Error& e) { return e.code != ErrorCode::kUnavailable && e.code != ErrorCode::kInternal; }

inline Status append_audit(store::Db& db, const store::AuditEventRecord& e) {
  auto id = store::AuditRepo(db).append(e);
  AVOW_TRY(id);
  return ok();
}

// A transaction's result when a refusal must still commit what it wrote (its audit event, a completed
// challenge): an error would roll those back, so the refusal travels as a value and becomes the error after.
template <class T>
struct Outcome {
  std::optional<T> value;
  std::optional<Error> refusal;
};

template <class T>
Result<T> unwrap(Result<Outcome<T>> outcome) {
  AVOW_TRY(outcome);
  if (outcome->refusal) return tl::unexpected(*outcome->refusal);
  return std::move(*outcome->value);
}

}  // namespace avow::domain::detail
