// avow/server/config.h — avowd's settings and where they come from.
//
//   ConfigSources src;
//   src.file = "/etc/avow/avowd.toml";              // --config (or AVOW_CONFIG)
//   src.env = avow_environment(environ);             // every AVOW_* variable
//   src.flags["listen"] = "127.0.0.1:9000";          // command-line flags, by key
//   Result<Config> cfg = load_config(src);           // error text: "config: <key>: <problem>"
//
// Precedence, highest first: flags > AVOW_* environment variables > TOML file > defaults. A key's
// environment name is AVOW_ + its dotted path upper-cased with '_' (limits.max_body_bytes →
// AVOW_LIMITS_MAX_BODY_BYTES). Nothing is silently ignored: an unknown TOML key, an unknown AVOW_
// variable, a value of the wrong type or out of range fails the load with a one-line error that names the
// key (the caller exits with status 2). Every key is documented in docs/configuration.md.
//
// Sizes are integers (bytes, counts). Durations are strings with one unit: "250ms", "30s", "2m", "1h",
// "7d" — a bare number is refused, so a duration is never misread in the wrong unit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/logging.h"
#include "common/result.h"
#include "store/database.h"

namespace avow::server {

struct ListenAddress {
  std::string host;  // IPv4 literal, IPv6 literal (without brackets) or "localhost"
  std::uint16_t port = 0;

  // True for 127.0.0.0/8, ::1 and "localhost".
  bool is_loopback() const;
  // True for 0.0.0.0 and ::.
  bool is_wildcard() const;
  // "host:port", with brackets around an IPv6 host.
  std::string to_string() const;
};

struct TlsConfig {
  std::string cert_file;  // PEM chain
  std::string key_file;   // PEM private key
  bool enabled() const { return !cert_file.empty(); }
};

struct LimitsConfig {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 16 * 1024;
  std::size_t max_target_bytes = 4 * 1024;
  std::size_t max_connections = 10'000;
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(10)};
};

struct DatabaseConfig {
  std::string path;  // resolved: <data_dir>/avow.db unless set
  // postgres://… selects PostgreSQL instead of the SQLite file at `path`. May hold a password: log it only
  // through store::redact_database_url.
  std::string url;
  std::chrono::milliseconds busy_timeout{std::chrono::seconds(5)};  // SQLite
  int pool_size = 4;
  std::chrono::milliseconds acquire_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};     // PostgreSQL
  std::chrono::milliseconds statement_timeout{std::chrono::seconds(30)};  // PostgreSQL
  bool postgres() const { return !url.empty(); }
  // What the server opens: the URL when set, else the SQLite path.
  const std::string& url_or_path() const { return url.empty() ? path : url; }
};

// What store::open_database() takes for this configuration; `create`: SQLite may create the file.
store::DatabaseOptions database_options(const DatabaseConfig& c, bool create);

struct KeysConfig {
  std::string master_key_file;  // resolved: <data_dir>/master.key unless set
  std::string master_key;       // base64url key given inline (AVOW_KEYS_MASTER_KEY); a secret, never logged
  std::chrono::milliseconds retired_retention{std::chrono::hours(24 * 7)};
};

struct EntraConfig {
  // Where Microsoft's signing keys are fetched; empty = the integration's cloud's default (cloud.h). Tests
  // point it at the Entra simulator.
  std::string keys_url;
  // Allows an http:// keys_url on a loopback address (the simulator). Never needed in production.
  bool allow_loopback_keys_url = false;
  // A PEM CA bundle trusted for keys_url besides the system's (a simulator with a self-signed certificate).
  std::string keys_ca_file;
  // One more redirect URI accepted as EAM besides Microsoft's: the simulator's receiver. Honoured only with
  // `dev`; without it nothing but Microsoft's URIs is ever accepted.
  std::string dev_redirect_uri;
  std::chrono::milliseconds hint_max_age{std::chrono::minutes(10)};
};

struct FlowConfig {
  std::chrono::milliseconds challenge_ttl{std::chrono::minutes(2)};  // well under Entra's ~5 minutes
  std::chrono::milliseconds scan_code_ttl{std::chrono::minutes(2)};
  std::chrono::milliseconds id_token_ttl{std::chrono::minutes(5)};
  int code_lockout_threshold = 10;  // consecutive wrong fallback codes that lock a user's codes; 1–100
  int max_pushes_per_hour = 20;     // sign-in requests per user per rolling hour (an org's settings override); 0 = off
};

struct DashboardConfig {
  bool open_signup = false;  // anyone may create an org (multi-tenant); else only the first sign-up
};

struct TestingConfig {
  bool enable_debug_routes = false;  // GET /debug/sleep — for the test suite only
};

struct Config {
  ListenAddress listen{"127.0.0.1", 8080};
  std::string public_url;  // absolute http(s) URL without a trailing '/'; empty = derive from listen
  std::string data_dir = "./data";
  bool dev = false;
  log::Level log_level = log::Level::kInfo;
  std::size_t threads = 0;  // 0 = one per core
  TlsConfig tls;
  LimitsConfig limits;
  DatabaseConfig database;
  KeysConfig keys;
  EntraConfig entra;
  FlowConfig flow;
  DashboardConfig dashboard;
  TestingConfig testing;
  std::string source_file;  // the TOML file read, if any (for messages)
};

struct ConfigSources {
  std::optional<std::string> file;           // TOML file path
  std::map<std::string, std::string> env;    // AVOW_* name → value
  std::map<std::string, std::string> flags;  // dotted key → value, as text ("true" for a boolean flag)
};

// Layers defaults, the file, the environment and the flags, validates every value, and resolves the
// paths that default under data_dir. Errors (kInvalidArgument) read "config: <key>: <problem>", naming
// the source when it is not the file; kUnavailable when the file cannot be read.
Result<Config> load_config(const ConfigSources& sources);

// Checks what only `avowd serve` needs: TLS files both given or both absent and readable, and plain HTTP
// only on a loopback address (a non-loopback listen needs tls.* or dev). Same error form as load_config.
Status validate_for_serve(const Config& config);

// The AVOW_* variables of an environment block (e.g. `environ`).
std::map<std::string, std::string> avow_environment(char** envp);

// The environment variable name of a dotted key: "limits.max_body_bytes" → "AVOW_LIMITS_MAX_BODY_BYTES".
std::string env_name(std::string_view key);

// Every known dotted key, in documentation order.
std::vector<std::string> config_keys();

// Parses "250ms", "30s", "2m", "1h", "7d". nullopt for anything else (no unit, a sign, a fraction,
// overflow).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// Parses "HOST:PORT" ("[v6]:PORT" for IPv6); HOST is an IP literal or "localhost", PORT 0..65535.
Result<ListenAddress> parse_listen(std::string_view text);

// The public URL a listen address implies: scheme://host:port, with "localhost" for a wildcard host.
std::string derive_public_url(const ListenAddress& listen, bool tls);

}  // namespace avow::server
