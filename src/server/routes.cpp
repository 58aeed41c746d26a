#include <utility>  // before Asio: asio#944

#include "server/routes.h"

#include <charconv>
#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <nlohmann/json.hpp>

#include "common/logging.h"

namespace avow::server {
namespace {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using Deps = std::shared_ptr<const CoreRouteDeps>;

// The ping runs on a BlockingPool worker: SQLite calls block.
asio::awaitable<Response> readyz(Request req, Deps deps) {
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<store::Database> db = deps->database;
  // A named callable, not a lambda temporary inside the co_await: GCC 12 destroys such temporaries twice.
  auto ping_database = [db]() -> Status { return db->ping(); };
  Status ping = co_await deps->pool->run(std::move(ping_database));
  deps->metrics->db_ping().observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  nlohmann::json checks = {{"database", ping ? "ok" : "unavailable"}};
  if (deps->cluster_events) checks["events"] = deps->cluster_events() ? "ok" : "reconnecting";
  if (!ping) {
    log::warn("readiness: database ping failed", {{"request_id", req.request_id}, {"error", ping.error().message}});
    co_return Response::json(503, {{"status", "unavailable"}, {"checks", std::move(checks)}});
  }
  co_return Response::json(200, {{"status", "ready"}, {"checks", std::move(checks)}});
}

asio::awaitable<Response> debug_sleep(Request req) {
  const std::optional<std::string> text = req.query_param("ms");
  int ms = -1;
  if (text) {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), ms);
    if (ec != std::errc() || end != text->data() + text->size()) ms = -1;
  }
  if (ms < 0 || ms > kMaxDebugSleepMs)
    co_return Response::error(400, "bad_request", "ms must be an integer from 0 to 10000");
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await timer.async_wait(asio::use_awaitable);
  co_return Response::json(200, {{"slept_ms", ms}});
}

}  // namespace

Status add_core_routes(http::Router& router, CoreRouteDeps in) {
  auto deps = std::make_shared<const CoreRouteDeps>(std::move(in));

  AVOW_TRY(router.add("GET", "/healthz", http::SyncHandler([](const Request&) {
                        return Response::json(200, {{"status", "ok"}});
                      })));
  AVOW_TRY(router.add("GET", "/readyz", http::AsyncHandler([deps](Request r) { return readyz(std::move(r), deps); })));
  AVOW_TRY(router.add("GET", "/metrics", http::SyncHandler([deps](const Request&) {
                        return Response::text(200, deps->metrics->render(), "text/plain; version=0.0.4; charset=utf-8");
                      })));
  AVOW_TRY(router.add("GET", "/.well-known/jwks.json", http::SyncHandler([deps](const Request&) {
                        Response r = Response::text(200, *deps->key_ring->jwks_text(), "application/json");
                        // Verifiers cache the set; a new key is published long before it signs (keyring.h).
                        r.set_header("Cache-Control", "public, max-age=300");
                        return r;
                      })));
  if (deps->debug_routes) {
    AVOW_TRY(
        router.add("GET", "/debug/sleep", http::AsyncHandler([](Request r) { return debug_sleep(std::move(r)); })));
  }
  return ok();
}

}  // namespace avow::server
