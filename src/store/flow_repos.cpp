// Challenges, scan codes and used hints: the rows an MFA flow moves through.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "store/repo_util.h"
#include "store/repositories.h"

namespace avow::store {

using detail::map_one;
using detail::map_rows;
using detail::require;
using detail::RowReader;
using detail::won;

namespace {

// Deletes the earliest expired rows of `table` (which has an index on expires_at), at most `limit` of them —
// or, when more than `limit` rows share the earliest expiry second, that second's rows. Expiry ranges rather
// than `DELETE … WHERE key IN (SELECT … LIMIT n)`, which SQLite ran as a scan of the whole table per batch.
Result<std::int64_t> purge_earliest(Db& db, std::string_view table, UnixTime now, int limit) {
  const std::string t(table);
  limit = std::max(limit, 1);
  // The expiry of the (limit+1)-th earliest expired row: everything strictly before it is at most `limit` rows.
  auto next = db.query_one(
      "SELECT expires_at FROM " + t + " WHERE expires_at <= $1 ORDER BY expires_at LIMIT 1 OFFSET $2", {now, limit});
  AVOW_TRY(next);
  if (!*next) return db.execute("DELETE FROM " + t + " WHERE expires_at <= $1", {now});
  auto cutoff = (*next)->int64(0);
  AVOW_TRY(cutoff);
  auto n = db.execute("DELETE FROM " + t + " WHERE expires_at < $1", {*cutoff});
  AVOW_TRY(n);
  if (*n > 0) return n;
  return db.execute("DELETE FROM " + t + " WHERE expires_at = $1", {*cutoff});
}

#define AVOW_CHALLENGE_COLUMNS                                                                                 \
  "id, org_id, kind, user_id, admin_id, integration_id, state, number, choices, context, nonce, state_param, " \
  "redirect_uri, client_id, hint_sub, created_at, expires_at, decided_at, decided_by_device, completed_at, "   \
  "response_params, flow_secret_hash, code_attempts, approved_by_code"

std::string choices_to_json(const std::vector<int>& choices) { return nlohmann::json(choices).dump(); }

Result<std::vector<int>> choices_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return fail(ErrorCode::kInternal, "challenges.choices is not a JSON array");
  std::vector<int> out;
  for (const auto& e : j) {
    if (!e.is_number_integer()) return fail(ErrorCode::kInternal, "challenges.choices holds a non-integer");
    out.push_back(e.get<int>());
  }
  return out;
}

Result<ChallengeRecord> read_challenge(const Row& row) {
  RowReader r(row);
  ChallengeRecord c;
  c.id = r.text();
  c.org_id = r.text();
  c.kind = r.enumeration<ChallengeKind>();
  c.user_id = r.opt_text();
  c.admin_id = r.opt_text();
  c.integration_id = r.opt_text();
  c.state = r.enumeration<ChallengeState>();
  c.number = r.int32();
  const std::string choices = r.text();
  c.context = r.text();
  c.nonce = r.text();
  c.state_param = r.text();
  c.redirect_uri = r.text();
  c.client_id = r.text();
  c.hint_sub = r.text();
  c.created_at = r.int64();
  c.expires_at = r.int64();
  c.decided_at = r.opt_int64();
  c.decided_by_device = r.opt_text();
  c.completed_at = r.opt_int64();
  c.response_params = r.text();
  c.flow_secret_hash = r.text();
  c.code_attempts = r.int32();
  c.approved_by_code = r.boolean();
  AVOW_TRY(r.status());
  auto ch = choices_from_json(choices);
  AVOW_TRY(ch);
  c.choices = std::move(*ch);
  return c;
}

#define AVOW_SCAN_CODE_COLUMNS                                                                                \
  "id, org_id, code_hash, purpose, user_id, admin_id, challenge_id, details, state, created_at, expires_at, " \
  "consumed_at, consumed_by_device, claimed_at"

Result<ScanCodeRecord> read_scan_code(const Row& row) {
  RowReader r(row);
  ScanCodeRecord s;
  s.id = r.text();
  s.org_id = r.opt_text();
  s.code_hash = r.text();
  s.purpose = r.enumeration<ScanCodePurpose>();
  s.user_id = r.opt_text();
  s.admin_id = r.opt_text();
  s.challenge_id = r.opt_text();
  s.details = r.text();
  s.state = r.enumeration<ScanCodeState>();
  s.created_at = r.int64();
  s.expires_at = r.int64();
  s.consumed_at = r.opt_int64();
  s.consumed_by_device = r.opt_text();
  s.claimed_at = r.opt_int64();
  AVOW_TRY(r.status());
  return s;
}

}  // namespace

