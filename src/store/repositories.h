// avow/store/repositories.h — every read and write of the model, written once over `Db`.
//
// A repository is a thin, stateless view of one table on one connection; make one where you need it:
//
//   Result<Connection> conn = database->connection();
//   ChallengeRepo challenges(**conn);
//   Result<bool> won = challenges.decide(id, ChallengeState::kApproved, device_id, clock.unix_now());
//   if (won && !*won) { … someone else decided first … }
//
// Conventions:
// - `get` returns kNotFound when the row does not exist; `find_*` returns std::nullopt instead.
// - `create` returns kAlreadyExists when a unique key is taken, kInvalidArgument when a referenced row is
//   missing (foreign key) or a value breaks a CHECK constraint.
// - State changes that can race are compare-and-set: one UPDATE guarded by the expected current state,
//   returning true when this call made the change and false when the row was not in that state (another
//   actor won, or the row does not exist). Call them inside Db::transaction when several must agree.
// - Other errors are those of Db (kUnavailable when the database is busy or gone, kInternal otherwise).
// There is no SQL anywhere outside store/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::store {

class OrgRepo {
 public:
  explicit OrgRepo(Db& db) : db_(db) {}
  Status create(const OrgRecord& org);
  Result<OrgRecord> get(std::string_view id);
  Result<std::vector<OrgRecord>> list(int limit = 100, int offset = 0);
  // kNotFound when there is no such org.
  Status rename(std::string_view id, std::string_view name);
  Result<std::int64_t> count();

 private:
  Db& db_;
};

class AdminRepo {
 public:
  explicit AdminRepo(Db& db) : db_(db) {}
  Status create(const AdminRecord& admin);
  Result<AdminRecord> get(std::string_view id);
  Result<std::optional<AdminRecord>> find_by_email(std::string_view org_id, std::string_view email);
  Result<std::optional<AdminRecord>> find_by_device(std::string_view device_id);
  // Every admin (any org, enabled or not) with this email, oldest first.
  Result<std::vector<AdminRecord>> find_by_email_any_org(std::string_view email);
  Result<std::vector<AdminRecord>> list_by_org(std::string_view org_id);
  // Admins of `org_id` with role owner and not disabled.
  Result<std::int64_t> count_active_owners(std::string_view org_id);
  // kNotFound when there is no such admin.
  Status set_device(std::string_view id, const std::optional<std::string>& device_id);
  Status set_role(std::string_view id, AdminRole role);
  // CAS enabled → disabled at `at`.
  Result<bool> disable(std::string_view id, UnixTime at);
  // CAS disabled → enabled.
  Result<bool> enable(std::string_view id);

 private:
  Db& db_;
};

class IntegrationRepo {
 public:
  explicit IntegrationRepo(Db& db) : db_(db) {}
  // kAlreadyExists also when the client_id is taken.
  Status create(const IntegrationRecord& integration);
  Result<IntegrationRecord> get(std::string_view id);
  Result<std::optional<IntegrationRecord>> find_by_client_id(std::string_view client_id);
  // Not deleted, oldest first.
  Result<std::vector<IntegrationRecord>> list_by_org(std::string_view org_id);
  // CAS not deleted → deleted at `at`.
  Result<bool> mark_deleted(std::string_view id, UnixTime at);
  // Rewrites the editable settings (name, directory_id, app_id, cloud, claim, guest policy and tenants) of
  // the row with `integration.id`; id, org, client_id, status and times are left alone. kNotFound if absent.
  Status update_settings(const IntegrationRecord& integration);
  // CAS `from` → `to`.
  Result<bool> set_status(std::string_view id, IntegrationStatus from, IntegrationStatus to);
  // kNotFound when there is no such integration.
  Status mark_success(std::string_view id, UnixTime at);

 private:
  Db& db_;
};

