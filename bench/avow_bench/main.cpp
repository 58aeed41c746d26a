// avow-bench — a load generator that plays Entra, browsers and phones against avowd, and the benchmarks
// of issue 8. See bench/README.md.
//
//   avow-bench flows --count 2000 --concurrency 50        # full EAM flows: flows/s, step latencies, CPU/flow
//   avow-bench flows --nodes 3 --database postgres://…    # the same on 3 nodes sharing one PostgreSQL
//   avow-bench floor                                      # the crypto floor of one flow on OpenSSL
//   avow-bench idle --connections 10000                   # parked long-polls: server RSS per connection
//   avow-bench soak --rate 200 --duration 120             # steady open-loop rate: RSS and p99 drift
//
// Without --server each mode starts its own avowd (next to this executable in the build tree, or --avowd)
// on a temporary data directory, serving plain HTTP on 127.0.0.1 (TLS is not part of the measured flow).
#include <utility>  // before Asio: asio#944

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "floor.h"
#include "process.h"
#include "world.h"

namespace avow::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using boost::system::error_code;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

struct Common {
  std::string avowd;
  std::string server;
  int server_pid = 0;
  std::string server_data_dir;
  std::string keys_listen = "127.0.0.1:0";
  std::string tenant_key;
  std::vector<std::string> server_env;
  std::size_t nodes = 1;
  std::string database;
  int threads = 2;
  std::size_t sources = 4;
  bool json_out = false;
  bool keep = false;
};

std::string find_avowd(const std::string& given) {
  if (!given.empty()) return given;
  const fs::path here = executable_dir();
  for (const fs::path& p :
       {here / "avowd", here / ".." / "src" / "server" / "avowd", here / ".." / ".." / "src" / "server" / "avowd"})
    if (fs::exists(p)) return fs::weakly_canonical(p).string();
  return "avowd";  // from PATH
}

// The io_context and its threads; stops and joins on destruction (before the World it outlives).
struct Loop {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(ioc);
  std::vector<std::thread> threads;
  explicit Loop(int n) {
    for (int i = 0; i < std::max(1, n); ++i)
      threads.emplace_back([this] {
        for (;;) {
          try {
            ioc.run();
            return;
          } catch (const std::exception& e) {
            std::fprintf(stderr, "avow-bench: event loop: %s\n", e.what());
          }
        }
      });
  }
  void stop() {
    guard.reset();
    ioc.stop();
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
  ~Loop() { stop(); }
};

WorldOptions world_options(const Common& c) {
  WorldOptions o;
  o.avowd = find_avowd(c.avowd);
  o.server_url = c.server;
  o.server_pid = c.server_pid;
  o.server_data_dir = c.server_data_dir;
  o.keys_listen = c.keys_listen;
  o.tenant_key_file = c.tenant_key;
  o.server_env = c.server_env;
  o.nodes = c.nodes;
  o.database_url = c.database;
  o.sources = c.sources;
  o.keep = c.keep;
  return o;
}

// ---- statistics ------------------------------------------------------------------------------------------

struct Summary {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double p) {
    const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
  };
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.max = v.back();
  return s;
}

struct Step {
  const char* name;
  const char* label;
  double FlowRecord::*field;
};
constexpr Step kSteps[] = {
    {"authorize", "authorize POST → page", &FlowRecord::authorize},
    {"push", "authorize → device sees push", &FlowRecord::push},
    {"answer", "device answer (signed)", &FlowRecord::answer},
    {"page_sees", "approve → page wait answers", &FlowRecord::page_sees},
    {"finish", "finish POST → form_post", &FlowRecord::finish},
    {"approve_to_finished", "approve → page finished", &FlowRecord::approve_to_finished},
    {"total", "whole flow (token verified)", &FlowRecord::total},
};

std::vector<double> column(const std::vector<FlowRecord>& r, double FlowRecord::*f) {
  std::vector<double> out;
  out.reserve(r.size());
  for (const auto& x : r) out.push_back(x.*f);
  return out;
}

// Completed flows and failures, from any strand.
// A failure's kind: its message up to the HTTP status ("POST /challenges/…/answer: HTTP 409"), or its first
// 100 characters, with ids (runs of 16+ letters, digits, '-' or '_' with a digit among them) replaced by "…"
// so that one kind is one count.
std::string error_kind(const std::string& message) {
  std::string head = message.substr(0, 100);
  if (const auto http = message.find(": HTTP "); http != std::string::npos) head = message.substr(0, http + 10);
  std::string out;
  auto is_id_char = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_'; };
  for (std::size_t i = 0; i < head.size();) {
    std::size_t j = i;
    while (j < head.size() && is_id_char(head[j])) ++j;
    if (j == i) {
      out += head[i++];
      continue;
    }
    const std::string_view word(head.data() + i, j - i);
    const bool id = word.size() >= 16 && word.find_first_of("0123456789") != std::string_view::npos;
    out += id ? std::string("…") : std::string(word);
    i = j;
  }
  return out;
}

