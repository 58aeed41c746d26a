// avow/http/router.h — maps (method, path) to a handler.
//
//   Router router;
//   router.add("GET", "/healthz", [](const Request&) { return Response::json(200, {{"status", "ok"}}); });
//   router.add("GET", "/devices/{id}", device_handler);       // req.param("id")
//   router.add("POST", "/upload", upload, {.max_body_bytes = 1 << 20});
//   RouteMatch m = router.match("GET", "/devices/42");         // m.kind == RouteMatch::kFound
//
// Patterns are absolute paths whose segments are literal text or `{name}` (one whole segment, never
// empty). Among the patterns that match a path and allow the method, the most specific wins: at the first
// segment where two patterns differ, a literal beats a parameter. A path that matches a pattern but no
// route for the method yields kMethodNotAllowed with the `Allow` list. A GET route also answers HEAD
// (the server sends the headers without the body).
//
// Handlers run on the connection's event-loop thread: they must not block. A synchronous handler must be
// quick (no I/O); anything that waits (database, network) is an async handler that `co_await`s, e.g.
// BlockingPool::run. Async handlers are ordinary functions returning the awaitable of a named coroutine
// that takes its arguments by value (see STYLE.md: no capturing-lambda coroutines on GCC 12; and
// blocking_pool.h: no lambda or brace-initialized temporary inside a co_await expression).
//
// Routes are added before the server starts; the router is then read-only and shared by all threads.
#pragma once

#include <utility>  // before Asio: asio#944

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "http/message.h"

namespace avow::http {

using AsyncHandler = std::function<boost::asio::awaitable<Response>(Request)>;
using SyncHandler = std::function<Response(const Request&)>;

struct RouteOptions {
  // Largest request body this route accepts; nullopt = the server's default (limits.max_body_bytes).
  std::optional<std::size_t> max_body_bytes;
};

struct Route {
  std::string method;
  std::string pattern;  // as registered; the `route` label in logs and metrics
  AsyncHandler handler;
  RouteOptions options;
  std::size_t index = 0;  // position in Router::routes(), for per-route side tables (metrics)
};

struct RouteMatch {
  enum Kind { kFound, kNotFound, kMethodNotAllowed, kBadPath };
  Kind kind = kNotFound;
  const Route* route = nullptr;  // kFound: the route; kMethodNotAllowed: one route of the matched pattern
  std::vector<std::pair<std::string, std::string>> params;  // kFound: decoded `{name}` values
  std::string allow;  // kMethodNotAllowed: the `Allow` header value, e.g. "GET, HEAD, POST"
};

class Router {
 public:
  // Registers a coroutine handler. Fails with kInvalidArgument when the method is not an HTTP token, the
  // pattern is malformed (not starting with '/', an empty or repeated `{name}`, braces inside a segment),
  // or (method, pattern) is already registered.
  Status add(std::string method, std::string pattern, AsyncHandler handler, RouteOptions options = {});
  // Registers a synchronous handler (quick, non-blocking work only). Same failures as above.
  Status add(std::string method, std::string pattern, SyncHandler handler, RouteOptions options = {});

  // Resolves `path` (the request-target before '?', percent-encoded). kBadPath when the path does not
  // start with '/' or has a malformed percent escape.
  RouteMatch match(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool param = false;
  };
  struct Pattern {
    std::string text;
    std::vector<Segment> segments;
    std::vector<std::size_t> routes;  // indices into routes_
  };

  Status add_route(std::string method, std::string pattern, AsyncHandler handler, RouteOptions options);
  const Route* route_for(const Pattern& p, std::string_view method) const;

  std::vector<Route> routes_;
  std::vector<Pattern> patterns_;
  std::unordered_map<std::string, std::size_t> literal_patterns_;  // decoded path → patterns_ index
};

// Splits an absolute path into its segments ("/a/b" → {"a","b"}, "/" → {""}). Does not decode.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace avow::http
