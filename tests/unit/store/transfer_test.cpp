// Export and import between backends: SQLite → PostgreSQL → SQLite with equal counts and checksums, and
// every refusal (non-empty target, damaged or truncated file, newer schema) leaving the target untouched.
#include <gtest/gtest.h>

#include <sstream>

#include "backends.h"
#include "store/transfer.h"

namespace avow::store {
namespace {

using testing::Backend;
using testing::kT0;
using testing::ScratchDatabase;

// A database with a row in (nearly) every table, bytes, NULLs, non-ASCII text and several audit ids.
void populate(Database& database) {
  auto c = database.connection();
  ASSERT_TRUE(c);
  Db& db = **c;
  testing::Seed s = testing::seed(db);
  ASSERT_TRUE(OrgRepo(db).create(testing::make_org("Zürich AG ✓")));
  ChallengeRecord ch = testing::make_challenge(s.org.id, s.user.id, s.integration.id);
  ASSERT_TRUE(ChallengeRepo(db).create(ch));
  BindingRecord b;
  b.id = new_id();
  b.user_id = s.user.id;
  b.device_id = s.device.id;
  b.created_at = kT0;
  ASSERT_TRUE(BindingRepo(db).create(b));
  for (int i = 0; i < 3; ++i) {
    AuditEventRecord e;
    e.org_id = s.org.id;
    e.at = kT0 + i;
    e.actor_kind = "system";
    e.kind = "test.event";
    ASSERT_TRUE(AuditRepo(db).append(e));
  }
  SigningKeyRow k{"kid-1", "RS256", "active", kT0, kT0, 0, std::string("\0\x01sealed\xff", 9), std::string()};
  ASSERT_TRUE(SigningKeyRepo(db).save(k));
  ASSERT_TRUE(db.execute("INSERT INTO used_hints (issued_at, hint_key, expires_at) VALUES (1, 'h', 5)"));
  // Schema v3: a settings row and the new stamps.
  OrgSettingsRecord settings;
  settings.org_id = s.org.id;
  settings.updated_at = kT0;
  ASSERT_TRUE(OrgSettingsRepo(db).save(settings));
  ASSERT_TRUE(IntegrationRepo(db).mark_deleted(s.integration.id, kT0 + 1).value());
}

std::string export_text(Database& db, TransferSummary* summary = nullptr) {
  std::ostringstream out;
  auto s = export_database(db, out);
  EXPECT_TRUE(s) << s.error().message;
  if (s && summary) *summary = *s;
  return out.str();
}

// The lines after the header (which names the source and the time).
std::string body(const std::string& text) { return text.substr(text.find('\n') + 1); }

class TransferTest : public ::testing::TestWithParam<std::tuple<Backend, Backend>> {
 protected:
  void SetUp() override {
    from_ = ScratchDatabase::create(std::get<0>(GetParam()));
    AVOW_SKIP_IF_NO_BACKEND(from_);
    to_ = ScratchDatabase::create(std::get<1>(GetParam()));
    AVOW_SKIP_IF_NO_BACKEND(to_);
  }
  std::unique_ptr<ScratchDatabase> from_, to_;
};

INSTANTIATE_TEST_SUITE_P(All, TransferTest,
                         ::testing::Values(std::tuple(Backend::kSqliteFile, Backend::kPostgres),
                                           std::tuple(Backend::kPostgres, Backend::kSqliteFile),
                                           std::tuple(Backend::kSqliteFile, Backend::kSqliteMemory),
                                           std::tuple(Backend::kPostgres, Backend::kPostgres)),
                         [](const auto& info) {
                           return testing::backend_name({std::get<0>(info.param), 0}) + "To" +
                                  testing::backend_name({std::get<1>(info.param), 0});
                         });

TEST_P(TransferTest, RoundTripKeepsEveryRowAndChecksum) {
  auto source = from_->open();
  ASSERT_TRUE(source->migrate());
  populate(*source);
  TransferSummary exported;
  const std::string text = export_text(*source, &exported);
  EXPECT_EQ(exported.schema_version, latest_schema_version());
  ASSERT_GE(exported.tables.size(), 13u);
  std::map<std::string, std::int64_t> counts;
  std::map<std::string, std::size_t> position;
  for (const auto& t : exported.tables) {
    counts[t.table] = t.rows;
    position[t.table] = position.size();
  }
  // Foreign-key order: a table after those it references.
  EXPECT_LT(position["orgs"], position["users"]);
  EXPECT_LT(position["users"], position["bindings"]);
  EXPECT_LT(position["devices"], position["bindings"]);
  EXPECT_LT(position["integrations"], position["challenges"]);
  EXPECT_LT(position["challenges"], position["scan_codes"]);
  EXPECT_LT(position["admins"], position["sessions"]);
  EXPECT_EQ(counts["orgs"], 2);
  EXPECT_EQ(counts["audit_events"], 3);
  EXPECT_EQ(counts["signing_keys"], 1);
  EXPECT_EQ(counts["org_settings"], 1);
  EXPECT_EQ(counts.count("schema_migrations"), 0u);

  auto target = to_->open();
  std::istringstream in(text);
  auto imported = import_database(*target, in);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(imported->tables, exported.tables);
  EXPECT_EQ(target->schema_version().value(), latest_schema_version());

  // Exported again from the target: the same rows, byte for byte, and the same figures.
  TransferSummary again;
  const std::string text2 = export_text(*target, &again);
  EXPECT_EQ(again.tables, exported.tables);
  EXPECT_EQ(body(text2), body(text));

  // The data works: repositories read it, and new audit ids continue after the imported ones.
  auto c = target->connection();
  ASSERT_TRUE(c);
  EXPECT_EQ(OrgRepo(**c).list().value().size(), 2u);
  EXPECT_EQ(SigningKeyRepo(**c).load_all().value().at(0).private_key_sealed, std::string("\0\x01sealed\xff", 9));
  EXPECT_EQ((*(*c)->query_one("SELECT COUNT(*) FROM integrations WHERE deleted_at IS NOT NULL"))->int64(0).value(), 1);
  AuditEventRecord e;
  e.at = kT0;
  e.actor_kind = "system";
  e.kind = "after.import";
  auto id = AuditRepo(**c).append(e);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_GT(*id, 3);
}

TEST_P(TransferTest, RefusesANonEmptyTargetAndLeavesItAlone) {
  auto source = from_->open();
  ASSERT_TRUE(source->migrate());
  populate(*source);
  const std::string text = export_text(*source);
  auto target = to_->open();
  ASSERT_TRUE(target->migrate());
  {
    auto c = target->connection();
    ASSERT_TRUE(OrgRepo(**c).create(testing::make_org("Already here")));
  }
  std::istringstream in(text);
  auto r = import_database(*target, in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find("not empty"), std::string::npos) << r.error().message;
  auto c = target->connection();
  EXPECT_EQ(OrgRepo(**c).list().value().size(), 1u);
}

TEST_P(TransferTest, DamagedOrTruncatedFilesImportNothing) {
  auto source = from_->open();
  ASSERT_TRUE(source->migrate());
  populate(*source);
  const std::string text = export_text(*source);
  auto target = to_->open();

  std::string damaged = text;
  const std::size_t at = damaged.find("Zürich");
  ASSERT_NE(at, std::string::npos);
  damaged[at] = 'X';  // a changed value: the table's checksum no longer matches
  std::istringstream in1(damaged);
  auto r1 = import_database(*target, in1);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r1.error().message.find("checksum"), std::string::npos) << r1.error().message;