struct Recorder {
  std::mutex mu;
  std::vector<FlowRecord> records;
  std::size_t errors = 0;
  std::vector<std::string> first_errors;
  std::map<std::string, std::pair<std::size_t, std::string>> kinds;  // kind → count, first message
  void add(Result<FlowRecord> r) {
    std::lock_guard lock(mu);
    if (r) {
      records.push_back(*r);
    } else {
      ++errors;
      if (first_errors.size() < 5) first_errors.push_back(r.error().message);
      auto& k = kinds[error_kind(r.error().message)];
      if (k.first++ == 0) k.second = r.error().message;
    }
  }
  json kinds_json() const {
    json out = json::object();
    for (const auto& [kind, v] : kinds) out[kind] = {{"count", v.first}, {"first", v.second}};
    return out;
  }
};

void print_errors(const Recorder& rec) {
  for (const auto& e : rec.first_errors) std::fprintf(stderr, "  error: %s\n", e.c_str());
  if (rec.kinds.empty()) return;
  std::fprintf(stderr, "  errors by kind:\n");
  for (const auto& [kind, v] : rec.kinds)
    std::fprintf(stderr, "  %6zu × %s\n         first: %s\n", v.first, kind.c_str(), v.second.c_str());
}

// The PostgreSQL server behind `database_url` when it runs on this machine (its postmaster's pid), for its
// CPU figure; nullopt when the URL is not on loopback or its listener is not visible.
std::optional<pid_t> postgres_pid(const std::string& database_url) {
  if (database_url.empty()) return std::nullopt;
  const auto scheme = database_url.find("://");
  if (scheme == std::string::npos) return std::nullopt;
  std::string authority = database_url.substr(scheme + 3);
  authority = authority.substr(0, authority.find_first_of("/?"));
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  std::string host = authority, port = "5432";
  if (const auto colon = authority.rfind(':'); colon != std::string::npos && authority.back() != ']') {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host != "127.0.0.1" && host != "localhost" && host != "[::1]") return std::nullopt;
  Result<pid_t> pid = find_tcp_listener(static_cast<std::uint16_t>(std::atoi(port.c_str())));
  return pid ? std::optional(*pid) : std::nullopt;
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// ---- floor -----------------------------------------------------------------------------------------------

json floor_json(const CryptoFloor& f) {
  return {{"rsa2048_sign_us", f.rsa_sign_us},
          {"rsa2048_verify_us", f.rsa_verify_us},
          {"ecdsa_p256_verify_us", f.ecdsa_verify_us},
          {"per_flow_us", f.per_flow_us()}};
}

void print_floor(const CryptoFloor& f) {
  std::printf("crypto floor (OpenSSL EVP, one thread, CPU time):\n");
  std::printf("  RSA-2048 PKCS#1 v1.5 SHA-256 sign (id_token)   %9.1f µs\n", f.rsa_sign_us);
  std::printf("  RSA-2048 verify (Microsoft's hint)             %9.1f µs\n", f.rsa_verify_us);
  std::printf("  ECDSA P-256 verify (the device's answer)       %9.1f µs\n", f.ecdsa_verify_us);
  std::printf("floor: %.1f µs of CPU per flow\n", f.per_flow_us());
}

int run_floor(const Common& c, double seconds) {
  Result<CryptoFloor> f = measure_floor(seconds);
  if (!f) {
    std::fprintf(stderr, "avow-bench floor: %s\n", f.error().message.c_str());
    return kExitFailed;
  }
  if (c.json_out)
    std::cout << json{{"mode", "floor"}, {"floor", floor_json(*f)}}.dump(2) << "\n";
  else
    print_floor(*f);
  return kExitOk;
}

// ---- flows -----------------------------------------------------------------------------------------------

asio::awaitable<void> run_worker(World* w, Recorder* rec, std::vector<std::pair<User*, std::string>> jobs) {
  for (auto& [user, hint] : jobs) {
    Result<FlowRecord> r = co_await w->bound_flow(user, std::move(hint));
    rec->add(std::move(r));
  }
}

struct FlowsArgs {
  std::size_t count = 1000;
  std::size_t concurrency = 50;
  std::size_t users = 0;
  double floor_seconds = 0.5;
};

int run_flows(const Common& c, const FlowsArgs& a) {
  const std::size_t conc = std::max<std::size_t>(1, a.concurrency);
  const std::size_t users = std::max(a.users, conc);
  raise_fd_limit(users * 3 + conc * 2 + 1024);
  Loop loop(c.threads);
  WorldOptions wo = world_options(c);
  wo.max_connections = std::max<std::size_t>(10'000, users * 3 + conc * 2 + 1024);
  Result<std::unique_ptr<World>> made = World::create(loop.ioc, wo);
  if (!made) {
    std::fprintf(stderr, "avow-bench flows: %s\n", made.error().message.c_str());
    return kExitFailed;
  }
  World& w = **made;
  if (!c.json_out) {
    std::string pids;
    for (pid_t p : w.server_pids()) pids += (pids.empty() ? "" : ", ") + std::to_string(p);
    std::printf("avow-bench flows: %zu node%s on %s, first %s (pid %s), %zu users\n", w.server_pids().size(),
                w.server_pids().size() == 1 ? "" : "s", c.database.empty() ? "SQLite" : "PostgreSQL",
                w.base_url().c_str(), pids.c_str(), users);
  }
  std::fflush(stdout);
  w.add_users(users, conc);
  if (Status s = w.setup_users(32); !s) {
    std::fprintf(stderr, "avow-bench flows: %s\n", s.error().message.c_str());
    return kExitFailed;
  }
  w.start_devices();

  // Worker k runs flows k, k+C, k+2C… each on one of its own users in turn (users k, k+C, …).
  std::vector<std::vector<User*>> owned(conc);
  for (auto& u : w.users()) owned[static_cast<std::size_t>(u->index) % conc].push_back(u.get());
  std::vector<std::vector<std::pair<User*, std::string>>> jobs(conc);
  std::vector<const User*> order;
  for (std::size_t i = 0; i < a.count; ++i) {
    auto& mine = owned[i % conc];
    User* u = mine[(i / conc) % mine.size()];
    jobs[i % conc].emplace_back(u, "");
    order.push_back(u);
  }
  std::vector<std::string> hints = w.mint_hints(order);
  for (std::size_t i = 0; i < a.count; ++i) jobs[i % conc][i / conc].second = std::move(hints[i]);

  Result<CryptoFloor> floor = measure_floor(a.floor_seconds);
  if (!floor) {
    std::fprintf(stderr, "avow-bench flows: %s\n", floor.error().message.c_str());
    return kExitFailed;
  }
  std::this_thread::sleep_for(300ms);  // the devices' long-polls park

  // CPU of every node (and of the PostgreSQL server when it runs here) around the timed part.
  const std::vector<pid_t> pids = w.server_pids();
  const bool have_server = !pids.empty() && std::all_of(pids.begin(), pids.end(), [](pid_t p) { return p > 0; });
  auto nodes_cpu = [&]() -> Result<double> {
    double sum = 0;
    for (pid_t p : pids) {
      Result<ProcessUsage> u = process_usage(p);
      if (!u) return tl::unexpected(u.error());
      sum += u->cpu_seconds;
    }
    return sum;
  };
  const std::optional<pid_t> pg_pid = postgres_pid(c.database);
  auto pg_cpu = [&]() -> std::optional<double> {
    if (!pg_pid) return std::nullopt;
    Result<double> s = process_tree_cpu_seconds(*pg_pid);
    return s ? std::optional(*s) : std::nullopt;
  };

  // Requests each node answered in the timed part (its avow_http_requests_total), to show the spread.
  auto node_requests = [&] {
    std::vector<double> out;
    for (std::size_t i = 0; i < w.node_endpoints().size(); ++i)
      out.push_back(w.metric_sum("avow_http_requests_total", i).value_or(0));
    return out;
  };
  const std::vector<double> requests_before = node_requests();

  Recorder rec;
  const Result<double> before = have_server ? nodes_cpu() : Result<double>(0.0);
  const std::optional<double> pg_before = pg_cpu();
  const double self_before = self_cpu_seconds();
  const auto t0 = Steady::now();
  std::vector<std::future<void>> done;
  for (std::size_t k = 0; k < conc; ++k) {
    if (jobs[k].empty()) continue;
    const asio::any_io_executor strand = jobs[k].front().first->strand;  // the worker's users' strand
    done.push_back(asio::co_spawn(strand, run_worker(&w, &rec, std::move(jobs[k])), asio::use_future));
  }
  for (auto& f : done) f.get();
  const double elapsed = std::chrono::duration<double>(Steady::now() - t0).count();
  const Result<double> after = have_server ? nodes_cpu() : Result<double>(0.0);
  const std::optional<double> pg_after = pg_cpu();
  const double self_cpu = self_cpu_seconds() - self_before;
  std::vector<double> requests = node_requests();
  for (std::size_t i = 0; i < requests.size() && i < requests_before.size(); ++i)
    requests[i] -= requests_before[i] + 1;  // less our first /metrics request
  std::vector<std::uint64_t> peak_rss;
  if (have_server)
    for (pid_t p : pids) peak_rss.push_back(process_usage(p).value_or(ProcessUsage{}).peak_rss_bytes);
  w.stop_devices();

  const std::size_t ok_flows = rec.records.size();
  const double flows_d = static_cast<double>(ok_flows);
  const double rate = flows_d / elapsed;
  const bool have_cpu = have_server && before && after;
  const double server_cpu = have_cpu ? *after - *before : 0;
  const double server_us = ok_flows ? server_cpu * 1e6 / flows_d : 0;
  const double per_cpu_second = server_cpu > 0 ? flows_d / server_cpu : 0;
  const double self_us = ok_flows ? self_cpu * 1e6 / flows_d : 0;
  const double ratio = floor->per_flow_us() > 0 ? server_us / floor->per_flow_us() : 0;
  const bool have_pg = pg_before && pg_after;
  const double pg_seconds = have_pg ? *pg_after - *pg_before : 0;
  const double pg_us = have_pg && ok_flows ? pg_seconds * 1e6 / flows_d : 0;
  const std::uint64_t max_rss = peak_rss.empty() ? 0 : *std::max_element(peak_rss.begin(), peak_rss.end());
  const std::size_t nodes = pids.size();
  const std::string backend = c.database.empty() ? "sqlite" : "postgres";

  if (c.json_out) {
    json steps = json::object();
    for (const Step& s : kSteps) {
      const Summary m = summarize(column(rec.records, s.field));
      steps[s.name] = {{"p50_ms", m.p50}, {"p90_ms", m.p90}, {"p99_ms", m.p99}, {"max_ms", m.max}};
    }
    json out = {{"mode", "flows"},
                {"nodes", nodes},
                {"database", backend},
                {"count", a.count},
                {"concurrency", conc},
                {"users", users},
                {"completed", ok_flows},
                {"errors", rec.errors},
                {"error_kinds", rec.kinds_json()},
                {"first_errors", rec.first_errors},
                {"seconds", elapsed},
                {"flows_per_second", rate},
                {"steps", steps},
                {"server_cpu_seconds", server_cpu},
                {"server_cpu_us_per_flow", server_us},
                {"flows_per_server_cpu_second", per_cpu_second},
                {"server_peak_rss_bytes", max_rss},
                {"node_peak_rss_bytes", peak_rss},
                {"node_requests", requests},
                {"postgres_pid", pg_pid ? json(*pg_pid) : json()},
                {"postgres_cpu_seconds", have_pg ? json(pg_seconds) : json()},
                {"postgres_cpu_us_per_flow", have_pg ? json(pg_us) : json()},
                {"loadgen_cpu_us_per_flow", self_us},
                {"floor", floor_json(*floor)},
                {"ratio", ratio}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("flows: %zu of %zu completed in %.2f s at concurrency %zu: %.1f flows/s (errors %zu)\n", ok_flows,
                a.count, elapsed, conc, rate, rec.errors);
    std::printf("latency (ms)                          p50      p90      p99      max\n");
    for (const Step& s : kSteps) {
      const Summary m = summarize(column(rec.records, s.field));
      std::printf("  %-32s %8.2f %8.2f %8.2f %8.2f\n", s.label, m.p50, m.p90, m.p99, m.max);
    }
    if (have_cpu) {
      std::string rss;
      for (std::uint64_t r : peak_rss) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.1f", rss.empty() ? "" : " / ", mib(r));
        rss += buf;
      }
      std::printf(
          "server (%zu node%s, %s): %.2f s CPU = %.1f µs per flow = %.1f flows per server CPU-second; "
          "peak RSS %s MiB\n",
          nodes, nodes == 1 ? "" : "s", backend.c_str(), server_cpu, server_us, per_cpu_second, rss.c_str());
    } else {
      std::printf("server: CPU and memory unknown (give --server-pid)\n");
    }
    std::string spread;
    for (double r : requests) spread += (spread.empty() ? "" : " / ") + std::to_string(static_cast<long long>(r));
    std::printf("requests answered per node: %s\n", spread.c_str());
    if (have_pg)
      std::printf(
          "PostgreSQL server (postmaster pid %d and its processes, not in the server figures): %.2f s CPU = "
          "%.1f µs per flow\n",
          static_cast<int>(*pg_pid), pg_seconds, pg_us);
    else if (!c.database.empty())
      std::printf("PostgreSQL server: CPU unknown (its processes are not visible here)\n");
    std::printf("load generator: %.2f s CPU = %.1f µs per flow\n", self_cpu, self_us);
    std::printf("crypto floor: %.1f µs per flow (RSA-2048 sign %.1f, RSA verify %.1f, ECDSA P-256 verify %.1f)\n",
                floor->per_flow_us(), floor->rsa_sign_us, floor->rsa_verify_us, floor->ecdsa_verify_us);
    std::printf("ratio: %.2f\n", ratio);
  }
  print_errors(rec);
  return rec.errors == 0 && ok_flows == a.count ? kExitOk : kExitFailed;
}

// ---- soak ------------------------------------------------------------------------------------------------

struct SoakState {
  World* world = nullptr;
  Recorder rec;
  std::mutex mu;
  std::deque<User*> free_users;
  std::vector<std::deque<std::string>> hints;  // by user index
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> skipped{0};  // ticks with no free user or no hint left: the server fell behind
};

struct SoakFlowDone {
  SoakState* st;
  User* user;
  void operator()(std::exception_ptr e, Result<FlowRecord> r) const {
    if (e) r = fail(ErrorCode::kInternal, "flow threw");
    st->rec.add(std::move(r));
    {
      std::lock_guard lock(st->mu);
      st->free_users.push_back(user);
    }
    st->in_flight.fetch_sub(1);
  }
};

asio::awaitable<void> soak_ticker(SoakState* st, double rate, double seconds) {
  const auto start = Steady::now();
  const auto end = start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(seconds));
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (std::uint64_t k = 0;; ++k) {
    const auto at = start + std::chrono::duration_cast<Steady::duration>(
                                std::chrono::duration<double>(static_cast<double>(k) / rate));
    if (at >= end) break;
    timer.expires_at(at);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    User* u = nullptr;
    std::string hint;
    {
      std::lock_guard lock(st->mu);
      if (!st->free_users.empty()) {
        u = st->free_users.front();
        auto& q = st->hints[static_cast<std::size_t>(u->index)];
        if (q.empty()) {
          u = nullptr;
        } else {
          st->free_users.pop_front();
          hint = std::move(q.front());
          q.pop_front();
        }
      }
    }
    if (!u) {
      st->skipped.fetch_add(1);
      continue;
    }
    st->in_flight.fetch_add(1);
    asio::co_spawn(u->strand, st->world->bound_flow(u, std::move(hint)), SoakFlowDone{st, u});
  }
}

struct SoakArgs {
  double rate = 50;
  double duration = 60;
  double window = 0;  // 0 → 10 s, or 60 s for runs of 5 minutes or more
  std::size_t users = 0;
};

int run_soak(const Common& c, const SoakArgs& a) {
  if (a.rate <= 0 || a.duration <= 0) {
    std::fprintf(stderr, "avow-bench soak: --rate and --duration must be positive\n");
    return kExitUsage;
  }
  const double window = a.window > 0 ? a.window : (a.duration >= 300 ? 60 : 10);
  const std::size_t users = std::max<std::size_t>(a.users ? a.users : 64, static_cast<std::size_t>(a.rate));
  raise_fd_limit(users * 4 + 1024);
  Loop loop(c.threads);
  WorldOptions wo = world_options(c);
  wo.max_connections = std::max<std::size_t>(10'000, users * 4 + 1024);
  Result<std::unique_ptr<World>> made = World::create(loop.ioc, wo);
  if (!made) {
    std::fprintf(stderr, "avow-bench soak: %s\n", made.error().message.c_str());
    return kExitFailed;
  }
  World& w = **made;
  w.add_users(users, users);
  if (Status s = w.setup_users(32); !s) {
    std::fprintf(stderr, "avow-bench soak: %s\n", s.error().message.c_str());
    return kExitFailed;
  }
  SoakState st;
  st.world = &w;
  const std::size_t total = static_cast<std::size_t>(std::ceil(a.rate * a.duration)) + 1;
  const std::size_t per_user = total / users + 2;
  std::vector<const User*> order;
  for (auto& u : w.users())
    for (std::size_t k = 0; k < per_user; ++k) order.push_back(u.get());
  if (!c.json_out) std::printf("avow-bench soak: minting %zu hints…\n", order.size());
  std::fflush(stdout);
  std::vector<std::string> minted = w.mint_hints(order);
  st.hints.resize(users);
  for (std::size_t i = 0; i < order.size(); ++i)
    st.hints[static_cast<std::size_t>(order[i]->index)].push_back(std::move(minted[i]));
  for (auto& u : w.users()) st.free_users.push_back(u.get());
  w.start_devices();
  std::this_thread::sleep_for(300ms);

  if (!c.json_out)
    std::printf(
        "soak: %.1f flows/s for %.0f s against %s (pid %d); a line every %.0f s\n"
        "  window  time_s  flows  errors  p99_approve_finished_ms  p99_flow_ms  server_rss_mib\n",
        a.rate, a.duration, w.base_url().c_str(), w.server_pid(), window);
  std::fflush(stdout);
  const auto start = Steady::now();
  auto strand = asio::make_strand(loop.ioc);
  std::future<void> ticker = asio::co_spawn(strand, soak_ticker(&st, a.rate, a.duration), asio::use_future);

  struct Window {
    double p99_finished = 0, p99_total = 0;
    std::uint64_t rss = 0;
    std::size_t flows = 0, errors = 0;
  };
  std::vector<Window> windows;
  std::size_t seen_records = 0, seen_errors = 0;
  auto close_window = [&](double t) {
    Window win;
    std::vector<double> fin, tot;
    {
      std::lock_guard lock(st.rec.mu);
      for (std::size_t i = seen_records; i < st.rec.records.size(); ++i) {
        fin.push_back(st.rec.records[i].approve_to_finished);
        tot.push_back(st.rec.records[i].total);
      }
      win.flows = st.rec.records.size() - seen_records;
      win.errors = st.rec.errors - seen_errors;
      seen_records = st.rec.records.size();
      seen_errors = st.rec.errors;
    }
    win.p99_finished = summarize(fin).p99;
    win.p99_total = summarize(tot).p99;
    if (w.server_pid())
      if (auto u = process_usage(w.server_pid())) win.rss = u->rss_bytes;
    windows.push_back(win);
    if (!c.json_out) {
      std::printf("  %6zu %7.0f %6zu %7zu %24.2f %12.2f %15.1f\n", windows.size(), t, win.flows, win.errors,
                  win.p99_finished, win.p99_total, mib(win.rss));
      std::fflush(stdout);
    }
  };
  for (int k = 1;; ++k) {
    const auto at = start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(window * k));
    const bool last = window * k >= a.duration;
    std::this_thread::sleep_until(
        last ? start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(a.duration)) : at);
    if (last) {
      ticker.get();
      for (int i = 0; i < 3000 && st.in_flight.load() > 0; ++i) std::this_thread::sleep_for(10ms);
      close_window(std::chrono::duration<double>(Steady::now() - start).count());
      break;
    }
    close_window(window * k);
  }
  w.stop_devices();

  const Window& first = windows.front();
  const Window& lastw = windows.back();
  auto drift = [](double first_v, double last_v) { return first_v > 0 ? (last_v - first_v) * 100.0 / first_v : 0.0; };
  const double rss_drift = drift(static_cast<double>(first.rss), static_cast<double>(lastw.rss));
  const double p99_drift = drift(first.p99_finished, lastw.p99_finished);
  const std::size_t completed = st.rec.records.size();
  if (c.json_out) {
    json wins = json::array();
    for (const auto& x : windows)
      wins.push_back({{"flows", x.flows},
                      {"errors", x.errors},
                      {"p99_approve_to_finished_ms", x.p99_finished},
                      {"p99_flow_ms", x.p99_total},
                      {"server_rss_bytes", x.rss}});
    std::cout << json{{"mode", "soak"},
                      {"rate", a.rate},
                      {"duration_seconds", a.duration},
                      {"window_seconds", window},
                      {"completed", completed},
                      {"errors", st.rec.errors},
                      {"skipped", st.skipped.load()},
                      {"windows", wins},
                      {"rss_drift_percent", rss_drift},
                      {"p99_drift_percent", p99_drift}}
                     .dump(2)
              << "\n";
  } else {
    std::printf("soak: %zu flows completed, %zu errors, %zu ticks skipped (no free user: the server fell behind)\n",
                completed, st.rec.errors, st.skipped.load());
    std::printf(
        "drift (last window vs first): RSS %+.1f%% (%.1f → %.1f MiB), p99 approve→finished %+.1f%% (%.2f → %.2f ms)\n",
        rss_drift, mib(first.rss), mib(lastw.rss), p99_drift, first.p99_finished, lastw.p99_finished);
  }
  print_errors(st.rec);
  return st.rec.errors == 0 && completed > 0 ? kExitOk : kExitFailed;
}

