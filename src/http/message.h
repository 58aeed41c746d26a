// avow/http/message.h — the request a handler sees and the response it returns.
//
// Handlers never touch Beast: the server translates the wire message into a `Request` (already bounded by
// the server's limits) and a handler's `Response` back into HTTP/1.1 with the standard headers added.
//
//   Response healthz(const Request& req) {
//     return Response::json(200, {{"status", "ok"}});
//   }
//   std::optional<std::string_view> ua = req.header("user-agent");
//   std::optional<std::string> ms = req.query_param("ms");
//
// A `Request` owns its data, so a coroutine handler may take it by value and keep it across suspensions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace avow::http {

// Header fields as received, in order. Names keep their wire spelling; look-ups ignore case.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive ASCII equality, as HTTP field names compare.
bool iequals(std::string_view a, std::string_view b);

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // the raw request-target, e.g. "/debug/sleep?ms=10"
  std::string path;    // the target before '?', still percent-encoded
  std::string query;   // the raw text after '?', without it ("" when absent)
  HeaderList headers;
  std::string body;            // bounded by the route's body limit
  std::string remote_address;  // peer IP address, without port
  std::string request_id;      // accepted from X-Request-Id or generated; echoed in the response
  bool tls = false;            // true when the request arrived over TLS
  // Values of the route's `{name}` segments, percent-decoded, in pattern order.
  std::vector<std::pair<std::string, std::string>> params;

  // The first header named `name` (any case), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  // The value of the route parameter `{name}`, or nullopt when the pattern has no such parameter.
  std::optional<std::string_view> param(std::string_view name) const;
  // The first query parameter `name`, percent-decoded ('+' as space), or nullopt when absent or when the
  // query is malformed (bad percent escape).
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  HeaderList headers;  // extra fields; one here overrides a default of the same name (e.g. Cache-Control)
  std::string body;

  // Adds (or replaces) a header field.
  Response& set_header(std::string name, std::string value);
  // Adds a header field even when one of that name exists (e.g. a second Set-Cookie).
  Response& add_header(std::string name, std::string value);
  std::optional<std::string_view> header(std::string_view name) const;

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // `{"error": code, "message": message}` — the shape every error body has.
  static Response error(int status, std::string_view code, std::string_view message);
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`). Returns nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space = false);

}  // namespace avow::http
