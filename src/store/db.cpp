#include "store/db.h"

#include <string>

namespace avow::store {

namespace {

std::string_view kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::kNull:
      return "null";
    case Value::Kind::kInt:
      return "integer";
    case Value::Kind::kReal:
      return "real";
    case Value::Kind::kText:
      return "text";
    case Value::Kind::kBlob:
      return "blob";
  }
  return "?";
}

}  // namespace

std::string_view Row::column_name(std::size_t i) const {
  if (!names_ || i >= names_->size()) return {};
  return (*names_)[i];
}

Error Row::mismatch(std::size_t i, std::string_view want) const {
  if (i >= values_.size()) {
    return Error{ErrorCode::kInternal,
                 "column " + std::to_string(i) + " out of range (row has " + std::to_string(values_.size()) + ")"};
  }
  return Error{ErrorCode::kInternal, "column " + std::to_string(i) + " (" + std::string(column_name(i)) +
                                         "): expected " + std::string(want) + ", found " +
                                         std::string(kind_name(values_[i].kind()))};
}

Result<Value> Row::value(std::size_t i) const {
  if (i >= values_.size()) return tl::unexpected(mismatch(i, "a value"));
  return values_[i];
}

Result<std::int64_t> Row::int64(std::size_t i) const {
  if (i >= values_.size() || values_[i].kind() != Value::Kind::kInt) return tl::unexpected(mismatch(i, "integer"));
  return values_[i].as_int();
}

Result<std::optional<std::int64_t>> Row::opt_int64(std::size_t i) const {
  if (i < values_.size() && values_[i].is_null()) return std::optional<std::int64_t>();
  if (i >= values_.size() || values_[i].kind() != Value::Kind::kInt) {
    return tl::unexpected(mismatch(i, "integer or null"));
  }
  return std::optional<std::int64_t>(values_[i].as_int());
}

Result<bool> Row::boolean(std::size_t i) const {
  if (i >= values_.size() || values_[i].kind() != Value::Kind::kInt) return tl::unexpected(mismatch(i, "0 or 1"));
  const std::int64_t v = values_[i].as_int();
  if (v != 0 && v != 1) return tl::unexpected(mismatch(i, "0 or 1"));
  return v == 1;
}

Result<double> Row::real(std::size_t i) const {
  if (i < values_.size() && values_[i].kind() == Value::Kind::kReal) return values_[i].as_real();
  if (i < values_.size() && values_[i].kind() == Value::Kind::kInt) return static_cast<double>(values_[i].as_int());
  return tl::unexpected(mismatch(i, "real"));
}

Result<std::string> Row::text(std::size_t i) const {
  if (i >= values_.size() || values_[i].kind() != Value::Kind::kText) return tl::unexpected(mismatch(i, "text"));
  return values_[i].as_text();
}

Result<std::optional<std::string>> Row::opt_text(std::size_t i) const {
  if (i < values_.size() && values_[i].is_null()) return std::optional<std::string>();
  if (i >= values_.size() || values_[i].kind() != Value::Kind::kText)
    return tl::unexpected(mismatch(i, "text or null"));
  return std::optional<std::string>(values_[i].as_text());
}

Result<std::string> Row::blob(std::size_t i) const {
  if (i < values_.size() && values_[i].kind() == Value::Kind::kBlob) return values_[i].as_blob();
  // An empty byte string may come back as text from some drivers; bytes written as text read back the same.
  if (i < values_.size() && values_[i].kind() == Value::Kind::kText) return values_[i].as_text();
  return tl::unexpected(mismatch(i, "blob"));
}

Result<std::vector<Row>> Db::query(std::string_view sql, std::span<const Value> params) {
  std::vector<Row> rows;
  AVOW_TRY(run(sql, params, &rows));
  return rows;
}

Result<std::optional<Row>> Db::query_one(std::string_view sql, std::span<const Value> params) {
  std::vector<Row> rows;
  AVOW_TRY(run(sql, params, &rows));
  if (rows.empty()) return std::optional<Row>();
  return std::optional<Row>(std::move(rows.front()));
}

}  // namespace avow::store
