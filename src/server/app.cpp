#include "server/app.h"

#include <sys/stat.h>

#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/device_routes.h"
#include "common/clock.h"
#include "common/logging.h"
#include "crypto/keyring.h"
#include "crypto/sealed.h"
#include "dashboard/routes.h"
#include "entra/microsoft_keys.h"
#include "entra/routes.h"
#include "events/hub.h"
#include "events/pg_bridge.h"
#include "http/metrics.h"
#include "http/server.h"
#include "push/sender.h"
#include "server/dev_tls.h"
#include "server/routes.h"
#include "server/signing_key_store.h"
#include "store/database.h"
#include "store/repositories.h"

#ifndef AVOW_VERSION
#define AVOW_VERSION "0.0.0"
#endif

namespace avow::server {
namespace {

namespace fs = std::filesystem;

// How often a running server re-reads the key ring, so `avowd keys rotate` (or another node) takes effect
// without a restart.
constexpr auto kKeyRingReloadInterval = std::chrono::seconds(60);
constexpr auto kSweepInterval = std::chrono::seconds(30);

// The data directory, database and key ring, in the order they must be closed (reverse of declaration).
struct State {
  std::shared_ptr<store::Database> database;
  std::unique_ptr<DbSigningKeyStore> key_store;
  std::unique_ptr<crypto::KeyRing> key_ring;
  std::optional<crypto::MasterKey> master_key;  // seals the bindings' fallback-code secrets

  State() = default;
  State(State&&) = default;
  State& operator=(State&&) = default;
  ~State() {
    key_ring.reset();
    if (database) database->close();
  }
};

void report(std::string_view what, const Error& e) {
  log::error(what, {{"error", e.message}, {"code", to_string(e.code)}});
}

Status prepare_data_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return fail(ErrorCode::kUnavailable, "data_dir: cannot create " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return fail(ErrorCode::kUnavailable, "data_dir: cannot chmod 0700 " + dir.string() + ": " + ec.message());
    log::info("data directory created", {{"data_dir", dir.string()}});
    return ok();
  }
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::kUnavailable, "data_dir: " + dir.string() + " is not a directory");
  const fs::perms p = fs::status(dir, ec).permissions();
  if ((p & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none)
    log::warn("data directory is accessible by group or others; chmod 700 it", {{"data_dir", dir.string()}});
  return ok();
}

// `create`: a first start (serve) creates the data directory, master key and database; the keys
// subcommands refuse a missing database instead, so a mistyped --data-dir does not mint a new key ring.
Result<State> open_state(const Config& c, bool create) {
  if (create) {
    AVOW_TRY(prepare_data_dir(c.data_dir));
  } else if (std::error_code ec; !c.database.postgres() && !fs::exists(c.database.path, ec)) {
    return fail(
        ErrorCode::kNotFound,
        "database: " + c.database.path + " does not exist (check --data-dir / database.path, or run avowd serve once)");
  }

  Result<crypto::MasterKey> master = c.keys.master_key.empty()
                                         ? crypto::MasterKey::load_or_create_file(c.keys.master_key_file)
                                         : crypto::MasterKey::from_base64url(c.keys.master_key);
  if (!master)
    return fail(master.error().code,
                std::string(c.keys.master_key.empty() ? "keys.master_key_file: " : "keys.master_key: ") +
                    master.error().message);

  // SQLite file or PostgreSQL URL (database.url / --database / AVOW_DATABASE_URL).
  Result<std::shared_ptr<store::Database>> db = store::open_database(database_options(c.database, create));
  if (!db) return fail(db.error().code, "database: " + db.error().message);

  State state;
  state.master_key = *master;
  state.database = std::move(*db);
  const Result<int> version_before = state.database->schema_version();
  if (Status m = state.database->migrate(); !m) return fail(m.error().code, "database migration: " + m.error().message);
  if (const Result<int> version = state.database->schema_version();
      version && version_before && *version != *version_before) {
    log::info("database migrated",
              {{"from_version", std::to_string(*version_before)}, {"to_version", std::to_string(*version)}});
  }

  state.key_store = std::make_unique<DbSigningKeyStore>(state.database);
  crypto::KeyRingOptions ring_options;
  ring_options.retired_retention = std::chrono::duration_cast<std::chrono::seconds>(c.keys.retired_retention);
  auto ring = crypto::KeyRing::open(*state.key_store, *master, SystemClock::instance(), ring_options);
  if (!ring) return fail(ring.error().code, "key ring: " + ring.error().message);
  state.key_ring = std::move(*ring);
  return state;
}

std::string iso_time(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void print_keys(const crypto::KeyRing& ring, bool json, std::ostream& out) {
  const auto keys = ring.list();
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& k : keys) {
      auto time_or_null = [](std::int64_t t) { return t == 0 ? nlohmann::json(nullptr) : nlohmann::json(iso_time(t)); };
      arr.push_back({{"kid", k.kid},
                     {"state", crypto::to_string(k.state)},
                     {"created_at", time_or_null(k.created_at)},
                     {"activated_at", time_or_null(k.activated_at)},
                     {"retired_at", time_or_null(k.retired_at)},
                     {"published", k.published}});
    }
    out << nlohmann::json{{"keys", arr}}.dump(2) << "\n";
    return;
  }
  std::size_t kid_width = 3;
  for (const auto& k : keys) kid_width = std::max(kid_width, k.kid.size());
  auto row = [&](std::string_view kid, std::string_view state, std::string_view created, std::string_view activated,
                 std::string_view retired, std::string_view published) {
    out << std::left << std::setw(static_cast<int>(kid_width)) << kid << "  " << std::setw(8) << state << "  "
        << std::setw(20) << created << "  " << std::setw(20) << activated << "  " << std::setw(20) << retired << "  "
        << published << "\n";
  };
  row("KID", "STATE", "CREATED", "ACTIVATED", "RETIRED", "PUBLISHED");
  for (const auto& k : keys)
    row(k.kid, crypto::to_string(k.state), iso_time(k.created_at), iso_time(k.activated_at), iso_time(k.retired_at),
        k.published ? "yes" : "no");
}

