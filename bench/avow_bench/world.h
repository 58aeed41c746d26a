// bench/avow_bench/world.h — everything a benchmark run plays against avowd: Microsoft (an in-process
// entra_sim::Tenant whose JWKS is served by a tiny HTTP responder), an avowd (started on a temporary data
// directory, or an external one), an org and an integration, and users each with an enrolled, bound device.
//
//   asio::io_context ioc;  … threads running it …
//   auto world = World::create(ioc, options);             // starts avowd (N nodes), creates org + integration
//   (*world)->add_users(100, 10);                          // users 0..99 on 10 strands
//   (*world)->setup_users(32);                             // enrol + first sign-in (ScanCode, bind) each
//   (*world)->start_devices();                             // each device parks a GET /challenges long-poll
//   auto r = co_await world->bound_flow(user, hint);       // one full EAM flow → its step times
//
// With options.nodes > 1 (on PostgreSQL, options.database_url) every request of a user — browser or phone —
// goes to the next node in turn, as behind a load balancer without sticky sessions: the page's wait and the
// device's answer always land on different nodes, so the cross-node wake-up is part of every flow.
//
// A flow and its user's device run on the user's strand; a user has at most one flow at a time (a new
// sign-in cancels the user's pending one). Nothing here throws across its interface: failures are values.
#pragma once

#include <utility>  // before Asio: asio#944

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "common/result.h"
#include "crypto/jwk.h"
#include "http_client.h"
#include "process.h"
#include "tools/entra-sim/microsoft.h"

namespace avow::http {
class Server;
class Metrics;
}  // namespace avow::http

namespace avow::bench {

using SteadyTime = std::chrono::steady_clock::time_point;

struct WorldOptions {
  std::string avowd;                        // the avowd executable (own server and `avowd admin`)
  std::string server_url;                   // an external avowd (e.g. "http://127.0.0.1:8080"); empty → start our own
  pid_t server_pid = 0;                     // the external avowd's pid, for CPU and memory figures (0: none)
  std::string server_data_dir;              // the external avowd's data directory, for `avowd admin`
  std::string keys_listen = "127.0.0.1:0";  // where Microsoft's JWKS is served (an external avowd's keys_url)
  std::string tenant_key_file;              // Microsoft's RSA key (JWK); created when missing; empty → a fresh key
  std::size_t max_connections = 10'000;     // own avowd: limits.max_connections
  std::vector<std::string> server_env;      // own avowd: more NAME=value settings
  std::size_t nodes = 1;                    // own avowd: this many nodes (more than 1 needs database_url)
  std::string database_url;                 // own avowd: postgres://… shared by the nodes; empty → SQLite
  std::size_t sources = 4;                  // client source addresses 127.0.0.2 … 127.0.0.<sources+1>
  bool keep = false;                        // keep the temporary data directory
};

// Step times of one full flow, in milliseconds.
struct FlowRecord {
  double authorize = 0;            // authorize POST → MFA page received
  double push = 0;                 // authorize POST sent → the device's long-poll returned the challenge
  double answer = 0;               // the device's signed approval: request → response
  double page_sees = 0;            // approval sent → the page's status wait answered "approved"
  double finish = 0;               // finish POST → form_post received
  double approve_to_finished = 0;  // approval sent → form_post received (the page finished)
  double total = 0;                // authorize sent → id_token verified
  SteadyTime ended;
};

struct User {
  int index = 0;
  std::string oid, sub, username, name;
  std::optional<crypto::Jwk> key;  // the device's P-256 key
  std::string device_id;           // once enrolled
  asio::any_io_executor strand;
  std::size_t turn = 0;                       // the next node this user's requests go to (on `strand`)
  std::unique_ptr<BalancedConnection> poll;   // the device's long-poll connection(s)
  std::unique_ptr<BalancedConnection> calls;  // the device's other calls
  std::unique_ptr<asio::steady_timer> to_device, to_flow;
  // The flow in progress (touched only on `strand`).
  struct Slot {
    std::string challenge_id;
    int number = 0;
    bool ready = false;     // flow → device: the page shows `number`
    bool answered = false;  // device → flow
    std::string error;      // the device's answer failed
    SteadyTime seen, answer_start, answer_end;
  } slot;
};

class World {
 public:
  // Starts (or connects to) avowd and creates the org and the integration. kUnavailable with the reason.
  static Result<std::unique_ptr<World>> create(asio::io_context& ioc, WorldOptions options);
  ~World();  // stops the own avowd and the JWKS responder; removes the temporary directory
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Adds `count` users spread over `strands` strands (user i on strand i % strands).
  void add_users(std::size_t count, std::size_t strands);
  std::vector<std::unique_ptr<User>>& users() { return users_; }

