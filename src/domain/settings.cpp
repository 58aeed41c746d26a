#include "domain/settings.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "domain/users.h"
#include "domain/validation.h"
#include "store/repositories.h"

namespace avow::domain {

namespace {

// Ids are UUIDs (36 characters); anything much longer is not one of ours.
constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxIpBytes = 64;
// More digits than any bound has: longer input is refused before it is parsed (no overflow).
constexpr std::size_t kMaxSettingDigits = 9;

std::string bounds_message(std::string_view field, std::string_view unit, int min, int max) {
  std::string m(field);
  m += ": must be a whole number";
  if (!unit.empty()) {
    m += " of ";
    m += unit;
  }
  m += " from " + std::to_string(min) + " to " + std::to_string(max);
  return m;
}

// A whole number in [min, max]: ASCII digits only once trimmed (no sign, no spaces inside, no decimals).
Result<int> parse_setting(std::string_view field, std::string_view unit, std::string_view text, int min, int max) {
  const std::string_view t = trim(text);
  auto refused = [&] { return fail(ErrorCode::kInvalidArgument, bounds_message(field, unit, min, max)); };
  if (t.empty() || t.size() > kMaxSettingDigits) return refused();
  long long value = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return refused();
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) return refused();
  return static_cast<int>(value);
}

nlohmann::json settings_json(const store::OrgSettingsRecord& s) {
  return {{"challenge_ttl_seconds", s.challenge_ttl_seconds},
          {"number_digits", s.number_digits},
          {"max_pushes_per_hour", s.max_pushes_per_hour},
          {"lockout_max_failures", s.lockout_max_failures},
          {"code_lockout_threshold", s.code_lockout_threshold}};
}

}  // namespace

store::OrgSettingsRecord default_settings(std::string_view org_id, const SignInPolicies& server) {
  store::OrgSettingsRecord s;
  s.org_id = std::string(org_id);
  s.challenge_ttl_seconds = static_cast<int>(server.challenges.ttl.count());
  s.number_digits = server.challenges.number_digits;
  s.max_pushes_per_hour = server.max_pushes_per_hour;
  s.lockout_max_failures = server.lockout.max_failures;
  s.code_lockout_threshold = server.codes.lockout_threshold;
  s.updated_at = 0;
  return s;
}

SignInPolicies policies_for(const store::OrgSettingsRecord& s, const SignInPolicies& server) {
  SignInPolicies p = server;
  p.challenges.ttl = seconds(s.challenge_ttl_seconds);
  p.challenges.max_lifetime = std::max(server.challenges.max_lifetime, p.challenges.ttl);
  p.challenges.number_digits = s.number_digits;
  p.lockout.max_failures = s.lockout_max_failures;
  p.codes.lockout_threshold = s.code_lockout_threshold;
  p.max_pushes_per_hour = s.max_pushes_per_hour;
  return p;
}

std::vector<std::string> settings_errors(const SettingsForm& form) {
  std::vector<std::string> out;
  auto check = [&out](const Result<int>& r) {
    if (!r) out.push_back(r.error().message);
  };
  check(parse_setting("challenge_ttl_seconds", "seconds", form.challenge_ttl_seconds, kMinChallengeTtl,
                      kMaxChallengeTtl));
  check(parse_setting("number_digits", "", form.number_digits, kMinNumberDigits, kMaxNumberDigits));
  check(parse_setting("max_pushes_per_hour", "", form.max_pushes_per_hour, kMinPushesPerHour, kMaxPushesPerHour));
  check(parse_setting("lockout_max_failures", "", form.lockout_max_failures, kMinLockoutFailures, kMaxLockoutFailures));
  check(parse_setting("code_lockout_threshold", "", form.code_lockout_threshold, kMinCodeLockout, kMaxCodeLockout));
  return out;
}

Result<store::OrgSettingsRecord> validate_settings(std::string_view org_id, const SettingsForm& form) {
  store::OrgSettingsRecord s;
  s.org_id = std::string(org_id);
  auto ttl =
      parse_setting("challenge_ttl_seconds", "seconds", form.challenge_ttl_seconds, kMinChallengeTtl, kMaxChallengeTtl);
  AVOW_TRY(ttl);
  auto digits = parse_setting("number_digits", "", form.number_digits, kMinNumberDigits, kMaxNumberDigits);
  AVOW_TRY(digits);
  auto pushes =
      parse_setting("max_pushes_per_hour", "", form.max_pushes_per_hour, kMinPushesPerHour, kMaxPushesPerHour);
  AVOW_TRY(pushes);
  auto lockout =
      parse_setting("lockout_max_failures", "", form.lockout_max_failures, kMinLockoutFailures, kMaxLockoutFailures);
  AVOW_TRY(lockout);
  auto codes =
      parse_setting("code_lockout_threshold", "", form.code_lockout_threshold, kMinCodeLockout, kMaxCodeLockout);
  AVOW_TRY(codes);
  s.challenge_ttl_seconds = *ttl;
  s.number_digits = *digits;
  s.max_pushes_per_hour = *pushes;
  s.lockout_max_failures = *lockout;
  s.code_lockout_threshold = *codes;
  return s;
}

Result<store::OrgSettingsRecord> SettingsService::get(std::string_view org_id, const SignInPolicies& server) {
  if (org_id.empty() || org_id.size() > kMaxIdBytes) return default_settings(org_id, server);
  auto found = store::OrgSettingsRepo(db_).find(org_id);
  AVOW_TRY(found);
  if (*found) return std::move(**found);
  return default_settings(org_id, server);
}

Result<store::OrgSettingsRecord> SettingsService::save(std::string_view org_id, const SettingsForm& form,
                                                       std::string_view admin_id, std::string_view ip) {
  if (org_id.empty() || org_id.size() > kMaxIdBytes) return fail(ErrorCode::kInvalidArgument, "unknown org");
  auto validated = validate_settings(org_id, form);
  AVOW_TRY(validated);
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::OrgSettingsRecord> {
    auto org = store::OrgRepo(tx).get(org_id);
    if (!org) {
      if (org.error().code == ErrorCode::kNotFound) return fail(ErrorCode::kInvalidArgument, "unknown org");
      return tl::unexpected(org.error());
    }
    auto before = store::OrgSettingsRepo(tx).find(org_id);
    AVOW_TRY(before);
    store::OrgSettingsRecord after = *validated;
    const store::UnixTime now = clock_.unix_now();
    after.updated_at = now;
    AVOW_TRY(store::OrgSettingsRepo(tx).save(after));

    const nlohmann::json after_json = settings_json(after);
    nlohmann::json before_json = nullptr;  // never saved: the server's defaults applied
    nlohmann::json changed = nlohmann::json::array();
    if (*before) {
      before_json = settings_json(**before);
      for (const auto& [field, value] : after_json.items())
        if (before_json[field] != value) changed.push_back(field);
    } else {
      for (const auto& [field, value] : after_json.items()) changed.push_back(field);
    }
    store::AuditEventRecord e;
    e.org_id = std::string(org_id);
    e.at = now;
    e.actor_kind = "admin";
    e.actor_id = std::string(admin_id);
    e.kind = "settings.updated";
    e.subject_kind = "org";
    e.subject_id = std::string(org_id);
    e.ip = truncate_utf8(ip, kMaxIpBytes);
    e.details = nlohmann::json{{"before", before_json}, {"after", after_json}, {"changed", changed}}.dump();
    auto id = store::AuditRepo(tx).append(e);
    AVOW_TRY(id);
    return after;
  });
}

}  // namespace avow::domain
