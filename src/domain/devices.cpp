#include "domain/devices.h"

#include "common/random.h"
#include "domain/scan_codes.h"
#include "domain/states.h"
#include "domain/validation.h"
#include "store/repositories.h"

namespace avow::domain {

using store::PushPlatform;

// ===================================================================== DeviceService

Result<store::DeviceRecord> DeviceService::enroll(const NewDevice& d) {
  auto name = validate_name("device name", d.name, kMaxDeviceNameChars);
  AVOW_TRY(name);
  if (d.public_jwk.empty() || d.public_jwk.size() > kMaxPublicJwkBytes) {
    return fail(ErrorCode::kInvalidArgument, "device public key is empty or too long");
  }
  const bool needs_token = d.push_platform == PushPlatform::kApns || d.push_platform == PushPlatform::kFcm;
  if (needs_token != d.push_token.has_value()) {
    return fail(ErrorCode::kInvalidArgument, needs_token ? "push token required for this platform"
                                                         : "push token given for a platform that takes none");
  }
  if (d.push_token && (d.push_token->empty() || d.push_token->size() > kMaxPushTokenBytes)) {
    return fail(ErrorCode::kInvalidArgument, "push token is empty or too long");
  }
  store::DeviceRecord rec;
  rec.id = new_id();
  rec.name = std::move(*name);
  rec.public_jwk = d.public_jwk;
  rec.status = store::DeviceStatus::kActive;
  rec.push_platform = d.push_platform;
  rec.push_token = d.push_token;
  rec.created_at = clock_.unix_now();
  AVOW_TRY(store::DeviceRepo(db_).create(rec));
  return rec;
}

Result<store::DeviceRecord> DeviceService::get(std::string_view id) { return store::DeviceRepo(db_).get(id); }

Result<store::DeviceRecord> DeviceService::revoke(std::string_view id) {
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::DeviceRecord> {
    store::DeviceRepo devices(tx);
    auto d = devices.get(id);
    AVOW_TRY(d);
    AVOW_TRY(check_transition(d->status, store::DeviceStatus::kRevoked, "device"));
    const store::UnixTime now = clock_.unix_now();
    auto won = devices.revoke(id, now);
    AVOW_TRY(won);
    if (!*won) return fail(ErrorCode::kConflict, "device is revoked already");
    AVOW_TRY(store::BindingRepo(tx).revoke_all_for_device(id, now));
    return devices.get(id);
  });
}

Status DeviceService::touch(std::string_view id) { return store::DeviceRepo(db_).touch(id, clock_.unix_now()); }

// ===================================================================== device requests

Status accept_device_request(store::Db& db, const Clock& clock, std::string_view device_id, std::string_view jti,
                             std::int64_t iat, std::int64_t window_seconds) {
  if (device_id.empty() || device_id.size() > 128) {
    return fail(ErrorCode::kInvalidArgument, "device id is empty or too long");
  }
  if (jti.size() < kMinJtiChars || jti.size() > kMaxJtiChars) {
    return fail(ErrorCode::kInvalidArgument, "jti must be 16 to 128 characters");
  }
  const store::UnixTime now = clock.unix_now();
  const std::int64_t skew = iat > now ? iat - now : now - iat;
  if (window_seconds < 0 || skew > window_seconds) {
    return fail(ErrorCode::kExpired, "request iat is outside the accepted window");
  }
  // Remember the jti for as long as a request with this iat is accepted: through iat + window inclusive.
  auto first = store::DeviceNonceRepo(db).record_once(device_id, jti, iat + window_seconds + 1);
  AVOW_TRY(first);
  if (!*first) return fail(ErrorCode::kConflict, "request jti was seen before (replay)");
  return ok();
}

// ===================================================================== BindingService

BindingDecision decide_binding(std::int64_t active_devices, bool allow_new_device) {
  if (active_devices <= 0) return BindingDecision::kFirstDevice;
  return allow_new_device ? BindingDecision::kAdminAllowed : BindingDecision::kRefused;
}

Result<std::pair<store::BindingRecord, BindingDecision>> BindingService::bind_in(store::Db& tx,
                                                                                 std::string_view user_id,
                                                                                 std::string_view device_id) {
  store::UserRepo users(tx);
  store::BindingRepo bindings(tx);
  auto user = users.get(user_id);
  AVOW_TRY(user);
  auto device = store::DeviceRepo(tx).get(device_id);
  AVOW_TRY(device);
  if (user->status != store::UserStatus::kActive) return fail(ErrorCode::kPermissionDenied, "user is locked");
  if (device->status != store::DeviceStatus::kActive) return fail(ErrorCode::kPermissionDenied, "device is revoked");
  auto existing = bindings.find_active(user_id, device_id);
  AVOW_TRY(existing);
  if (*existing) return fail(ErrorCode::kAlreadyExists, "device is already bound to this user");

  auto active = bindings.count_active_for_user(user_id);
  AVOW_TRY(active);
  const BindingDecision decision = decide_binding(*active, user->allow_new_device);
  if (decision == BindingDecision::kRefused) {
    return fail(ErrorCode::kPermissionDenied,
                "user already has a device; an admin must allow a new one (or approve it from that device)");
  }
  if (decision == BindingDecision::kAdminAllowed) {
    auto used = users.consume_allow_new_device(user_id);
    AVOW_TRY(used);
    if (!*used) return fail(ErrorCode::kPermissionDenied, "permission for a new device was used meanwhile");
  }
  store::BindingRecord b;
  b.id = new_id();
  b.user_id = std::string(user_id);
  b.device_id = std::string(device_id);
  b.status = store::BindingStatus::kActive;
  b.created_at = clock_.unix_now();
  AVOW_TRY(bindings.create(b));
  return std::make_pair(std::move(b), decision);
}

Result<store::BindingRecord> BindingService::bind(std::string_view user_id, std::string_view device_id) {
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::BindingRecord> {
    auto r = bind_in(tx, user_id, device_id);
    AVOW_TRY(r);
    return std::move(r->first);
  });
}

Result<BindResult> BindingService::bind_with_scan_code(std::string_view code, std::string_view device_id) {
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<BindResult> {
    ScanCodeService codes(tx, clock_, scan_policy_);
    auto used = codes.redeem(code, store::ScanCodePurpose::kBindUser, std::string(device_id));
    AVOW_TRY(used);
    if (!used->user_id) return fail(ErrorCode::kInternal, "bind_user scan code without a user");
    auto bound = bind_in(tx, *used->user_id, device_id);
    AVOW_TRY(bound);
    return BindResult{std::move(bound->first), std::move(*used), bound->second};
  });
}

Result<store::BindingRecord> BindingService::revoke(std::string_view binding_id) {
  store::BindingRepo bindings(db_);
  auto b = bindings.get(binding_id);
  AVOW_TRY(b);
  AVOW_TRY(check_transition(b->status, store::BindingStatus::kRevoked, "binding"));
  auto won = bindings.revoke(binding_id, clock_.unix_now());
  AVOW_TRY(won);
  if (!*won) return fail(ErrorCode::kConflict, "binding is revoked already");
  return bindings.get(binding_id);
}

}  // namespace avow::domain
