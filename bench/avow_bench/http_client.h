// bench/avow_bench/http_client.h — a small HTTP/1.1 client connection on Boost.Beast coroutines, for the load
// generator: one keep-alive connection, one request at a time, reconnecting when the server closed it.
//
//   Connection c(strand, server_endpoint);                       // optionally a source address to bind
//   Result<HttpResponse> r = co_await c.request("GET", "/healthz", {}, "", std::chrono::seconds(5));
//
//   std::size_t turn = 0;                                        // one client's round-robin position
//   BalancedConnection b(strand, {node_a, node_b}, &turn);       // N nodes behind a non-sticky balancer
//   co_await b.request(…);                                       // node_a, then node_b, then node_a…
//
// Thousands of these run at once on one io_context: a Connection is driven from one strand (its executor)
// and is not thread-safe.
#pragma once

#include <utility>  // before Asio: asio#944

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "common/result.h"

namespace avow::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  Headers headers;  // every field, in order
  std::string body;

  // The first field named `name` (any case), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  // The value of cookie `name` from the Set-Cookie fields, or nullopt.
  std::optional<std::string> cookie(std::string_view name) const;
};

// Upper bound on a response body this client reads (the MFA page is a few KiB).
inline constexpr std::size_t kMaxResponseBody = 4 * 1024 * 1024;

class Connection {
 public:
  // `source`: bind this local address before connecting (several 127.0.0.x pass the ephemeral-port limit).
  Connection(asio::any_io_executor executor, tcp::endpoint server, std::optional<asio::ip::address> source = {});

  // Sends one request and reads its response within `timeout` (connecting first when needed). A connection
  // the server closed while it was idle is reopened once. kUnavailable (naming the request and the socket
  // error) when the exchange fails; the connection is then closed.
  asio::awaitable<Result<HttpResponse>> request(std::string method, std::string target, Headers headers,
                                                std::string body, std::chrono::milliseconds timeout);

  void close();
  bool is_open() const;

 private:
  asio::awaitable<Status> connect(std::chrono::milliseconds timeout);

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  tcp::endpoint server_;
  std::optional<asio::ip::address> source_;
  std::string host_;
};

// A client of N avowd nodes behind a load balancer without sticky sessions: each request goes to the next
// node in turn (`*turn`, shared by every BalancedConnection of one client — a user's browser and phone — so
// that consecutive requests of one sign-in land on different nodes). One keep-alive Connection per node.
// Driven from one strand, like Connection; `turn` must outlive it and be touched only on that strand.
class BalancedConnection {
 public:
  BalancedConnection(asio::any_io_executor executor, const std::vector<tcp::endpoint>& nodes, std::size_t* turn,
                     std::optional<asio::ip::address> source = {});

  // Connection::request on the next node.
  asio::awaitable<Result<HttpResponse>> request(std::string method, std::string target, Headers headers,
                                                std::string body, std::chrono::milliseconds timeout);
  void close();

 private:
  std::vector<std::unique_ptr<Connection>> nodes_;
  std::size_t* turn_;
};

}  // namespace avow::bench
