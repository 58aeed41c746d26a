#include "domain/users.h"

#include "common/random.h"
#include "domain/states.h"
#include "domain/validation.h"
#include "store/repositories.h"

namespace avow::domain {

std::string truncate_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  std::size_t end = max_bytes;
  // Step back over continuation bytes so the cut lands at the start of a sequence.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

Result<store::UserRecord> UserService::find_or_create(std::string_view org_id, std::string_view directory_id,
                                                      const EntraIdentity& identity) {
  auto directory = validate_guid("directory_id", directory_id);
  AVOW_TRY(directory);
  auto tid = validate_guid("tid", identity.tenant_id);
  AVOW_TRY(tid);
  auto oid = validate_guid("oid", identity.object_id);
  AVOW_TRY(oid);
  const std::string upn = truncate_utf8(identity.upn, kMaxUpnBytes);
  const std::string name = truncate_utf8(identity.display_name, kMaxDisplayNameBytes);
  const bool guest = is_guest(*directory, *tid);

  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::UserRecord> {
    store::UserRepo users(tx);
    auto found = users.find_by_identity(org_id, *tid, *oid);
    AVOW_TRY(found);
    if (*found) {
      store::UserRecord u = std::move(**found);
      // Keep what admins see current; an empty claim does not erase a known value.
      const std::string new_upn = upn.empty() ? u.upn : upn;
      const std::string new_name = name.empty() ? u.display_name : name;
      if (new_upn != u.upn || new_name != u.display_name || guest != u.is_guest) {
        AVOW_TRY(users.update_profile(u.id, new_upn, new_name, guest));
        u.upn = new_upn;
        u.display_name = new_name;
        u.is_guest = guest;
      }
      return u;
    }
    store::UserRecord u;
    u.id = new_id();
    u.org_id = std::string(org_id);
    u.tenant_id = *tid;
    u.object_id = *oid;
    u.upn = upn;
    u.display_name = name;
    u.is_guest = guest;
    u.status = store::UserStatus::kActive;
    u.created_at = clock_.unix_now();
    // Two sign-ins of a new user at once (two nodes): the second finds the first's row (SQLite's writers are
    // serial), or PostgreSQL fails it as a serialization conflict and the transaction runs again.
    auto inserted = users.create_if_absent(u);
    AVOW_TRY(inserted);
    if (!*inserted) {
      auto again = users.find_by_identity(org_id, *tid, *oid);
      AVOW_TRY(again);
      if (!*again) return fail(ErrorCode::kUnavailable, "the user was created concurrently; try again");
      return std::move(**again);
    }
    return u;
  });
}

Result<store::UserRecord> UserService::get(std::string_view id) { return store::UserRepo(db_).get(id); }

Result<store::UserRecord> UserService::lock(std::string_view id) {
  store::UserRepo users(db_);
  auto u = users.get(id);
  AVOW_TRY(u);
  AVOW_TRY(check_transition(u->status, store::UserStatus::kLocked, "user"));
  auto won = users.lock(id, clock_.unix_now());
  AVOW_TRY(won);
  if (!*won) return fail(ErrorCode::kConflict, "user is locked already");
  return users.get(id);
}

Result<store::UserRecord> UserService::unlock(std::string_view id) {
  store::UserRepo users(db_);
  auto u = users.get(id);
  AVOW_TRY(u);
  AVOW_TRY(check_transition(u->status, store::UserStatus::kActive, "user"));
  auto won = users.unlock(id);
  AVOW_TRY(won);
  if (!*won) return fail(ErrorCode::kConflict, "user is not locked");
  return users.get(id);
}

Status UserService::allow_new_device(std::string_view id, bool allow) {
  return store::UserRepo(db_).set_allow_new_device(id, allow);
}

}  // namespace avow::domain
