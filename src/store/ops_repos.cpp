// Audit events, dashboard sessions and token-signing keys.
#include "store/repo_util.h"
#include "store/repositories.h"

namespace avow::store {

using detail::map_one;
using detail::map_rows;
using detail::RowReader;
using detail::won;

namespace {

#define AVOW_AUDIT_COLUMNS \
  "id, org_id, at, actor_kind, actor_id, kind, subject_kind, subject_id, integration_id, user_id, ip, details"

Result<AuditEventRecord> read_audit(const Row& row) {
  RowReader r(row);
  AuditEventRecord e;
  e.id = r.int64();
  e.org_id = r.opt_text();
  e.at = r.int64();
  e.actor_kind = r.text();
  e.actor_id = r.text();
  e.kind = r.text();
  e.subject_kind = r.text();
  e.subject_id = r.text();
  e.integration_id = r.opt_text();
  e.user_id = r.opt_text();
  e.ip = r.text();
  e.details = r.text();
  AVOW_TRY(r.status());
  return e;
}

#define AVOW_SESSION_COLUMNS                                                                                \
  "id_hash, admin_id, org_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, revoked_at, " \
  "csrf_secret, reauthenticated_at"

Result<SessionRecord> read_session(const Row& row) {
  RowReader r(row);
  SessionRecord s;
  s.id_hash = r.text();
  s.admin_id = r.text();
  s.org_id = r.text();
  s.created_at = r.int64();
  s.last_seen_at = r.int64();
  s.idle_expires_at = r.int64();
  s.absolute_expires_at = r.int64();
  s.revoked_at = r.opt_int64();
  s.csrf_secret = r.text();
  s.reauthenticated_at = r.opt_int64();
  AVOW_TRY(r.status());
  return s;
}

#define AVOW_ORG_SETTINGS_COLUMNS                                                                                     \
  "org_id, challenge_ttl_seconds, number_digits, max_pushes_per_hour, lockout_max_failures, code_lockout_threshold, " \
  "updated_at"

Result<OrgSettingsRecord> read_org_settings(const Row& row) {
  RowReader r(row);
  OrgSettingsRecord o;
  o.org_id = r.text();
  o.challenge_ttl_seconds = r.int32();
  o.number_digits = r.int32();
  o.max_pushes_per_hour = r.int32();
  o.lockout_max_failures = r.int32();
  o.code_lockout_threshold = r.int32();
  o.updated_at = r.int64();
  AVOW_TRY(r.status());
  return o;
}

#define AVOW_SIGNING_KEY_COLUMNS \
  "kid, alg, state, created_at, activated_at, retired_at, private_key_sealed, certificate_der"

Result<SigningKeyRow> read_signing_key(const Row& row) {
  RowReader r(row);
  SigningKeyRow k;
  k.kid = r.text();
  k.alg = r.text();
  k.state = r.text();
  k.created_at = r.int64();
  k.activated_at = r.opt_int64().value_or(0);
  k.retired_at = r.opt_int64().value_or(0);
  k.private_key_sealed = r.blob();
  k.certificate_der = r.blob();
  AVOW_TRY(r.status());
  return k;
}

// 0 means "none" in SigningKeyRow; the column holds NULL then.
std::optional<UnixTime> zero_as_null(UnixTime t) { return t == 0 ? std::nullopt : std::optional<UnixTime>(t); }

}  // namespace

// ===================================================================== AuditRepo

Result<std::int64_t> AuditRepo::append(const AuditEventRecord& e) {
  auto row = db_.query_one(
      "INSERT INTO audit_events (org_id, at, actor_kind, actor_id, kind, subject_kind, subject_id, integration_id, "
      "user_id, ip, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
      {e.org_id, e.at, e.actor_kind, e.actor_id, e.kind, e.subject_kind, e.subject_id, e.integration_id, e.user_id,
       e.ip, e.details});
  AVOW_TRY(row);
  if (!*row) return fail(ErrorCode::kInternal, "audit insert returned no id");
  return (*row)->int64(0);
}

Result<std::vector<AuditEventRecord>> AuditRepo::list(const AuditQuery& q) {
  std::string sql = "SELECT " AVOW_AUDIT_COLUMNS " FROM audit_events WHERE 1 = 1";
  std::vector<Value> params;
  // Placeholders are numbered as the filters are added, so the text stays one of a few cached shapes.
  auto add = [&](std::string_view column_op, Value v) {
    params.push_back(std::move(v));
    sql += " AND " + std::string(column_op) + " $" + std::to_string(params.size());
  };
  if (q.org_id) add("org_id =", *q.org_id);
  if (q.user_id) add("user_id =", *q.user_id);
  if (q.integration_id) add("integration_id =", *q.integration_id);
  if (q.kind) add("kind =", *q.kind);
  if (q.before_id) add("id <", *q.before_id);
  if (q.kind_prefix) {
    // A bytewise prefix on both engines (SQLite's LIKE would fold case, and needs no escaping this way).
    // (Appended piece by piece: GCC 12 warns falsely, -Wrestrict, on `"…" + std::string` here.)
    params.emplace_back(std::string(*q.kind_prefix));
    const std::string n = std::to_string(params.size());
    sql.append(" AND substr(kind, 1, length($").append(n).append(")) = $").append(n);
  }
  if (q.from) add("at >=", *q.from);
  if (q.to) add("at <", *q.to);
  params.push_back(q.limit < 1 ? 1 : (q.limit > 500 ? 500 : q.limit));
  sql += " ORDER BY id DESC LIMIT $" + std::to_string(params.size());
  return map_rows<AuditEventRecord>(db_.query(sql, std::span<const Value>(params)), read_audit);
}

Result<std::int64_t> AuditRepo::purge_before(UnixTime at) {
  return db_.execute("DELETE FROM audit_events WHERE at < $1", {at});
}

// ===================================================================== SessionRepo

Status SessionRepo::create(const SessionRecord& s) {
  AVOW_TRY(db_.execute("INSERT INTO sessions (" AVOW_SESSION_COLUMNS
                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                       {s.id_hash, s.admin_id, s.org_id, s.created_at, s.last_seen_at, s.idle_expires_at,
                        s.absolute_expires_at, s.revoked_at, s.csrf_secret, s.reauthenticated_at}));
  return ok();
}

Result<std::optional<SessionRecord>> SessionRepo::find(std::string_view id_hash) {
  return map_one<SessionRecord>(
      db_.query_one("SELECT " AVOW_SESSION_COLUMNS " FROM sessions WHERE id_hash = $1", {id_hash}), read_session);
}

Result<bool> SessionRepo::touch(std::string_view id_hash, UnixTime at, UnixTime idle_expires_at) {
  return won(db_.execute(
      "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE id_hash = $1 AND revoked_at IS NULL "
      "AND idle_expires_at > $2 AND absolute_expires_at > $2",
      {id_hash, at, idle_expires_at}));
}

Result<bool> SessionRepo::revoke(std::string_view id_hash, UnixTime at) {
  return won(
      db_.execute("UPDATE sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL", {id_hash, at}));
}

Result<std::int64_t> SessionRepo::revoke_all_for_admin(std::string_view admin_id, UnixTime at) {
  return db_.execute("UPDATE sessions SET revoked_at = $2 WHERE admin_id = $1 AND revoked_at IS NULL", {admin_id, at});
}

Result<bool> SessionRepo::mark_reauthenticated(std::string_view id_hash, UnixTime at) {
  return won(db_.execute("UPDATE sessions SET reauthenticated_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
                         {id_hash, at}));
}

Result<std::int64_t> SessionRepo::purge_expired(UnixTime now) {
  return db_.execute(
      "DELETE FROM sessions WHERE idle_expires_at <= $1 OR absolute_expires_at <= $1 OR "
      "(revoked_at IS NOT NULL AND revoked_at <= $1)",
      {now});
}

// ===================================================================== OrgSettingsRepo

Result<std::optional<OrgSettingsRecord>> OrgSettingsRepo::find(std::string_view org_id) {
  return map_one<OrgSettingsRecord>(
      db_.query_one("SELECT " AVOW_ORG_SETTINGS_COLUMNS " FROM org_settings WHERE org_id = $1", {org_id}),
      read_org_settings);
}

Status OrgSettingsRepo::save(const OrgSettingsRecord& o) {
  AVOW_TRY(db_.execute(
      "INSERT INTO org_settings (" AVOW_ORG_SETTINGS_COLUMNS
      ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id) DO UPDATE SET "
      "challenge_ttl_seconds = excluded.challenge_ttl_seconds, number_digits = excluded.number_digits, "
      "max_pushes_per_hour = excluded.max_pushes_per_hour, lockout_max_failures = excluded.lockout_max_failures, "
      "code_lockout_threshold = excluded.code_lockout_threshold, updated_at = excluded.updated_at",
      {o.org_id, o.challenge_ttl_seconds, o.number_digits, o.max_pushes_per_hour, o.lockout_max_failures,
       o.code_lockout_threshold, o.updated_at}));
  return ok();
}

// ===================================================================== SigningKeyRepo

Result<std::vector<SigningKeyRow>> SigningKeyRepo::load_all() {
  return map_rows<SigningKeyRow>(
      db_.query("SELECT " AVOW_SIGNING_KEY_COLUMNS " FROM signing_keys ORDER BY created_at, kid"), read_signing_key);
}

Status SigningKeyRepo::save(const SigningKeyRow& k) {
  AVOW_TRY(
      db_.execute("INSERT INTO signing_keys (" AVOW_SIGNING_KEY_COLUMNS
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, "
                  "state = excluded.state, created_at = excluded.created_at, activated_at = excluded.activated_at, "
                  "retired_at = excluded.retired_at, private_key_sealed = excluded.private_key_sealed, "
                  "certificate_der = excluded.certificate_der",
                  {k.kid, k.alg, k.state, k.created_at, zero_as_null(k.activated_at), zero_as_null(k.retired_at),
                   Blob{k.private_key_sealed}, Blob{k.certificate_der}}));
  return ok();
}

}  // namespace avow::store