// ===================================================================== ChallengeRepo

Status ChallengeRepo::create(const ChallengeRecord& c) {
  AVOW_TRY(db_.execute(
      "INSERT INTO challenges (" AVOW_CHALLENGE_COLUMNS
      ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, "
      "$22, $23, $24)",
      {c.id,
       c.org_id,
       to_string(c.kind),
       c.user_id,
       c.admin_id,
       c.integration_id,
       to_string(c.state),
       c.number,
       choices_to_json(c.choices),
       c.context,
       c.nonce,
       c.state_param,
       c.redirect_uri,
       c.client_id,
       c.hint_sub,
       c.created_at,
       c.expires_at,
       c.decided_at,
       c.decided_by_device,
       c.completed_at,
       c.response_params,
       c.flow_secret_hash,
       c.code_attempts,
       c.approved_by_code ? 1 : 0}));
  return ok();
}

Result<ChallengeRecord> ChallengeRepo::get(std::string_view id) {
  return require(
      map_one<ChallengeRecord>(db_.query_one("SELECT " AVOW_CHALLENGE_COLUMNS " FROM challenges WHERE id = $1", {id}),
                               read_challenge),
      "challenge");
}

Result<std::optional<ChallengeRecord>> ChallengeRepo::find_pending_for_user(std::string_view user_id) {
  return map_one<ChallengeRecord>(
      db_.query_one("SELECT " AVOW_CHALLENGE_COLUMNS " FROM challenges WHERE user_id = $1 AND state = 'pending'",
                    {user_id}),
      read_challenge);
}

Result<std::optional<ChallengeRecord>> ChallengeRepo::find_pending_for_admin(std::string_view admin_id) {
  return map_one<ChallengeRecord>(
      db_.query_one("SELECT " AVOW_CHALLENGE_COLUMNS " FROM challenges WHERE admin_id = $1 AND state = 'pending'",
                    {admin_id}),
      read_challenge);
}

Result<std::vector<ChallengeRecord>> ChallengeRepo::list_pending_for_device(std::string_view device_id, UnixTime now,
                                                                            int limit) {
  // Two branches, each an index lookup on the one-pending-per-user/admin indexes, instead of one OR that
  // would scan every pending challenge of every user (the device's long-poll runs this on each wake-up).
  // The second branch leaves out what the first already returned, so each row comes once, as with OR.
#define AVOW_DEVICE_USERS "SELECT b.user_id FROM bindings b WHERE b.device_id = $1 AND b.status = 'active'"
  return map_rows<ChallengeRecord>(
      db_.query("SELECT " AVOW_CHALLENGE_COLUMNS " FROM challenges WHERE state = 'pending' AND expires_at > $2 AND"
                " user_id IN (" AVOW_DEVICE_USERS ")"
                " UNION ALL "
                "SELECT " AVOW_CHALLENGE_COLUMNS " FROM challenges WHERE state = 'pending' AND expires_at > $2 AND"
                " admin_id IN (SELECT a.id FROM admins a WHERE a.device_id = $1 AND a.disabled_at IS NULL) AND"
                " (user_id IS NULL OR user_id NOT IN (" AVOW_DEVICE_USERS "))"
                " ORDER BY created_at, id LIMIT $3",
                {device_id, now, limit < 1 ? 1 : (limit > 100 ? 100 : limit)}),
      read_challenge);
#undef AVOW_DEVICE_USERS
}

