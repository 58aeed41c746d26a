#include "domain/sign_in.h"

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/random.h"
#include "crypto/otp.h"
#include "domain/codes.h"
#include "domain/devices.h"
#include "domain/hashing.h"
#include "domain/integrations.h"
#include "domain/scan_codes.h"
#include "domain/states.h"
#include "domain/transaction_outcome.h"
#include "domain/validation.h"
#include "store/repositories.h"

namespace avow::domain {

using store::ChallengeState;
using store::UnixTime;

std::string context_hash(std::string_view context_json) { return base64url_encode(sha256_bytes(context_json)); }

namespace {

using detail::is_refusal;
using detail::json_text;
using detail::Outcome;
using detail::unwrap;

Status append(store::Db& db, const store::AuditEventRecord& e) { return detail::append_audit(db, e); }

// Ids are UUIDs (36 characters); anything much longer is not one of ours.
constexpr std::size_t kMaxIdBytes = 64;
// A base64url SHA-256 is 43 characters; longer input is refused before hashing anything.
constexpr std::size_t kMaxContextHashBytes = 128;
constexpr std::size_t kMaxIpBytes = 64;

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

bool bad_id(std::string_view id) { return id.empty() || id.size() > kMaxIdBytes; }

// Both sides must be present: a challenge without a stored hash (admin sign-in) has no browser flow.
bool flow_secret_matches(const store::ChallengeRecord& c, std::string_view given) {
  if (c.flow_secret_hash.empty() || given.empty()) return false;
  return constant_time_equal(c.flow_secret_hash, given);
}

std::string label_of(const store::UserRecord& u) { return u.upn.empty() ? u.display_name : u.upn; }

// An audit event about a challenge, by `actor_kind`/`actor_id`.
store::AuditEventRecord challenge_event(const store::ChallengeRecord& c, std::string kind, std::string actor_kind,
                                        std::string actor_id, std::string_view ip, const nlohmann::json& details,
                                        UnixTime at) {
  store::AuditEventRecord e;
  e.org_id = c.org_id;
  e.at = at;
  e.actor_kind = std::move(actor_kind);
  e.actor_id = std::move(actor_id);
  e.kind = std::move(kind);
  e.subject_kind = "challenge";
  e.subject_id = c.id;
  e.integration_id = c.integration_id;
  e.user_id = c.user_id;
  e.ip = truncate_utf8(ip, kMaxIpBytes);
  e.details = json_text(details);
  return e;
}

// An audit event about the user of challenge `c`.
store::AuditEventRecord user_event(const store::ChallengeRecord& c, std::string kind, std::string actor_kind,
                                   std::string actor_id, std::string_view ip, const nlohmann::json& details,
                                   UnixTime at) {
  store::AuditEventRecord e =
      challenge_event(c, std::move(kind), std::move(actor_kind), std::move(actor_id), ip, details, at);
  e.subject_kind = "user";
  e.subject_id = c.user_id.value_or("");
  return e;
}

// What the edge may tell a device about a failed scan; see scan() in sign_in.h.
Error scan_refusal(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnauthenticated:
      return Error{ErrorCode::kUnauthenticated, "unknown scan code"};
    case ErrorCode::kNotFound:
      return Error{ErrorCode::kPermissionDenied, "unknown device"};
    default:
      return e;
  }
}

std::string_view decision_name(BindingDecision d) {
  switch (d) {
    case BindingDecision::kFirstDevice:
      return "first_device";
    case BindingDecision::kAdminAllowed:
      return "admin_allowed";
    case BindingDecision::kRefused:
      return "refused";
  }
  return "?";
}

}  // namespace

SignInService::SignInService(store::Db& db, const Clock& clock, ChallengePolicy challenges, ScanCodePolicy scan_codes,
                             LockoutPolicy lockout, FallbackCodes codes)
    : db_(db),
      clock_(clock),
      challenge_policy_(challenges),
      scan_code_policy_(scan_codes),
      lockout_(lockout),
      codes_(codes),
      max_pushes_per_hour_(kDefaultMaxPushesPerHour) {}

// ===================================================================== begin

