// Internal to store/: helpers the repositories share. Not part of the store's interface.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "store/db.h"
#include "store/records.h"

namespace avow::store::detail {

// Reads a row's columns in order, remembering the first error, so a record maps in straight-line code:
//   RowReader r(row); rec.id = r.text(); rec.created_at = r.int64(); AVOW_TRY(r.status());
class RowReader {
 public:
  explicit RowReader(const Row& row) : row_(row) {}

  std::string text() { return take(row_.text(i_++), std::string()); }
  std::optional<std::string> opt_text() { return take(row_.opt_text(i_++), std::optional<std::string>()); }
  std::int64_t int64() { return take(row_.int64(i_++), std::int64_t{0}); }
  int int32() { return static_cast<int>(int64()); }
  std::optional<std::int64_t> opt_int64() { return take(row_.opt_int64(i_++), std::optional<std::int64_t>()); }
  bool boolean() { return take(row_.boolean(i_++), false); }
  std::string blob() { return take(row_.blob(i_++), std::string()); }

  template <class E>
  E enumeration() {
    const std::size_t col = i_;
    const std::string s = text();
    E e{};
    if (!error_ && !parse(s, &e)) {
      error_ = Error{ErrorCode::kInternal,
                     "column " + std::string(row_.column_name(col)) + " holds an unknown value '" + s + "'"};
    }
    return e;
  }

  Status status() const {
    if (error_) return tl::unexpected(*error_);
    return ok();
  }

 private:
  template <class T, class R>
  T take(R&& r, T fallback) {
    if (!r) {
      if (!error_) error_ = r.error();
      return fallback;
    }
    return std::move(*r);
  }

  const Row& row_;
  std::size_t i_ = 0;
  std::optional<Error> error_;
};

// Maps every row with `read(const Row&) -> Result<T>`.
template <class T, class F>
Result<std::vector<T>> map_rows(const Result<std::vector<Row>>& rows, F read) {
  if (!rows) return tl::unexpected(rows.error());
  std::vector<T> out;
  out.reserve(rows->size());
  for (const Row& r : *rows) {
    auto v = read(r);
    if (!v) return tl::unexpected(v.error());
    out.push_back(std::move(*v));
  }
  return out;
}

// Maps an optional single row.
template <class T, class F>
Result<std::optional<T>> map_one(const Result<std::optional<Row>>& row, F read) {
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<T>();
  auto v = read(**row);
  if (!v) return tl::unexpected(v.error());
  return std::optional<T>(std::move(*v));
}

// Turns "no row" into kNotFound.
template <class T>
Result<T> require(Result<std::optional<T>> r, std::string_view what) {
  if (!r) return tl::unexpected(r.error());
  if (!*r) return fail(ErrorCode::kNotFound, std::string(what) + " not found");
  return std::move(**r);
}

// An UPDATE by primary key that must have hit one row.
inline Status changed_one(const Result<std::int64_t>& n, std::string_view what) {
  if (!n) return tl::unexpected(n.error());
  if (*n == 0) return fail(ErrorCode::kNotFound, std::string(what) + " not found");
  return ok();
}

// A compare-and-set UPDATE: true when it changed the row.
inline Result<bool> won(const Result<std::int64_t>& n) {
  if (!n) return tl::unexpected(n.error());
  return *n > 0;
}

}  // namespace avow::store::detail