http::ServerOptions server_options(const Config& c) {
  http::ServerOptions o;
  o.host = c.listen.host;
  o.port = c.listen.port;
  o.threads = c.threads;
  o.blocking_threads = static_cast<std::size_t>(c.database.pool_size);
  o.max_header_bytes = c.limits.max_header_bytes;
  o.max_body_bytes = c.limits.max_body_bytes;
  o.max_target_bytes = c.limits.max_target_bytes;
  o.max_connections = c.limits.max_connections;
  o.handshake_timeout = c.limits.handshake_timeout;
  o.header_timeout = c.limits.header_timeout;
  o.body_timeout = c.limits.body_timeout;
  o.idle_timeout = c.limits.idle_timeout;
  o.write_timeout = c.limits.write_timeout;
  o.shutdown_grace = c.limits.shutdown_grace;
  o.handle_signals = true;
  return o;
}

// Asks the housekeeping thread to re-read the key ring now: another node (or `avowd keys rotate`) changed it.
// request() only sets a flag, so the cluster bridge's thread calls it without waiting on the database.
struct KeyRingReloads {
  std::mutex mu;
  std::condition_variable_any cv;
  bool requested = false;

  void request() {
    {
      std::lock_guard lock(mu);
      requested = true;
    }
    cv.notify_all();
  }
};

// Rows forgotten per transaction by the sweep, and the pause between two such transactions.
constexpr int kSweepBatch = 500;
constexpr auto kSweepPause = std::chrono::milliseconds(2);

