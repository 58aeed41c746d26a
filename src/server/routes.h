// avow/server/routes.h — the operational endpoints every avowd serves.
//
//   GET /healthz                 200 {"status":"ok"} while the process runs
//   GET /readyz                  200 {"status":"ready"} when the database answers a ping, else 503; on
//                                PostgreSQL "checks" also says whether the cluster events connection is up
//                                ("events": "ok" | "reconnecting"), which does not change the status
//   GET /metrics                 Prometheus text exposition
//   GET /.well-known/jwks.json   the signing key ring's published keys (RFC 7517 JWK Set)
//   GET /debug/sleep?ms=N        only with testing.enable_debug_routes: waits N ≤ 10000 ms, then 200
//
//   Status s = add_core_routes(server.router(), deps);
#pragma once

#include <functional>
#include <memory>

#include "common/result.h"
#include "crypto/keyring.h"
#include "http/blocking_pool.h"
#include "http/metrics.h"
#include "http/router.h"
#include "store/database.h"

namespace avow::server {

struct CoreRouteDeps {
  http::Metrics* metrics = nullptr;
  http::BlockingPool* pool = nullptr;
  std::shared_ptr<store::Database> database;
  const crypto::KeyRing* key_ring = nullptr;
  bool debug_routes = false;
  // Many nodes: whether the cluster events bridge is connected now; empty on a single node. A node whose
  // bridge is down still serves correctly (waiters re-read the database when their long-poll ends, and every
  // waiter re-checks after the reconnect), only cross-node wake-ups are late, so /readyz reports it without
  // turning not-ready: a shared outage of the bridge must not take every node out of the balancer.
  std::function<bool()> cluster_events;
};

// Registers the routes above. The pointers must outlive the router. Fails only on a router error (a bug).
Status add_core_routes(http::Router& router, CoreRouteDeps deps);

// The longest /debug/sleep accepts.
inline constexpr int kMaxDebugSleepMs = 10'000;

}  // namespace avow::server
