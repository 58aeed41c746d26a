#include "store/migrations.h"

#include <array>
#include <map>

#include "common/clock.h"

namespace avow::store {

namespace {

// Version 1: the foundation model. Times are Unix seconds (BIGINT); NULL means "not yet".
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE orgs (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);

-- A device is a person's authenticator, owned by no org: one phone may be bound to users of several orgs
-- (B2B guests). Which org sees it follows from its bindings (and from admins.device_id).
CREATE TABLE devices (
  id             TEXT PRIMARY KEY,
  name           TEXT NOT NULL,
  public_jwk     TEXT NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
  push_platform  TEXT NOT NULL DEFAULT 'none' CHECK (push_platform IN ('none', 'builtin', 'apns', 'fcm')),
  push_token     TEXT NULL,
  created_at     BIGINT NOT NULL,
  last_seen_at   BIGINT NULL,
  revoked_at     BIGINT NULL
);

CREATE TABLE admins (
  id            TEXT PRIMARY KEY,
  org_id        TEXT NOT NULL REFERENCES orgs(id),
  display_name  TEXT NOT NULL,
  email         TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('owner', 'admin')),
  device_id     TEXT NULL REFERENCES devices(id),
  created_at    BIGINT NOT NULL,
  disabled_at   BIGINT NULL
);
CREATE UNIQUE INDEX admins_org_email ON admins (org_id, email);
CREATE INDEX admins_device ON admins (device_id);

CREATE TABLE integrations (
  id               TEXT PRIMARY KEY,
  org_id           TEXT NOT NULL REFERENCES orgs(id),
  name             TEXT NOT NULL,
  directory_id     TEXT NOT NULL,
  app_id           TEXT NULL,
  client_id        TEXT NOT NULL UNIQUE,
  cloud            TEXT NOT NULL CHECK (cloud IN ('global', 'usgov', 'china')),
  claim_type       TEXT NOT NULL,
  claim_value      TEXT NOT NULL,
  guest_policy     TEXT NOT NULL CHECK (guest_policy IN ('any', 'members', 'list')),
  guest_tenants    TEXT NOT NULL DEFAULT '[]',
  status           TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
  created_at       BIGINT NOT NULL,
  last_success_at  BIGINT NULL
);
CREATE INDEX integrations_org ON integrations (org_id);

CREATE TABLE users (
  id                TEXT PRIMARY KEY,
  org_id            TEXT NOT NULL REFERENCES orgs(id),
  tenant_id         TEXT NOT NULL,
  object_id         TEXT NOT NULL,
  upn               TEXT NOT NULL DEFAULT '',
  display_name      TEXT NOT NULL DEFAULT '',
  is_guest          INTEGER NOT NULL DEFAULT 0 CHECK (is_guest IN (0, 1)),
  status            TEXT NOT NULL CHECK (status IN ('active', 'locked')),
  allow_new_device  INTEGER NOT NULL DEFAULT 0 CHECK (allow_new_device IN (0, 1)),
  failed_attempts   INTEGER NOT NULL DEFAULT 0,
  created_at        BIGINT NOT NULL,
  locked_at         BIGINT NULL,
  last_sign_in_at   BIGINT NULL,
  UNIQUE (org_id, tenant_id, object_id)
);

CREATE TABLE bindings (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL REFERENCES users(id),
  device_id   TEXT NOT NULL REFERENCES devices(id),
  status      TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT NULL
);
CREATE UNIQUE INDEX bindings_one_active ON bindings (user_id, device_id) WHERE status = 'active';
CREATE INDEX bindings_device ON bindings (device_id);

CREATE TABLE challenges (
  id                 TEXT PRIMARY KEY,
  org_id             TEXT NOT NULL REFERENCES orgs(id),
  kind               TEXT NOT NULL CHECK (kind IN ('eam', 'custom_control', 'admin_signin')),
  user_id            TEXT NULL REFERENCES users(id),
  admin_id           TEXT NULL REFERENCES admins(id),
  integration_id     TEXT NULL REFERENCES integrations(id),
  state              TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
  number             INTEGER NOT NULL,
  choices            TEXT NOT NULL,
  context            TEXT NOT NULL DEFAULT '{}',
  nonce              TEXT NOT NULL DEFAULT '',
  state_param        TEXT NOT NULL DEFAULT '',
  redirect_uri       TEXT NOT NULL DEFAULT '',
  client_id          TEXT NOT NULL DEFAULT '',
  hint_sub           TEXT NOT NULL DEFAULT '',
  created_at         BIGINT NOT NULL,
  expires_at         BIGINT NOT NULL,
  decided_at         BIGINT NULL,
  decided_by_device  TEXT NULL REFERENCES devices(id),
  completed_at       BIGINT NULL,
  response_params    TEXT NOT NULL DEFAULT '{}',
  flow_secret_hash   TEXT NOT NULL DEFAULT '',
  CHECK ((kind = 'admin_signin' AND admin_id IS NOT NULL) OR
         (kind <> 'admin_signin' AND user_id IS NOT NULL AND integration_id IS NOT NULL))
);
CREATE UNIQUE INDEX challenges_one_pending_per_user ON challenges (user_id) WHERE state = 'pending';
CREATE UNIQUE INDEX challenges_one_pending_per_admin ON challenges (admin_id) WHERE state = 'pending';
CREATE INDEX challenges_pending_expiry ON challenges (expires_at) WHERE state = 'pending';

CREATE TABLE scan_codes (
  id                  TEXT PRIMARY KEY,
  org_id              TEXT NULL REFERENCES orgs(id),
  code_hash           TEXT NOT NULL UNIQUE,
  purpose             TEXT NOT NULL CHECK (purpose IN ('bind_user', 'admin_signin', 'admin_signup', 'admin_invite')),
  user_id             TEXT NULL REFERENCES users(id),
  admin_id            TEXT NULL REFERENCES admins(id),
  challenge_id        TEXT NULL REFERENCES challenges(id),
  details             TEXT NOT NULL DEFAULT '{}',
  state               TEXT NOT NULL CHECK (state IN ('active', 'consumed', 'expired')),
  created_at          BIGINT NOT NULL,
  expires_at          BIGINT NOT NULL,
  consumed_at         BIGINT NULL,
  consumed_by_device  TEXT NULL REFERENCES devices(id)
);
CREATE INDEX scan_codes_active_expiry ON scan_codes (expires_at) WHERE state = 'active';
CREATE INDEX scan_codes_active_challenge ON scan_codes (challenge_id) WHERE state = 'active';

CREATE TABLE used_hints (
  hint_key    TEXT PRIMARY KEY,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX used_hints_expiry ON used_hints (expires_at);

-- The `jti` of every signed device request, kept until its `iat` leaves the acceptance window (replay
-- protection). `device_id` is not a foreign key: an enrolment request names a device that does not exist yet.
CREATE TABLE device_nonces (
  device_id   TEXT NOT NULL,
  jti         TEXT NOT NULL,
  expires_at  BIGINT NOT NULL,
  PRIMARY KEY (device_id, jti)
);
CREATE INDEX device_nonces_expiry ON device_nonces (expires_at);

CREATE TABLE audit_events (
  id              {{serial_pk}},
  org_id          TEXT NULL,
  at              BIGINT NOT NULL,
  actor_kind      TEXT NOT NULL,
  actor_id        TEXT NOT NULL DEFAULT '',
  kind            TEXT NOT NULL,
  subject_kind    TEXT NOT NULL DEFAULT '',
  subject_id      TEXT NOT NULL DEFAULT '',
  integration_id  TEXT NULL,
  user_id         TEXT NULL,
  ip              TEXT NOT NULL DEFAULT '',
  details         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);

CREATE TABLE sessions (
  id_hash              TEXT PRIMARY KEY,
  admin_id             TEXT NOT NULL REFERENCES admins(id),
  org_id               TEXT NOT NULL REFERENCES orgs(id),
  created_at           BIGINT NOT NULL,
  last_seen_at         BIGINT NOT NULL,
  idle_expires_at      BIGINT NOT NULL,
  absolute_expires_at  BIGINT NOT NULL,
  revoked_at           BIGINT NULL,
  csrf_secret          TEXT NOT NULL
);
CREATE INDEX sessions_admin ON sessions (admin_id);

CREATE TABLE signing_keys (
  kid                 TEXT PRIMARY KEY,
  alg                 TEXT NOT NULL,
  state               TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
  created_at          BIGINT NOT NULL,
  activated_at        BIGINT NULL,
  retired_at          BIGINT NULL,
  private_key_sealed  {{bytes}} NOT NULL,
  certificate_der     {{bytes}} NOT NULL
);
)sql";

// Version 2: fallback codes (RFC 6238) for sign-in when the phone is offline. Version 1 has shipped: it is
// never edited; what changes comes as a new version.
constexpr std::string_view kSchemaV2 = R"sql(
-- One TOTP secret per binding, shared with that binding's device. The secret is sealed under the master key
-- with the binding id as associated data (a blob copied to another row does not open). `last_step` is the
-- newest time step a code was accepted for: a step is accepted once, and never an older one after it.
CREATE TABLE binding_code_secrets (
  binding_id     TEXT PRIMARY KEY REFERENCES bindings(id),
  secret_sealed  {{bytes}} NOT NULL,
  last_step      BIGINT NULL,
  created_at     BIGINT NOT NULL
);

-- Consecutive failed codes of a user, apart from failed_attempts (push denials), and when the user's code
-- fallback was locked (NULL: open). An admin, or an approved push, opens it again.
ALTER TABLE users ADD COLUMN code_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN codes_locked_at BIGINT NULL;

-- Codes tried against a challenge (bounded per challenge), and whether a code rather than a device's push
-- approved it (the id_token's amr says which).
ALTER TABLE challenges ADD COLUMN code_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE challenges ADD COLUMN approved_by_code INTEGER NOT NULL DEFAULT 0 CHECK (approved_by_code IN (0, 1));
)sql";

// Version 3: the admin dashboard.
constexpr std::string_view kSchemaV3 = R"sql(
-- An integration deleted from the dashboard stays (challenges and the audit log refer to it) but refuses
-- sign-ins and leaves the lists.
ALTER TABLE integrations ADD COLUMN deleted_at BIGINT NULL;

-- When the browser that showed a scan code exchanged it for a session (once).
ALTER TABLE scan_codes ADD COLUMN claimed_at BIGINT NULL;

-- When the admin of a session last proved presence with a push (dangerous actions ask for a recent one).
ALTER TABLE sessions ADD COLUMN reauthenticated_at BIGINT NULL;

-- An org's sign-in settings; an org without a row uses the defaults.
CREATE TABLE org_settings (
  org_id                  TEXT PRIMARY KEY REFERENCES orgs(id),
  challenge_ttl_seconds   INTEGER NOT NULL,
  number_digits           INTEGER NOT NULL,
  max_pushes_per_hour     INTEGER NOT NULL,
  lockout_max_failures    INTEGER NOT NULL,
  code_lockout_threshold  INTEGER NOT NULL,
  updated_at              BIGINT NOT NULL
);

-- The dashboard's queries: the audit log filtered by user or integration (newest first), a user's recent
-- challenges and the push rate limit, the users list ordered by UPN, and sign-in by email across orgs.
CREATE INDEX audit_events_org_user ON audit_events (org_id, user_id, id);
CREATE INDEX audit_events_org_integration ON audit_events (org_id, integration_id, id);
CREATE INDEX challenges_user_created ON challenges (user_id, created_at);
CREATE INDEX users_org_upn ON users (org_id, upn, id);
CREATE INDEX admins_email ON admins (email);
)sql";