Result<SignInStart> SignInService::begin(const SignInRequest& r) {
  if (r.kind != store::ChallengeKind::kEam && r.kind != store::ChallengeKind::kCustomControl) {
    return fail(ErrorCode::kInvalidArgument, "a sign-in is an EAM or custom-control challenge");
  }
  if (bad_id(r.integration_id)) return fail(ErrorCode::kNotFound, "integration not found");
  if (r.response_params.size() > kMaxResponseParamsBytes) {
    return fail(ErrorCode::kInvalidArgument, "response params are too long");
  }
  if (!is_hex64(r.flow_secret_hash)) {
    return fail(ErrorCode::kInvalidArgument, "flow secret hash must be 64 hexadecimal characters");
  }
  auto home_tenant = validate_guid("tid", r.identity.tenant_id);
  AVOW_TRY(home_tenant);

  return unwrap(store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome<SignInStart>> {
    auto integration = store::IntegrationRepo(tx).get(r.integration_id);
    AVOW_TRY(integration);
    // A deleted integration is gone for Entra: answered like an unknown one, and not audited.
    if (integration->deleted_at) return fail(ErrorCode::kNotFound, "integration not found");
    const UnixTime now = clock_.unix_now();

    auto refuse_as = [&](std::string kind, const std::optional<std::string>& user_id, std::string_view reason,
                         Error error, nlohmann::json extra) -> Result<Outcome<SignInStart>> {
      store::AuditEventRecord e;
      e.org_id = integration->org_id;
      e.at = now;
      e.actor_kind = "entra";
      e.actor_id = integration->id;
      e.kind = std::move(kind);
      e.subject_kind = user_id ? "user" : "integration";
      e.subject_id = user_id.value_or(integration->id);
      e.integration_id = integration->id;
      e.user_id = user_id;
      e.ip = truncate_utf8(r.context.ip, kMaxIpBytes);
      nlohmann::json details = {
          {"reason", reason}, {"tenant_id", *home_tenant}, {"upn", truncate_utf8(r.identity.upn, kMaxUpnBytes)}};
      if (extra.is_object()) details.update(extra);
      e.details = json_text(details);
      AVOW_TRY(append(tx, e));
      return Outcome<SignInStart>{std::nullopt, std::move(error)};
    };
    auto refuse = [&](const std::optional<std::string>& user_id, std::string_view reason,
                      Error error) -> Result<Outcome<SignInStart>> {
      return refuse_as("signin.refused", user_id, reason, std::move(error), nullptr);
    };

    if (integration->status != store::IntegrationStatus::kEnabled) {
      return refuse(std::nullopt, "integration_disabled",
                    Error{ErrorCode::kPermissionDenied, "integration is disabled"});
    }
    // Before find_or_create: a refused guest leaves no user behind.
    if (Status admitted = check_guest_policy(*integration, *home_tenant); !admitted) {
      return refuse(std::nullopt, "guest_policy", admitted.error());
    }
    auto user = UserService(tx, clock_).find_or_create(integration->org_id, integration->directory_id, r.identity);
    AVOW_TRY(user);
    if (user->status != store::UserStatus::kActive) {
      return refuse(user->id, "user_locked", Error{ErrorCode::kPermissionDenied, "user is locked"});
    }
    // The push rate limit: every challenge counts (whatever became of it); a refused request makes none.
    if (max_pushes_per_hour_ > 0) {
      auto recent = store::ChallengeRepo(tx).count_for_user_since(user->id, now - kPushRateWindowSeconds);
      AVOW_TRY(recent);
      if (*recent >= max_pushes_per_hour_) {
        return refuse_as(
            "signin.rate_limited", user->id, "rate_limited", Error{ErrorCode::kExhausted, kRateLimitedMessage},
            {{"limit", max_pushes_per_hour_}, {"window_seconds", kPushRateWindowSeconds}, {"recent", *recent}});
      }
    }
    auto org = store::OrgRepo(tx).get(integration->org_id);
    AVOW_TRY(org);

    NewChallenge nc;
    nc.kind = r.kind;
    nc.org_id = integration->org_id;
    nc.user_id = user->id;
    nc.integration_id = integration->id;
    nc.context = r.context;
    nc.context.integration_name = integration->name;
    nc.context.user_label = label_of(*user);
    nc.context.org_name = org->name;
    nc.context.created_at = now;
    nc.nonce = r.nonce;
    nc.state_param = r.state_param;
    nc.redirect_uri = r.redirect_uri;
    nc.client_id = r.client_id;
    nc.hint_sub = r.hint_sub;
    nc.response_params = r.response_params;
    nc.flow_secret_hash = r.flow_secret_hash;
    auto opened = ChallengeService(tx, clock_, challenge_policy_, lockout_).open(nc);
    AVOW_TRY(opened);

    SignInStart out;
    out.challenge = opened->challenge;
    out.user = *user;
    out.integration_name = integration->name;
    out.org_name = org->name;
    auto devices = store::DeviceRepo(tx).list_active_for_user(user->id);
    AVOW_TRY(devices);
    for (const store::DeviceRecord& d : *devices) out.notify.push_back("device:" + d.id);
    out.devices = *devices;
    if (opened->replaced_id) out.notify.push_back("challenge:" + *opened->replaced_id);
    if (codes_.master_key && !devices->empty()) {
      auto lock = store::UserRepo(tx).code_lock(user->id);
      AVOW_TRY(lock);
      out.codes_open = !lock->locked();
    }

    nlohmann::json details = {{"kind", store::to_string(r.kind)}, {"bound", !devices->empty()}};
    if (opened->replaced_id) details["replaced"] = *opened->replaced_id;
    // A ScanCode while the user has no device — or has one and an admin allowed one more (a new phone).
    if (devices->empty() || user->allow_new_device) {
      ScanCodeRequest sr;
      sr.purpose = store::ScanCodePurpose::kBindUser;
      sr.org_id = integration->org_id;
      sr.user_id = user->id;
      sr.challenge_id = out.challenge.id;
      auto issued = ScanCodeService(tx, clock_, scan_code_policy_).issue(sr);
      AVOW_TRY(issued);
      out.scan_code = std::move(issued->code);
      out.scan_code_expires_at = issued->record.expires_at;
      details["scan_code_id"] = issued->record.id;
    }
    AVOW_TRY(append(
        tx, challenge_event(out.challenge, "signin.started", "entra", integration->id, r.context.ip, details, now)));
    return Outcome<SignInStart>{std::move(out), std::nullopt};
  }));
}

