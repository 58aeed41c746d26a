// Orgs, admins, integrations, users, devices and bindings.
#include <nlohmann/json.hpp>

#include "store/repo_util.h"
#include "store/repositories.h"

namespace avow::store {

using detail::changed_one;
using detail::map_one;
using detail::map_rows;
using detail::require;
using detail::RowReader;
using detail::won;

namespace {

int clamp_limit(int limit) { return limit < 1 ? 1 : (limit > 1000 ? 1000 : limit); }

// ---- orgs

#define AVOW_ORG_COLUMNS "id, name, created_at"

Result<OrgRecord> read_org(const Row& row) {
  RowReader r(row);
  OrgRecord o;
  o.id = r.text();
  o.name = r.text();
  o.created_at = r.int64();
  AVOW_TRY(r.status());
  return o;
}

// ---- admins

#define AVOW_ADMIN_COLUMNS "id, org_id, display_name, email, role, device_id, created_at, disabled_at"

Result<AdminRecord> read_admin(const Row& row) {
  RowReader r(row);
  AdminRecord a;
  a.id = r.text();
  a.org_id = r.text();
  a.display_name = r.text();
  a.email = r.text();
  a.role = r.enumeration<AdminRole>();
  a.device_id = r.opt_text();
  a.created_at = r.int64();
  a.disabled_at = r.opt_int64();
  AVOW_TRY(r.status());
  return a;
}

// ---- integrations

#define AVOW_INTEGRATION_COLUMNS                                                                                     \
  "id, org_id, name, directory_id, app_id, client_id, cloud, claim_type, claim_value, guest_policy, guest_tenants, " \
  "status, created_at, last_success_at, deleted_at"

std::string tenants_to_json(const std::vector<std::string>& tenants) { return nlohmann::json(tenants).dump(); }

Result<std::vector<std::string>> tenants_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return fail(ErrorCode::kInternal, "integrations.guest_tenants is not a JSON array");
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return fail(ErrorCode::kInternal, "integrations.guest_tenants holds a non-string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<IntegrationRecord> read_integration(const Row& row) {
  RowReader r(row);
  IntegrationRecord i;
  i.id = r.text();
  i.org_id = r.text();
  i.name = r.text();
  i.directory_id = r.text();
  i.app_id = r.opt_text();
  i.client_id = r.text();
  i.cloud = r.enumeration<Cloud>();
  i.claim_type = r.text();
  i.claim_value = r.text();
  i.guest_policy = r.enumeration<GuestPolicy>();
  const std::string tenants = r.text();
  i.status = r.enumeration<IntegrationStatus>();
  i.created_at = r.int64();
  i.last_success_at = r.opt_int64();
  i.deleted_at = r.opt_int64();
  AVOW_TRY(r.status());
  auto t = tenants_from_json(tenants);
  AVOW_TRY(t);
  i.guest_tenants = std::move(*t);
  return i;
}

// ---- users

#define AVOW_USER_COLUMNS                                                                                      \
  "id, org_id, tenant_id, object_id, upn, display_name, is_guest, status, allow_new_device, failed_attempts, " \
  "created_at, locked_at, last_sign_in_at"

// The WHERE clause (after "WHERE org_id = $1") and parameters of a users search.
struct UserFilter {
  std::string where;
  std::vector<Value> params;
};

// `text` as a LIKE pattern matching it anywhere, with LIKE's own characters escaped by '\'.
std::string like_substring(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

UserFilter user_filter(std::string_view org_id, const UserQuery& q) {
  UserFilter f;
  f.params.emplace_back(org_id);
  f.where = "org_id = $1";
  if (!q.text.empty()) {
    f.params.emplace_back(like_substring(q.text));
    const std::string n = "$" + std::to_string(f.params.size());
    // LOWER on both sides: SQLite's LIKE folds ASCII case by itself, PostgreSQL's does not.
    f.where +=
        " AND (LOWER(upn) LIKE LOWER(" + n + ") ESCAPE '\\' OR LOWER(display_name) LIKE LOWER(" + n + ") ESCAPE '\\')";
  }
  if (q.status) {
    f.params.emplace_back(to_string(*q.status));
    f.where += " AND status = $" + std::to_string(f.params.size());
  }
  return f;
}

Result<UserRecord> read_user(const Row& row) {
  RowReader r(row);
  UserRecord u;
  u.id = r.text();
  u.org_id = r.text();
  u.tenant_id = r.text();
  u.object_id = r.text();
  u.upn = r.text();
  u.display_name = r.text();
  u.is_guest = r.boolean();
  u.status = r.enumeration<UserStatus>();
  u.allow_new_device = r.boolean();
  u.failed_attempts = r.int32();
  u.created_at = r.int64();
  u.locked_at = r.opt_int64();
  u.last_sign_in_at = r.opt_int64();
  AVOW_TRY(r.status());
  return u;
}

// ---- devices

#define AVOW_DEVICE_COLUMNS \
  "id, name, public_jwk, status, push_platform, push_token, created_at, last_seen_at, revoked_at"
// The same columns of `devices d`, for joins.
#define AVOW_DEVICE_COLUMNS_D \
  "d.id, d.name, d.public_jwk, d.status, d.push_platform, d.push_token, d.created_at, d.last_seen_at, d.revoked_at"

Result<DeviceRecord> read_device(const Row& row) {
  RowReader r(row);
  DeviceRecord d;
  d.id = r.text();
  d.name = r.text();
  d.public_jwk = r.text();
  d.status = r.enumeration<DeviceStatus>();
  d.push_platform = r.enumeration<PushPlatform>();
  d.push_token = r.opt_text();
  d.created_at = r.int64();
  d.last_seen_at = r.opt_int64();
  d.revoked_at = r.opt_int64();
  AVOW_TRY(r.status());
  return d;
}

// ---- bindings

#define AVOW_BINDING_COLUMNS "id, user_id, device_id, status, created_at, revoked_at"

Result<BindingRecord> read_binding(const Row& row) {
  RowReader r(row);
  BindingRecord b;
  b.id = r.text();
  b.user_id = r.text();
  b.device_id = r.text();
  b.status = r.enumeration<BindingStatus>();
  b.created_at = r.int64();
  b.revoked_at = r.opt_int64();
  AVOW_TRY(r.status());
  return b;
}

}  // namespace

// ===================================================================== OrgRepo

Status OrgRepo::create(const OrgRecord& org) {
  AVOW_TRY(
      db_.execute("INSERT INTO orgs (" AVOW_ORG_COLUMNS ") VALUES ($1, $2, $3)", {org.id, org.name, org.created_at}));
  return ok();
}

Result<OrgRecord> OrgRepo::get(std::string_view id) {
  return require(
      map_one<OrgRecord>(db_.query_one("SELECT " AVOW_ORG_COLUMNS " FROM orgs WHERE id = $1", {id}), read_org), "org");
}

Result<std::vector<OrgRecord>> OrgRepo::list(int limit, int offset) {
  return map_rows<OrgRecord>(
      db_.query("SELECT " AVOW_ORG_COLUMNS " FROM orgs ORDER BY created_at, id LIMIT $1 OFFSET $2",
                {clamp_limit(limit), offset < 0 ? 0 : offset}),
      read_org);
}

Status OrgRepo::rename(std::string_view id, std::string_view name) {
  return changed_one(db_.execute("UPDATE orgs SET name = $2 WHERE id = $1", {id, name}), "org");
}

Result<std::int64_t> OrgRepo::count() {
  auto row = db_.query_one("SELECT COUNT(*) FROM orgs");
  AVOW_TRY(row);
  return (*row)->int64(0);
}

// ===================================================================== AdminRepo

Status AdminRepo::create(const AdminRecord& a) {
  AVOW_TRY(db_.execute(
      "INSERT INTO admins (" AVOW_ADMIN_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      {a.id, a.org_id, a.display_name, a.email, to_string(a.role), a.device_id, a.created_at, a.disabled_at}));
  return ok();
}

Result<AdminRecord> AdminRepo::get(std::string_view id) {
  return require(
      map_one<AdminRecord>(db_.query_one("SELECT " AVOW_ADMIN_COLUMNS " FROM admins WHERE id = $1", {id}), read_admin),
      "admin");
}

Result<std::optional<AdminRecord>> AdminRepo::find_by_email(std::string_view org_id, std::string_view email) {
  return map_one<AdminRecord>(
      db_.query_one("SELECT " AVOW_ADMIN_COLUMNS " FROM admins WHERE org_id = $1 AND email = $2", {org_id, email}),
      read_admin);
}

Result<std::optional<AdminRecord>> AdminRepo::find_by_device(std::string_view device_id) {
  return map_one<AdminRecord>(
      db_.query_one("SELECT " AVOW_ADMIN_COLUMNS " FROM admins WHERE device_id = $1"
                    // An enabled admin first: a phone that once belonged to a removed admin may belong to a new one.
                    " ORDER BY CASE WHEN disabled_at IS NULL THEN 0 ELSE 1 END, created_at LIMIT 1",
                    {device_id}),
      read_admin);
}

Result<std::vector<AdminRecord>> AdminRepo::find_by_email_any_org(std::string_view email) {
  return map_rows<AdminRecord>(
      db_.query("SELECT " AVOW_ADMIN_COLUMNS " FROM admins WHERE email = $1 ORDER BY created_at, id", {email}),
      read_admin);
}

Result<std::vector<AdminRecord>> AdminRepo::list_by_org(std::string_view org_id) {
  return map_rows<AdminRecord>(
      db_.query("SELECT " AVOW_ADMIN_COLUMNS " FROM admins WHERE org_id = $1 ORDER BY created_at, id", {org_id}),
      read_admin);
}

Result<std::int64_t> AdminRepo::count_active_owners(std::string_view org_id) {
  auto row = db_.query_one("SELECT COUNT(*) FROM admins WHERE org_id = $1 AND role = 'owner' AND disabled_at IS NULL",
                           {org_id});
  AVOW_TRY(row);
  return (*row)->int64(0);
}

Status AdminRepo::set_device(std::string_view id, const std::optional<std::string>& device_id) {
  return changed_one(db_.execute("UPDATE admins SET device_id = $2 WHERE id = $1", {id, device_id}), "admin");
}

Status AdminRepo::set_role(std::string_view id, AdminRole role) {
  return changed_one(db_.execute("UPDATE admins SET role = $2 WHERE id = $1", {id, to_string(role)}), "admin");
}

Result<bool> AdminRepo::disable(std::string_view id, UnixTime at) {
  return won(db_.execute("UPDATE admins SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL", {id, at}));
}

Result<bool> AdminRepo::enable(std::string_view id) {
  return won(db_.execute("UPDATE admins SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL", {id}));
}

// ===================================================================== IntegrationRepo

Status IntegrationRepo::create(const IntegrationRecord& i) {
  AVOW_TRY(db_.execute("INSERT INTO integrations (" AVOW_INTEGRATION_COLUMNS
                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                       {i.id, i.org_id, i.name, i.directory_id, i.app_id, i.client_id, to_string(i.cloud), i.claim_type,
                        i.claim_value, to_string(i.guest_policy), tenants_to_json(i.guest_tenants), to_string(i.status),
                        i.created_at, i.last_success_at, i.deleted_at}));
  return ok();
}

Result<IntegrationRecord> IntegrationRepo::get(std::string_view id) {
  return require(
      map_one<IntegrationRecord>(
          db_.query_one("SELECT " AVOW_INTEGRATION_COLUMNS " FROM integrations WHERE id = $1", {id}), read_integration),
      "integration");
}

Result<std::optional<IntegrationRecord>> IntegrationRepo::find_by_client_id(std::string_view client_id) {
  return map_one<IntegrationRecord>(
      db_.query_one("SELECT " AVOW_INTEGRATION_COLUMNS " FROM integrations WHERE client_id = $1", {client_id}),
      read_integration);
}

Result<std::vector<IntegrationRecord>> IntegrationRepo::list_by_org(std::string_view org_id) {
  return map_rows<IntegrationRecord>(
      db_.query("SELECT " AVOW_INTEGRATION_COLUMNS
                " FROM integrations WHERE org_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
                {org_id}),
      read_integration);
}

Result<bool> IntegrationRepo::mark_deleted(std::string_view id, UnixTime at) {
  return won(db_.execute("UPDATE integrations SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL", {id, at}));
}

Status IntegrationRepo::update_settings(const IntegrationRecord& i) {
  return changed_one(
      db_.execute("UPDATE integrations SET name = $2, directory_id = $3, app_id = $4, cloud = $5, claim_type = $6, "
                  "claim_value = $7, guest_policy = $8, guest_tenants = $9 WHERE id = $1",
                  {i.id, i.name, i.directory_id, i.app_id, to_string(i.cloud), i.claim_type, i.claim_value,
                   to_string(i.guest_policy), tenants_to_json(i.guest_tenants)}),
      "integration");
}

Result<bool> IntegrationRepo::set_status(std::string_view id, IntegrationStatus from, IntegrationStatus to) {
  return won(db_.execute("UPDATE integrations SET status = $3 WHERE id = $1 AND status = $2",
                         {id, to_string(from), to_string(to)}));
}

Status IntegrationRepo::mark_success(std::string_view id, UnixTime at) {
  return changed_one(db_.execute("UPDATE integrations SET last_success_at = $2 WHERE id = $1", {id, at}),
                     "integration");
}

// ===================================================================== UserRepo

Status UserRepo::create(const UserRecord& u) {
  AVOW_TRY(db_.execute(
      "INSERT INTO users (" AVOW_USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
      {u.id, u.org_id, u.tenant_id, u.object_id, u.upn, u.display_name, u.is_guest, to_string(u.status),
       u.allow_new_device, u.failed_attempts, u.created_at, u.locked_at, u.last_sign_in_at}));
  return ok();
}

Result<bool> UserRepo::create_if_absent(const UserRecord& u) {
  auto n =
      db_.execute("INSERT INTO users (" AVOW_USER_COLUMNS
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                  " ON CONFLICT (org_id, tenant_id, object_id) DO NOTHING",
                  {u.id, u.org_id, u.tenant_id, u.object_id, u.upn, u.display_name, u.is_guest, to_string(u.status),
                   u.allow_new_device, u.failed_attempts, u.created_at, u.locked_at, u.last_sign_in_at});
  AVOW_TRY(n);
  return *n > 0;
}

Result<UserRecord> UserRepo::get(std::string_view id) {
  return require(
      map_one<UserRecord>(db_.query_one("SELECT " AVOW_USER_COLUMNS " FROM users WHERE id = $1", {id}), read_user),
      "user");
}

Result<std::optional<UserRecord>> UserRepo::find_by_identity(std::string_view org_id, std::string_view tenant_id,
                                                             std::string_view object_id) {
  return map_one<UserRecord>(
      db_.query_one("SELECT " AVOW_USER_COLUMNS " FROM users WHERE org_id = $1 AND tenant_id = $2 AND object_id = $3",
                    {org_id, tenant_id, object_id}),
      read_user);
}

Result<std::vector<UserRecord>> UserRepo::list_by_org(std::string_view org_id, int limit, int offset) {
  return map_rows<UserRecord>(
      db_.query("SELECT " AVOW_USER_COLUMNS " FROM users WHERE org_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3",
                {org_id, clamp_limit(limit), offset < 0 ? 0 : offset}),
      read_user);
}

Result<std::vector<UserRecord>> UserRepo::search(std::string_view org_id, const UserQuery& query) {
  UserFilter f = user_filter(org_id, query);
  f.params.emplace_back(query.limit < 1 ? 1 : (query.limit > 500 ? 500 : query.limit));
  const std::string limit = "$" + std::to_string(f.params.size());
  f.params.emplace_back(query.offset < 0 ? 0 : query.offset);
  const std::string offset = "$" + std::to_string(f.params.size());
  const std::string sql = "SELECT " AVOW_USER_COLUMNS " FROM users WHERE " + f.where + " ORDER BY upn, id LIMIT " +
                          limit + " OFFSET " + offset;
  return map_rows<UserRecord>(db_.query(sql, std::span<const Value>(f.params)), read_user);
}

Result<std::int64_t> UserRepo::count_matching(std::string_view org_id, const UserQuery& query) {
  UserFilter f = user_filter(org_id, query);
  auto row = db_.query_one("SELECT COUNT(*) FROM users WHERE " + f.where, std::span<const Value>(f.params));
  AVOW_TRY(row);
  return (*row)->int64(0);
}

Status UserRepo::update_profile(std::string_view id, std::string_view upn, std::string_view display_name,
                                bool is_guest) {
  return changed_one(db_.execute("UPDATE users SET upn = $2, display_name = $3, is_guest = $4 WHERE id = $1",
                                 {id, upn, display_name, is_guest}),
                     "user");
}

Result<bool> UserRepo::lock(std::string_view id, UnixTime at) {
  return won(
      db_.execute("UPDATE users SET status = 'locked', locked_at = $2 WHERE id = $1 AND status = 'active'", {id, at}));
}

Result<bool> UserRepo::unlock(std::string_view id) {
  return won(db_.execute(
      "UPDATE users SET status = 'active', locked_at = NULL, failed_attempts = 0 WHERE id = $1 AND status = 'locked'",
      {id}));
}

Status UserRepo::set_allow_new_device(std::string_view id, bool allow) {
  return changed_one(db_.execute("UPDATE users SET allow_new_device = $2 WHERE id = $1", {id, allow}), "user");
}

Result<bool> UserRepo::consume_allow_new_device(std::string_view id) {
  return won(db_.execute("UPDATE users SET allow_new_device = 0 WHERE id = $1 AND allow_new_device = 1", {id}));
}

Result<int> UserRepo::record_failure(std::string_view id) {
  auto row = db_.query_one(
      "UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1 RETURNING failed_attempts", {id});
  AVOW_TRY(row);
  if (!*row) return fail(ErrorCode::kNotFound, "user not found");
  auto n = (*row)->int64(0);
  AVOW_TRY(n);
  return static_cast<int>(*n);
}

Status UserRepo::record_sign_in(std::string_view id, UnixTime at) {
  return changed_one(db_.execute("UPDATE users SET last_sign_in_at = $2, failed_attempts = 0 WHERE id = $1", {id, at}),
                     "user");
}

Result<UserCodeLock> UserRepo::code_lock(std::string_view id) {
  auto row = db_.query_one("SELECT code_failures, codes_locked_at FROM users WHERE id = $1", {id});
  AVOW_TRY(row);
  if (!*row) return fail(ErrorCode::kNotFound, "user not found");
  RowReader r(**row);
  UserCodeLock lock;
  lock.failures = r.int32();
  lock.locked_at = r.opt_int64();
  AVOW_TRY(r.status());
  return lock;
}

Result<int> UserRepo::record_code_failure(std::string_view id) {
  auto row =
      db_.query_one("UPDATE users SET code_failures = code_failures + 1 WHERE id = $1 RETURNING code_failures", {id});
  AVOW_TRY(row);
  if (!*row) return fail(ErrorCode::kNotFound, "user not found");
  auto n = (*row)->int64(0);
  AVOW_TRY(n);
  return static_cast<int>(*n);
}

Result<bool> UserRepo::lock_codes(std::string_view id, UnixTime at) {
  auto exists = code_lock(id);
  AVOW_TRY(exists);
  return won(db_.execute("UPDATE users SET codes_locked_at = $2 WHERE id = $1 AND codes_locked_at IS NULL", {id, at}));
}

Result<bool> UserRepo::reset_codes(std::string_view id) {
  auto exists = code_lock(id);
  AVOW_TRY(exists);
  return won(
      db_.execute("UPDATE users SET code_failures = 0, codes_locked_at = NULL "
                  "WHERE id = $1 AND (code_failures <> 0 OR codes_locked_at IS NOT NULL)",
                  {id}));
}

Status UserRepo::record_code_sign_in(std::string_view id, UnixTime at) {
  return changed_one(db_.execute("UPDATE users SET last_sign_in_at = $2, code_failures = 0 WHERE id = $1", {id, at}),
                     "user");
}

// ===================================================================== DeviceRepo

Status DeviceRepo::create(const DeviceRecord& d) {
  AVOW_TRY(db_.execute("INSERT INTO devices (" AVOW_DEVICE_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                       {d.id, d.name, d.public_jwk, to_string(d.status), to_string(d.push_platform), d.push_token,
                        d.created_at, d.last_seen_at, d.revoked_at}));
  return ok();
}

Result<DeviceRecord> DeviceRepo::get(std::string_view id) {
  return require(map_one<DeviceRecord>(db_.query_one("SELECT " AVOW_DEVICE_COLUMNS " FROM devices WHERE id = $1", {id}),
                                       read_device),
                 "device");
}

Result<std::vector<DeviceRecord>> DeviceRepo::list_for_org(std::string_view org_id, int limit, int offset) {
  return map_rows<DeviceRecord>(
      db_.query("SELECT " AVOW_DEVICE_COLUMNS " FROM devices WHERE id IN (SELECT b.device_id FROM bindings b "
                "JOIN users u ON u.id = b.user_id WHERE u.org_id = $1 AND b.status = 'active') "
                "ORDER BY created_at, id LIMIT $2 OFFSET $3",
                {org_id, clamp_limit(limit), offset < 0 ? 0 : offset}),
      read_device);
}

Result<std::vector<DeviceRecord>> DeviceRepo::list_active_for_user(std::string_view user_id) {
  return map_rows<DeviceRecord>(
      db_.query("SELECT " AVOW_DEVICE_COLUMNS_D " FROM devices d JOIN bindings b ON b.device_id = d.id "
                "WHERE b.user_id = $1 AND b.status = 'active' AND d.status = 'active' ORDER BY b.created_at, d.id",
                {user_id}),
      read_device);
}

Result<std::int64_t> DeviceRepo::count_bindings_outside_org(std::string_view device_id, std::string_view org_id) {
  auto row = db_.query_one(
      "SELECT COUNT(*) FROM bindings b JOIN users u ON u.id = b.user_id "
      "WHERE b.device_id = $1 AND b.status = 'active' AND u.org_id <> $2",
      {device_id, org_id});
  AVOW_TRY(row);
  return (*row)->int64(0);
}

Result<bool> DeviceRepo::revoke(std::string_view id, UnixTime at) {
  return won(db_.execute("UPDATE devices SET status = 'revoked', revoked_at = $2 WHERE id = $1 AND status = 'active'",
                         {id, at}));
}

Status DeviceRepo::touch(std::string_view id, UnixTime at) {
  return changed_one(db_.execute("UPDATE devices SET last_seen_at = $2 WHERE id = $1", {id, at}), "device");
}

Status DeviceRepo::set_push(std::string_view id, PushPlatform platform, const std::optional<std::string>& token) {
  return changed_one(db_.execute("UPDATE devices SET push_platform = $2, push_token = $3 WHERE id = $1",
                                 {id, to_string(platform), token}),
                     "device");
}

Status DeviceRepo::rename(std::string_view id, std::string_view name) {
  return changed_one(db_.execute("UPDATE devices SET name = $2 WHERE id = $1", {id, name}), "device");
}

// ===================================================================== BindingRepo

Status BindingRepo::create(const BindingRecord& b) {
  AVOW_TRY(db_.execute("INSERT INTO bindings (" AVOW_BINDING_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6)",
                       {b.id, b.user_id, b.device_id, to_string(b.status), b.created_at, b.revoked_at}));
  return ok();
}

Result<BindingRecord> BindingRepo::get(std::string_view id) {
  return require(map_one<BindingRecord>(
                     db_.query_one("SELECT " AVOW_BINDING_COLUMNS " FROM bindings WHERE id = $1", {id}), read_binding),
                 "binding");
}

Result<std::optional<BindingRecord>> BindingRepo::find_active(std::string_view user_id, std::string_view device_id) {
  return map_one<BindingRecord>(
      db_.query_one("SELECT " AVOW_BINDING_COLUMNS
                    " FROM bindings WHERE user_id = $1 AND device_id = $2 AND status = 'active'",
                    {user_id, device_id}),
      read_binding);
}

Result<std::vector<BindingRecord>> BindingRepo::list_for_user(std::string_view user_id) {
  return map_rows<BindingRecord>(
      db_.query("SELECT " AVOW_BINDING_COLUMNS " FROM bindings WHERE user_id = $1 ORDER BY created_at, id", {user_id}),
      read_binding);
}

Result<std::vector<BindingRecord>> BindingRepo::list_for_device(std::string_view device_id) {
  return map_rows<BindingRecord>(
      db_.query("SELECT " AVOW_BINDING_COLUMNS " FROM bindings WHERE device_id = $1 ORDER BY created_at, id",
                {device_id}),
      read_binding);
}

Result<std::vector<BindingRecord>> BindingRepo::list_active_for_user(std::string_view user_id) {
  return map_rows<BindingRecord>(
      db_.query("SELECT b.id, b.user_id, b.device_id, b.status, b.created_at, b.revoked_at FROM bindings b "
                "JOIN devices d ON d.id = b.device_id "
                "WHERE b.user_id = $1 AND b.status = 'active' AND d.status = 'active' ORDER BY b.created_at, b.id",
                {user_id}),
      read_binding);
}

Result<std::int64_t> BindingRepo::count_active_for_user(std::string_view user_id) {
  auto row = db_.query_one(
      "SELECT COUNT(*) FROM bindings b JOIN devices d ON d.id = b.device_id "
      "WHERE b.user_id = $1 AND b.status = 'active' AND d.status = 'active'",
      {user_id});
  AVOW_TRY(row);
  return (*row)->int64(0);
}

Result<bool> BindingRepo::revoke(std::string_view id, UnixTime at) {
  return won(db_.execute("UPDATE bindings SET status = 'revoked', revoked_at = $2 WHERE id = $1 AND status = 'active'",
                         {id, at}));
}

Result<std::int64_t> BindingRepo::revoke_all_for_device(std::string_view device_id, UnixTime at) {
  return db_.execute(
      "UPDATE bindings SET status = 'revoked', revoked_at = $2 WHERE device_id = $1 AND status = 'active'",
      {device_id, at});
}

Result<std::int64_t> BindingRepo::revoke_all_for_user(std::string_view user_id, UnixTime at) {
  return db_.execute("UPDATE bindings SET status = 'revoked', revoked_at = $2 WHERE user_id = $1 AND status = 'active'",
                     {user_id, at});
}

Result<std::int64_t> BindingRepo::revoke_for_device_in_org(std::string_view device_id, std::string_view org_id,
                                                           UnixTime at) {
  return db_.execute(
      "UPDATE bindings SET status = 'revoked', revoked_at = $3 WHERE device_id = $1 AND status = 'active' AND "
      "user_id IN (SELECT u.id FROM users u WHERE u.org_id = $2)",
      {device_id, org_id, at});
}

// ===================================================================== CodeSecretRepo

Status CodeSecretRepo::create(const CodeSecretRecord& c) {
  AVOW_TRY(db_.execute(
      "INSERT INTO binding_code_secrets (binding_id, secret_sealed, last_step, created_at) VALUES ($1, $2, $3, $4)",
      {c.binding_id, Blob{c.secret_sealed}, c.last_step, c.created_at}));
  return ok();
}

Result<std::optional<CodeSecretRecord>> CodeSecretRepo::find(std::string_view binding_id) {
  return map_one<CodeSecretRecord>(
      db_.query_one("SELECT binding_id, secret_sealed, last_step, created_at FROM binding_code_secrets "
                    "WHERE binding_id = $1",
                    {binding_id}),
      [](const Row& row) -> Result<CodeSecretRecord> {
        RowReader r(row);
        CodeSecretRecord c;
        c.binding_id = r.text();
        c.secret_sealed = r.blob();
        c.last_step = r.opt_int64();
        c.created_at = r.int64();
        AVOW_TRY(r.status());
        return c;
      });
}

Result<bool> CodeSecretRepo::advance_step(std::string_view binding_id, std::int64_t step) {
  return won(db_.execute(
      "UPDATE binding_code_secrets SET last_step = $2 WHERE binding_id = $1 AND (last_step IS NULL OR last_step < $2)",
      {binding_id, step}));
}

}  // namespace avow::store