// Version 4: device request ids keyed by when they expire. A replayed request carries the same signed `iat`,
// hence the same expires_at, so the key still catches it; new ids now land at the end of the key's b-tree and
// the sweep removes whole pages from its start, where the old (device_id, jti) key scattered both over the
// whole index (a sweep dirtied nearly every page of it).
constexpr std::string_view kSchemaV4 = R"sql(
CREATE TABLE device_nonces_v4 (
  expires_at  BIGINT NOT NULL,
  device_id   TEXT NOT NULL,
  jti         TEXT NOT NULL,
  PRIMARY KEY (expires_at, device_id, jti)
);
INSERT INTO device_nonces_v4 (expires_at, device_id, jti) SELECT expires_at, device_id, jti FROM device_nonces;
DROP TABLE device_nonces;
ALTER TABLE device_nonces_v4 RENAME TO device_nonces;
)sql";

// Version 5: used hints keyed by the hint's signed `iat` first, for the reason of version 4: the sweep forgot
// them in one statement that dirtied pages all over the old key's index (a hash). A replayed hint carries the
// same `iat`, so the key still catches it; the expiry cannot lead the key, because it depends on when the hint
// was first seen. Hints recorded before the upgrade keep `issued_at` 0 (their `iat` is not known), and are
// still refused until they expire (UsedHintRepo::record_once looks them up too).
constexpr std::string_view kSchemaV5 = R"sql(
CREATE TABLE used_hints_v5 (
  issued_at   BIGINT NOT NULL,
  hint_key    TEXT NOT NULL,
  expires_at  BIGINT NOT NULL,
  PRIMARY KEY (issued_at, hint_key)
);
INSERT INTO used_hints_v5 (issued_at, hint_key, expires_at) SELECT 0, hint_key, expires_at FROM used_hints;
DROP TABLE used_hints;
ALTER TABLE used_hints_v5 RENAME TO used_hints;
CREATE INDEX used_hints_expiry ON used_hints (expires_at);
)sql";