// ===================================================================== current_scan_code

Result<std::optional<std::pair<std::string, std::int64_t>>> SignInService::current_scan_code(
    std::string_view challenge_id, std::string_view flow_secret_hash, std::int64_t refresh_before) {
  using Shown = std::optional<std::pair<std::string, std::int64_t>>;
  if (bad_id(challenge_id)) return fail(ErrorCode::kNotFound, "challenge not found");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<Shown> {
    auto c = store::ChallengeRepo(tx).get(challenge_id);
    AVOW_TRY(c);
    if (!flow_secret_matches(*c, flow_secret_hash)) return fail(ErrorCode::kPermissionDenied, "not this sign-in");
    const UnixTime now = clock_.unix_now();
    if (!c->user_id || effective_state(*c, now) != ChallengeState::kPending) return Shown();

    store::ScanCodeRepo codes(tx);
    auto active = codes.list_active_for_challenge(c->id, store::ScanCodePurpose::kBindUser, now);
    AVOW_TRY(active);
    auto bound = store::BindingRepo(tx).count_active_for_user(*c->user_id);
    AVOW_TRY(bound);
    auto user = store::UserRepo(tx).get(*c->user_id);
    AVOW_TRY(user);
    if (*bound > 0 && !user->allow_new_device) {
      // Bound meanwhile (by this code or otherwise): the codes left over have nothing more to do.
      for (const store::ScanCodeRecord& s : *active) AVOW_TRY(codes.expire(s.id));
      return Shown();
    }
    if (!active->empty() && active->front().expires_at > now + refresh_before) {
      return Shown(std::make_pair(std::string(), active->front().expires_at));
    }
    for (const store::ScanCodeRecord& s : *active) AVOW_TRY(codes.expire(s.id));
    ScanCodeRequest sr;
    sr.purpose = store::ScanCodePurpose::kBindUser;
    sr.org_id = c->org_id;
    sr.user_id = c->user_id;
    sr.challenge_id = c->id;
    auto issued = ScanCodeService(tx, clock_, scan_code_policy_).issue(sr);
    AVOW_TRY(issued);
    AVOW_TRY(append(tx, challenge_event(*c, "signin.scan_code_issued", "user", *c->user_id, "",
                                        {{"scan_code_id", issued->record.id}, {"withdrawn", active->size()}}, now)));
    return Shown(std::make_pair(std::move(issued->code), issued->record.expires_at));
  });
}

// ===================================================================== scan