  // Enrols each user's device and binds it by a first sign-in (ScanCode), `concurrency` at a time.
  Status setup_users(std::size_t concurrency);
  // Parks each device's GET /challenges long-poll; stop_devices() ends them.
  void start_devices();
  void stop_devices();

  // Microsoft's hints for `user`, signed now (`count` of them, on all cores).
  std::vector<std::string> mint_hints(const std::vector<const User*>& for_users);

  // One full EAM flow of a bound user (run on user->strand). kUnavailable/kInternal naming the failed step.
  asio::awaitable<Result<FlowRecord>> bound_flow(User* user, std::string hint);

  // A sign-in left waiting: the authorize POST for an unbound user, whose page shows a ScanCode.
  struct ParkedPage {
    std::string wait_target;  // wait URL with ?seen=<view>: parks until the ScanCode expires
    std::string cookie;       // "avow_flow=…"
  };
  asio::awaitable<Result<ParkedPage>> open_unbound_page(User* user, std::string hint);
  // Enrols the user's device without binding it.
  asio::awaitable<Status> enroll(User* user);
  // A signed GET /challenges?wait=<seconds> for `user`'s device: the target and Authorization value.
  Result<std::pair<std::string, std::string>> signed_poll(const User& user, int wait_seconds) const;

  // The first node (the public URL: the issuer, the devices' signed URLs, the page's Origin).
  const tcp::endpoint& endpoint() const { return endpoint_; }
  const std::string& base_url() const { return base_url_; }
  pid_t server_pid() const { return server_pid_; }
  // Every node's address and pid (one entry for a single or external server; pid 0 when unknown).
  const std::vector<tcp::endpoint>& node_endpoints() const { return endpoints_; }
  const std::vector<pid_t>& server_pids() const { return server_pids_; }
  asio::io_context& ioc() { return ioc_; }
  // Rotates over the configured client source addresses.
  asio::ip::address next_source();

  // One GET to node `node` (0: the first) on a fresh connection, from a thread not running the io_context
  // (blocks until answered).
  Result<HttpResponse> get(std::string target, std::size_t node = 0);

  // GET /metrics: the value of the first sample named `metric` (no labels), or kNotFound.
  Result<double> metric(const std::string& metric);
  // GET /metrics on `node`: the sum of every sample of `metric` (any labels), or kNotFound when it has none.
  Result<double> metric_sum(const std::string& metric, std::size_t node);

 private:
  World(asio::io_context& ioc, WorldOptions options);
  Status start();

  asio::awaitable<Result<nlohmann::json>> device_call(User* user, BalancedConnection* conn, std::string method,
                                                      std::string endpoint, nlohmann::json fields, int expect);
  asio::awaitable<void> device_loop(User* user);
  asio::awaitable<Status> setup_user(User* user, std::string hint);

  asio::io_context& ioc_;
  WorldOptions options_;
  std::optional<entra_sim::Tenant> tenant_;
  std::unique_ptr<http::Metrics> keys_metrics_;
  std::unique_ptr<http::Server> keys_server_;
  std::thread keys_thread_;
  std::string temp_dir_;
  std::string keys_url_;
  std::vector<ServerProcess> own_;
  pid_t server_pid_ = 0;
  std::vector<pid_t> server_pids_;
  std::string base_url_;
  tcp::endpoint endpoint_;
  std::vector<tcp::endpoint> endpoints_;
  std::string org_id_, client_id_, directory_id_, app_id_, issuer_;
  crypto::Jwks provider_keys_;
  std::vector<asio::any_io_executor> strands_;
  std::vector<std::unique_ptr<User>> users_;
  std::atomic<std::size_t> source_counter_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> devices_running_{0};
};

}  // namespace avow::bench