// Housekeeping on its own thread (every step blocks on the database): re-reads the key ring when asked
// (`reloads`) and every kKeyRingReloadInterval, and every kSweepInterval expires challenges and ScanCodes past
// their time and forgets spent replay-protection entries and dead sessions.
void maintenance(std::stop_token stop, crypto::KeyRing* ring, std::shared_ptr<store::Database> database,
                 KeyRingReloads* reloads) {
  std::unique_lock lock(reloads->mu);
  auto next_reload = std::chrono::steady_clock::now() + kKeyRingReloadInterval;
  auto next_sweep = std::chrono::steady_clock::now() + kSweepInterval;
  for (;;) {
    reloads->cv.wait_until(lock, stop, next_sweep, [reloads] { return reloads->requested; });
    if (stop.stop_requested()) return;
    const bool asked = std::exchange(reloads->requested, false);
    const auto now_steady = std::chrono::steady_clock::now();
    if (asked || now_steady >= next_reload) {
      next_reload = now_steady + kKeyRingReloadInterval;
      lock.unlock();  // request() must not wait for the database
      if (Status s = ring->reload(); !s) {
        report("key ring reload failed", s.error());
      } else if (asked) {
        log::info("key ring reloaded", {{"active_kid", ring->active()->kid}});
      }
      lock.lock();
    }
    if (std::chrono::steady_clock::now() < next_sweep) continue;
    next_sweep = std::chrono::steady_clock::now() + kSweepInterval;
    lock.unlock();
    const std::int64_t now = SystemClock::instance().unix_now();
    auto swept = database->transaction([now](store::Db& db) -> Status {
      AVOW_TRY(store::ChallengeRepo(db).expire_due(now));
      AVOW_TRY(store::ScanCodeRepo(db).expire_due(now));
      AVOW_TRY(store::SessionRepo(db).purge_expired(now));
      return ok();
    });
    // Replay records pile up with sign-ins: one used hint per sign-in, two device request ids. Keyed by time
    // (schema v4 and v5), they are forgotten in bounded batches, each its own short transaction, so that
    // sign-ins are not held behind one long delete.
    const store::PurgeFn replay_records[] = {
        [now](store::Db& db, int limit) { return store::UsedHintRepo(db).purge_expired(now, limit); },
        [now](store::Db& db, int limit) { return store::DeviceNonceRepo(db).purge_expired(now, limit); },
    };
    for (const store::PurgeFn& purge : replay_records) {
      if (!swept) break;
      auto forgotten = store::purge_in_batches(*database, kSweepBatch, kSweepPause, purge, stop);
      if (!forgotten) swept = tl::unexpected(forgotten.error());
    }
    if (!swept) report("housekeeping sweep failed", swept.error());
    lock.lock();
  }
}

}  // namespace

const char* version() { return AVOW_VERSION; }

