// The store tests run on every backend: a fresh, empty database per test on SQLite (a temp file or
// :memory:) and on PostgreSQL (a schema of its own on a shared test server).
//
//   class MyTest : public ::testing::TestWithParam<testing::Backend> {
//     void SetUp() override {
//       scratch_ = testing::ScratchDatabase::create(GetParam());
//       AVOW_SKIP_IF_NO_BACKEND(scratch_);            // PostgreSQL missing: skip (or fail, see below)
//       db_ = scratch_->open();                        // open() again for a second Database on the same data
//     }
//   };
//   INSTANTIATE_TEST_SUITE_P(All, MyTest, testing::kAllBackends, testing::backend_name);
//
// Where PostgreSQL comes from, first match wins:
//   AVOWTEST_PG_URL=postgres://…   a server someone else runs (each test gets a schema on it);
//   AVOWTEST_PG_DIR=DIR            a server started by `pg_server.sh start DIR` (the ctest fixture does);
//   otherwise this process starts a private one with pg_server.sh on first use and removes it at exit.
// Without PostgreSQL binaries the PostgreSQL cases skip with a message, unless AVOWTEST_REQUIRE_POSTGRES=1
// (CI), which turns the skip into a failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/random.h"
#include "store/database.h"
#include "test_support.h"

#ifndef AVOWTEST_PG_SCRIPT
#error "AVOWTEST_PG_SCRIPT must name tests/unit/store/pg_server.sh"
#endif

namespace avow::store::testing {

enum class Backend { kSqliteFile, kSqliteMemory, kPostgres };

inline const auto kAllBackends = ::testing::Values(Backend::kSqliteFile, Backend::kSqliteMemory, Backend::kPostgres);
// Backends where several connections (and several Database objects) share the data.
inline const auto kSharedBackends = ::testing::Values(Backend::kSqliteFile, Backend::kPostgres);

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kSqliteFile:
      return "SqliteFile";
    case Backend::kSqliteMemory:
      return "SqliteMemory";
    case Backend::kPostgres:
      return "Postgres";
  }
  return "?";
}

