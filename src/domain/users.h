// avow/domain/users.h — Entra users as Avow knows them, keyed on (org, tid, oid).
//
// Users are created on first sight (the first sign-in that reaches Avow), never by hand: Entra is the
// directory. Avow keeps only what it needs to bind devices and to show admins who is who.
//
//   UserService users(db, clock);
//   Result<store::UserRecord> u = users.find_or_create(org_id, integration.directory_id,
//                                                      {.tenant_id = tid, .object_id = oid, .upn = upn});
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

inline constexpr std::size_t kMaxUpnBytes = 256;
inline constexpr std::size_t kMaxDisplayNameBytes = 256;

// Who Entra says the user is (from a validated hint).
struct EntraIdentity {
  std::string tenant_id;     // `tid`: home tenant GUID
  std::string object_id;     // `oid` GUID
  std::string upn;           // `upn` / `preferred_username`; may be empty
  std::string display_name;  // `name`; may be empty
};

// A B2B guest: signed in through `directory_id`, but from another home tenant. Both lowercase GUIDs.
inline bool is_guest(std::string_view directory_id, std::string_view home_tenant_id) {
  return directory_id != home_tenant_id;
}

class UserService {
 public:
  UserService(store::Db& db, const Clock& clock) : db_(db), clock_(clock) {}

  // The user of `org_id` with identity (tid, oid), created when first seen. Refreshes upn, display name
  // and guest flag when Entra reports new ones. kInvalidArgument when tid/oid/directory_id are not GUIDs;
  // upn and display name are cut to their byte limits on a character boundary (they are labels).
  Result<store::UserRecord> find_or_create(std::string_view org_id, std::string_view directory_id,
                                           const EntraIdentity& identity);

  // kNotFound when absent.
  Result<store::UserRecord> get(std::string_view id);

  // active → locked. kConflict when already locked.
  Result<store::UserRecord> lock(std::string_view id);
  // locked → active, clearing the failure counter. kConflict when not locked.
  Result<store::UserRecord> unlock(std::string_view id);

  // An admin lets the user bind one more device by ScanCode (trust on first use would refuse it while
  // the user has a device). Used up by the next binding. kNotFound when absent.
  Status allow_new_device(std::string_view id, bool allow);

 private:
  store::Db& db_;
  const Clock& clock_;
};

// `s` cut to at most `max_bytes` without splitting a UTF-8 sequence.
std::string truncate_utf8(std::string_view s, std::size_t max_bytes);

}  // namespace avow::domain