class UserRepo {
 public:
  explicit UserRepo(Db& db) : db_(db) {}
  // kAlreadyExists also when (org_id, tenant_id, object_id) is taken.
  Status create(const UserRecord& user);
  // Inserts unless (org_id, tenant_id, object_id) is taken: true when inserted, false when a row this
  // transaction can see has it. On PostgreSQL, a row a concurrent transaction committed unseen is a
  // serialization failure (the transaction is retried), where create() would report kAlreadyExists.
  Result<bool> create_if_absent(const UserRecord& user);
  Result<UserRecord> get(std::string_view id);
  Result<std::optional<UserRecord>> find_by_identity(std::string_view org_id, std::string_view tenant_id,
                                                     std::string_view object_id);
  // Ordered by creation, oldest first.
  Result<std::vector<UserRecord>> list_by_org(std::string_view org_id, int limit = 100, int offset = 0);
  // The users of `org_id` matching `query`, ordered by UPN then id; and how many match in all.
  Result<std::vector<UserRecord>> search(std::string_view org_id, const UserQuery& query);
  Result<std::int64_t> count_matching(std::string_view org_id, const UserQuery& query);
  // kNotFound when there is no such user.
  Status update_profile(std::string_view id, std::string_view upn, std::string_view display_name, bool is_guest);
  // CAS active → locked, stamping locked_at.
  Result<bool> lock(std::string_view id, UnixTime at);
  // CAS locked → active, clearing locked_at and the failure counter.
  Result<bool> unlock(std::string_view id);
  // kNotFound when there is no such user.
  Status set_allow_new_device(std::string_view id, bool allow);
  // CAS allow_new_device 1 → 0: true when this call used up the admin's permission.
  Result<bool> consume_allow_new_device(std::string_view id);
  // Adds one failed answer; returns the new count. kNotFound when there is no such user.
  Result<int> record_failure(std::string_view id);
  // Stamps last_sign_in_at and clears the failure counter. kNotFound when there is no such user.
  Status record_sign_in(std::string_view id, UnixTime at);

  // The fallback-code lockout (schema v2), counted apart from failed_attempts. kNotFound for every one of
  // these when there is no such user.
  Result<UserCodeLock> code_lock(std::string_view id);
  // Adds one failed code; returns the new count.
  Result<int> record_code_failure(std::string_view id);
  // CAS open → locked at `at`.
  Result<bool> lock_codes(std::string_view id, UnixTime at);
  // Clears the count and the lock; true when there was anything to clear.
  Result<bool> reset_codes(std::string_view id);
  // A sign-in completed by a code: stamps last_sign_in_at and clears the code failures (not failed_attempts).
  Status record_code_sign_in(std::string_view id, UnixTime at);

 private:
  Db& db_;
};

class DeviceRepo {
 public:
  explicit DeviceRepo(Db& db) : db_(db) {}
  Status create(const DeviceRecord& device);
  Result<DeviceRecord> get(std::string_view id);
  // Devices (active or revoked) with an active binding to at least one user of `org_id`, oldest first,
  // at most `limit` (clamped to [1, 1000]). A device bound in several orgs is listed by each.
  Result<std::vector<DeviceRecord>> list_for_org(std::string_view org_id, int limit = 100, int offset = 0);
  // Active devices with an active binding to `user_id`.
  Result<std::vector<DeviceRecord>> list_active_for_user(std::string_view user_id);
  // How many active bindings the device has to users of orgs other than `org_id`.
  Result<std::int64_t> count_bindings_outside_org(std::string_view device_id, std::string_view org_id);
  // CAS active → revoked at `at`.
  Result<bool> revoke(std::string_view id, UnixTime at);
  // The following return kNotFound when there is no such device.
  Status touch(std::string_view id, UnixTime at);
  Status set_push(std::string_view id, PushPlatform platform, const std::optional<std::string>& token);
  Status rename(std::string_view id, std::string_view name);

 private:
  Db& db_;
};

class BindingRepo {
 public:
  explicit BindingRepo(Db& db) : db_(db) {}
  // kAlreadyExists when the pair already has an active binding.
  Status create(const BindingRecord& binding);
  Result<BindingRecord> get(std::string_view id);
  Result<std::optional<BindingRecord>> find_active(std::string_view user_id, std::string_view device_id);
  Result<std::vector<BindingRecord>> list_for_user(std::string_view user_id);
  Result<std::vector<BindingRecord>> list_for_device(std::string_view device_id);
  // Active bindings of `user_id` whose device is active too (oldest first / how many).
  Result<std::vector<BindingRecord>> list_active_for_user(std::string_view user_id);
  Result<std::int64_t> count_active_for_user(std::string_view user_id);
  // CAS active → revoked.
  Result<bool> revoke(std::string_view id, UnixTime at);
  // Revokes every active binding of the device / user; returns how many changed.
  Result<std::int64_t> revoke_all_for_device(std::string_view device_id, UnixTime at);
  Result<std::int64_t> revoke_all_for_user(std::string_view user_id, UnixTime at);
  // Revokes the device's active bindings to users of `org_id`; returns how many changed.
  Result<std::int64_t> revoke_for_device_in_org(std::string_view device_id, std::string_view org_id, UnixTime at);

 private:
  Db& db_;
};