// ---- idle ------------------------------------------------------------------------------------------------

struct IdleState {
  World* world = nullptr;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connected{0};  // connections that have sent their first request
  std::atomic<std::size_t> waiting{0};    // requests sent and not answered
  std::atomic<std::size_t> answered{0};   // long-polls that returned (each is re-issued at once)
  std::atomic<std::size_t> failed{0};
  std::mutex mu;
  std::string first_error;
};

// One parked connection: a page's status wait (`page` set) or a device's challenges long-poll, re-issued
// whenever it returns.
asio::awaitable<void> idle_connection(IdleState* st, const World::ParkedPage* page, const User* device,
                                      asio::ip::address source) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  Connection conn(ex, st->world->endpoint(), source);
  bool first = true;
  while (!st->stopping) {
    std::string target;
    Headers h;
    if (page) {
      target = page->wait_target;
      h.emplace_back("Cookie", page->cookie);
      h.emplace_back("Accept", "application/json");
    } else {
      Result<std::pair<std::string, std::string>> poll = st->world->signed_poll(*device, 30);
      if (!poll) break;
      target = poll->first;
      h.emplace_back("Authorization", poll->second);
    }
    st->waiting.fetch_add(1);
    if (first) st->connected.fetch_add(1);
    first = false;
    Result<HttpResponse> r = co_await conn.request("GET", std::move(target), std::move(h), "", 60s);
    st->waiting.fetch_sub(1);
    if (st->stopping) break;
    if (!r || r->status != 200) {
      st->failed.fetch_add(1);
      {
        std::lock_guard lock(st->mu);
        if (st->first_error.empty())
          st->first_error = r ? "HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 200) : r.error().message;
      }
      asio::steady_timer pause(ex, 1s);
      error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    st->answered.fetch_add(1);
  }
}