constexpr std::array<Migration, 5> kMigrations = {{
    {1, "initial schema", kSchemaV1},
    {2, "fallback codes", kSchemaV2},
    {3, "dashboard", kSchemaV3},
    {4, "device request ids by expiry", kSchemaV4},
    {5, "used hints by issue time", kSchemaV5},
}};

// The bookkeeping table itself is created outside the numbered list so that version 0 means "empty".
constexpr std::string_view kCreateSchemaMigrations =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

Result<bool> has_schema_migrations_table(Db& db) {
  std::string_view sql;
  if (db.dialect() == "sqlite") {
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";
  } else if (db.dialect() == "postgres") {
    sql =
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = "
        "'schema_migrations'";
  } else {
    return fail(ErrorCode::kInvalidArgument, "unknown SQL dialect: " + std::string(db.dialect()));
  }
  auto row = db.query_one(sql);
  AVOW_TRY(row);
  return row->has_value();
}

// version → name of every applied migration.
Result<std::map<int, std::string>> applied_migrations(Db& db) {
  std::map<int, std::string> out;
  auto exists = has_schema_migrations_table(db);
  AVOW_TRY(exists);
  if (!*exists) return out;
  auto rows = db.query("SELECT version, name FROM schema_migrations ORDER BY version");
  AVOW_TRY(rows);
  for (const Row& r : *rows) {
    auto v = r.int64(0);
    AVOW_TRY(v);
    auto n = r.text(1);
    AVOW_TRY(n);
    out.emplace(static_cast<int>(*v), std::move(*n));
  }
  return out;
}