// The fallback-code secrets of bindings (schema v2). Sealed bytes only: sealing is the domain's business.
class CodeSecretRepo {
 public:
  explicit CodeSecretRepo(Db& db) : db_(db) {}
  // kAlreadyExists when the binding has a secret already; kInvalidArgument when the binding does not exist.
  Status create(const CodeSecretRecord& secret);
  Result<std::optional<CodeSecretRecord>> find(std::string_view binding_id);
  // CAS: records `step` as the binding's newest accepted step when it is newer than the one recorded (or
  // none is). False when `step` is not newer — a replayed or older code — or there is no secret.
  Result<bool> advance_step(std::string_view binding_id, std::int64_t step);

 private:
  Db& db_;
};

class ChallengeRepo {
 public:
  explicit ChallengeRepo(Db& db) : db_(db) {}
  // kAlreadyExists when the user (or admin) already has a pending challenge — the database enforces one.
  Status create(const ChallengeRecord& challenge);
  Result<ChallengeRecord> get(std::string_view id);
  Result<std::optional<ChallengeRecord>> find_pending_for_user(std::string_view user_id);
  Result<std::optional<ChallengeRecord>> find_pending_for_admin(std::string_view admin_id);
  // Pending challenges a device may answer, unexpired at `now`: those of users it is actively bound to (in
  // any org), and admin sign-ins of the enabled admin whose device it is. Oldest first, at most `limit`
  // (clamped to [1, 100]).
  Result<std::vector<ChallengeRecord>> list_pending_for_device(std::string_view device_id, UnixTime now,
                                                               int limit = 20);
  // CAS pending → `to` (approved or denied) by `device_id` at `at`. kInvalidArgument for another `to`.
  Result<bool> decide(std::string_view id, ChallengeState to, std::string_view device_id, UnixTime at);
  // CAS: counts one fallback-code attempt while fewer than `max_attempts` were made. False when the
  // challenge already had `max_attempts` (or does not exist).
  Result<bool> count_code_attempt(std::string_view id, int max_attempts);
  // CAS pending and unexpired at `at` → approved by a fallback code of `device_id`'s binding
  // (approved_by_code set).
  Result<bool> approve_by_code(std::string_view id, std::string_view device_id, UnixTime at);
  // CAS pending → `to` (expired or cancelled) at `at`, no device. kInvalidArgument for another `to`.
  Result<bool> close_pending(std::string_view id, ChallengeState to, UnixTime at);
  // CAS: moves the expiry of a challenge still pending and unexpired at `now` later, to `expires_at`. False
  // when it is no longer pending, already expired, or already expires at or after `expires_at`.
  Result<bool> extend_pending(std::string_view id, UnixTime expires_at, UnixTime now);
  // Every pending challenge with expires_at <= now becomes expired; returns how many.
  Result<std::int64_t> expire_due(UnixTime now);
  // The user's challenges, newest first, at most `limit` (clamped to [1, 100]).
  Result<std::vector<ChallengeRecord>> list_for_user(std::string_view user_id, int limit = 20);
  // Challenges of `user_id` created at or after `since` (any state): the push rate limit.
  Result<std::int64_t> count_for_user_since(std::string_view user_id, UnixTime since);
  // The same for an admin's sign-in and re-authentication pushes.
  Result<std::int64_t> count_for_admin_since(std::string_view admin_id, UnixTime since);
  // Sets completed_at on a challenge that is no longer pending and has not completed: true exactly once.
  Result<bool> mark_completed(std::string_view id, UnixTime at);

 private:
  Db& db_;
};

class ScanCodeRepo {
 public:
  explicit ScanCodeRepo(Db& db) : db_(db) {}
  Status create(const ScanCodeRecord& code);
  Result<ScanCodeRecord> get(std::string_view id);
  Result<std::optional<ScanCodeRecord>> find_by_hash(std::string_view code_hash);
  // CAS active and unexpired at `at` → consumed by `device_id`. False when consumed, expired or absent.
  Result<bool> consume(std::string_view id, const std::optional<std::string>& device_id, UnixTime at);
  // CAS active → expired (a code withdrawn early, or one found past its time).
  Result<bool> expire(std::string_view id);
  // CAS consumed and not yet claimed → claimed at `at`: true exactly once per code.
  Result<bool> claim(std::string_view id, UnixTime at);
  // Active codes of `purpose` tied to `challenge_id` and unexpired at `now`, newest first.
  Result<std::vector<ScanCodeRecord>> list_active_for_challenge(std::string_view challenge_id, ScanCodePurpose purpose,
                                                                UnixTime now);
  // Every active code with expires_at <= now becomes expired; returns how many.
  Result<std::int64_t> expire_due(UnixTime now);

 private:
  Db& db_;
};