struct IdleOpened {
  IdleState* st;
  void operator()(std::exception_ptr) const {}
};

asio::awaitable<Result<World::ParkedPage>> open_page(World* w, User* u, std::string hint) {
  co_return co_await w->open_unbound_page(u, std::move(hint));
}

struct IdleArgs {
  std::size_t connections = 1000;
  double hold = 3;
};

int run_idle(const Common& c, const IdleArgs& a) {
  const std::size_t n = std::max<std::size_t>(2, a.connections);
  const std::size_t want_fds = n + 256;
  const std::uint64_t limit = raise_fd_limit(want_fds);
  if (limit < want_fds) {
    std::fprintf(
        stderr,
        "avow-bench idle: %zu connections need about %zu file descriptors, the limit is %llu.\n"
        "Raise the hard limit, e.g. as root `ulimit -Hn %zu` in the shell that runs this (or\n"
        "`prlimit --nofile=%zu:%zu --pid $$`, or nofile in /etc/security/limits.conf); fs.nr_open bounds it.\n",
        n, want_fds, static_cast<unsigned long long>(limit), want_fds, want_fds, want_fds);
    return kExitUsage;
  }
  Common cc = c;
  if (cc.sources == 0) cc.sources = n / 20000 + 1;  // ~28k ephemeral ports per source address
  Loop loop(c.threads);
  WorldOptions wo = world_options(cc);
  wo.max_connections = n + 1024;
  Result<std::unique_ptr<World>> made = World::create(loop.ioc, wo);
  if (!made) {
    std::fprintf(stderr, "avow-bench idle: %s\n", made.error().message.c_str());
    return kExitFailed;
  }
  World& w = **made;
  const std::size_t pages_n = n / 2, devices_n = n - pages_n;
  const std::size_t page_users = std::min<std::size_t>(pages_n, 100),
                    device_users = std::min<std::size_t>(devices_n, 100);
  w.add_users(page_users + device_users, 16);
  auto& all = w.users();

  // Sign-ins left waiting (unbound users: the page shows a ScanCode) and enrolled devices with no user.
  std::vector<const User*> page_owners;
  for (std::size_t i = 0; i < page_users; ++i) page_owners.push_back(all[i].get());
  std::vector<std::string> hints = w.mint_hints(page_owners);
  std::vector<World::ParkedPage> pages;
  {
    std::vector<std::future<Result<World::ParkedPage>>> opened;
    for (std::size_t i = 0; i < page_users; ++i)
      opened.push_back(
          asio::co_spawn(all[i]->strand, open_page(&w, all[i].get(), std::move(hints[i])), asio::use_future));
    for (auto& f : opened) {
      Result<World::ParkedPage> p = f.get();
      if (!p) {
        std::fprintf(stderr, "avow-bench idle: %s\n", p.error().message.c_str());
        return kExitFailed;
      }
      pages.push_back(std::move(*p));
    }
    std::vector<std::future<Status>> enrolled;
    for (std::size_t i = page_users; i < all.size(); ++i)
      enrolled.push_back(asio::co_spawn(all[i]->strand, w.enroll(all[i].get()), asio::use_future));
    for (auto& f : enrolled)
      if (Status s = f.get(); !s) {
        std::fprintf(stderr, "avow-bench idle: enroll: %s\n", s.error().message.c_str());
        return kExitFailed;
      }
  }
  for (auto& u : all) {
    u->poll->close();
    u->calls->close();
  }
  std::this_thread::sleep_for(500ms);
  const Result<ProcessUsage> before =
      w.server_pid() ? process_usage(w.server_pid()) : Result<ProcessUsage>(ProcessUsage{});

  IdleState st;
  st.world = &w;
  const auto t0 = Steady::now();
  constexpr std::size_t kBatch = 1000;
  for (std::size_t i = 0; i < n; ++i) {
    const bool is_page = i % 2 == 0;
    const World::ParkedPage* page = is_page ? &pages[(i / 2) % pages.size()] : nullptr;
    const User* device = is_page ? nullptr : all[page_users + (i / 2) % device_users].get();
    asio::co_spawn(asio::make_strand(loop.ioc), idle_connection(&st, page, device, w.next_source()), IdleOpened{&st});
    // Pace the connects so the listen backlog never overflows (a dropped SYN costs a 1 s retry).
    if ((i + 1) % kBatch == 0)
      for (int k = 0; k < 500 && st.connected.load() + kBatch < i + 1; ++k) std::this_thread::sleep_for(2ms);
  }
  for (int k = 0; k < 3000 && st.connected.load() < n; ++k) std::this_thread::sleep_for(10ms);
  const double ramp = std::chrono::duration<double>(Steady::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(a.hold)));
  const std::size_t answered_before_check = st.answered.load();
  const Result<double> open = w.metric("avow_http_open_connections");
  const Result<ProcessUsage> after =
      w.server_pid() ? process_usage(w.server_pid()) : Result<ProcessUsage>(ProcessUsage{});
  const std::size_t waiting = st.waiting.load();
  st.stopping = true;

  const bool have = w.server_pid() && before && after;
  const double open_conns = open ? *open - 1 : -1;  // less the /metrics request's own connection
  const double per_conn =
      have ? (static_cast<double>(after->rss_bytes) - static_cast<double>(before->rss_bytes)) / static_cast<double>(n)
           : 0;
  const bool parked = open && open_conns >= static_cast<double>(n) && waiting >= n;
  if (c.json_out) {
    std::cout << json{{"mode", "idle"},
                      {"connections", n},
                      {"pages", pages_n},
                      {"devices", devices_n},
                      {"sources", cc.sources},
                      {"ramp_seconds", ramp},
                      {"server_open_connections", open_conns},
                      {"client_waiting", waiting},
                      {"long_polls_returned", answered_before_check},
                      {"failed", st.failed.load()},
                      {"server_rss_before_bytes", have ? before->rss_bytes : 0},
                      {"server_rss_after_bytes", have ? after->rss_bytes : 0},
                      {"bytes_per_connection", per_conn},
                      {"parked", parked}}
                     .dump(2)
              << "\n";
  } else {
    std::printf(
        "idle: %zu connections (%zu page status waits, %zu device long-polls) from %zu source addresses, "
        "opened in %.1f s\n",
        n, pages_n, devices_n, cc.sources, ramp);
    std::printf(
        "parked: server open connections %.0f, client requests waiting %zu, long-polls returned so far %zu, "
        "failures %zu\n",
        open_conns, waiting, answered_before_check, st.failed.load());
    if (have)
      std::printf("server RSS: %.1f MiB before, %.1f MiB after = %.0f bytes per parked connection\n",
                  mib(before->rss_bytes), mib(after->rss_bytes), per_conn);
  }
  if (!st.first_error.empty()) std::fprintf(stderr, "  first error: %s\n", st.first_error.c_str());
  loop.stop();  // ends the parked coroutines before the World goes
  return parked ? kExitOk : kExitFailed;
}

}  // namespace
}  // namespace avow::bench