Result<bool> ChallengeRepo::decide(std::string_view id, ChallengeState to, std::string_view device_id, UnixTime at) {
  if (to != ChallengeState::kApproved && to != ChallengeState::kDenied) {
    return fail(ErrorCode::kInvalidArgument, "a device decides a challenge only to approved or denied");
  }
  // The expiry is part of the guard: an answer that arrives after expires_at loses even if no sweeper ran.
  return won(
      db_.execute("UPDATE challenges SET state = $2, decided_at = $4, decided_by_device = $3 "
                  "WHERE id = $1 AND state = 'pending' AND expires_at > $4",
                  {id, to_string(to), device_id, at}));
}

Result<bool> ChallengeRepo::count_code_attempt(std::string_view id, int max_attempts) {
  return won(db_.execute("UPDATE challenges SET code_attempts = code_attempts + 1 WHERE id = $1 AND code_attempts < $2",
                         {id, max_attempts}));
}

Result<bool> ChallengeRepo::approve_by_code(std::string_view id, std::string_view device_id, UnixTime at) {
  return won(
      db_.execute("UPDATE challenges SET state = 'approved', decided_at = $3, decided_by_device = $2, "
                  "approved_by_code = 1 WHERE id = $1 AND state = 'pending' AND expires_at > $3",
                  {id, device_id, at}));
}

Result<bool> ChallengeRepo::close_pending(std::string_view id, ChallengeState to, UnixTime at) {
  if (to != ChallengeState::kExpired && to != ChallengeState::kCancelled) {
    return fail(ErrorCode::kInvalidArgument, "a pending challenge closes only to expired or cancelled");
  }
  return won(db_.execute("UPDATE challenges SET state = $2, decided_at = $3 WHERE id = $1 AND state = 'pending'",
                         {id, to_string(to), at}));
}

Result<bool> ChallengeRepo::extend_pending(std::string_view id, UnixTime expires_at, UnixTime now) {
  return won(
      db_.execute("UPDATE challenges SET expires_at = $2 WHERE id = $1 AND state = 'pending' AND expires_at > $3 AND "
                  "expires_at < $2",
                  {id, expires_at, now}));
}

Result<std::int64_t> ChallengeRepo::expire_due(UnixTime now) {
  return db_.execute(
      "UPDATE challenges SET state = 'expired', decided_at = $1 WHERE state = 'pending' AND expires_at <= $1", {now});
}

