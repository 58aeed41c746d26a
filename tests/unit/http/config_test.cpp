#include "server/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/random.h"

namespace avow::server {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

class TomlFile {
 public:
  explicit TomlFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() / ("avow-config-" + random_token(8) + ".toml")) {
    std::ofstream(path_) << text;
  }
  ~TomlFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

Result<Config> from_file(const std::string& text) {
  TomlFile f(text);
  ConfigSources s;
  s.file = f.path();
  return load_config(s);
}

Result<Config> from_env(std::map<std::string, std::string> env) {
  ConfigSources s;
  s.env = std::move(env);
  return load_config(s);
}

std::string error_of(const Result<Config>& r) { return r ? std::string("(no error)") : r.error().message; }

TEST(Config, DefaultsWorkWithNoSources) {
  Result<Config> c = load_config({});
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->listen.host, "127.0.0.1");
  EXPECT_EQ(c->listen.port, 8080);
  EXPECT_EQ(c->data_dir, "./data");
  EXPECT_EQ(c->database.path, "./data/avow.db");
  EXPECT_EQ(c->keys.master_key_file, "./data/master.key");
  EXPECT_EQ(c->limits.max_body_bytes, 16u * 1024);
  EXPECT_EQ(c->limits.shutdown_grace, 10s);
  EXPECT_EQ(c->log_level, log::Level::kInfo);
  EXPECT_FALSE(c->dev);
  EXPECT_FALSE(c->testing.enable_debug_routes);
  EXPECT_TRUE(c->public_url.empty());
  EXPECT_TRUE(validate_for_serve(*c));
}

TEST(Config, ReadsEveryKindOfValueFromToml) {
  Result<Config> c = from_file(R"(
listen = "[::1]:9443"
public_url = "https://mfa.example.com/avow/"
data_dir = "/var/lib/avow"
dev = true
log_level = "debug"
threads = 3
[tls]
cert_file = "/etc/avow/cert.pem"
key_file = "/etc/avow/key.pem"
[limits]
max_header_bytes = 8192
max_body_bytes = 65536
max_target_bytes = 1024
max_connections = 50
handshake_timeout = "5s"
header_timeout = "1500ms"
body_timeout = "1m"
idle_timeout = "2m"
write_timeout = "20s"
shutdown_grace = "3s"
[database]
path = "/tmp/x.db"
busy_timeout = "250ms"
pool_size = 8
[keys]
master_key_file = "/etc/avow/master.key"
retired_retention = "14d"
[testing]
enable_debug_routes = true
)");
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->listen.host, "::1");
  EXPECT_EQ(c->listen.port, 9443);
  EXPECT_EQ(c->public_url, "https://mfa.example.com/avow");  // trailing '/' dropped
  EXPECT_EQ(c->data_dir, "/var/lib/avow");
  EXPECT_TRUE(c->dev);
  EXPECT_EQ(c->log_level, log::Level::kDebug);
  EXPECT_EQ(c->threads, 3u);
  EXPECT_EQ(c->tls.cert_file, "/etc/avow/cert.pem");
  EXPECT_EQ(c->tls.key_file, "/etc/avow/key.pem");
  EXPECT_EQ(c->limits.max_header_bytes, 8192u);
  EXPECT_EQ(c->limits.max_body_bytes, 65536u);
  EXPECT_EQ(c->limits.max_target_bytes, 1024u);
  EXPECT_EQ(c->limits.max_connections, 50u);
  EXPECT_EQ(c->limits.handshake_timeout, 5s);
  EXPECT_EQ(c->limits.header_timeout, 1500ms);
  EXPECT_EQ(c->limits.body_timeout, 60s);
  EXPECT_EQ(c->limits.idle_timeout, 120s);
  EXPECT_EQ(c->limits.write_timeout, 20s);
  EXPECT_EQ(c->limits.shutdown_grace, 3s);
  EXPECT_EQ(c->database.path, "/tmp/x.db");
  EXPECT_EQ(c->database.busy_timeout, 250ms);
  EXPECT_EQ(c->database.pool_size, 8);
  EXPECT_EQ(c->keys.master_key_file, "/etc/avow/master.key");
  EXPECT_EQ(c->keys.retired_retention, std::chrono::hours(24 * 14));
  EXPECT_TRUE(c->testing.enable_debug_routes);
}