int main(int argc, char** argv) {
  using namespace avow::bench;
  avow::log::init(avow::log::Level::kWarn);
  CLI::App app{"avow-bench: load generator and benchmarks for avowd (see bench/README.md)"};
  app.require_subcommand(1);
  Common c;
  auto common = [&c](CLI::App* cmd, bool server) {
    cmd->add_flag("--json", c.json_out, "print JSON instead of text");
    if (!server) return;
    cmd->add_option("--avowd", c.avowd, "avowd executable (default: next to avow-bench in the build tree, else PATH)");
    cmd->add_option("--server", c.server, "an avowd already running (plain http://IP:PORT); default: start one");
    cmd->add_option("--server-pid", c.server_pid, "the --server's pid, for its CPU and memory");
    cmd->add_option("--server-data-dir", c.server_data_dir, "the --server's data directory (for `avowd admin`)");
    cmd->add_option("--keys-listen", c.keys_listen,
                    "where Microsoft's JWKS is served at /keys (the --server's entra.keys_url)");
    cmd->add_option("--tenant-key", c.tenant_key, "Microsoft's signing key (JWK file), created when missing");
    cmd->add_option("--server-env", c.server_env, "NAME=value settings for the avowd started here");
    cmd->add_option("--threads", c.threads, "load generator threads (default 2)");
    cmd->add_option("--sources", c.sources, "client source addresses 127.0.0.2… (idle default: N/20000+1)");
    cmd->add_flag("--keep", c.keep, "keep the temporary data directory");
  };

  FlowsArgs fa;
  auto* flows = app.add_subcommand("flows", "full EAM flows at a fixed concurrency");
  common(flows, true);
  flows->add_option("--count", fa.count, "flows to run (default 1000)");
  flows->add_option("--concurrency", fa.concurrency, "flows in flight at once (default 50)");
  flows->add_option("--users", fa.users, "bound users (default: the concurrency)");
  flows->add_option("--floor-seconds", fa.floor_seconds, "CPU seconds per floor operation (default 0.5)");
  flows->add_option("--nodes", c.nodes, "avowd nodes to start on --database, each request to the next one (default 1)");
  flows->add_option("--database", c.database,
                    "postgres://… shared by the nodes started here (default: SQLite in the data directory)");

  double floor_seconds = 0.5;
  auto* floor = app.add_subcommand("floor", "the crypto floor of one flow, on OpenSSL");
  common(floor, false);
  floor->add_option("--seconds", floor_seconds, "CPU seconds per operation (default 0.5)");

  IdleArgs ia;
  auto* idle = app.add_subcommand("idle", "parked long-poll connections: server memory per connection");
  common(idle, true);
  c.sources = 4;
  idle->add_option("--connections", ia.connections, "parked connections (half pages, half devices)")->required();
  idle->add_option("--hold", ia.hold, "seconds to hold them before measuring (default 3)");

  SoakArgs sa;
  auto* soak = app.add_subcommand("soak", "a steady open-loop rate of full flows: RSS and latency drift");
  common(soak, true);
  soak->add_option("--rate", sa.rate, "flows per second")->required();
  soak->add_option("--duration", sa.duration, "seconds")->required();
  soak->add_option("--window", sa.window, "seconds per report line (default 10, or 60 from 5 minutes)");
  soak->add_option("--users", sa.users, "bound users (default max(64, rate))");

  bool idle_sources_given = false;
  try {
    app.parse(argc, argv);
    idle_sources_given = idle->count("--sources") > 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*floor) return run_floor(c, floor_seconds);
  if (*flows) return run_flows(c, fa);
  if (*soak) return run_soak(c, sa);
  if (*idle) {
    if (!idle_sources_given) c.sources = 0;
    return run_idle(c, ia);
  }
  return kExitUsage;
}
