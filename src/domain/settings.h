// avow/domain/settings.h — an org's sign-in settings: what the dashboard's Settings page edits, with safe
// defaults and bounds, and how they turn into the policies the sign-in uses.
//
// Number matching cannot be switched off: only its width (2–3 digits) is a setting. An org that never saved
// settings gets the defaults below, which equal the server's configured policies when the server passes them.
//
//   SettingsService settings(db, clock);
//   Result<store::OrgSettingsRecord> s = settings.get(org_id, defaults);
//   Result<store::OrgSettingsRecord> saved = settings.save(org_id, form, admin_id, ip);   // audited
//   SignInPolicies p = policies_for(*s, server_policies);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "domain/policy.h"
#include "store/db.h"
#include "store/records.h"

namespace avow::domain {

// Bounds of each setting (inclusive).
inline constexpr int kMinChallengeTtl = 30, kMaxChallengeTtl = 240;  // under Entra's 5 minutes
inline constexpr int kMinNumberDigits = 2, kMaxNumberDigits = 3;
inline constexpr int kMinPushesPerHour = 1, kMaxPushesPerHour = 1000;
inline constexpr int kMinLockoutFailures = 1, kMaxLockoutFailures = 100;
// Code lockout: kMinCodeLockout..kMaxCodeLockout (policy.h).

// The text an admin typed in each field (untrusted).
struct SettingsForm {
  std::string challenge_ttl_seconds;
  std::string number_digits;
  std::string max_pushes_per_hour;
  std::string lockout_max_failures;
  std::string code_lockout_threshold;
};

// The policies one sign-in of an org runs under.
struct SignInPolicies {
  ChallengePolicy challenges;
  LockoutPolicy lockout;
  CodePolicy codes;
  int max_pushes_per_hour = 20;
};

// Defaults for an org without saved settings, taken from the server's configured policies.
store::OrgSettingsRecord default_settings(std::string_view org_id, const SignInPolicies& server);

// `server` with the org's settings applied (ttl — max_lifetime kept ≥ ttl —, digits, lockouts, push limit).
SignInPolicies policies_for(const store::OrgSettingsRecord& s, const SignInPolicies& server);

// Every bad field of `form` as "<field>: <message>", in form order (empty when the form is valid), so a page can
// show each message next to its field.
std::vector<std::string> settings_errors(const SettingsForm& form);

// Checks every field; kInvalidArgument "<field>: <message>" for the first bad one (an integer in its bounds).
Result<store::OrgSettingsRecord> validate_settings(std::string_view org_id, const SettingsForm& form);

class SettingsService {
 public:
  SettingsService(store::Db& db, const Clock& clock) : db_(db), clock_(clock) {}

  // The org's settings, or default_settings(org_id, server) when it never saved any.
  Result<store::OrgSettingsRecord> get(std::string_view org_id, const SignInPolicies& server);

  // Validates and saves; audits "settings.updated" with the old and new values. Errors of validate_settings;
  // kInvalidArgument for an unknown org.
  Result<store::OrgSettingsRecord> save(std::string_view org_id, const SettingsForm& form, std::string_view admin_id,
                                        std::string_view ip);

 private:
  store::Db& db_;
  const Clock& clock_;
};

}  // namespace avow::domain
