#include "server/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>

#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include "crypto/sealed.h"
#include "store/database.h"

namespace avow::server {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kSecondMs = 1000;
constexpr std::int64_t kMinuteMs = 60 * kSecondMs;
constexpr std::int64_t kHourMs = 60 * kMinuteMs;
constexpr std::int64_t kDayMs = 24 * kHourMs;

// A value as one source gave it. Text from the environment or a flag may spell any type; a TOML value
// must have the key's type.
struct Raw {
  enum Type { kText, kInt, kBool, kFloat, kOther } type = kText;
  std::string text;
  std::int64_t integer = 0;
  bool boolean = false;
  bool from_text = false;  // environment variable or flag
  std::string origin;      // "" (the file), "AVOW_X" or "--flag", for messages
};

std::string display(const Raw& raw) {
  switch (raw.type) {
    case Raw::kText: {
      std::string t = raw.text.size() > 64 ? raw.text.substr(0, 64) + "…" : raw.text;
      return nlohmann::json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    case Raw::kInt:
      return std::to_string(raw.integer);
    case Raw::kBool:
      return raw.boolean ? "true" : "false";
    case Raw::kFloat:
      return "a floating-point number";
    case Raw::kOther:
      return raw.text;
  }
  return "?";
}

tl::unexpected<Error> bad(std::string_view key, const Raw& raw, std::string problem) {
  std::string msg = "config: " + std::string(key) + ": " + problem;
  if (!raw.origin.empty()) msg += " (from " + raw.origin + ")";
  return fail(ErrorCode::kInvalidArgument, std::move(msg));
}

std::string format_duration(std::int64_t ms) {
  if (ms % kDayMs == 0) return std::to_string(ms / kDayMs) + "d";
  if (ms % kHourMs == 0) return std::to_string(ms / kHourMs) + "h";
  if (ms % kMinuteMs == 0) return std::to_string(ms / kMinuteMs) + "m";
  if (ms % kSecondMs == 0) return std::to_string(ms / kSecondMs) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<std::int64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

Result<std::int64_t> get_integer(std::string_view key, const Raw& raw, std::int64_t min, std::int64_t max) {
  std::optional<std::int64_t> v;
  if (raw.type == Raw::kInt) v = raw.integer;
  if (raw.type == Raw::kText && raw.from_text) v = parse_decimal(raw.text);
  if (!v)
    return bad(key, raw,
               std::string(min >= 1 ? "expected a positive integer" : "expected a non-negative integer") + ", got " +
                   display(raw));
  if (*v < min || *v > max)
    return bad(
        key, raw,
        "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + std::to_string(*v));
  return *v;
}

Result<bool> get_bool(std::string_view key, const Raw& raw) {
  if (raw.type == Raw::kBool) return raw.boolean;
  if (raw.type == Raw::kText && raw.from_text) {
    if (raw.text == "true" || raw.text == "1") return true;
    if (raw.text == "false" || raw.text == "0") return false;
  }
  return bad(key, raw, "expected true or false, got " + display(raw));
}

Result<std::string> get_string(std::string_view key, const Raw& raw) {
  if (raw.type == Raw::kText) return raw.text;
  return bad(key, raw, "expected a string, got " + display(raw));
}

Result<milliseconds> get_duration(std::string_view key, const Raw& raw, std::int64_t min_ms, std::int64_t max_ms) {
  if (raw.type != Raw::kText)
    return bad(key, raw, "expected a duration with a unit such as \"30s\" (ms, s, m, h, d), got " + display(raw));
  const auto d = parse_duration(raw.text);
  if (!d) return bad(key, raw, "expected a duration with a unit such as \"30s\" (ms, s, m, h, d), got " + display(raw));
  if (d->count() < min_ms || d->count() > max_ms)
    return bad(
        key, raw,
        "must be between " + format_duration(min_ms) + " and " + format_duration(max_ms) + ", got " + display(raw));
  return *d;
}

Result<std::string> get_public_url(std::string_view key, const Raw& raw) {
  auto text = get_string(key, raw);
  if (!text) return text;
  std::string url = *text;
  if (url.empty()) return url;  // derive from listen
  const std::string expected = "expected an absolute http:// or https:// URL without query or fragment, got ";
  if (url.size() > 2048) return bad(key, raw, "longer than 2048 characters");
  std::size_t rest = 0;
  if (url.rfind("https://", 0) == 0)
    rest = 8;
  else if (url.rfind("http://", 0) == 0)
    rest = 7;
  else
    return bad(key, raw, expected + display(raw));
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f || c == '?' || c == '#' || c == '\\') return bad(key, raw, expected + display(raw));
  const std::size_t slash = url.find('/', rest);
  const std::string authority = url.substr(rest, slash == std::string::npos ? std::string::npos : slash - rest);
  if (authority.empty() || authority.find('@') != std::string::npos) return bad(key, raw, expected + display(raw));
  // An explicit port must be a number in range (IPv6 hosts are bracketed).
  const std::size_t bracket = authority.rfind(']');
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const auto port = parse_decimal(std::string_view(authority).substr(colon + 1));
    if (!port || *port < 1 || *port > 65535 || colon == 0) return bad(key, raw, expected + display(raw));
  }
  while (url.size() > rest && url.back() == '/') url.pop_back();
  return url;
}

struct KeySpec {
  std::string_view key;
  std::function<Status(Config&, const Raw&)> apply;
};

template <class T>
Status assign(Result<T> r, T& out) {
  if (!r) return tl::unexpected(r.error());
  out = std::move(*r);
  return ok();
}

Status assign_size(std::string_view key, const Raw& raw, std::int64_t min, std::int64_t max, std::size_t& out) {
  auto v = get_integer(key, raw, min, max);
  if (!v) return tl::unexpected(v.error());
  out = static_cast<std::size_t>(*v);
  return ok();
}

const std::vector<KeySpec>& specs() {
  static const std::vector<KeySpec> table = [] {
    std::vector<KeySpec> t;
    auto add = [&t](std::string_view key, std::function<Status(Config&, const Raw&)> fn) {
      t.push_back({key, std::move(fn)});
    };
    constexpr std::int64_t kMiB = 1024 * 1024;

    add("listen", [](Config& c, const Raw& r) -> Status {
      auto text = get_string("listen", r);
      if (!text) return tl::unexpected(text.error());
      auto l = parse_listen(*text);
      if (!l) return bad("listen", r, l.error().message);
      c.listen = *l;
      return ok();
    });
    add("public_url", [](Config& c, const Raw& r) { return assign(get_public_url("public_url", r), c.public_url); });
    add("data_dir", [](Config& c, const Raw& r) -> Status {
      auto s = get_string("data_dir", r);
      if (!s) return tl::unexpected(s.error());
      if (s->empty()) return bad("data_dir", r, "must not be empty");
      c.data_dir = *s;
      return ok();
    });
    add("dev", [](Config& c, const Raw& r) { return assign(get_bool("dev", r), c.dev); });
    add("log_level", [](Config& c, const Raw& r) -> Status {
      auto s = get_string("log_level", r);
      if (!s) return tl::unexpected(s.error());
      if (!log::parse_level(*s, &c.log_level))
        return bad("log_level", r, "expected one of debug, info, warn, error, off, got " + display(r));
      return ok();
    });
    add("threads", [](Config& c, const Raw& r) { return assign_size("threads", r, 0, 1024, c.threads); });

    add("tls.cert_file",
        [](Config& c, const Raw& r) { return assign(get_string("tls.cert_file", r), c.tls.cert_file); });
    add("tls.key_file", [](Config& c, const Raw& r) { return assign(get_string("tls.key_file", r), c.tls.key_file); });

    add("limits.max_header_bytes", [](Config& c, const Raw& r) {
      return assign_size("limits.max_header_bytes", r, 1024, kMiB, c.limits.max_header_bytes);
    });
    add("limits.max_body_bytes", [](Config& c, const Raw& r) {
      return assign_size("limits.max_body_bytes", r, 1, 64 * kMiB, c.limits.max_body_bytes);
    });
    add("limits.max_target_bytes", [](Config& c, const Raw& r) {
      return assign_size("limits.max_target_bytes", r, 256, 64 * 1024, c.limits.max_target_bytes);
    });
    add("limits.max_connections", [](Config& c, const Raw& r) {
      return assign_size("limits.max_connections", r, 1, 1'000'000, c.limits.max_connections);
    });
    struct Timeout {
      std::string_view key;
      milliseconds LimitsConfig::*field;
      std::int64_t max_ms;
    };
    for (const Timeout& to : {Timeout{"limits.handshake_timeout", &LimitsConfig::handshake_timeout, kHourMs},
                              Timeout{"limits.header_timeout", &LimitsConfig::header_timeout, kHourMs},
                              Timeout{"limits.body_timeout", &LimitsConfig::body_timeout, kHourMs},
                              Timeout{"limits.idle_timeout", &LimitsConfig::idle_timeout, kHourMs},
                              Timeout{"limits.write_timeout", &LimitsConfig::write_timeout, kHourMs},
                              Timeout{"limits.shutdown_grace", &LimitsConfig::shutdown_grace, 10 * kMinuteMs}}) {
      add(to.key,
          [to](Config& c, const Raw& r) { return assign(get_duration(to.key, r, 1, to.max_ms), c.limits.*to.field); });
    }

    add("database.path",
        [](Config& c, const Raw& r) { return assign(get_string("database.path", r), c.database.path); });
    add("database.url", [](Config& c, const Raw& r) -> Status {
      // May carry a password: messages name the key, never echo the value.
      if (r.type != Raw::kText) return bad("database.url", r, "expected a string");
      if (!r.text.empty() && !store::is_postgres_url(r.text))
        return bad("database.url", r, "expected a postgres:// or postgresql:// URL (SQLite uses database.path)");
      if (r.text.size() > 4096) return bad("database.url", r, "longer than 4096 characters");
      c.database.url = r.text;
      return ok();
    });
    for (const auto& [key, field] : {std::pair<std::string_view, milliseconds DatabaseConfig::*>{
                                         "database.acquire_timeout", &DatabaseConfig::acquire_timeout},
                                     std::pair<std::string_view, milliseconds DatabaseConfig::*>{
                                         "database.connect_timeout", &DatabaseConfig::connect_timeout},
                                     std::pair<std::string_view, milliseconds DatabaseConfig::*>{
                                         "database.statement_timeout", &DatabaseConfig::statement_timeout}}) {
      add(key, [key, field](Config& c, const Raw& r) {
        return assign(get_duration(key, r, 1, 10 * kMinuteMs), c.database.*field);
      });
    }
    add("database.busy_timeout", [](Config& c, const Raw& r) {
      return assign(get_duration("database.busy_timeout", r, 1, 10 * kMinuteMs), c.database.busy_timeout);
    });
    add("database.pool_size", [](Config& c, const Raw& r) -> Status {
      auto v = get_integer("database.pool_size", r, 1, 64);
      if (!v) return tl::unexpected(v.error());
      c.database.pool_size = static_cast<int>(*v);
      return ok();
    });

    add("keys.master_key_file",
        [](Config& c, const Raw& r) { return assign(get_string("keys.master_key_file", r), c.keys.master_key_file); });
    add("keys.master_key", [](Config& c, const Raw& r) -> Status {
      // A secret: never echo it.
      if (r.type != Raw::kText) return bad("keys.master_key", r, "expected a string");
      if (!r.text.empty() && !crypto::MasterKey::from_base64url(r.text))
        return bad("keys.master_key", r,
                   "expected 43 base64url characters (a 32-byte key), got a value of " + std::to_string(r.text.size()) +
                       " characters");
      c.keys.master_key = r.text;
      return ok();
    });
    add("keys.retired_retention", [](Config& c, const Raw& r) {
      return assign(get_duration("keys.retired_retention", r, kHourMs, 3650 * kDayMs), c.keys.retired_retention);
    });

    add("entra.keys_url", [](Config& c, const Raw& r) -> Status {
      auto s = get_string("entra.keys_url", r);
      if (!s) return tl::unexpected(s.error());
      if (!s->empty() && !s->starts_with("https://") && !s->starts_with("http://"))
        return bad("entra.keys_url", r, "expected an http(s) URL, got " + display(r));
      c.entra.keys_url = *s;
      return ok();
    });
    add("entra.allow_loopback_keys_url", [](Config& c, const Raw& r) {
      return assign(get_bool("entra.allow_loopback_keys_url", r), c.entra.allow_loopback_keys_url);
    });
    add("entra.keys_ca_file",
        [](Config& c, const Raw& r) { return assign(get_string("entra.keys_ca_file", r), c.entra.keys_ca_file); });
    add("entra.dev_redirect_uri", [](Config& c, const Raw& r) -> Status {
      auto s = get_string("entra.dev_redirect_uri", r);
      if (!s) return tl::unexpected(s.error());
      if (!s->empty() && !s->starts_with("https://") && !s->starts_with("http://"))
        return bad("entra.dev_redirect_uri", r, "expected an http(s) URL, got " + display(r));
      c.entra.dev_redirect_uri = *s;
      return ok();
    });
    add("entra.hint_max_age", [](Config& c, const Raw& r) {
      return assign(get_duration("entra.hint_max_age", r, kMinuteMs, 60 * kMinuteMs), c.entra.hint_max_age);
    });
    // A challenge must end well before Entra abandons the attempt (about 5 minutes).
    add("flow.challenge_ttl", [](Config& c, const Raw& r) {
      return assign(get_duration("flow.challenge_ttl", r, 1000, 4 * kMinuteMs), c.flow.challenge_ttl);
    });
    add("flow.scan_code_ttl", [](Config& c, const Raw& r) {
      return assign(get_duration("flow.scan_code_ttl", r, 30 * 1000, 10 * kMinuteMs), c.flow.scan_code_ttl);
    });
    add("flow.id_token_ttl", [](Config& c, const Raw& r) {
      return assign(get_duration("flow.id_token_ttl", r, 60 * 1000, 60 * kMinuteMs), c.flow.id_token_ttl);
    });
    // Consecutive wrong fallback codes that lock a user's codes; never above 100 (issue 6).
    add("flow.code_lockout_threshold", [](Config& c, const Raw& r) -> Status {
      auto v = get_integer("flow.code_lockout_threshold", r, 1, 100);
      if (!v) return tl::unexpected(v.error());
      c.flow.code_lockout_threshold = static_cast<int>(*v);
      return ok();
    });
    // Sign-in requests (pushes) per user per rolling hour: a brake on push fatigue. 0 turns it off.
    add("flow.max_pushes_per_hour", [](Config& c, const Raw& r) -> Status {
      auto v = get_integer("flow.max_pushes_per_hour", r, 0, 100000);
      if (!v) return tl::unexpected(v.error());
      c.flow.max_pushes_per_hour = static_cast<int>(*v);
      return ok();
    });
    // The first sign-up creates the server's org; later ones need this (multi-tenant mode).
    add("dashboard.open_signup",
        [](Config& c, const Raw& r) { return assign(get_bool("dashboard.open_signup", r), c.dashboard.open_signup); });

    add("testing.enable_debug_routes", [](Config& c, const Raw& r) {
      return assign(get_bool("testing.enable_debug_routes", r), c.testing.enable_debug_routes);
    });
    return t;
  }();
  return table;
}

const KeySpec* find_spec(std::string_view key) {
  for (const KeySpec& s : specs())
    if (s.key == key) return &s;
  return nullptr;
}

bool is_section(std::string_view name) {
  for (const KeySpec& s : specs())
    if (s.key.size() > name.size() && s.key.substr(0, name.size()) == name && s.key[name.size()] == '.') return true;
  return false;
}

Raw from_toml(const toml::node& node) {
  Raw raw;
  if (auto s = node.as_string()) {
    raw.type = Raw::kText;
    raw.text = s->get();
  } else if (auto i = node.as_integer()) {
    raw.type = Raw::kInt;
    raw.integer = i->get();
  } else if (auto b = node.as_boolean()) {
    raw.type = Raw::kBool;
    raw.boolean = b->get();
  } else if (node.is_floating_point()) {
    raw.type = Raw::kFloat;
  } else {
    raw.type = Raw::kOther;
    raw.text = node.is_table() ? "a table" : node.is_array() ? "an array" : "a date/time";
  }
  return raw;
}

Status apply_file(Config& config, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    const std::string msg = "config: " + path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                            ": " + std::string(e.description());
    // A missing or unreadable file is not a syntax error.
    if (!std::filesystem::exists(path)) return fail(ErrorCode::kUnavailable, "config: cannot read " + path);
    return fail(ErrorCode::kInvalidArgument, msg);
  }
  const std::string in_file = " (in " + path + ")";
  for (auto&& [k, node] : root) {
    const std::string top(k.str());
    if (is_section(top)) {
      const toml::table* section = node.as_table();
      if (!section) return fail(ErrorCode::kInvalidArgument, "config: " + top + ": expected a table" + in_file);
      for (auto&& [sk, sub] : *section) {
        const std::string key = top + "." + std::string(sk.str());
        const KeySpec* spec = find_spec(key);
        if (!spec) return fail(ErrorCode::kInvalidArgument, "config: " + key + ": unknown key" + in_file);
        if (Status s = spec->apply(config, from_toml(sub)); !s)
          return fail(ErrorCode::kInvalidArgument, s.error().message + in_file);
      }
      continue;
    }
    const KeySpec* spec = find_spec(top);
    if (!spec) return fail(ErrorCode::kInvalidArgument, "config: " + top + ": unknown key" + in_file);
    if (Status s = spec->apply(config, from_toml(node)); !s)
      return fail(ErrorCode::kInvalidArgument, s.error().message + in_file);
  }
  return ok();
}

std::string flag_name(std::string_view key) {
  std::string f = "--";
  for (char c : key) f.push_back(c == '_' || c == '.' ? '-' : c);
  return f;
}

bool parse_ip(const std::string& host, bool* v6, unsigned char out[16]) {
  if (inet_pton(AF_INET, host.c_str(), out) == 1) {
    *v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), out) == 1) {
    *v6 = true;
    return true;
  }
  return false;
}

}  // namespace