Result<ScanResult> SignInService::scan(std::string_view code, std::string_view device_id, std::string_view ip) {
  if (code.empty() || code.size() > kMaxScanCodeBytes) return fail(ErrorCode::kUnauthenticated, "unknown scan code");
  if (bad_id(device_id)) return fail(ErrorCode::kPermissionDenied, "unknown device");

  return unwrap(store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome<ScanResult>> {
    const UnixTime now = clock_.unix_now();
    auto found = store::ScanCodeRepo(tx).find_by_hash(sha256_hex(code));
    AVOW_TRY(found);

    auto refuse = [&](const store::ScanCodeRecord* rec, const Error& cause) -> Result<Outcome<ScanResult>> {
      if (!is_refusal(cause)) return tl::unexpected(cause);
      const Error error = scan_refusal(cause);
      store::AuditEventRecord e;
      e.org_id = rec ? rec->org_id : std::nullopt;
      e.at = now;
      e.actor_kind = "device";
      e.actor_id = std::string(device_id);
      e.kind = "device.bind_refused";
      e.subject_kind = "scan_code";
      e.subject_id = rec ? rec->id : "";
      e.user_id = rec ? rec->user_id : std::nullopt;
      e.ip = truncate_utf8(ip, kMaxIpBytes);
      e.details = json_text({{"reason", to_string(error.code)}, {"message", error.message}});
      AVOW_TRY(append(tx, e));
      return Outcome<ScanResult>{std::nullopt, error};
    };

    if (!*found) return refuse(nullptr, Error{ErrorCode::kUnauthenticated, "unknown scan code"});
    const store::ScanCodeRecord rec = std::move(**found);
    if (rec.purpose != store::ScanCodePurpose::kBindUser) {
      // Not a refusal: the edge routes the code to the flow it belongs to.
      return Outcome<ScanResult>{
          std::nullopt,
          Error{ErrorCode::kInvalidArgument, "this scan code is for " + std::string(store::to_string(rec.purpose))}};
    }

    // Checked before redeeming: a device that does not exist must not get as far as consuming the code.
    auto device = store::DeviceRepo(tx).get(device_id);
    if (!device) return refuse(&rec, device.error());  // kNotFound → "unknown device"
    if (device->status != store::DeviceStatus::kActive) {
      return refuse(&rec, Error{ErrorCode::kPermissionDenied, "device is revoked"});
    }

    std::string decision;
    std::string binding_id;
    auto bound = BindingService(tx, clock_, scan_code_policy_).bind_with_scan_code(code, device_id);
    if (bound) {
      decision = decision_name(bound->decision);
      binding_id = bound->binding.id;
    } else if (bound.error().code == ErrorCode::kAlreadyExists) {
      // This device is already the user's: the scan grants nothing new, so it simply succeeds.
      auto used = ScanCodeService(tx, clock_, scan_code_policy_)
                      .redeem(code, rec.purpose, std::optional<std::string>(device_id));
      if (!used) return refuse(&rec, used.error());
      decision = "already_bound";
    } else {
      return refuse(&rec, bound.error());
    }
    if (!rec.user_id) return fail(ErrorCode::kInternal, "bind_user scan code without a user");

    // The binding's fallback-code secret goes back to the device with the scan's answer.
    std::optional<CodeSecret> code_secret;
    if (codes_.master_key) {
      std::string secret_binding = binding_id;
      if (secret_binding.empty()) {
        auto existing = store::BindingRepo(tx).find_active(*rec.user_id, device_id);
        AVOW_TRY(existing);
        if (*existing) secret_binding = (*existing)->id;
      }
      if (!secret_binding.empty()) {
        auto secret = ensure_code_secret(tx, *codes_.master_key, secret_binding, now);
        AVOW_TRY(secret);
        code_secret = CodeSecret{secret_binding, std::move(*secret)};
      }
    }

    auto user = store::UserRepo(tx).get(*rec.user_id);
    AVOW_TRY(user);
    auto org = store::OrgRepo(tx).get(user->org_id);
    AVOW_TRY(org);
    ScanResult out;
    out.user_label = label_of(*user);
    out.org_name = org->name;
    std::optional<std::string> integration_id;
    if (rec.challenge_id) {
      auto c = store::ChallengeRepo(tx).get(*rec.challenge_id);
      AVOW_TRY(c);
      out.challenge_id = c->id;
      integration_id = c->integration_id;
      // Scanning took part of the challenge's time: leave the push at least `after_scan`.
      const UnixTime extended = std::min<UnixTime>(c->created_at + challenge_policy_.max_lifetime.count(),
                                                   now + challenge_policy_.after_scan.count());
      AVOW_TRY(store::ChallengeRepo(tx).extend_pending(c->id, extended, now));
      if (c->integration_id) {
        auto integration = store::IntegrationRepo(tx).get(*c->integration_id);
        AVOW_TRY(integration);
        out.integration_name = integration->name;
      }
      out.notify.push_back("challenge:" + c->id);
    }
    out.notify.push_back("device:" + std::string(device_id));
    out.code_secret = std::move(code_secret);

    store::AuditEventRecord e;
    e.org_id = user->org_id;
    e.at = now;
    e.actor_kind = "device";
    e.actor_id = std::string(device_id);
    e.kind = "device.bound";
    e.subject_kind = "device";
    e.subject_id = std::string(device_id);
    e.integration_id = integration_id;
    e.user_id = user->id;
    e.ip = truncate_utf8(ip, kMaxIpBytes);
    nlohmann::json details = {{"decision", decision}, {"scan_code_id", rec.id}};
    if (!binding_id.empty()) details["binding_id"] = binding_id;
    details["code_secret"] = out.code_secret.has_value();
    if (rec.challenge_id) details["challenge_id"] = *rec.challenge_id;
    e.details = json_text(details);
    AVOW_TRY(append(tx, e));
    return Outcome<ScanResult>{std::move(out), std::nullopt};
  }));
}