int serve(const Config& c, std::ostream& out) {
  if (Status s = validate_for_serve(c); !s) {
    std::cerr << s.error().message << "\n";
    return kExitUsage;
  }

  http::ServerOptions options = server_options(c);
  if (c.tls.enabled()) {
    options.tls = http::TlsFiles{c.tls.cert_file, c.tls.key_file};
  } else if (c.dev) {
    if (Status s = prepare_data_dir(c.data_dir); !s) {
      report("start-up failed", s.error());
      return kExitFailure;
    }
    Result<DevTls> dev = ensure_dev_tls(fs::path(c.data_dir) / "dev-tls", c.listen);
    if (!dev) {
      report("start-up failed", dev.error());
      return kExitFailure;
    }
    log::info(dev->created ? "dev TLS certificate created" : "dev TLS certificate reused",
              {{"cert_file", dev->cert_file}, {"key_file", dev->key_file}});
    options.tls = http::TlsFiles{dev->cert_file, dev->key_file};
  }

  Result<State> state = open_state(c, true);
  if (!state) {
    report("start-up failed", state.error());
    return kExitFailure;
  }

  http::Metrics metrics(version());
  // Outlive the server: its handlers use them until server.reset() below.
  events::Hub hub;
  KeyRingReloads key_ring_reloads;
  // Many nodes on one PostgreSQL: wake-ups travel between the nodes (events/pg_bridge.h), and a key ring
  // changed elsewhere ("keys" from `avowd keys rotate`, or "*" after a reconnect, when a change may have been
  // missed) is re-read at once instead of at the next periodic reload. Stopped before the hub and the
  // database go (declared after them; stopped explicitly below).
  std::optional<events::PgBridge> bridge;
  if (c.database.postgres()) {
    events::PgBridgeOptions bridge_options;
    bridge_options.url = c.database.url;
    bridge_options.on_remote = [&key_ring_reloads](std::string_view topic) {
      if (topic == "keys" || topic == "*") key_ring_reloads.request();
    };
    bridge.emplace(hub, std::move(bridge_options));
  }
  push::Dispatcher push(hub);
  entra::FetchOptions fetch_options;
  fetch_options.allow_loopback_http = c.entra.allow_loopback_keys_url;
  fetch_options.ca_file = c.entra.keys_ca_file;
  entra::CurlKeyFetcher key_fetcher(fetch_options);
  entra::MicrosoftKeys microsoft_keys(key_fetcher, SystemClock::instance());
  auto entra_public_url = std::make_shared<entra::PublicUrl>();
  std::optional<http::Server> server;
  server.emplace(options, metrics);
  CoreRouteDeps deps;
  deps.metrics = &metrics;
  deps.pool = &server->blocking_pool();
  deps.database = state->database;
  deps.key_ring = state->key_ring.get();
  deps.debug_routes = c.testing.enable_debug_routes;
  if (bridge) deps.cluster_events = [b = &*bridge] { return b->connected(); };
  if (Status s = add_core_routes(server->router(), deps); !s) {
    report("start-up failed", s.error());
    return kExitFailure;
  }
  {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    entra::EntraRouteDeps ed;
    ed.pool = &server->blocking_pool();
    ed.database = state->database;
    ed.hub = &hub;
    ed.push = &push;
    ed.key_ring = state->key_ring.get();
    ed.microsoft_keys = &microsoft_keys;
    ed.clock = &SystemClock::instance();
    ed.public_url = entra_public_url;
    ed.dev_redirect_uri = c.dev ? c.entra.dev_redirect_uri : "";
    ed.keys_url = c.entra.keys_url;
    ed.timing.challenges.ttl = duration_cast<seconds>(c.flow.challenge_ttl);
    ed.timing.scan_codes.bind_user_ttl = duration_cast<seconds>(c.flow.scan_code_ttl);
    ed.timing.id_token_lifetime = duration_cast<seconds>(c.flow.id_token_ttl);
    ed.timing.hint_max_age = duration_cast<seconds>(c.entra.hint_max_age);
    ed.master_key = &*state->master_key;
    ed.timing.codes.lockout_threshold = c.flow.code_lockout_threshold;
    ed.timing.max_pushes_per_hour = c.flow.max_pushes_per_hour;
    api::DeviceRouteDeps dd;
    dd.pool = &server->blocking_pool();
    dd.database = state->database;
    dd.hub = &hub;
    dd.clock = &SystemClock::instance();
    dd.challenge_policy = ed.timing.challenges;
    dd.scan_code_policy = ed.timing.scan_codes;
    dd.lockout_policy = ed.timing.lockout;
    dd.master_key = ed.master_key;
    dd.code_policy = ed.timing.codes;
    dashboard::DashboardDeps dash;
    dash.pool = &server->blocking_pool();
    dash.database = state->database;
    dash.hub = &hub;
    dash.push = &push;
    dash.clock = &SystemClock::instance();
    dash.public_url = entra_public_url;
    dash.open_signup = c.dashboard.open_signup;
    dash.scan_codes = ed.timing.scan_codes;
    dash.sign_in.challenges = ed.timing.challenges;
    dash.sign_in.lockout = ed.timing.lockout;
    dash.sign_in.codes = ed.timing.codes;
    dash.sign_in.max_pushes_per_hour = ed.timing.max_pushes_per_hour;
    dd.open_signup = c.dashboard.open_signup;
    if (Status s = entra::add_entra_routes(server->router(), std::move(ed)); !s) {
      report("start-up failed", s.error());
      return kExitFailure;
    }
    if (Status s = api::add_device_routes(server->router(), std::move(dd)); !s) {
      report("start-up failed", s.error());
      return kExitFailure;
    }
    if (Status s = dashboard::add_dashboard_routes(server->router(), std::move(dash)); !s) {
      report("start-up failed", s.error());
      return kExitFailure;
    }
  }
  if (c.testing.enable_debug_routes)
    log::warn("debug routes enabled (testing.enable_debug_routes); not for production");

  Result<http::Endpoint> bound = server->start();
  if (!bound) {
    report("start-up failed", bound.error());
    return kExitFailure;
  }
  ListenAddress actual = c.listen;
  actual.port = bound->port;
  const std::string url = derive_public_url(actual, bound->tls);
  const std::string public_url = c.public_url.empty() ? derive_public_url(actual, bound->tls) : c.public_url;
  if (Status s = entra_public_url->set(public_url); !s) {
    report("start-up failed", s.error());
    return kExitUsage;
  }

  out << "avowd listening on " << url << "\n"
      << "  public URL  " << public_url << "\n"
      << "  dashboard   " << public_url << "/dashboard\n"
      << "  health      " << url << "/healthz\n"
      << "  readiness   " << url << "/readyz\n"
      << "  metrics     " << url << "/metrics\n"
      << "  JWKS        " << url << "/.well-known/jwks.json\n"
      << std::flush;
  log::info("listening", {{"url", url},
                          {"public_url", public_url},
                          {"tls", bound->tls},
                          {"dev", c.dev},
                          {"data_dir", c.data_dir},
                          {"version", version()},
                          {"healthz", url + "/healthz"},
                          {"readyz", url + "/readyz"},
                          {"metrics", url + "/metrics"}});

  {
    std::jthread housekeeping(maintenance, state->key_ring.get(), state->database, &key_ring_reloads);
    server->run();
  }                            // stops and joins the housekeeping thread
  server.reset();              // ends any connection left past the grace period, before the database closes
  if (bridge) bridge->stop();  // sends what the last requests notified, then leaves the hub
  state->database->close();
  log::info("stopped");
  return kExitOk;
}

