// avow/http/metrics.h — process metrics in the Prometheus text exposition format (version 0.0.4).
//
//   Metrics metrics("0.1.0");
//   RouteStats& healthz = metrics.route("/healthz");          // once, at start-up (takes a lock)
//   healthz.record("GET", 200, 0.0004);                       // per request: atomics only
//   metrics.db_ping().observe(0.0012);
//   std::string page = metrics.render();                      // GET /metrics
//
// Series:
//   avow_http_requests_total{route,method,status}        counter
//   avow_http_request_duration_seconds{route}            histogram
//   avow_http_open_connections                           gauge
//   avow_http_connections_total / _rejected_total        counters (rejected: over limits.max_connections)
//   avow_db_ping_seconds                                 histogram (readiness probe round trip)
//   avow_build_info{version}                             gauge, always 1
//   avow_process_start_time_seconds                      gauge
//
// The hot path takes no lock: routes are registered once and each request bumps atomics in its route's
// fixed tables. `route` labels are route patterns (never raw paths), so the label set stays bounded.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace avow::http {

// A histogram with fixed upper bounds (seconds). observe() is lock-free.
class Histogram {
 public:
  // Default bounds: 1 ms … 10 s, for request and database latencies.
  Histogram();
  // `upper_bounds` must be strictly increasing; +Inf is implicit.
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double seconds);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

  // Appends the _bucket/_sum/_count lines for `name`, with `labels` (e.g. `route="/x"`, or "") first.
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Counters and latency of one route.
class RouteStats {
 public:
  explicit RouteStats(std::string route) : route_(std::move(route)) {}

  // Counts one request. Methods outside GET/HEAD/POST/PUT/DELETE/PATCH/OPTIONS count as "OTHER"; a status
  // without its own slot counts under its class ("2xx" … "5xx").
  void record(std::string_view method, int status, double seconds);

  const std::string& route() const { return route_; }
  void render_requests(std::string& out) const;
  void render_duration(std::string& out) const;

  static constexpr std::size_t kMethods = 8;
  static constexpr std::size_t kStatusSlots = 64;

 private:
  std::string route_;
  std::array<std::array<std::atomic<std::uint64_t>, kStatusSlots>, kMethods> requests_{};
  Histogram duration_;
};

class Metrics {
 public:
  explicit Metrics(std::string version);

  // The stats of `route` (a pattern, or a pseudo-route such as "unmatched"), created on first use. The
  // reference stays valid for the life of the Metrics. Takes a lock: call at start-up, not per request.
  RouteStats& route(std::string_view route);

  void connection_opened() {
    open_.fetch_add(1, std::memory_order_relaxed), total_.fetch_add(1, std::memory_order_relaxed);
  }
  void connection_closed() { open_.fetch_sub(1, std::memory_order_relaxed); }
  void connection_rejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }
  std::int64_t open_connections() const { return open_.load(std::memory_order_relaxed); }

  Histogram& db_ping() { return db_ping_; }

  // Adds a renderer for series owned elsewhere (later modules); it appends complete exposition text.
  void add_collector(std::function<void(std::string& out)> collector);

  // The whole exposition page.
  std::string render() const;

 private:
  std::string version_;
  double start_time_;
  mutable std::mutex mu_;  // guards routes_ and collectors_ membership, not the counters
  std::deque<RouteStats> routes_;
  std::vector<std::function<void(std::string&)>> collectors_;
  std::atomic<std::int64_t> open_{0};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> rejected_{0};
  Histogram db_ping_;
};

// Escapes a label value for the exposition format (backslash, double quote, newline).
std::string escape_label_value(std::string_view v);

}  // namespace avow::http