// ===================================================================== pending_for_device

Result<std::vector<DeviceChallenge>> SignInService::pending_for_device(std::string_view device_id) {
  if (bad_id(device_id)) return fail(ErrorCode::kPermissionDenied, "unknown device");
  auto device = store::DeviceRepo(db_).get(device_id);
  if (!device) {
    if (device.error().code == ErrorCode::kNotFound) return fail(ErrorCode::kPermissionDenied, "unknown device");
    return tl::unexpected(device.error());
  }
  if (device->status != store::DeviceStatus::kActive) return fail(ErrorCode::kPermissionDenied, "device is revoked");
  auto pending = store::ChallengeRepo(db_).list_pending_for_device(device_id, clock_.unix_now(), kMaxPendingForDevice);
  AVOW_TRY(pending);
  std::vector<DeviceChallenge> out;
  out.reserve(pending->size());
  for (store::ChallengeRecord& c : *pending) {
    std::string context = c.context;
    out.push_back(DeviceChallenge{std::move(c), std::move(context)});
  }
  return out;
}

// ===================================================================== answer

Result<AnswerResult> SignInService::answer(std::string_view challenge_id, std::string_view device_id,
                                           DeviceAction action, int number, std::string_view given_hash,
                                           std::string_view ip) {
  if (bad_id(challenge_id)) return fail(ErrorCode::kNotFound, "challenge not found");
  if (bad_id(device_id)) return fail(ErrorCode::kPermissionDenied, "unknown device");

  return unwrap(store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome<AnswerResult>> {
    auto c = store::ChallengeRepo(tx).get(challenge_id);
    AVOW_TRY(c);
    const UnixTime now = clock_.unix_now();
    const std::string actor(device_id);

    auto refuse = [&](std::string_view reason, const Error& error) -> Result<Outcome<AnswerResult>> {
      if (!is_refusal(error)) return tl::unexpected(error);
      AVOW_TRY(append(tx, challenge_event(*c, "challenge.answer_refused", "device", actor, ip,
                                          {{"reason", reason}, {"message", error.message}}, now)));
      return Outcome<AnswerResult>{std::nullopt, error};
    };

    // The device must have shown the context we stored; a mismatch means it displayed something else.
    const std::string expected = context_hash(c->context);
    if (given_hash.size() > kMaxContextHashBytes || !constant_time_equal(expected, given_hash)) {
      return refuse("context_mismatch", Error{ErrorCode::kPermissionDenied, "context hash differs"});
    }

    Answer a;
    a.action = action == DeviceAction::kApprove ? Action::kApprove : Action::kDeny;
    a.number = action == DeviceAction::kApprove ? number : 0;
    LockoutPolicy lockout = lockout_;
    if (org_lockout_) {
      auto saved = store::OrgSettingsRepo(tx).find(c->org_id);
      AVOW_TRY(saved);
      if (*saved) lockout.max_failures = (*saved)->lockout_max_failures;
    }
    auto decided = ChallengeService(tx, clock_, challenge_policy_, lockout).answer(challenge_id, device_id, a);
    if (!decided) {
      const ErrorCode code = decided.error().code;
      const char* reason = code == ErrorCode::kExpired    ? "expired"
                           : code == ErrorCode::kConflict ? "already_decided"
                                                          : "not_allowed";
      return refuse(reason, decided.error());
    }

    AnswerResult out;
    out.challenge = decided->challenge;
    out.user_locked = decided->user_locked;
    std::string kind;
    if (out.challenge.state == ChallengeState::kApproved) {
      out.reason = "approved";
      kind = "challenge.approved";
    } else if (action == DeviceAction::kFraud) {
      out.reason = "fraud";
      kind = "challenge.fraud_reported";
    } else if (decided->wrong_number) {
      out.reason = "wrong_number";
      kind = "challenge.wrong_number";
    } else {
      out.reason = "denied";
      kind = "challenge.denied";
    }
    AVOW_TRY(append(tx, challenge_event(out.challenge, kind, "device", actor, ip,
                                        {{"reason", out.reason}, {"user_locked", out.user_locked}}, now)));
    // An approved push proves the phone is in hand: the code fallback opens again and its count restarts.
    if (out.challenge.state == ChallengeState::kApproved && out.challenge.user_id) {
      auto lock = store::UserRepo(tx).code_lock(*out.challenge.user_id);
      AVOW_TRY(lock);
      auto reset = store::UserRepo(tx).reset_codes(*out.challenge.user_id);
      AVOW_TRY(reset);
      if (lock->locked()) {
        AVOW_TRY(append(
            tx,
            user_event(out.challenge, "user.codes_unlocked", "device", actor, ip,
                       {{"reason", "push_approved"}, {"failures", lock->failures}, {"challenge_id", out.challenge.id}},
                       now)));
      }
    }
    if (out.user_locked && out.challenge.user_id) {
      store::AuditEventRecord e;
      e.org_id = out.challenge.org_id;
      e.at = now;
      e.actor_kind = "system";
      e.kind = "user.locked";
      e.subject_kind = "user";
      e.subject_id = *out.challenge.user_id;
      e.integration_id = out.challenge.integration_id;
      e.user_id = out.challenge.user_id;
      e.ip = truncate_utf8(ip, kMaxIpBytes);
      e.details = json_text({{"reason", "too_many_wrong_numbers"}, {"challenge_id", out.challenge.id}});
      AVOW_TRY(append(tx, e));
    }
    out.notify.push_back("challenge:" + out.challenge.id);
    return Outcome<AnswerResult>{std::move(out), std::nullopt};
  }));
}

