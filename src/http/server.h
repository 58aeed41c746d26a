// avow/http/server.h — the HTTP/1.1 server: listener, connections, limits, timeouts, graceful shutdown.
//
//   Metrics metrics("0.1.0");
//   ServerOptions opts;                     // 127.0.0.1:8080, plain HTTP, defaults below
//   opts.port = 0;                          // any free port; start() reports the one bound
//   Server server(opts, metrics);
//   server.router().add("GET", "/healthz", healthz);
//   Result<Endpoint> at = server.start();   // binds, listens, loads TLS
//   server.run();                           // until SIGTERM/SIGINT (or shutdown()) and the grace period
//
// One io_context runs on `threads` threads; each connection is a coroutine on its own strand. Requests
// on a connection are answered strictly in order: the next request is read only after the previous
// response is written, so pipelined requests are safe. Every phase is bounded:
//
//   TLS handshake     handshake_timeout                        → close
//   waiting idle      idle_timeout (keep-alive, before a byte)  → close quietly
//   request header    header_timeout from the first byte       → 408, close
//                     max_header_bytes                         → 431, close
//                     max_target_bytes                         → 414, close
//                     malformed                                → 400, close
//   request body      route limit (default max_body_bytes)     → 413, close (the body is not read)
//                     body_timeout                             → 408, close
//   response write    write_timeout                            → close
//   connections       max_connections open at once             → 503 (plain) or close (TLS) at accept
//
// Every response carries Content-Length, Date, Server: avow, X-Request-Id, X-Content-Type-Options:
// nosniff, Referrer-Policy: no-referrer, Cache-Control: no-store (unless the handler sets its own) and,
// over TLS, Strict-Transport-Security. One JSON access-log line is written per request (message
// "request"): request_id, method, route (the pattern), status, duration_ms, bytes, remote — never the
// query string, body, cookies or credentials.
//
// Shutdown (signal or shutdown()): stop accepting (new connections are refused), close idle keep-alive
// connections, let in-flight requests finish and close their connections after the response, and stop
// the event loop when none are left or `shutdown_grace` has passed — whichever comes first.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "http/blocking_pool.h"
#include "http/metrics.h"
#include "http/router.h"

namespace avow::http {

struct TlsFiles {
  std::string cert_file;  // PEM certificate chain, leaf first
  std::string key_file;   // PEM private key
};

struct ServerOptions {
  std::string host = "127.0.0.1";    // an IP address or "localhost"
  std::uint16_t port = 8080;         // 0 = any free port (see Server::start)
  std::size_t threads = 0;           // event-loop threads; 0 = one per core
  std::size_t blocking_threads = 4;  // BlockingPool workers (database calls)
  std::optional<TlsFiles> tls;       // HTTPS when set

  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 16 * 1024;  // default per-route body limit
  std::size_t max_target_bytes = 4 * 1024;
  std::size_t max_connections = 10'000;

  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(10)};

  bool handle_signals = true;  // SIGTERM/SIGINT start a graceful shutdown; a second one stops at once
};

struct Endpoint {
  std::string address;  // the bound IP address
  std::uint16_t port = 0;
  bool tls = false;
};

class Server {
 public:
  // `metrics` must outlive the server.
  Server(ServerOptions options, Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Add routes before start().
  Router& router();
  // For handlers that must block (database): `co_await server.blocking_pool().run(fn)`.
  BlockingPool& blocking_pool();

  // Loads the TLS certificate (if any), binds and listens. Fails with kInvalidArgument for a bad host,
  // kUnavailable when the address cannot be bound (in use, permission) and kInvalidArgument when the
  // certificate or key cannot be loaded or do not match. Call once.
  Result<Endpoint> start();

  // Runs the event loop on `threads` threads, the caller's among them, until shutdown completes. Returns
  // after the event loop has stopped and the blocking pool has drained its running tasks.
  void run();

  // Begins a graceful shutdown. Thread-safe and idempotent; not async-signal-safe (signals are handled
  // by the server itself when handle_signals is set).
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace avow::http