bool ListenAddress::is_loopback() const {
  if (host == "localhost") return true;
  unsigned char a[16] = {};
  bool v6 = false;
  if (!parse_ip(host, &v6, a)) return false;
  if (!v6) return a[0] == 127;
  static const unsigned char kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::equal(a, a + 16, kLoop6)) return true;
  // IPv4-mapped 127.0.0.0/8 (::ffff:127.x.y.z).
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(a, a + 12, kMapped) && a[12] == 127;
}

bool ListenAddress::is_wildcard() const {
  unsigned char a[16] = {};
  bool v6 = false;
  if (!parse_ip(host, &v6, a)) return false;
  return std::all_of(a, a + (v6 ? 16 : 4), [](unsigned char c) { return c == 0; });
}

std::string ListenAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const auto n = parse_decimal(text.substr(0, digits));
  const std::string_view unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = kSecondMs;
  else if (unit == "m")
    scale = kMinuteMs;
  else if (unit == "h")
    scale = kHourMs;
  else if (unit == "d")
    scale = kDayMs;
  else
    return std::nullopt;
  if (!n || *n > INT64_MAX / scale) return std::nullopt;
  return milliseconds(*n * scale);
}

Result<ListenAddress> parse_listen(std::string_view text) {
  const std::string expected =
      "expected HOST:PORT with an IP address or localhost (e.g. 127.0.0.1:8080, [::1]:8080), got " +
      nlohmann::json(std::string(text.substr(0, 64))).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  ListenAddress out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail(ErrorCode::kInvalidArgument, expected);
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    bool v6 = false;
    unsigned char a[16];
    if (!parse_ip(out.host, &v6, a) || !v6) return fail(ErrorCode::kInvalidArgument, expected);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return fail(ErrorCode::kInvalidArgument, expected);
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    bool v6 = false;
    unsigned char a[16];
    if (out.host != "localhost" && (!parse_ip(out.host, &v6, a) || v6))
      return fail(ErrorCode::kInvalidArgument, expected);
  }
  const auto port = parse_decimal(port_text);
  if (!port) return fail(ErrorCode::kInvalidArgument, expected);
  if (*port > 65535)
    return fail(ErrorCode::kInvalidArgument, "port must be between 0 and 65535, got " + std::string(port_text));
  out.port = static_cast<std::uint16_t>(*port);
  return out;
}