// One-time use of Entra hint + nonce pairs (replay protection).
class UsedHintRepo {
 public:
  explicit UsedHintRepo(Db& db) : db_(db) {}
  // Records `key` of a hint signed at `issued_at` (its `iat`) until `expires_at`: true the first time, false
  // when it is already recorded (a replay). `issued_at` must come from the signed hint, so that a replay gives
  // the same one: it leads the record's key, which keeps records of one time together for the sweep.
  Result<bool> record_once(std::string_view key, UnixTime issued_at, UnixTime expires_at);
  // Forgets at most `limit` keys whose expires_at <= now, the earliest first (more only when more than `limit`
  // share the earliest expiry second: those go together); returns how many. A bounded batch keeps the write
  // lock short: the periodic sweep calls it until it returns 0 (store::purge_in_batches). A batch may return
  // less than `limit` with more left: it stops at a whole second of expiries.
  Result<std::int64_t> purge_expired(UnixTime now, int limit);

 private:
  Db& db_;
};

// One-time use of the `jti` of signed device requests (replay protection), scoped per device.
class DeviceNonceRepo {
 public:
  explicit DeviceNonceRepo(Db& db) : db_(db) {}
  // Records (device_id, jti) until `expires_at`: true the first time, false when it is already recorded
  // (a replay). `expires_at` must follow from the signed request (its iat + the window), so that a replayed
  // request gives the same one: the record's key includes it.
  Result<bool> record_once(std::string_view device_id, std::string_view jti, UnixTime expires_at);
  // Forgets at most `limit` nonces whose expires_at <= now (the earliest first); returns how many (see
  // UsedHintRepo::purge_expired).
  Result<std::int64_t> purge_expired(UnixTime now, int limit);

 private:
  Db& db_;
};

struct AuditQuery {
  std::optional<std::string> org_id;
  std::optional<std::string> user_id;
  std::optional<std::string> integration_id;
  std::optional<std::string> kind;
  std::optional<std::int64_t> before_id;   // keyset paging: events with id < before_id
  std::optional<std::string> kind_prefix;  // events whose kind starts with this (e.g. "signin.")
  std::optional<UnixTime> from;            // at >= from
  std::optional<UnixTime> to;              // at < to
  int limit = 50;                          // clamped to [1, 500]
};

class AuditRepo {
 public:
  explicit AuditRepo(Db& db) : db_(db) {}
  // Appends an event (its `id` is ignored) and returns the id the database gave it.
  Result<std::int64_t> append(const AuditEventRecord& event);
  // Newest first.
  Result<std::vector<AuditEventRecord>> list(const AuditQuery& query);
  // Deletes events older than `at` (retention); returns how many.
  Result<std::int64_t> purge_before(UnixTime at);

 private:
  Db& db_;
};

class SessionRepo {
 public:
  explicit SessionRepo(Db& db) : db_(db) {}
  Status create(const SessionRecord& session);
  Result<std::optional<SessionRecord>> find(std::string_view id_hash);
  // CAS: stamps last_seen_at = at and idle_expires_at on a session that is not revoked and has not expired
  // (idle or absolute) at `at`. False otherwise.
  Result<bool> touch(std::string_view id_hash, UnixTime at, UnixTime idle_expires_at);
  // CAS not revoked → revoked.
  Result<bool> revoke(std::string_view id_hash, UnixTime at);
  Result<std::int64_t> revoke_all_for_admin(std::string_view admin_id, UnixTime at);
  // Stamps reauthenticated_at on a live (not revoked) session. False when revoked or absent.
  Result<bool> mark_reauthenticated(std::string_view id_hash, UnixTime at);
  // Deletes sessions past either expiry, or revoked, before `now`; returns how many.
  Result<std::int64_t> purge_expired(UnixTime now);

 private:
  Db& db_;
};

// An org's sign-in settings (schema v3).
class OrgSettingsRepo {
 public:
  explicit OrgSettingsRepo(Db& db) : db_(db) {}
  // std::nullopt when the org never saved settings (the defaults apply).
  Result<std::optional<OrgSettingsRecord>> find(std::string_view org_id);
  // Inserts or replaces the org's row. kInvalidArgument when the org does not exist.
  Status save(const OrgSettingsRecord& settings);

 private:
  Db& db_;
};

// Backs crypto::SigningKeyStore (the server adapts SigningKeyRow ⇄ crypto::SigningKeyRecord).
class SigningKeyRepo {
 public:
  explicit SigningKeyRepo(Db& db) : db_(db) {}
  // Every key, oldest first.
  Result<std::vector<SigningKeyRow>> load_all();
  // Inserts, or replaces every field of the key with the same kid.
  Status save(const SigningKeyRow& key);

 private:
  Db& db_;
};

}  // namespace avow::store
