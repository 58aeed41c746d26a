#include "http/metrics.h"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace avow::http {
namespace {

constexpr std::array<std::string_view, RouteStats::kMethods> kMethodNames = {"GET",    "HEAD",  "POST",    "PUT",
                                                                             "DELETE", "PATCH", "OPTIONS", "OTHER"};

constexpr std::array<int, 53> kStatusCodes = {100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304,
                                              307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411,
                                              412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 425, 426, 428, 429,
                                              431, 451, 500, 501, 502, 503, 504, 505, 507, 508, 511};
constexpr std::size_t kClassSlot0 = kStatusCodes.size();  // slots for "1xx" … "5xx" follow the codes
static_assert(kClassSlot0 + 5 <= RouteStats::kStatusSlots);

std::size_t method_slot(std::string_view m) {
  for (std::size_t i = 0; i + 1 < kMethodNames.size(); ++i)
    if (kMethodNames[i] == m) return i;
  return kMethodNames.size() - 1;
}

// status → slot, built once: a 600-entry table keeps record() branch-light.
const std::array<std::uint8_t, 600>& status_slots() {
  static const std::array<std::uint8_t, 600> table = [] {
    std::array<std::uint8_t, 600> t{};
    for (int s = 0; s < 600; ++s) {
      const int cls = s < 100 ? 5 : s / 100;
      t[s] = static_cast<std::uint8_t>(kClassSlot0 + cls - 1);
    }
    for (std::size_t i = 0; i < kStatusCodes.size(); ++i) t[kStatusCodes[i]] = static_cast<std::uint8_t>(i);
    return t;
  }();
  return table;
}

std::string slot_label(std::size_t slot) {
  if (slot < kStatusCodes.size()) return std::to_string(kStatusCodes[slot]);
  return std::to_string(slot - kClassSlot0 + 1) + "xx";
}

void append_double(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

std::vector<double> default_bounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

Histogram::Histogram() : Histogram(default_bounds()) {}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // also catches NaN
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e9)), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name;
    out += "_bucket{";
    out += labels;
    out += sep;
    out += "le=\"";
    append_double(out, i < bounds_.size() ? bounds_[i] : INFINITY);
    out += "\"} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  const std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  out += std::string(name) + "_sum" + braces + " ";
  append_double(out, static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out += '\n';
  // The +Inf bucket is the count: reuse it so a concurrent observe() cannot make _count and +Inf differ.
  out += std::string(name) + "_count" + braces + " " + std::to_string(cumulative) + "\n";
}

void RouteStats::record(std::string_view method, int status, double seconds) {
  const std::size_t s = status_slots()[static_cast<std::size_t>(status >= 0 && status < 600 ? status : 599)];
  requests_[method_slot(method)][s].fetch_add(1, std::memory_order_relaxed);
  duration_.observe(seconds);
}

void RouteStats::render_requests(std::string& out) const {
  const std::string route = escape_label_value(route_);
  for (std::size_t m = 0; m < kMethods; ++m) {
    for (std::size_t s = 0; s < kStatusSlots; ++s) {
      const std::uint64_t n = requests_[m][s].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += "avow_http_requests_total{route=\"" + route + "\",method=\"" + std::string(kMethodNames[m]) +
             "\",status=\"" + slot_label(s) + "\"} " + std::to_string(n) + "\n";
    }
  }
}

void RouteStats::render_duration(std::string& out) const {
  if (duration_.count() == 0) return;
  duration_.render(out, "avow_http_request_duration_seconds", "route=\"" + escape_label_value(route_) + "\"");
}

Metrics::Metrics(std::string version)
    : version_(std::move(version)),
      start_time_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()) {}

RouteStats& Metrics::route(std::string_view route) {
  std::lock_guard lock(mu_);
  for (RouteStats& r : routes_)
    if (r.route() == route) return r;
  return routes_.emplace_back(std::string(route));
}

void Metrics::add_collector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(4096);
  out += "# HELP avow_build_info Build information; the value is always 1.\n";
  out += "# TYPE avow_build_info gauge\n";
  out += "avow_build_info{version=\"" + escape_label_value(version_) + "\"} 1\n";
  out += "# HELP avow_process_start_time_seconds Start time of the process since the Unix epoch in seconds.\n";
  out += "# TYPE avow_process_start_time_seconds gauge\n";
  out += "avow_process_start_time_seconds " + std::to_string(static_cast<std::int64_t>(start_time_)) + "\n";

  out += "# HELP avow_http_open_connections HTTP connections currently open.\n";
  out += "# TYPE avow_http_open_connections gauge\n";
  out += "avow_http_open_connections " + std::to_string(open_.load(std::memory_order_relaxed)) + "\n";
  out += "# HELP avow_http_connections_total HTTP connections accepted.\n";
  out += "# TYPE avow_http_connections_total counter\n";
  out += "avow_http_connections_total " + std::to_string(total_.load(std::memory_order_relaxed)) + "\n";
  out += "# HELP avow_http_connections_rejected_total Connections closed at accept because of the connection limit.\n";
  out += "# TYPE avow_http_connections_rejected_total counter\n";
  out += "avow_http_connections_rejected_total " + std::to_string(rejected_.load(std::memory_order_relaxed)) + "\n";

  std::lock_guard lock(mu_);
  out += "# HELP avow_http_requests_total HTTP requests answered, by route pattern, method and status.\n";
  out += "# TYPE avow_http_requests_total counter\n";
  for (const RouteStats& r : routes_) r.render_requests(out);
  out += "# HELP avow_http_request_duration_seconds Time from the end of the request header to the response written.\n";
  out += "# TYPE avow_http_request_duration_seconds histogram\n";
  for (const RouteStats& r : routes_) r.render_duration(out);

  out += "# HELP avow_db_ping_seconds Round trip of the readiness probe's database ping.\n";
  out += "# TYPE avow_db_ping_seconds histogram\n";
  db_ping_.render(out, "avow_db_ping_seconds", "");

  for (const auto& c : collectors_) c(out);
  return out;
}

}  // namespace avow::http