std::string derive_public_url(const ListenAddress& listen, bool tls) {
  ListenAddress shown = listen;
  if (listen.is_wildcard()) shown.host = "localhost";
  return std::string(tls ? "https://" : "http://") + shown.to_string();
}

std::string env_name(std::string_view key) {
  std::string out = "AVOW_";
  for (char c : key) out.push_back(c == '.' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const KeySpec& s : specs()) out.emplace_back(s.key);
  return out;
}

std::map<std::string, std::string> avow_environment(char** envp) {
  std::map<std::string, std::string> out;
  for (char** e = envp; e && *e; ++e) {
    const std::string_view entry(*e);
    if (entry.rfind("AVOW_", 0) != 0) continue;
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

Result<Config> load_config(const ConfigSources& sources) {
  Config config;
  if (sources.file) {
    config.source_file = *sources.file;
    AVOW_TRY(apply_file(config, *sources.file));
  }

  for (const auto& [name, value] : sources.env) {
    if (name == "AVOW_CONFIG") continue;  // the file's path, read by the CLI
    // Variables of the other Avow programs (the `avow` authenticator), which may share a shell with avowd.
    if (name == "AVOW_HOME" || name == "AVOW_CA_FILE" || name == "AVOW_VAULT_PASSPHRASE") continue;
    const KeySpec* spec = nullptr;
    for (const KeySpec& s : specs())
      if (env_name(s.key) == name) spec = &s;
    if (!spec)
      return fail(ErrorCode::kInvalidArgument,
                  "config: " + name + ": unknown environment variable (no such key; see docs/configuration.md)");
    Raw raw;
    raw.text = value;
    raw.from_text = true;
    raw.origin = name;
    AVOW_TRY(spec->apply(config, raw));
  }

  for (const auto& [key, value] : sources.flags) {
    const KeySpec* spec = find_spec(key);
    if (!spec) return fail(ErrorCode::kInvalidArgument, "config: " + key + ": unknown key");
    Raw raw;
    raw.text = value;
    raw.from_text = true;
    raw.origin = flag_name(key);
    AVOW_TRY(spec->apply(config, raw));
  }

  const std::filesystem::path dir(config.data_dir);
  if (config.database.path.empty()) config.database.path = (dir / "avow.db").string();
  if (config.keys.master_key_file.empty()) config.keys.master_key_file = (dir / "master.key").string();
  return config;
}

store::DatabaseOptions database_options(const DatabaseConfig& c, bool create) {
  store::DatabaseOptions o;
  o.url_or_path = c.url_or_path();
  o.pool_size = c.pool_size;
  o.acquire_timeout = c.acquire_timeout;
  o.busy_timeout = c.busy_timeout;
  o.connect_timeout = c.connect_timeout;
  o.statement_timeout = c.statement_timeout;
  o.create_if_missing = create;
  return o;
}

Status validate_for_serve(const Config& c) {
  if (!c.entra.dev_redirect_uri.empty() && !c.dev)
    return fail(ErrorCode::kInvalidArgument,
                "config: entra.dev_redirect_uri: accepted only with dev (--dev); production accepts Microsoft's "
                "redirect URIs alone");
  if (!c.tls.cert_file.empty() && c.tls.key_file.empty())
    return fail(ErrorCode::kInvalidArgument, "config: tls.key_file: required when tls.cert_file is set");
  if (c.tls.cert_file.empty() && !c.tls.key_file.empty())
    return fail(ErrorCode::kInvalidArgument, "config: tls.cert_file: required when tls.key_file is set");
  for (const auto& [key, path] : {std::pair<std::string, std::string>{"tls.cert_file", c.tls.cert_file},
                                  std::pair<std::string, std::string>{"tls.key_file", c.tls.key_file}}) {
    if (!path.empty() && ::access(path.c_str(), R_OK) != 0)
      return fail(ErrorCode::kInvalidArgument, "config: " + key + ": cannot read \"" + path + "\"");
  }
  if (!c.listen.is_loopback() && !c.tls.enabled() && !c.dev)
    return fail(ErrorCode::kInvalidArgument,
                "config: listen: plain HTTP is served only on a loopback address (127.0.0.0/8, ::1, localhost); " +
                    c.listen.to_string() + " needs tls.cert_file and tls.key_file (or --dev)");
  return ok();
}

}  // namespace avow::server
