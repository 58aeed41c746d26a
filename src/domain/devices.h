// avow/domain/devices.h — authenticator devices, and their bindings to users (trust on first use).
//
// A device enrols with its P-256 public key (checked by crypto at the API edge; the domain keeps it as
// JWK text). It answers challenges for the users it is bound to. A device is a person's phone, owned by no
// org: it may be bound to users of several orgs (a B2B guest signs in to other tenants with the same phone).
//
// Trust on first use: scanning a bind_user ScanCode binds the scanning device to the code's user only
// while that user has no active device — or when an admin allowed one new device, a permission the
// binding uses up. Any other "add a device" path (approval from an existing device) comes through an
// admin-side allow_new_device() too. Consuming the code and binding happen in one transaction: a
// refused binding leaves the code unused, and a used code always left a binding.
//
//   BindingService bindings(db, clock);
//   Result<BindResult> r = bindings.bind_with_scan_code(scanned_code, device_id);
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "domain/policy.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

inline constexpr std::size_t kMaxDeviceNameChars = 64;
inline constexpr std::size_t kMaxPublicJwkBytes = 2048;
inline constexpr std::size_t kMaxPushTokenBytes = 4096;

struct NewDevice {
  std::string name;
  std::string public_jwk;  // JSON, already parsed and checked as a P-256 key by the caller
  store::PushPlatform push_platform = store::PushPlatform::kBuiltin;
  std::optional<std::string> push_token;  // required for apns/fcm, absent otherwise
};

class DeviceService {
 public:
  DeviceService(store::Db& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Enrols a device (active). kInvalidArgument for a bad name, an empty or over-long key, or a push token
  // that does not fit the platform; store errors otherwise.
  Result<store::DeviceRecord> enroll(const NewDevice& device);

  // kNotFound when absent.
  Result<store::DeviceRecord> get(std::string_view id);

  // active → revoked, revoking all its bindings with it (one transaction). kConflict when already revoked.
  Result<store::DeviceRecord> revoke(std::string_view id);

  // Records that the device was heard from now. kNotFound when absent.
  Status touch(std::string_view id);

 private:
  store::Db& db_;
  const Clock& clock_;
};

// The trust-on-first-use rule, as a pure function.
enum class BindingDecision {
  kFirstDevice,   // the user has no active device: trust this one
  kAdminAllowed,  // the user has a device, but an admin allowed one more
  kRefused,       // the user has a device and no permission for another
};
BindingDecision decide_binding(std::int64_t active_devices, bool allow_new_device);

struct BindResult {
  store::BindingRecord binding;
  store::ScanCodeRecord scan_code;  // the consumed code (its challenge_id links the waiting sign-in)
  BindingDecision decision = BindingDecision::kFirstDevice;
};

// Replay protection for signed device requests (docs/device-api.md): `iat` must lie within
// `window_seconds` of now, and `jti` (16..128 characters) is accepted once per `device_id` (for enrolment,
// before the device exists, the edge may use any stable key, e.g. "enroll:" + the key's thumbprint).
// Seen nonces are kept until the window has passed; DeviceNonceRepo::purge_expired sweeps them.
//   kInvalidArgument  empty or over-long device_id (> 128), jti outside 16..128 characters
//   kExpired          |iat - now| > window_seconds
//   kConflict         the jti was seen before for this device (a replay)
inline constexpr std::size_t kMinJtiChars = 16;
inline constexpr std::size_t kMaxJtiChars = 128;
Status accept_device_request(store::Db& db, const Clock& clock, std::string_view device_id, std::string_view jti,
                             std::int64_t iat, std::int64_t window_seconds = 60);

class BindingService {
 public:
  BindingService(store::Db& db, const Clock& clock, ScanCodePolicy scan_policy = {})
      : db_(db), clock_(clock), scan_policy_(scan_policy) {}

  // Binds `device_id` to `user_id` under the trust-on-first-use rule, in one transaction:
  //   kNotFound         no such user or device
  //   kPermissionDenied user locked, device revoked, or the rule refuses
  //   kAlreadyExists    this pair is already bound
  Result<store::BindingRecord> bind(std::string_view user_id, std::string_view device_id);

  // Redeems a bind_user ScanCode for `device_id` and binds it to the code's user, all or nothing. Errors
  // of ScanCodeService::redeem and of bind().
  Result<BindResult> bind_with_scan_code(std::string_view code, std::string_view device_id);

  // active → revoked. kNotFound when absent, kConflict when already revoked.
  Result<store::BindingRecord> revoke(std::string_view binding_id);

 private:
  Result<std::pair<store::BindingRecord, BindingDecision>> bind_in(store::Db& tx, std::string_view user_id,
                                                                   std::string_view device_id);

  store::Db& db_;
  const Clock& clock_;
  ScanCodePolicy scan_policy_;
};

}  // namespace avow::domain