TEST(Config, FlagsBeatEnvironmentBeatsFile) {
  TomlFile f("listen = \"127.0.0.1:1001\"\nthreads = 1\nlog_level = \"warn\"\n");
  ConfigSources s;
  s.file = f.path();
  s.env = {{"AVOW_LISTEN", "127.0.0.1:1002"}, {"AVOW_THREADS", "2"}};
  s.flags = {{"listen", "127.0.0.1:1003"}};
  Result<Config> c = load_config(s);
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->listen.port, 1003);             // flag
  EXPECT_EQ(c->threads, 2u);                   // environment over file
  EXPECT_EQ(c->log_level, log::Level::kWarn);  // file over default
  s.flags.clear();
  c = load_config(s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen.port, 1002);
}

TEST(Config, PathsDefaultUnderTheFinalDataDir) {
  ConfigSources s;
  s.env = {{"AVOW_DATA_DIR", "/srv/a"}};
  s.flags = {{"data_dir", "/srv/b"}};
  Result<Config> c = load_config(s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->database.path, "/srv/b/avow.db");
  EXPECT_EQ(c->keys.master_key_file, "/srv/b/master.key");
  s.env["AVOW_DATABASE_PATH"] = "/elsewhere.db";
  c = load_config(s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->database.path, "/elsewhere.db");
}

TEST(Config, EnvironmentErrorNamesKeyAndVariable) {
  Result<Config> c = from_env({{"AVOW_LIMITS_MAX_BODY_BYTES", "abc"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      c.error().message,
      "config: limits.max_body_bytes: expected a positive integer, got \"abc\" (from AVOW_LIMITS_MAX_BODY_BYTES)");
}

TEST(Config, UnknownEnvironmentVariableFails) {
  Result<Config> c = from_env({{"AVOW_LIMITS_MAX_BODY", "10"}});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("AVOW_LIMITS_MAX_BODY"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("unknown"), std::string::npos);
  EXPECT_TRUE(from_env({{"AVOW_CONFIG", "/x.toml"}}));  // the file path is read by the CLI
}

TEST(Config, UnknownTomlKeysFail) {
  EXPECT_NE(error_of(from_file("lisen = \"127.0.0.1:1\"\n")).find("config: lisen: unknown key"), std::string::npos);
  EXPECT_NE(error_of(from_file("[limits]\nmax_bodybytes = 1\n")).find("config: limits.max_bodybytes: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(from_file("[nope]\nx = 1\n")).find("config: nope: unknown key"), std::string::npos);
  EXPECT_NE(error_of(from_file("[limits.deeper]\nx = 1\n")).find("config: limits.deeper: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(from_file("limits = 5\n")).find("config: limits: expected a table"), std::string::npos);
}

TEST(Config, WrongTypesInTomlFail) {
  EXPECT_NE(error_of(from_file("[limits]\nmax_body_bytes = \"abc\"\n"))
                .find("config: limits.max_body_bytes: expected a positive integer, got \"abc\""),
            std::string::npos);
  // A number in a TOML string is still a string: types are not guessed in files.
  EXPECT_NE(error_of(from_file("threads = \"4\"\n")).find("config: threads: expected a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error_of(from_file("dev = \"yes\"\n")).find("config: dev: expected true or false"), std::string::npos);
  EXPECT_NE(error_of(from_file("listen = 8080\n")).find("config: listen: expected a string, got 8080"),
            std::string::npos);
  EXPECT_NE(error_of(from_file("[limits]\nmax_body_bytes = 1.5\n")).find("config: limits.max_body_bytes:"),
            std::string::npos);
  EXPECT_NE(error_of(from_file("data_dir = [\"a\"]\n")).find("config: data_dir: expected a string, got an array"),
            std::string::npos);
}

TEST(Config, OutOfRangeValuesFail) {
  EXPECT_NE(
      error_of(from_env({{"AVOW_LIMITS_MAX_BODY_BYTES", "0"}})).find("config: limits.max_body_bytes: must be between"),
      std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_LIMITS_MAX_CONNECTIONS", "-1"}})).find("config: limits.max_connections:"),
            std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_LIMITS_MAX_HEADER_BYTES", "99999999999"}})).find("limits.max_header_bytes"),
            std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_DATABASE_POOL_SIZE", "1000"}})).find("database.pool_size"), std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_THREADS", ""}})).find("config: threads:"), std::string::npos);
}

TEST(Config, DurationsNeedAUnitAndSaneRange) {
  EXPECT_NE(error_of(from_env({{"AVOW_LIMITS_HEADER_TIMEOUT", "30"}}))
                .find("config: limits.header_timeout: expected a duration with a unit"),
            std::string::npos);
  EXPECT_NE(
      error_of(from_env({{"AVOW_LIMITS_HEADER_TIMEOUT", "0s"}})).find("config: limits.header_timeout: must be between"),
      std::string::npos);
  EXPECT_NE(
      error_of(from_env({{"AVOW_LIMITS_IDLE_TIMEOUT", "2h"}})).find("config: limits.idle_timeout: must be between"),
      std::string::npos);
  EXPECT_NE(
      error_of(from_file("[limits]\nbody_timeout = 30\n")).find("config: limits.body_timeout: expected a duration"),
      std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_KEYS_RETIRED_RETENTION", "5m"}})).find("keys.retired_retention"),
            std::string::npos);
  Result<Config> c = from_env({{"AVOW_LIMITS_SHUTDOWN_GRACE", "250ms"}});
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->limits.shutdown_grace, 250ms);
}