inline bool postgres_required() {
  const char* v = std::getenv("AVOWTEST_REQUIRE_POSTGRES");
  return v && std::string(v) == "1";
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// A PostgreSQL cluster of this process's own, run by pg_server.sh in a temp directory (removed at the end).
class PrivatePostgres {
 public:
  PrivatePostgres() : dir_(std::filesystem::temp_directory_path() / ("avow-pg-" + new_id())) {}
  ~PrivatePostgres() { (void)std::system((script() + " destroy " + shell_quote(dir_.string())).c_str()); }
  PrivatePostgres(const PrivatePostgres&) = delete;
  PrivatePostgres& operator=(const PrivatePostgres&) = delete;

  // Starts (first time: creates) the cluster; on failure, the reason. Restarts use the same port.
  std::optional<std::string> start() {
    const int rc = std::system((script() + " start " + shell_quote(dir_.string()) + " >/dev/null").c_str());
    if (rc != 0) {
      return WIFEXITED(rc) && WEXITSTATUS(rc) == 3 ? "PostgreSQL server binaries are not installed"
                                                   : "pg_server.sh start failed (exit " + std::to_string(rc) + ")";
    }
    std::ifstream in(dir_ / "url");
    std::getline(in, url_);
    return std::nullopt;
  }
  void stop() { (void)std::system((script() + " stop " + shell_quote(dir_.string())).c_str()); }
  const std::string& url() const { return url_; }

 private:
  static std::string script() { return shell_quote(AVOWTEST_PG_SCRIPT); }
  std::filesystem::path dir_;
  std::string url_;
};

// The server the PostgreSQL cases share (see the top of this file). url() is empty when there is none,
// and skip_reason() says why.
class SharedPostgres {
 public:
  static SharedPostgres& instance() {
    static SharedPostgres s;
    return s;
  }
  const std::string& url() {
    std::call_once(once_, [this] { find(); });
    return url_;
  }
  const std::string& skip_reason() const { return reason_; }

 private:
  void find() {
    if (const char* u = std::getenv("AVOWTEST_PG_URL"); u && *u) {
      url_ = u;
      return;
    }
    if (const char* d = std::getenv("AVOWTEST_PG_DIR"); d && *d) {
      std::ifstream in(std::filesystem::path(d) / "url");
      if (std::getline(in, url_) && !url_.empty()) return;
      reason_ = std::string("AVOWTEST_PG_DIR=") + d + " has no running server (url file missing)";
      return;
    }
    private_ = std::make_unique<PrivatePostgres>();
    if (auto why = private_->start()) {
      reason_ = *why;
      return;
    }
    url_ = private_->url();
  }

  std::once_flag once_;
  std::string url_, reason_;
  std::unique_ptr<PrivatePostgres> private_;
};

// `url` with search_path set to `schema` (libpq's `options` connection parameter).
inline std::string url_with_schema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

// Runs one statement on `url` (test set-up: CREATE/DROP SCHEMA). Fails the test on error.
inline void pg_admin(const std::string& url, const std::string& sql) {
  PostgresOptions o;
  o.url = url;
  o.pool_size = 1;
  auto db = open_postgres(o);
  ASSERT_TRUE(db) << db.error().message;
  auto c = (*db)->connection();
  ASSERT_TRUE(c) << c.error().message;
  auto r = (*c)->execute(sql);
  ASSERT_TRUE(r) << sql << ": " << r.error().message;
}

// A fresh, empty database on one backend, removed when this object dies. Open it as often as needed.
class ScratchDatabase {
 public:
  // nullptr when the backend is not available here; skip_reason() then says why.
  static std::unique_ptr<ScratchDatabase> create(Backend backend) {
    auto s = std::unique_ptr<ScratchDatabase>(new ScratchDatabase(backend));
    if (backend == Backend::kPostgres) {
      const std::string& base = SharedPostgres::instance().url();
      if (base.empty()) return nullptr;
      s->base_url_ = base;
      s->schema_ = "t_" + random_token(12);
      for (char& c : s->schema_) c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '_';
      pg_admin(base, "CREATE SCHEMA " + s->schema_);
      s->where_ = url_with_schema(base, s->schema_);
    } else if (backend == Backend::kSqliteFile) {
      s->where_ = s->dir_.file("scratch.db");
    } else {
      s->where_ = ":memory:";
    }
    return s;
  }
  static std::string skip_reason() { return SharedPostgres::instance().skip_reason(); }

  ~ScratchDatabase() {
    if (!schema_.empty()) pg_admin(base_url_, "DROP SCHEMA " + schema_ + " CASCADE");
  }

  Backend backend() const { return backend_; }
  bool is_postgres() const { return backend_ == Backend::kPostgres; }
  // The SQLite path or PostgreSQL URL (with its schema).
  const std::string& where() const { return where_; }

  // Options for open_database() on this scratch database; adjust and open.
  DatabaseOptions options(int pool_size = 4) const {
    DatabaseOptions o;
    o.url_or_path = where_;
    o.pool_size = pool_size;
    return o;
  }
  std::shared_ptr<Database> open(int pool_size = 4) const { return open(options(pool_size)); }
  static std::shared_ptr<Database> open(const DatabaseOptions& o) {
    auto db = open_database(o);
    if (!db) ADD_FAILURE() << "open_database(" << redact_database_url(o.url_or_path) << "): " << db.error().message;
    return db ? *db : nullptr;
  }

 private:
  explicit ScratchDatabase(Backend b) : backend_(b) {}
  Backend backend_;
  TempDir dir_;
  std::string where_, base_url_, schema_;
};

// In SetUp: skips (or, with AVOWTEST_REQUIRE_POSTGRES=1, fails) when create() found no backend.
#define AVOW_SKIP_IF_NO_BACKEND(scratch)                                                                      \
  do {                                                                                                        \
    if (!(scratch)) {                                                                                         \
      if (::avow::store::testing::postgres_required()) {                                                      \
        FAIL() << "PostgreSQL is required (AVOWTEST_REQUIRE_POSTGRES=1) but not available: "                  \
               << ::avow::store::testing::ScratchDatabase::skip_reason();                                     \
      }                                                                                                       \
      GTEST_SKIP() << "PostgreSQL not available: " << ::avow::store::testing::ScratchDatabase::skip_reason(); \
    }                                                                                                         \
  } while (0)

// "sqlite_master" vs "information_schema": does a table exist in the connection's schema?
inline bool table_exists(Db& db, std::string_view name) {
  auto row = db.dialect() == "sqlite"
                 ? db.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", {name})
                 : db.query_one(
                       "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND "
                       "table_name = $1",
                       {name});
  return row && row->has_value();
}

}  // namespace avow::store::testing