int keys_list(const Config& c, bool json, std::ostream& out) {
  Result<State> state = open_state(c, false);
  if (!state) {
    std::cerr << "avowd keys list: " << state.error().message << "\n";
    return kExitFailure;
  }
  print_keys(*state->key_ring, json, out);
  return kExitOk;
}

int keys_rotate(const Config& c, bool json, std::ostream& out) {
  Result<State> state = open_state(c, false);
  if (!state) {
    std::cerr << "avowd keys rotate: " << state.error().message << "\n";
    return kExitFailure;
  }
  if (Status s = state->key_ring->rotate(); !s) {
    std::cerr << "avowd keys rotate: " << s.error().message << "\n";
    return kExitFailure;
  }
  log::info("key ring rotated", {{"active_kid", state->key_ring->active()->kid}});
  if (c.database.postgres()) {
    // The rotation is committed: tell the running nodes, which re-read their rings now instead of at their next
    // periodic reload. Signing stays safe meanwhile (docs/deployment.md, "Key rotation"), so a failure here
    // only delays the new next key's publication.
    if (Status n = events::PgBridge::notify_once(c.database.url, "keys"); !n)
      log::warn("running nodes not told of the rotation; they re-read the key ring within a minute",
                {{"error", n.error().message}});
  }
  print_keys(*state->key_ring, json, out);
  return kExitOk;
}

}  // namespace avow::server