TEST(Config, ListenMustBeHostColonPort) {
  EXPECT_NE(error_of(from_env({{"AVOW_LISTEN", "127.0.0.1"}})).find("config: listen: expected HOST:PORT"),
            std::string::npos);
  EXPECT_NE(
      error_of(from_env({{"AVOW_LISTEN", "127.0.0.1:70000"}})).find("config: listen: port must be between 0 and 65535"),
      std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_LISTEN", "example.com:80"}})).find("config: listen:"), std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_LISTEN", "::1:80"}})).find("config: listen:"), std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_LISTEN", "127.0.0.1:http"}})).find("config: listen:"), std::string::npos);
  Result<Config> c = from_env({{"AVOW_LISTEN", "localhost:0"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen.host, "localhost");
  EXPECT_EQ(c->listen.port, 0);
}

TEST(Config, PublicUrlMustBeAbsoluteHttpWithoutQueryOrFragment) {
  for (const char* bad : {"ftp://x", "example.com", "https://", "https://x/?a=1", "https://x/#f", "https://u:p@x/",
                          "https://x:99999/", "https://x:/", "http://a b"}) {
    const std::string e = error_of(from_env({{"AVOW_PUBLIC_URL", bad}}));
    EXPECT_NE(e.find("config: public_url:"), std::string::npos) << bad << " → " << e;
  }
  Result<Config> c = from_env({{"AVOW_PUBLIC_URL", "http://[::1]:8080"}});
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->public_url, "http://[::1]:8080");
}

TEST(Config, LogLevelAndBooleans) {
  EXPECT_NE(error_of(from_env({{"AVOW_LOG_LEVEL", "verbose"}})).find("config: log_level: expected one of"),
            std::string::npos);
  EXPECT_NE(error_of(from_env({{"AVOW_DEV", "maybe"}})).find("config: dev: expected true or false, got \"maybe\""),
            std::string::npos);
  Result<Config> c = from_env({{"AVOW_DEV", "1"}, {"AVOW_TESTING_ENABLE_DEBUG_ROUTES", "true"}});
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->dev);
  EXPECT_TRUE(c->testing.enable_debug_routes);
}

TEST(Config, MasterKeyErrorNeverEchoesTheValue) {
  const std::string secretish = "not-a-key-but-maybe-a-secret";
  const std::string e = error_of(from_env({{"AVOW_KEYS_MASTER_KEY", secretish}}));
  EXPECT_NE(e.find("config: keys.master_key:"), std::string::npos) << e;
  EXPECT_EQ(e.find(secretish), std::string::npos) << e;
  Result<Config> c = from_env({{"AVOW_KEYS_MASTER_KEY", std::string(43, 'A')}});
  ASSERT_TRUE(c) << error_of(c);
}

TEST(Config, TomlSyntaxErrorNamesFileAndLine) {
  TomlFile f("listen = \"127.0.0.1:1\"\n[limits\n");
  ConfigSources s;
  s.file = f.path();
  const std::string e = error_of(load_config(s));
  EXPECT_NE(e.find(f.path() + ":2:"), std::string::npos) << e;
}