  std::istringstream in2(text.substr(0, text.size() * 2 / 3));
  auto r2 = import_database(*target, in2);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, ErrorCode::kInvalidArgument) << r2.error().message;

  std::istringstream in3("{\"format\":\"something else\"}\n");
  EXPECT_EQ(import_database(*target, in3).error().code, ErrorCode::kInvalidArgument);

  std::string newer = text;
  newer.replace(newer.find("\"schema_version\":"), 18, "\"schema_version\":9");
  std::istringstream in4(newer);
  auto r4 = import_database(*target, in4);
  ASSERT_FALSE(r4);
  EXPECT_EQ(r4.error().code, ErrorCode::kConflict) << r4.error().message;

  // Nothing was written by any attempt: not even the schema.
  EXPECT_EQ(target->schema_version().value(), 0);
}

TEST_P(TransferTest, AnOlderExportIsImportedAtItsVersionThenMigrated) {
  if (latest_schema_version() < 2) GTEST_SKIP() << "needs a second schema version";
  auto source = from_->open();
  {
    auto c = source->connection();
    ASSERT_TRUE(migrate(**c, all_migrations().first(1)));
    ASSERT_TRUE((*c)->execute("INSERT INTO orgs (id, name, created_at) VALUES ('o1', 'Old', 1)"));
  }
  TransferSummary exported;
  const std::string text = export_text(*source, &exported);
  EXPECT_EQ(exported.schema_version, 1);
  auto target = to_->open();
  std::istringstream in(text);
  auto imported = import_database(*target, in);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(target->schema_version().value(), latest_schema_version());
  auto c = target->connection();
  EXPECT_EQ(OrgRepo(**c).get("o1")->name, "Old");
}

TEST(TransferSummaryTest, SummaryMatchesTheExport) {
  auto scratch = ScratchDatabase::create(Backend::kSqliteFile);
  auto db = scratch->open();
  ASSERT_TRUE(db->migrate());
  populate(*db);
  TransferSummary exported;
  export_text(*db, &exported);
  auto summary = summarize_database(*db);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->tables, exported.tables);
  // An empty table's checksum is SHA-256 of nothing.
  for (const auto& t : summary->tables) {
    if (t.rows == 0) {
      EXPECT_EQ(t.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
  }
}

}  // namespace
}  // namespace avow::store
