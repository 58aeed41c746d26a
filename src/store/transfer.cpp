#include "store/transfer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <istream>
#include <map>
#include <memory>
#include <ostream>
#include <set>

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/clock.h"
#include "store/migrations.h"

namespace avow::store {

namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr std::int64_t kPageRows = 500;
constexpr std::size_t kMaxLineBytes = 64u << 20;  // one row; signing keys and JSON columns are far smaller

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(std::string_view s) { EVP_DigestUpdate(ctx_.get(), s.data(), s.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

struct TableInfo {
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::string> order_by;  // SQL terms, bytewise order on both engines
  std::set<std::string> references;   // tables this one has foreign keys to
  std::string identity_column;        // PostgreSQL: a GENERATED … AS IDENTITY column, whose sequence follows
};

Result<std::vector<std::string>> texts(Db& db, std::string_view sql, std::initializer_list<Value> params = {}) {
  auto rows = db.query(sql, params);
  AVOW_TRY(rows);
  std::vector<std::string> out;
  for (const Row& r : *rows) {
    auto t = r.text(0);
    AVOW_TRY(t);
    out.push_back(std::move(*t));
  }
  return out;
}

Result<TableInfo> sqlite_table(Db& db, const std::string& name) {
  TableInfo t;
  t.name = name;
  auto cols = db.query("SELECT name, pk FROM pragma_table_info($1) ORDER BY cid", {name});
  AVOW_TRY(cols);
  std::map<std::int64_t, std::string> pk;
  for (const Row& r : *cols) {
    auto col = r.text(0);
    AVOW_TRY(col);
    auto pos = r.int64(1);
    AVOW_TRY(pos);
    t.columns.push_back(*col);
    if (*pos > 0) pk.emplace(*pos, quote_ident(*col));
  }
  for (auto& [pos, term] : pk) t.order_by.push_back(term);
  auto refs = texts(db, "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)", {name});
  AVOW_TRY(refs);
  t.references.insert(refs->begin(), refs->end());
  return t;
}

Result<TableInfo> postgres_table(Db& db, const std::string& name) {
  TableInfo t;
  t.name = name;
  auto cols = db.query(
      "SELECT column_name::text, data_type::text, is_identity::text FROM information_schema.columns "
      "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
      {name});
  AVOW_TRY(cols);
  std::map<std::string, bool> is_text;
  for (const Row& r : *cols) {
    auto col = r.text(0);
    AVOW_TRY(col);
    auto type = r.text(1);
    AVOW_TRY(type);
    auto identity = r.text(2);
    AVOW_TRY(identity);
    t.columns.push_back(*col);
    is_text[*col] = *type == "text" || *type == "character varying" || *type == "character";
    if (*identity == "YES") t.identity_column = *col;
  }
  auto pk = texts(db,
                  "SELECT a.attname::text FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY "
                  "AS k(attnum, ord) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                  "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord",
                  {quote_ident(name)});
  AVOW_TRY(pk);
  // COLLATE "C": bytewise, as SQLite's BINARY, whatever the database's default collation.
  for (const std::string& col : *pk) t.order_by.push_back(quote_ident(col) + (is_text[col] ? " COLLATE \"C\"" : ""));
  auto refs = texts(db,
                    "SELECT DISTINCT cl.relname::text FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.confrelid "
                    "WHERE c.contype = 'f' AND c.conrelid = $1::regclass",
                    {quote_ident(name)});
  AVOW_TRY(refs);
  t.references.insert(refs->begin(), refs->end());
  return t;
}

// Every table but schema_migrations, in foreign-key order (ties by name).
Result<std::vector<TableInfo>> read_catalog(Db& db) {
  const bool sqlite = db.dialect() == "sqlite";
  auto names = texts(db, sqlite ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' "
                                  "AND name <> 'schema_migrations' ORDER BY name"
                                : "SELECT table_name::text FROM information_schema.tables WHERE table_schema = "
                                  "current_schema() AND table_type = 'BASE TABLE' AND table_name <> "
                                  "'schema_migrations' ORDER BY table_name");
  AVOW_TRY(names);
  std::sort(names->begin(), names->end());
  std::vector<TableInfo> pending;
  for (const std::string& n : *names) {
    auto t = sqlite ? sqlite_table(db, n) : postgres_table(db, n);
    AVOW_TRY(t);
    t->references.erase(n);  // a self-reference does not constrain the order between tables
    if (t->order_by.empty()) {
      for (const std::string& c : t->columns) t->order_by.push_back(quote_ident(c));
    }
    pending.push_back(std::move(*t));
  }
  std::vector<TableInfo> ordered;
  std::set<std::string> done;
  while (!pending.empty()) {
    auto ready = std::find_if(pending.begin(), pending.end(), [&](const TableInfo& t) {
      return std::all_of(t.references.begin(), t.references.end(), [&](const std::string& r) { return done.count(r); });
    });
    if (ready == pending.end()) return fail(ErrorCode::kInternal, "the tables' foreign keys form a cycle");
    done.insert(ready->name);
    ordered.push_back(std::move(*ready));
    pending.erase(ready);
  }
  return ordered;
}

// The canonical JSON of one row's values: the line written, and what the checksum covers.
Result<std::string> canonical_row(const std::vector<Value>& values, const std::string& table) {
  json r = json::array();
  for (const Value& v : values) {
    switch (v.kind()) {
      case Value::Kind::kNull:
        r.push_back(nullptr);
        break;
      case Value::Kind::kInt:
        r.push_back(v.as_int());
        break;
      case Value::Kind::kReal:
        r.push_back(v.as_real());
        break;
      case Value::Kind::kText:
        r.push_back(v.as_text());
        break;
      case Value::Kind::kBlob:
        r.push_back(json{{"b64", base64_encode(v.as_blob())}});
        break;
    }
  }
  try {
    return json{{"r", std::move(r)}}.dump();
  } catch (const json::exception&) {
    return fail(ErrorCode::kInvalidArgument, "table " + table + ": a text value is not valid UTF-8");
  }
}

// Walks every table's rows in canonical order; `emit` gets each line to write (null: only summarise).
Result<TransferSummary> walk(Db& db, std::ostream* out) {
  TransferSummary summary;
  auto version = schema_version(db);
  AVOW_TRY(version);
  if (*version == 0)
    return fail(ErrorCode::kConflict, "the database has no schema (never migrated): nothing to export");
  summary.schema_version = *version;
  auto catalog = read_catalog(db);
  AVOW_TRY(catalog);
  auto write = [&](const std::string& line) -> Status {
    if (!out) return ok();
    *out << line << '\n';
    if (!*out) return fail(ErrorCode::kInternal, "writing the export failed");
    return ok();
  };
  AVOW_TRY(write(json{{"format", "avow-export"},
                      {"format_version", kFormatVersion},
                      {"schema_version", *version},
                      {"source_dialect", std::string(db.dialect())},
                      {"exported_at", SystemClock::instance().unix_now()}}
                     .dump()));
  for (const TableInfo& t : *catalog) {
    AVOW_TRY(write(json{{"table", t.name}, {"columns", t.columns}}.dump()));
    std::string select = "SELECT ";
    for (std::size_t i = 0; i < t.columns.size(); ++i) select += (i ? ", " : "") + quote_ident(t.columns[i]);
    select += " FROM " + quote_ident(t.name) + " ORDER BY ";
    for (std::size_t i = 0; i < t.order_by.size(); ++i) select += (i ? ", " : "") + t.order_by[i];
    select += " LIMIT $1 OFFSET $2";
    Sha256 sha;
    std::int64_t count = 0;
    for (;;) {
      auto rows = db.query(select, {kPageRows, count});
      AVOW_TRY(rows);
      for (const Row& r : *rows) {
        std::vector<Value> values;
        for (std::size_t c = 0; c < r.size(); ++c) values.push_back(*r.value(c));
        auto line = canonical_row(values, t.name);
        AVOW_TRY(line);
        sha.update(*line);
        sha.update("\n");
        AVOW_TRY(write(*line));
        ++count;
      }
      if (static_cast<std::int64_t>(rows->size()) < kPageRows) break;
    }
    TableSummary ts{t.name, count, sha.hex()};
    AVOW_TRY(write(json{{"end", t.name}, {"rows", ts.rows}, {"sha256", ts.sha256}}.dump()));
    summary.tables.push_back(std::move(ts));
  }
  AVOW_TRY(write(json{{"end_of_export", true}, {"tables", summary.tables.size()}}.dump()));
  if (out) out->flush();
  return summary;
}

// Runs `walk` in one snapshot.
Result<TransferSummary> walk_snapshot(Database& database, std::ostream* out) {
  auto conn = database.connection();
  AVOW_TRY(conn);
  std::optional<TransferSummary> result;
  int attempts = 0;
  Status st = (*conn)->transaction([&](Db& tx) -> Status {
    // Output already written cannot be taken back: a retried snapshot is an error, not a second copy.
    if (++attempts > 1) return fail(ErrorCode::kUnavailable, "the snapshot was interrupted by a conflict; run again");
    if (tx.dialect() == "postgres") {
      // A read-only deferrable snapshot never fails with a serialization error and blocks no writer.
      AVOW_TRY(tx.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"));
    }
    auto s = walk(tx, out);
    AVOW_TRY(s);
    result = std::move(*s);
    return ok();
  });
  if (!st) return tl::unexpected(st.error());
  return std::move(*result);
}

// Reads one line of at most kMaxLineBytes; false at the end of the stream.
Result<bool> read_line(std::istream& in, std::string& line, std::int64_t line_no) {
  line.clear();
  char c;
  bool any = false;
  while (in.get(c)) {
    any = true;
    if (c == '\n') return true;
    if (line.size() >= kMaxLineBytes) {
      return fail(ErrorCode::kInvalidArgument, "line " + std::to_string(line_no) + ": longer than the 64 MiB limit");
    }
    line.push_back(c);
  }
  return any;
}

Result<Value> value_from_json(const json& j) {
  if (j.is_null()) return Value();
  if (j.is_number_integer()) {
    if (j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      return fail(ErrorCode::kInvalidArgument, "integer out of range");
    }
    return Value(j.get<std::int64_t>());
  }
  if (j.is_number_float()) return Value(j.get<double>());
  if (j.is_string()) return Value(j.get<std::string>());
  if (j.is_object() && j.size() == 1 && j.contains("b64") && j["b64"].is_string()) {
    auto bytes = base64_decode(j["b64"].get<std::string>());
    if (!bytes) return fail(ErrorCode::kInvalidArgument, "bad base64 bytes");
    return Value(Blob{std::move(*bytes)});
  }
  return fail(ErrorCode::kInvalidArgument, "unsupported value " + j.dump().substr(0, 40));
}

// The import proper, inside the target's transaction.
Result<TransferSummary> import_into(Db& tx, std::istream& in, int version) {
  auto fail_at = [](std::int64_t n, const std::string& what) {
    return fail(ErrorCode::kInvalidArgument, "line " + std::to_string(n) + ": " + what);
  };
  const int current = schema_version(tx).value_or(-1);
  if (current == 0) {
    AVOW_TRY(migrate(tx, all_migrations().first(static_cast<std::size_t>(version))));
  } else if (current != version) {
    return fail(ErrorCode::kConflict, "the target database is at schema version " + std::to_string(current) +
                                          " but the export at " + std::to_string(version) +
                                          ": import into an empty database");
  }
  auto catalog = read_catalog(tx);
  AVOW_TRY(catalog);
  std::map<std::string, const TableInfo*> by_name;
  for (const TableInfo& t : *catalog) {
    by_name[t.name] = &t;
    auto any = tx.query_one("SELECT 1 FROM " + quote_ident(t.name) + " LIMIT 1");
    AVOW_TRY(any);
    if (*any) {
      return fail(ErrorCode::kConflict,
                  "the target database is not empty (table " + t.name + " has rows): import into an empty database");
    }
  }

  TransferSummary file;
  file.schema_version = version;
  std::set<std::string> seen;
  std::string line;
  std::int64_t n = 1;  // the header was line 1
  const TableInfo* table = nullptr;
  std::string insert;
  std::optional<Sha256> sha;
  std::int64_t rows = 0;
  bool finished = false;
  for (;;) {
    ++n;
    auto more = read_line(in, line, n);
    AVOW_TRY(more);
    if (!*more) break;
    if (finished) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      return fail_at(n, "data after the end of the export");
    }
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return fail_at(n, "not a JSON object");
    if (table && j.contains("r")) {
      const json& r = j["r"];
      if (!r.is_array() || r.size() != table->columns.size()) {
        return fail_at(n,
                       "a row of " + table->name + " must have " + std::to_string(table->columns.size()) + " values");
      }
      std::vector<Value> values;
      for (std::size_t c = 0; c < r.size(); ++c) {
        auto v = value_from_json(r[c]);
        if (!v) return fail_at(n, table->name + "." + table->columns[c] + ": " + v.error().message);
        values.push_back(std::move(*v));
      }
      auto canonical = canonical_row(values, table->name);
      if (!canonical) return fail_at(n, canonical.error().message);
      sha->update(*canonical);
      sha->update("\n");
      auto inserted = tx.execute(insert, values);
      if (!inserted) {
        return fail(inserted.error().code,
                    "line " + std::to_string(n) + ": " + table->name + ": " + inserted.error().message);
      }
      ++rows;
    } else if (!table && j.contains("table")) {
      if (!j["table"].is_string() || !j.contains("columns") || !j["columns"].is_array()) {
        return fail_at(n, "a table line needs a name and its columns");
      }
      const std::string name = j["table"].get<std::string>();
      auto it = by_name.find(name);
      if (it == by_name.end()) return fail_at(n, "table " + name + " does not exist in the target schema");
      if (!seen.insert(name).second) return fail_at(n, "table " + name + " appears twice");
      table = it->second;
      std::vector<std::string> columns;
      for (const json& c : j["columns"]) {
        if (!c.is_string()) return fail_at(n, "column names must be strings");
        columns.push_back(c.get<std::string>());
      }
      if (columns != table->columns) {
        return fail_at(n, "the columns of " + name +
                              " differ from the target's (was the export made by another "
                              "build at the same schema version?)");
      }
      insert = "INSERT INTO " + quote_ident(name) + " (";
      std::string placeholders;
      for (std::size_t c = 0; c < columns.size(); ++c) {
        insert += (c ? ", " : "") + quote_ident(columns[c]);
        placeholders += (c ? ", $" : "$") + std::to_string(c + 1);
      }
      insert += ") VALUES (" + placeholders + ")";
      sha.emplace();
      rows = 0;
    } else if (table && j.contains("end")) {
      if (j["end"] != table->name || !j.contains("rows") || !j["rows"].is_number_integer() || !j.contains("sha256") ||
          !j["sha256"].is_string()) {
        return fail_at(n, "a malformed end line for table " + table->name);
      }
      TableSummary ts{table->name, rows, sha->hex()};
      if (j["rows"].get<std::int64_t>() != ts.rows || j["sha256"].get<std::string>() != ts.sha256) {
        return fail_at(n, "table " + table->name +
                              " does not match its recorded row count and checksum: the file is "
                              "damaged");
      }
      file.tables.push_back(std::move(ts));
      table = nullptr;
    } else if (!table && j.contains("end_of_export")) {
      if (!j.contains("tables") || j["tables"] != file.tables.size())
        return fail_at(n, "the table count does not match");
      finished = true;
    } else {
      return fail_at(n, table ? "expected a row or the end of table " + table->name : "expected a table line");
    }
  }
  if (!finished) return fail(ErrorCode::kInvalidArgument, "the export is truncated (no end line)");
  for (const TableInfo& t : *catalog) {
    if (!seen.count(t.name)) return fail(ErrorCode::kInvalidArgument, "the export has no table " + t.name);
  }

  if (tx.dialect() == "postgres") {
    // Rows came with their ids: move each identity sequence past them, or the next insert would collide.
    for (const TableInfo& t : *catalog) {
      if (t.identity_column.empty()) continue;
      const std::string col = quote_ident(t.identity_column), tab = quote_ident(t.name);
      AVOW_TRY(tx.query_one("SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(" + col + ") FROM " +
                                tab + "), 1), (SELECT COUNT(*) > 0 FROM " + tab + "))",
                            {tab, t.identity_column}));
    }
  }

  // Read back what is now in the target and compare, table by table, before committing.
  auto stored = walk(tx, nullptr);
  AVOW_TRY(stored);
  std::map<std::string, TableSummary> expected;
  for (const TableSummary& t : file.tables) expected[t.table] = t;
  for (const TableSummary& t : stored->tables) {
    auto it = expected.find(t.table);
    if (it == expected.end() || !(it->second == t)) {
      return fail(ErrorCode::kInternal, "verification failed: table " + t.table + " reads back " +
                                            std::to_string(t.rows) + " rows, sha256 " + t.sha256 +
                                            "; nothing was imported");
    }
  }
  return file;
}

}  // namespace

Result<TransferSummary> export_database(Database& db, std::ostream& out) { return walk_snapshot(db, &out); }

Result<TransferSummary> summarize_database(Database& db) { return walk_snapshot(db, nullptr); }

Result<TransferSummary> import_database(Database& database, std::istream& in) {
  std::string line;
  auto got = read_line(in, line, 1);
  AVOW_TRY(got);
  if (!*got) return fail(ErrorCode::kInvalidArgument, "the export is empty");
  const json header = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object() || header.value("format", "") != "avow-export") {
    return fail(ErrorCode::kInvalidArgument, "line 1: not an Avow export (no avow-export header)");
  }
  if (!header.contains("format_version") || header["format_version"] != kFormatVersion) {
    return fail(ErrorCode::kInvalidArgument,
                "line 1: unsupported export format version (this binary reads " + std::to_string(kFormatVersion) + ")");
  }
  if (!header.contains("schema_version") || !header["schema_version"].is_number_integer() ||
      header["schema_version"].get<std::int64_t>() < 1) {
    return fail(ErrorCode::kInvalidArgument, "line 1: missing schema_version");
  }
  const std::int64_t version = header["schema_version"].get<std::int64_t>();
  if (version > latest_schema_version()) {
    return fail(ErrorCode::kConflict, "the export is at schema version " + std::to_string(version) +
                                          ", newer than this binary knows (" + std::to_string(latest_schema_version()) +
                                          "); import it with a newer avowd");
  }

  auto conn = database.connection();
  AVOW_TRY(conn);
  std::optional<TransferSummary> result;
  int attempts = 0;
  Status st = (*conn)->transaction([&](Db& tx) -> Status {
    // The stream is consumed: a retried transaction cannot read it again.
    if (++attempts > 1) {
      return fail(ErrorCode::kUnavailable, "the import was interrupted by a conflicting write; nothing was imported");
    }
    auto r = import_into(tx, in, static_cast<int>(version));
    AVOW_TRY(r);
    result = std::move(*r);
    return ok();
  });
  if (!st) return tl::unexpected(st.error());
  // Then bring the schema up to this binary's version.
  if (version < latest_schema_version()) AVOW_TRY(migrate(**conn));
  return std::move(*result);
}

}  // namespace avow::store