TEST(Config, MissingFileIsUnavailable) {
  ConfigSources s;
  s.file = "/nonexistent/avow.toml";
  Result<Config> c = load_config(s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
}

TEST(Config, FileErrorsSayWhichFile) {
  TomlFile f("threads = -1\n");
  ConfigSources s;
  s.file = f.path();
  const std::string e = error_of(load_config(s));
  EXPECT_NE(e.find("config: threads:"), std::string::npos);
  EXPECT_NE(e.find(f.path()), std::string::npos);
}

TEST(ConfigServe, PlainHttpOnlyOnLoopback) {
  for (const char* ok_listen : {"127.0.0.1:8080", "127.9.9.9:1", "[::1]:8080", "localhost:8080"}) {
    Result<Config> c = from_env({{"AVOW_LISTEN", ok_listen}});
    ASSERT_TRUE(c) << ok_listen;
    EXPECT_TRUE(validate_for_serve(*c)) << ok_listen;
  }
  for (const char* public_listen : {"0.0.0.0:8080", "10.1.2.3:80", "[::]:8080"}) {
    Result<Config> c = from_env({{"AVOW_LISTEN", public_listen}});
    ASSERT_TRUE(c);
    Status s = validate_for_serve(*c);
    ASSERT_FALSE(s) << public_listen;
    EXPECT_EQ(s.error().message.rfind("config: listen: plain HTTP is served only on a loopback address", 0), 0u)
        << s.error().message;
    c->dev = true;  // --dev serves HTTPS
    EXPECT_TRUE(validate_for_serve(*c));
  }
}

TEST(ConfigServe, TlsFilesComeInPairs) {
  Result<Config> c = from_env({{"AVOW_TLS_CERT_FILE", "/etc/hosts"}});
  ASSERT_TRUE(c);
  Status s = validate_for_serve(*c);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "config: tls.key_file: required when tls.cert_file is set");
  c->tls.key_file = "/nonexistent/key.pem";
  s = validate_for_serve(*c);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("config: tls.key_file: cannot read"), std::string::npos);
}

TEST(ConfigHelpers, Durations) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("2m"), 120s);
  EXPECT_EQ(parse_duration("1h"), 3600s);
  EXPECT_EQ(parse_duration("7d"), std::chrono::hours(168));
  for (const char* bad : {"", "s", "30", "-1s", "1.5s", "30 s", "30S", "1h30m", "99999999999999d"})
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
}

TEST(ConfigHelpers, Loopback) {
  EXPECT_TRUE((ListenAddress{"127.0.0.1", 1}.is_loopback()));
  EXPECT_TRUE((ListenAddress{"127.200.0.1", 1}.is_loopback()));
  EXPECT_TRUE((ListenAddress{"::1", 1}.is_loopback()));
  EXPECT_TRUE((ListenAddress{"::ffff:127.0.0.1", 1}.is_loopback()));
  EXPECT_TRUE((ListenAddress{"localhost", 1}.is_loopback()));
  EXPECT_FALSE((ListenAddress{"0.0.0.0", 1}.is_loopback()));
  EXPECT_FALSE((ListenAddress{"128.0.0.1", 1}.is_loopback()));
  EXPECT_FALSE((ListenAddress{"::", 1}.is_loopback()));
  EXPECT_TRUE((ListenAddress{"::", 1}.is_wildcard()));
  EXPECT_TRUE((ListenAddress{"0.0.0.0", 1}.is_wildcard()));
}

TEST(ConfigHelpers, DerivedPublicUrl) {
  EXPECT_EQ(derive_public_url({"127.0.0.1", 8080}, false), "http://127.0.0.1:8080");
  EXPECT_EQ(derive_public_url({"::1", 8443}, true), "https://[::1]:8443");
  EXPECT_EQ(derive_public_url({"0.0.0.0", 443}, true), "https://localhost:443");
}

TEST(ConfigHelpers, EveryKeyHasADistinctEnvironmentName) {
  std::set<std::string> names;
  for (const std::string& k : config_keys()) EXPECT_TRUE(names.insert(env_name(k)).second) << k;
  EXPECT_EQ(env_name("limits.max_body_bytes"), "AVOW_LIMITS_MAX_BODY_BYTES");
  EXPECT_EQ(env_name("listen"), "AVOW_LISTEN");
  EXPECT_GE(names.size(), 25u);
}

TEST(ConfigHelpers, AvowEnvironmentPicksOnlyAvowVariables) {
  std::string a = "AVOW_LISTEN=127.0.0.1:1", b = "AVOWD_BIN=/x", c = "PATH=/bin", d = "AVOW_X=a=b";
  char* envp[] = {a.data(), b.data(), c.data(), d.data(), nullptr};
  auto env = avow_environment(envp);
  EXPECT_EQ(env.size(), 2u);
  EXPECT_EQ(env["AVOW_LISTEN"], "127.0.0.1:1");
  EXPECT_EQ(env["AVOW_X"], "a=b");
}

}  // namespace
}  // namespace avow::server
