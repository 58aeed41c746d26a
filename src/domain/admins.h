// avow/domain/admins.h — organisations and the admins who run them.
//
// Admins have no password: they sign in by scanning a ScanCode (or answering an admin_signin challenge)
// with their own device. An org always keeps at least one enabled owner.
//
//   AdminService admins(db, clock);
//   Result<OrgWithOwner> o = admins.create_org("Contoso", {.display_name = "Grace", .email = "g@contoso.com"});
//   // then enrol the scanning device and admins.set_device(o->owner.id, device_id),
//   // all inside one Db::transaction in the sign-up flow.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

struct NewAdmin {
  std::string display_name;
  std::string email;
  store::AdminRole role = store::AdminRole::kAdmin;
};

struct OrgWithOwner {
  store::OrgRecord org;
  store::AdminRecord owner;
};

class AdminService {
 public:
  AdminService(store::Db& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Creates an org and its first admin (always an owner) in one transaction. kInvalidArgument for a bad
  // org name, display name or email.
  Result<OrgWithOwner> create_org(std::string_view org_name, const NewAdmin& owner);

  // Adds an admin to an org. kInvalidArgument (validation, unknown org); kAlreadyExists when the email is
  // taken in the org.
  Result<store::AdminRecord> add_admin(std::string_view org_id, const NewAdmin& admin);

  // Disables an admin and ends their sessions. kNotFound; kConflict when already disabled, or when it is
  // the org's last enabled owner.
  Result<store::AdminRecord> disable(std::string_view admin_id);

  // Re-enables a disabled admin. kNotFound; kConflict when enabled.
  Result<store::AdminRecord> enable(std::string_view admin_id);

  // Sets the device the admin signs in with (devices belong to people, not orgs: the same phone may also
  // be bound to users anywhere). kNotFound (admin or device); kPermissionDenied when the device is revoked.
  Status set_device(std::string_view admin_id, std::string_view device_id);

 private:
  store::Db& db_;
  const Clock& clock_;
};

}  // namespace avow::domain