// ===================================================================== status, finish

Result<store::ChallengeRecord> SignInService::status(std::string_view challenge_id, std::string_view flow_secret_hash) {
  if (bad_id(challenge_id)) return fail(ErrorCode::kNotFound, "challenge not found");
  auto c = ChallengeService(db_, clock_, challenge_policy_, lockout_).get(challenge_id);
  AVOW_TRY(c);
  if (!flow_secret_matches(*c, flow_secret_hash)) return fail(ErrorCode::kPermissionDenied, "not this sign-in");
  return c;
}

Result<FinishedSignIn> SignInService::finish(std::string_view challenge_id, std::string_view flow_secret_hash) {
  if (bad_id(challenge_id)) return fail(ErrorCode::kNotFound, "challenge not found");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<FinishedSignIn> {
    auto c = store::ChallengeRepo(tx).get(challenge_id);
    AVOW_TRY(c);
    if (!flow_secret_matches(*c, flow_secret_hash)) return fail(ErrorCode::kPermissionDenied, "not this sign-in");
    auto done = ChallengeService(tx, clock_, challenge_policy_, lockout_).complete(challenge_id);
    AVOW_TRY(done);
    AVOW_TRY(append(tx, challenge_event(*done, "signin.finished", "user", done->user_id.value_or(""), "",
                                        {{"state", store::to_string(done->state)}}, clock_.unix_now())));
    FinishedSignIn out;
    out.challenge = std::move(*done);
    out.response_params = out.challenge.response_params;
    out.method = out.challenge.approved_by_code ? "otp" : "swk";
    return out;
  });
}

