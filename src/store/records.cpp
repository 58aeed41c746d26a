// Spellings of the stored enums; keep them in step with the CHECK constraints in migrations.cpp.
#include "store/records.h"

#include <array>
#include <utility>

namespace avow::store {

namespace {

template <class E, std::size_t N>
bool parse_with(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s, E* out) {
  for (const auto& [value, name] : table) {
    if (name == s) {
      *out = value;
      return true;
    }
  }
  return false;
}

template <class E, std::size_t N>
std::string_view name_with(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
  for (const auto& [value, name] : table)
    if (value == v) return name;
  return "?";
}

constexpr std::array<std::pair<AdminRole, std::string_view>, 2> kAdminRoleNames = {{
    {AdminRole::kOwner, "owner"},
    {AdminRole::kAdmin, "admin"},
}};

constexpr std::array<std::pair<Cloud, std::string_view>, 3> kCloudNames = {{
    {Cloud::kGlobal, "global"},
    {Cloud::kUsGov, "usgov"},
    {Cloud::kChina, "china"},
}};

constexpr std::array<std::pair<GuestPolicy, std::string_view>, 3> kGuestPolicyNames = {{
    {GuestPolicy::kAny, "any"},
    {GuestPolicy::kMembers, "members"},
    {GuestPolicy::kList, "list"},
}};

constexpr std::array<std::pair<IntegrationStatus, std::string_view>, 2> kIntegrationStatusNames = {{
    {IntegrationStatus::kEnabled, "enabled"},
    {IntegrationStatus::kDisabled, "disabled"},
}};

constexpr std::array<std::pair<UserStatus, std::string_view>, 2> kUserStatusNames = {{
    {UserStatus::kActive, "active"},
    {UserStatus::kLocked, "locked"},
}};

constexpr std::array<std::pair<DeviceStatus, std::string_view>, 2> kDeviceStatusNames = {{
    {DeviceStatus::kActive, "active"},
    {DeviceStatus::kRevoked, "revoked"},
}};

constexpr std::array<std::pair<PushPlatform, std::string_view>, 4> kPushPlatformNames = {{
    {PushPlatform::kNone, "none"},
    {PushPlatform::kBuiltin, "builtin"},
    {PushPlatform::kApns, "apns"},
    {PushPlatform::kFcm, "fcm"},
}};

constexpr std::array<std::pair<BindingStatus, std::string_view>, 2> kBindingStatusNames = {{
    {BindingStatus::kActive, "active"},
    {BindingStatus::kRevoked, "revoked"},
}};

constexpr std::array<std::pair<ChallengeKind, std::string_view>, 3> kChallengeKindNames = {{
    {ChallengeKind::kEam, "eam"},
    {ChallengeKind::kCustomControl, "custom_control"},
    {ChallengeKind::kAdminSignin, "admin_signin"},
}};

constexpr std::array<std::pair<ChallengeState, std::string_view>, 5> kChallengeStateNames = {{
    {ChallengeState::kPending, "pending"},
    {ChallengeState::kApproved, "approved"},
    {ChallengeState::kDenied, "denied"},
    {ChallengeState::kExpired, "expired"},
    {ChallengeState::kCancelled, "cancelled"},
}};

constexpr std::array<std::pair<ScanCodePurpose, std::string_view>, 4> kScanCodePurposeNames = {{
    {ScanCodePurpose::kBindUser, "bind_user"},
    {ScanCodePurpose::kAdminSignin, "admin_signin"},
    {ScanCodePurpose::kAdminSignup, "admin_signup"},
    {ScanCodePurpose::kAdminInvite, "admin_invite"},
}};

constexpr std::array<std::pair<ScanCodeState, std::string_view>, 3> kScanCodeStateNames = {{
    {ScanCodeState::kActive, "active"},
    {ScanCodeState::kConsumed, "consumed"},
    {ScanCodeState::kExpired, "expired"},
}};

}  // namespace

std::string_view to_string(AdminRole v) { return name_with(kAdminRoleNames, v); }
std::string_view to_string(Cloud v) { return name_with(kCloudNames, v); }
std::string_view to_string(GuestPolicy v) { return name_with(kGuestPolicyNames, v); }
std::string_view to_string(IntegrationStatus v) { return name_with(kIntegrationStatusNames, v); }
std::string_view to_string(UserStatus v) { return name_with(kUserStatusNames, v); }
std::string_view to_string(DeviceStatus v) { return name_with(kDeviceStatusNames, v); }
std::string_view to_string(PushPlatform v) { return name_with(kPushPlatformNames, v); }
std::string_view to_string(BindingStatus v) { return name_with(kBindingStatusNames, v); }
std::string_view to_string(ChallengeKind v) { return name_with(kChallengeKindNames, v); }
std::string_view to_string(ChallengeState v) { return name_with(kChallengeStateNames, v); }
std::string_view to_string(ScanCodePurpose v) { return name_with(kScanCodePurposeNames, v); }
std::string_view to_string(ScanCodeState v) { return name_with(kScanCodeStateNames, v); }

bool parse(std::string_view s, AdminRole* out) { return parse_with(kAdminRoleNames, s, out); }
bool parse(std::string_view s, Cloud* out) { return parse_with(kCloudNames, s, out); }
bool parse(std::string_view s, GuestPolicy* out) { return parse_with(kGuestPolicyNames, s, out); }
bool parse(std::string_view s, IntegrationStatus* out) { return parse_with(kIntegrationStatusNames, s, out); }
bool parse(std::string_view s, UserStatus* out) { return parse_with(kUserStatusNames, s, out); }
bool parse(std::string_view s, DeviceStatus* out) { return parse_with(kDeviceStatusNames, s, out); }
bool parse(std::string_view s, PushPlatform* out) { return parse_with(kPushPlatformNames, s, out); }
bool parse(std::string_view s, BindingStatus* out) { return parse_with(kBindingStatusNames, s, out); }
bool parse(std::string_view s, ChallengeKind* out) { return parse_with(kChallengeKindNames, s, out); }
bool parse(std::string_view s, ChallengeState* out) { return parse_with(kChallengeStateNames, s, out); }
bool parse(std::string_view s, ScanCodePurpose* out) { return parse_with(kScanCodePurposeNames, s, out); }
bool parse(std::string_view s, ScanCodeState* out) { return parse_with(kScanCodeStateNames, s, out); }

}  // namespace avow::store
