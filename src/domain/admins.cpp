#include "domain/admins.h"

#include "common/random.h"
#include "domain/validation.h"
#include "store/repositories.h"

namespace avow::domain {

namespace {

Result<store::AdminRecord> make_admin(std::string_view org_id, const NewAdmin& a, store::AdminRole role,
                                      store::UnixTime now) {
  auto name = validate_name("display name", a.display_name);
  AVOW_TRY(name);
  auto email = validate_email(a.email);
  AVOW_TRY(email);
  store::AdminRecord r;
  r.id = new_id();
  r.org_id = std::string(org_id);
  r.display_name = std::move(*name);
  r.email = std::move(*email);
  r.role = role;
  r.created_at = now;
  return r;
}

}  // namespace

Result<OrgWithOwner> AdminService::create_org(std::string_view org_name, const NewAdmin& owner) {
  auto name = validate_name("organisation name", org_name);
  AVOW_TRY(name);
  const store::UnixTime now = clock_.unix_now();
  OrgWithOwner out;
  out.org = store::OrgRecord{new_id(), std::move(*name), now};
  auto admin = make_admin(out.org.id, owner, store::AdminRole::kOwner, now);
  AVOW_TRY(admin);
  out.owner = std::move(*admin);
  AVOW_TRY(db_.transaction([&](store::Db& tx) -> Status {
    AVOW_TRY(store::OrgRepo(tx).create(out.org));
    return store::AdminRepo(tx).create(out.owner);
  }));
  return out;
}

Result<store::AdminRecord> AdminService::add_admin(std::string_view org_id, const NewAdmin& admin) {
  auto r = make_admin(org_id, admin, admin.role, clock_.unix_now());
  AVOW_TRY(r);
  if (auto created = store::AdminRepo(db_).create(*r); !created) {
    if (created.error().code == ErrorCode::kAlreadyExists) {
      return fail(ErrorCode::kAlreadyExists, "an admin with this email exists already");
    }
    return tl::unexpected(created.error());
  }
  return r;
}

Result<store::AdminRecord> AdminService::disable(std::string_view admin_id) {
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::AdminRecord> {
    store::AdminRepo admins(tx);
    auto a = admins.get(admin_id);
    AVOW_TRY(a);
    if (a->disabled_at) return fail(ErrorCode::kConflict, "admin is disabled already");
    if (a->role == store::AdminRole::kOwner) {
      auto owners = admins.count_active_owners(a->org_id);
      AVOW_TRY(owners);
      if (*owners <= 1) return fail(ErrorCode::kConflict, "cannot disable the organisation's last owner");
    }
    const store::UnixTime now = clock_.unix_now();
    auto won = admins.disable(admin_id, now);
    AVOW_TRY(won);
    if (!*won) return fail(ErrorCode::kConflict, "admin is disabled already");
    AVOW_TRY(store::SessionRepo(tx).revoke_all_for_admin(admin_id, now));
    return admins.get(admin_id);
  });
}

Result<store::AdminRecord> AdminService::enable(std::string_view admin_id) {
  store::AdminRepo admins(db_);
  auto won = admins.enable(admin_id);
  AVOW_TRY(won);
  if (!*won) {
    auto a = admins.get(admin_id);
    AVOW_TRY(a);
    return fail(ErrorCode::kConflict, "admin is enabled already");
  }
  return admins.get(admin_id);
}

Status AdminService::set_device(std::string_view admin_id, std::string_view device_id) {
  return db_.transaction([&](store::Db& tx) -> Status {
    store::AdminRepo admins(tx);
    auto a = admins.get(admin_id);
    AVOW_TRY(a);
    auto d = store::DeviceRepo(tx).get(device_id);
    AVOW_TRY(d);
    if (d->status != store::DeviceStatus::kActive) return fail(ErrorCode::kPermissionDenied, "device is revoked");
    return admins.set_device(admin_id, std::string(device_id));
  });
}

}  // namespace avow::domain
