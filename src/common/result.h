// avow/common/result.h — errors as values.
//
// Every fallible call across a module boundary returns `Result<T>`: either the value, or an `Error`
// saying what went wrong in words fit for an operator (never a secret). Exceptions thrown by libraries
// are caught inside the adapter that calls them and turned into an `Error` here.
//
//   Result<Jwk> k = Jwk::parse(text);
//   if (!k) return tl::unexpected(k.error());   // or: AVOW_TRY(k);
//   use(*k);
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace avow {

enum class ErrorCode {
  kInvalidArgument,  // the caller's input is malformed or out of range
  kNotFound,         // the named object does not exist
  kAlreadyExists,    // a unique key is taken
  kConflict,         // the object is not in a state that allows the operation
  kUnauthenticated,  // a signature, code or token did not verify
  kPermissionDenied, // verified, but not allowed
  kExpired,          // too old / past its lifetime
  kExhausted,        // a rate limit or attempt budget is spent
  kUnavailable,      // a dependency (database, key URL) cannot be reached now
  kInternal,         // a bug or an unexpected library failure
};

std::string_view to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

inline Status ok() { return {}; }

}  // namespace avow

// Propagates the error of a Result-valued expression out of the current function.
#define AVOW_TRY(expr)                                    \
  do {                                                    \
    auto&& avow_try_result_ = (expr);                     \
    if (!avow_try_result_)                                \
      return ::tl::unexpected(avow_try_result_.error());  \
  } while (0)