Result<std::vector<ChallengeRecord>> ChallengeRepo::list_for_user(std::string_view user_id, int limit) {
  return map_rows<ChallengeRecord>(
      db_.query("SELECT " AVOW_CHALLENGE_COLUMNS
                " FROM challenges WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                {user_id, limit < 1 ? 1 : (limit > 100 ? 100 : limit)}),
      read_challenge);
}

Result<std::int64_t> ChallengeRepo::count_for_user_since(std::string_view user_id, UnixTime since) {
  auto row = db_.query_one("SELECT COUNT(*) FROM challenges WHERE user_id = $1 AND created_at >= $2", {user_id, since});
  AVOW_TRY(row);
  return (*row)->int64(0);
}

Result<std::int64_t> ChallengeRepo::count_for_admin_since(std::string_view admin_id, UnixTime since) {
  auto row =
      db_.query_one("SELECT COUNT(*) FROM challenges WHERE admin_id = $1 AND created_at >= $2", {admin_id, since});
  AVOW_TRY(row);
  return (*row)->int64(0);
}

Result<bool> ChallengeRepo::mark_completed(std::string_view id, UnixTime at) {
  return won(db_.execute(
      "UPDATE challenges SET completed_at = $2 WHERE id = $1 AND state <> 'pending' AND completed_at IS NULL",
      {id, at}));
}

// ===================================================================== ScanCodeRepo

Status ScanCodeRepo::create(const ScanCodeRecord& s) {
  AVOW_TRY(
      db_.execute("INSERT INTO scan_codes (" AVOW_SCAN_CODE_COLUMNS
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                  {s.id, s.org_id, s.code_hash, to_string(s.purpose), s.user_id, s.admin_id, s.challenge_id, s.details,
                   to_string(s.state), s.created_at, s.expires_at, s.consumed_at, s.consumed_by_device, s.claimed_at}));
  return ok();
}

Result<ScanCodeRecord> ScanCodeRepo::get(std::string_view id) {
  return require(
      map_one<ScanCodeRecord>(db_.query_one("SELECT " AVOW_SCAN_CODE_COLUMNS " FROM scan_codes WHERE id = $1", {id}),
                              read_scan_code),
      "scan code");
}

Result<std::optional<ScanCodeRecord>> ScanCodeRepo::find_by_hash(std::string_view code_hash) {
  return map_one<ScanCodeRecord>(
      db_.query_one("SELECT " AVOW_SCAN_CODE_COLUMNS " FROM scan_codes WHERE code_hash = $1", {code_hash}),
      read_scan_code);
}

Result<bool> ScanCodeRepo::consume(std::string_view id, const std::optional<std::string>& device_id, UnixTime at) {
  return won(
      db_.execute("UPDATE scan_codes SET state = 'consumed', consumed_at = $3, consumed_by_device = $2 "
                  "WHERE id = $1 AND state = 'active' AND expires_at > $3",
                  {id, device_id, at}));
}

Result<bool> ScanCodeRepo::expire(std::string_view id) {
  return won(db_.execute("UPDATE scan_codes SET state = 'expired' WHERE id = $1 AND state = 'active'", {id}));
}

Result<bool> ScanCodeRepo::claim(std::string_view id, UnixTime at) {
  return won(db_.execute(
      "UPDATE scan_codes SET claimed_at = $2 WHERE id = $1 AND state = 'consumed' AND claimed_at IS NULL", {id, at}));
}

Result<std::vector<ScanCodeRecord>> ScanCodeRepo::list_active_for_challenge(std::string_view challenge_id,
                                                                            ScanCodePurpose purpose, UnixTime now) {
  return map_rows<ScanCodeRecord>(
      db_.query("SELECT " AVOW_SCAN_CODE_COLUMNS " FROM scan_codes WHERE challenge_id = $1 AND purpose = $2 AND "
                "state = 'active' AND expires_at > $3 ORDER BY created_at DESC, id",
                {challenge_id, to_string(purpose), now}),
      read_scan_code);
}

Result<std::int64_t> ScanCodeRepo::expire_due(UnixTime now) {
  return db_.execute("UPDATE scan_codes SET state = 'expired' WHERE state = 'active' AND expires_at <= $1", {now});
}

// ===================================================================== UsedHintRepo

Result<bool> UsedHintRepo::record_once(std::string_view key, UnixTime issued_at, UnixTime expires_at) {
  // Records from before schema version 5 have issued_at 0 (see migrations.cpp); one more seek in the same
  // statement still refuses their replays.
  return won(
      db_.execute("INSERT INTO used_hints (issued_at, hint_key, expires_at) SELECT $1, $2, $3 "
                  "WHERE NOT EXISTS (SELECT 1 FROM used_hints WHERE issued_at = 0 AND hint_key = $2) "
                  "ON CONFLICT (issued_at, hint_key) DO NOTHING",
                  {issued_at, key, expires_at}));
}

Result<std::int64_t> UsedHintRepo::purge_expired(UnixTime now, int limit) {
  return purge_earliest(db_, "used_hints", now, limit);
}

// ===================================================================== DeviceNonceRepo

Result<bool> DeviceNonceRepo::record_once(std::string_view device_id, std::string_view jti, UnixTime expires_at) {
  return won(
      db_.execute("INSERT INTO device_nonces (device_id, jti, expires_at) VALUES ($1, $2, $3) "
                  "ON CONFLICT (expires_at, device_id, jti) DO NOTHING",
                  {device_id, jti, expires_at}));
}

Result<std::int64_t> DeviceNonceRepo::purge_expired(UnixTime now, int limit) {
  return purge_earliest(db_, "device_nonces", now, limit);
}

}  // namespace avow::store