// Refuses a database this binary must not touch.
Status check_history(const std::map<int, std::string>& applied, std::span<const Migration> known) {
  const int latest = known.empty() ? 0 : known.back().version;
  if (!applied.empty() && applied.rbegin()->first > latest) {
    return fail(ErrorCode::kConflict, "database schema is at version " + std::to_string(applied.rbegin()->first) +
                                          ", newer than this binary knows (" + std::to_string(latest) +
                                          "); upgrade avowd or point it at another database");
  }
  for (const auto& [version, name] : applied) {
    if (version < 1) return fail(ErrorCode::kConflict, "database records a migration version below 1");
    const Migration& m = known[static_cast<std::size_t>(version - 1)];
    if (m.name != name) {
      return fail(ErrorCode::kConflict, "database migration " + std::to_string(version) + " is recorded as '" + name +
                                            "' but this binary's is '" + std::string(m.name) +
                                            "'; the database was made by a different build");
    }
  }
  return ok();
}

}  // namespace

std::span<const Migration> all_migrations() { return kMigrations; }

int latest_schema_version() { return kMigrations.back().version; }

Result<std::string> render_migration_sql(std::string_view sql, std::string_view dialect) {
  const bool sqlite = dialect == "sqlite";
  if (!sqlite && dialect != "postgres") {
    return fail(ErrorCode::kInvalidArgument, "unknown SQL dialect: " + std::string(dialect));
  }
  std::string out;
  out.reserve(sql.size() + 64);
  std::size_t pos = 0;
  while (pos < sql.size()) {
    const std::size_t open = sql.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(sql.substr(pos));
      break;
    }
    const std::size_t close = sql.find("}}", open + 2);
    if (close == std::string_view::npos) return fail(ErrorCode::kInvalidArgument, "unterminated {{token}} in SQL");
    out.append(sql.substr(pos, open - pos));
    const std::string_view token = sql.substr(open + 2, close - open - 2);
    if (token == "bytes") {
      out.append(sqlite ? "BLOB" : "BYTEA");
    } else if (token == "serial_pk") {
      out.append(sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
    } else {
      return fail(ErrorCode::kInvalidArgument, "unknown SQL token {{" + std::string(token) + "}}");
    }
    pos = close + 2;
  }
  return out;
}

Result<int> schema_version(Db& db) {
  auto applied = applied_migrations(db);
  AVOW_TRY(applied);
  return applied->empty() ? 0 : applied->rbegin()->first;
}

Status migrate(Db& db) { return migrate(db, all_migrations()); }

Status migrate(Db& db, std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i + 1)) {
      return fail(ErrorCode::kInternal, "migrations must be numbered 1, 2, … without gaps");
    }
  }
  // Check before creating anything, so a newer database is left exactly as it was.
  {
    auto applied = applied_migrations(db);
    AVOW_TRY(applied);
    AVOW_TRY(check_history(*applied, migrations));
  }
  AVOW_TRY(db.execute(kCreateSchemaMigrations));

  for (const Migration& m : migrations) {
    auto rendered = render_migration_sql(m.sql, db.dialect());
    AVOW_TRY(rendered);
    Status st = db.transaction([&](Db& tx) -> Status {
      // Another process may have migrated since the check above: look again under the write lock.
      auto applied = applied_migrations(tx);
      AVOW_TRY(applied);
      AVOW_TRY(check_history(*applied, migrations));
      if (applied->count(m.version)) return ok();
      AVOW_TRY(tx.execute_script(*rendered));
      AVOW_TRY(tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                          {m.version, m.name, SystemClock::instance().unix_now()}));
      return ok();
    });
    if (!st) {
      return fail(st.error().code,
                  "migration " + std::to_string(m.version) + " (" + std::string(m.name) + "): " + st.error().message);
    }
  }
  return ok();
}

}  // namespace avow::store