// ===================================================================== fallback codes

Result<CodeSecret> SignInService::code_secret(std::string_view binding_id, std::string_view device_id) {
  if (bad_id(binding_id)) return fail(ErrorCode::kNotFound, "binding not found");
  if (bad_id(device_id)) return fail(ErrorCode::kPermissionDenied, "unknown device");
  if (!codes_.master_key) return fail(ErrorCode::kConflict, "fallback codes are off (no master key)");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<CodeSecret> {
    auto binding = store::BindingRepo(tx).get(binding_id);
    AVOW_TRY(binding);
    if (binding->device_id != device_id || binding->status != store::BindingStatus::kActive)
      return fail(ErrorCode::kPermissionDenied, "not an active binding of this device");
    auto device = store::DeviceRepo(tx).get(device_id);
    AVOW_TRY(device);
    if (device->status != store::DeviceStatus::kActive) return fail(ErrorCode::kPermissionDenied, "device is revoked");
    const UnixTime now = clock_.unix_now();
    bool created = false;
    auto secret = ensure_code_secret(tx, *codes_.master_key, binding->id, now, &created);
    AVOW_TRY(secret);
    if (created) {
      auto user = store::UserRepo(tx).get(binding->user_id);
      AVOW_TRY(user);
      store::AuditEventRecord e;
      e.org_id = user->org_id;
      e.at = now;
      e.actor_kind = "device";
      e.actor_id = std::string(device_id);
      e.kind = "binding.code_secret_issued";
      e.subject_kind = "binding";
      e.subject_id = binding->id;
      e.user_id = user->id;
      e.details = json_text({{"device_id", binding->device_id}});
      AVOW_TRY(append(tx, e));
    }
    return CodeSecret{binding->id, std::move(*secret)};
  });
}

