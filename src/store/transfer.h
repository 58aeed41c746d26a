// avow/store/transfer.h — every row of every table out to a stream and back in, between any two backends
// (the way a single-node SQLite install moves to PostgreSQL, and back).
//
//   std::ofstream out("avow.export.jsonl");
//   Result<TransferSummary> s = export_database(*sqlite_db, out);       // prints nothing; returns counts
//   std::ifstream in("avow.export.jsonl");
//   Result<TransferSummary> t = import_database(*postgres_db, in);      // same counts and checksums
//
// Format (JSON lines, UTF-8, one object per line):
//   {"format":"avow-export","format_version":1,"schema_version":2,"source_dialect":"sqlite","exported_at":…}
//   {"table":"orgs","columns":["id","name","created_at"]}
//   {"r":["0b6…","Contoso",1700000000]}                  one per row: null, integer, real, text, or
//   …                                                     {"b64":"…"} for bytes (standard base64)
//   {"end":"orgs","rows":1,"sha256":"<hex>"}
//   … the next table …
//   {"end_of_export":true,"tables":13}
// Tables come in foreign-key order (a table after every table it references; ties by name), rows in
// primary-key order compared bytewise, so the same data gives the same file on every backend. A table's
// checksum is SHA-256 over its rows' canonical lines ({"r":[…]} plus "\n"), the same on both sides:
// operators compare the figures both commands print. `schema_migrations` is not copied; the header's
// schema_version stands for it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/database.h"

namespace avow::store {

struct TableSummary {
  std::string table;
  std::int64_t rows = 0;
  std::string sha256;  // lowercase hex
  friend bool operator==(const TableSummary&, const TableSummary&) = default;
};

struct TransferSummary {
  int schema_version = 0;
  std::vector<TableSummary> tables;  // in file (foreign-key) order
};

// Writes the whole database to `out` as one consistent snapshot (one transaction; on SQLite other writers
// wait until it ends). The database must be migrated. kUnavailable on database errors, kInvalidArgument
// when a text value is not valid UTF-8 (named by table), kInternal when writing to `out` fails.
Result<TransferSummary> export_database(Database& db, std::ostream& out);

// Reads an export into `db`, which must be empty: never migrated (it is then migrated to the export's
// schema version first), or migrated to that version with no rows in any table. Rows are inserted in one
// transaction, then read back and verified against the file's counts and checksums before it commits;
// afterwards the migrations this binary has beyond the export's version are applied. Nothing is written
// when anything fails. kConflict: the target is not empty, or its schema version differs from the export's,
// or the export is newer than this binary; kInvalidArgument: the stream is not a complete, intact export
// (the message names the line); other errors as the database's.
Result<TransferSummary> import_database(Database& db, std::istream& in);

// The counts and checksums export_database would print, without writing anything.
Result<TransferSummary> summarize_database(Database& db);

}  // namespace avow::store