Result<CodeVerdict> SignInService::verify_code(std::string_view challenge_id, std::string_view flow_secret_hash,
                                               std::string_view code, std::string_view ip) {
  if (bad_id(challenge_id)) return fail(ErrorCode::kNotFound, "challenge not found");
  if (!codes_.master_key) return fail(ErrorCode::kConflict, "fallback codes are off (no master key)");
  const CodePolicy& policy = codes_.policy;

  return unwrap(store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome<CodeVerdict>> {
    auto c = store::ChallengeRepo(tx).get(challenge_id);
    AVOW_TRY(c);
    if (!flow_secret_matches(*c, flow_secret_hash)) return fail(ErrorCode::kPermissionDenied, "not this sign-in");
    if (!c->user_id || c->kind == store::ChallengeKind::kAdminSignin)
      return fail(ErrorCode::kPermissionDenied, "not an Entra sign-in");
    const UnixTime now = clock_.unix_now();
    if (effective_state(*c, now) != ChallengeState::kPending)
      return fail(ErrorCode::kConflict, "the sign-in is no longer pending");
    const std::string user_id = *c->user_id;
    store::UserRepo users(tx);

    CodeVerdict verdict;
    verdict.challenge = *c;
    // Every refusal: audited (reason for the log only), committed, and the same verdict to the caller.
    auto refuse = [&](std::string_view reason, int attempts, bool closed,
                      std::optional<int> failures) -> Result<Outcome<CodeVerdict>> {
      nlohmann::json details = {{"reason", reason}, {"attempts", attempts}};
      if (failures) details["failures"] = *failures;
      AVOW_TRY(append(tx, challenge_event(*c, "signin.code_failed", "user", user_id, ip, details, now)));
      verdict.accepted = false;
      verdict.closed = closed;
      return Outcome<CodeVerdict>{std::move(verdict), std::nullopt};
    };

    // The budget and the lock are spent before the code is looked at, so `closed` says nothing about it.
    auto counted = store::ChallengeRepo(tx).count_code_attempt(c->id, policy.max_attempts_per_challenge);
    AVOW_TRY(counted);
    if (!*counted) return refuse("attempts_exhausted", c->code_attempts, true, std::nullopt);
    const int attempts = c->code_attempts + 1;
    const bool last_attempt = attempts >= policy.max_attempts_per_challenge;
    auto lock = users.code_lock(user_id);
    AVOW_TRY(lock);
    if (lock->locked()) return refuse("locked", attempts, true, std::nullopt);

    // Every active binding's secret is tried, all of them whatever matches (totp_verify itself compares in
    // constant time), so the time taken does not tell which binding, or whether any, matched.
    struct Match {
      std::string binding_id;
      std::string device_id;
      std::int64_t step = 0;
    };
    std::optional<Match> match;
    bool replayed = false;
    const bool plausible = !code.empty() && code.size() <= kMaxTypedCodeBytes;
    auto bindings = store::BindingRepo(tx).list_active_for_user(user_id);
    AVOW_TRY(bindings);
    for (const store::BindingRecord& b : *bindings) {
      auto stored = store::CodeSecretRepo(tx).find(b.id);
      AVOW_TRY(stored);
      if (!*stored || !plausible) continue;
      auto secret = codes_.master_key->open((*stored)->secret_sealed, code_secret_aad(b.id));
      if (!secret) {
        return fail(ErrorCode::kInternal,
                    "the code secret of binding " + b.id + " does not open (another master key, or a damaged row)");
      }
      const std::optional<std::int64_t> step =
          crypto::totp_verify(*secret, code, now, policy.window_steps, kCodePeriodSeconds, kCodeDigits, kCodeAlgorithm);
      if (!step) continue;
      // RFC 6238 §5.2: a step already accepted for this binding — or an older one — is never accepted again.
      if ((*stored)->last_step && *step <= *(*stored)->last_step) {
        replayed = true;
      } else if (!match) {
        match = Match{b.id, b.device_id, *step};
      }
    }
    if (match) {
      // Compare-and-set in this transaction: of two racing posts of one code, one advances the step.
      auto advanced = store::CodeSecretRepo(tx).advance_step(match->binding_id, match->step);
      AVOW_TRY(advanced);
      if (!*advanced) {
        replayed = true;
        match.reset();
      }
    }

    if (!match) {
      auto failures = users.record_code_failure(user_id);
      AVOW_TRY(failures);
      bool closed = last_attempt;
      const std::string_view reason = replayed ? "replayed" : "wrong_code";
      if (policy.should_lock(*failures)) {
        auto locked = users.lock_codes(user_id, now);
        AVOW_TRY(locked);
        if (*locked) {
          AVOW_TRY(append(
              tx, user_event(*c, "user.codes_locked", "system", "", ip,
                             {{"reason", "too_many_failed_codes"}, {"failures", *failures}, {"challenge_id", c->id}},
                             now)));
        }
        closed = true;
      }
      return refuse(reason, attempts, closed, *failures);
    }

    auto approved = store::ChallengeRepo(tx).approve_by_code(c->id, match->device_id, now);
    AVOW_TRY(approved);
    if (!*approved) return fail(ErrorCode::kConflict, "the sign-in is no longer pending");
    AVOW_TRY(users.record_code_sign_in(user_id, now));
    auto updated = store::ChallengeRepo(tx).get(c->id);
    AVOW_TRY(updated);
    AVOW_TRY(append(tx, challenge_event(*updated, "signin.code_ok", "user", user_id, ip,
                                        {{"binding_id", match->binding_id}, {"attempts", attempts}}, now)));
    verdict.accepted = true;
    verdict.closed = false;
    verdict.challenge = std::move(*updated);
    verdict.notify.push_back("challenge:" + c->id);
    return Outcome<CodeVerdict>{std::move(verdict), std::nullopt};
  }));
}

Result<bool> SignInService::unlock_codes(std::string_view user_id, std::string_view actor_kind,
                                         std::string_view actor_id) {
  if (bad_id(user_id)) return fail(ErrorCode::kNotFound, "user not found");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<bool> {
    auto user = store::UserRepo(tx).get(user_id);
    AVOW_TRY(user);
    auto lock = store::UserRepo(tx).code_lock(user_id);
    AVOW_TRY(lock);
    auto reset = store::UserRepo(tx).reset_codes(user_id);
    AVOW_TRY(reset);
    store::AuditEventRecord e;
    e.org_id = user->org_id;
    e.at = clock_.unix_now();
    e.actor_kind = std::string(actor_kind);
    e.actor_id = std::string(actor_id);
    e.kind = "user.codes_unlocked";
    e.subject_kind = "user";
    e.subject_id = user->id;
    e.user_id = user->id;
    e.details = json_text({{"reason", "admin"}, {"was_locked", lock->locked()}, {"failures", lock->failures}});
    AVOW_TRY(append(tx, e));
    return lock->locked();
  });
}

}  // namespace avow::domain
