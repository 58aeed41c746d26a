#include "domain/admin_access.h"
#include "domain/transaction_outcome.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "common/random.h"
#include "domain/admins.h"
#include "domain/hashing.h"
#include "domain/sign_in.h"
#include "domain/states.h"
#include "domain/users.h"
#include "domain/validation.h"
#include "store/repositories.h"

namespace avow::domain {

using store::ChallengeState;
using store::ScanCodePurpose;
using store::ScanCodeState;
using store::UnixTime;

namespace {

using detail::is_refusal;
using detail::json_text;
using detail::Outcome;
using detail::unwrap;

// Ids are UUIDs (36 characters); anything much longer is not one of ours.
constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxIpBytes = 64;
// What the admin_signin challenge tells the device it is for.
constexpr char kDashboardName[] = "Avow dashboard";

bool bad_id(std::string_view id) { return id.empty() || id.size() > kMaxIdBytes; }

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

// "<field>: <Message>" — what begin_signup()/invite() promise for a bad form field.
Error field_error(std::string_view field, const Error& e) {
  std::string message = e.message;
  if (!message.empty()) message[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(message[0])));
  return Error{ErrorCode::kInvalidArgument, std::string(field) + ": " + message};
}

// An audit event of the admin flows. Never a code, secret or hash in `details`.
struct Event {
  std::optional<std::string> org_id;
  std::string actor_kind;  // "admin" | "device" | "system"
  std::string actor_id;
  std::string kind;
  std::string subject_kind;
  std::string subject_id;
  std::string_view ip;
  nlohmann::json details = nlohmann::json::object();
};

Status append(store::Db& db, const Event& ev, UnixTime at) {
  store::AuditEventRecord e;
  e.org_id = ev.org_id;
  e.at = at;
  e.actor_kind = ev.actor_kind;
  e.actor_id = ev.actor_id;
  e.kind = ev.kind;
  e.subject_kind = ev.subject_kind;
  e.subject_id = ev.subject_id;
  e.ip = truncate_utf8(ev.ip, kMaxIpBytes);
  e.details = json_text(ev.details);
  return detail::append_audit(db, e);
}

// How many pushes `admin_id`'s phone got in the last rolling hour, and whether that reaches
// kMaxAdminPushesPerHour (sign-in by email and re-authentication count together).
struct PushCount {
  std::int64_t recent = 0;
  bool limited = false;
};
Result<PushCount> admin_pushes(store::Db& tx, std::string_view admin_id, UnixTime now) {
  auto recent = store::ChallengeRepo(tx).count_for_admin_since(admin_id, now - kPushRateWindowSeconds);
  AVOW_TRY(recent);
  return PushCount{*recent, *recent >= kMaxAdminPushesPerHour};
}

// The browser binding kept in a ScanCode's details: {"browser": "<hex sha256>", …}.
nlohmann::json details_of(const store::ScanCodeRecord& rec) {
  nlohmann::json j = nlohmann::json::parse(rec.details, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string string_member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Both sides must be present, compared in constant time.
bool browser_matches(std::string_view stored, std::string_view given) {
  if (stored.empty() || given.empty()) return false;
  return constant_time_equal(stored, given);
}

ScanCodeRequest admin_code(ScanCodePurpose purpose, nlohmann::json details) {
  ScanCodeRequest r;
  r.purpose = purpose;
  r.details = json_text(details);
  return r;
}

// The admin the device names: the (oldest) admin whose device it is. nullopt when none, or disabled.
Result<std::optional<store::AdminRecord>> enabled_admin_of_device(store::Db& db, std::string_view device_id) {
  auto a = store::AdminRepo(db).find_by_device(device_id);
  AVOW_TRY(a);
  if (!*a || (*a)->disabled_at) return std::optional<store::AdminRecord>();
  return std::move(*a);
}

}  // namespace

// ===================================================================== sign-up

Result<bool> AdminAccessService::signup_open() {
  if (options_.open_signup) return true;
  auto orgs = store::OrgRepo(db_).count();
  AVOW_TRY(orgs);
  return *orgs == 0;
}

std::vector<std::string> signup_errors(const SignupForm& form) {
  std::vector<std::string> out;
  if (auto v = validate_name("organisation name", form.org_name); !v)
    out.push_back(field_error("org_name", v.error()).message);
  if (auto v = validate_name("name", form.display_name); !v)
    out.push_back(field_error("display_name", v.error()).message);
  if (auto v = validate_email(form.email); !v) out.push_back(field_error("email", v.error()).message);
  return out;
}

Result<IssuedScanCode> AdminAccessService::begin_signup(const SignupForm& form, std::string_view browser_hash,
                                                        std::string_view ip) {
  if (!is_hex64(browser_hash)) return fail(ErrorCode::kInvalidArgument, "browser hash must be 64 hex characters");
  auto org_name = validate_name("organisation name", form.org_name);
  if (!org_name) return tl::unexpected(field_error("org_name", org_name.error()));
  auto display_name = validate_name("name", form.display_name);
  if (!display_name) return tl::unexpected(field_error("display_name", display_name.error()));
  auto email = validate_email(form.email);
  if (!email) return tl::unexpected(field_error("email", email.error()));
  auto open = signup_open();
  AVOW_TRY(open);
  if (!*open) return fail(ErrorCode::kPermissionDenied, "sign-up is closed");

  return store::transaction_value(db_, [&](store::Db& tx) -> Result<IssuedScanCode> {
    auto issued = ScanCodeService(tx, clock_, scan_codes_)
                      .issue(admin_code(ScanCodePurpose::kAdminSignup, {{"browser", browser_hash},
                                                                        {"org_name", *org_name},
                                                                        {"display_name", *display_name},
                                                                        {"email", *email}}));
    AVOW_TRY(issued);
    AVOW_TRY(append(tx,
                    Event{std::nullopt,
                          "system",
                          "",
                          "admin.signup_started",
                          "scan_code",
                          issued->record.id,
                          ip,
                          {{"org_name", *org_name}, {"email", *email}}},
                    clock_.unix_now()));
    return issued;
  });
}

// ===================================================================== sign-in

Result<IssuedScanCode> AdminAccessService::begin_signin_scan(std::string_view browser_hash, std::string_view ip) {
  (void)ip;  // Not audited: every sign-in page view issues one, and it concerns no org yet.
  if (!is_hex64(browser_hash)) return fail(ErrorCode::kInvalidArgument, "browser hash must be 64 hex characters");
  return ScanCodeService(db_, clock_, scan_codes_)
      .issue(admin_code(ScanCodePurpose::kAdminSignin, {{"browser", browser_hash}}));
}

Result<std::optional<OpenedChallenge>> AdminAccessService::begin_signin_push(std::string_view email,
                                                                             std::string_view browser_hash,
                                                                             const ChallengeContext& context) {
  using Opened = std::optional<OpenedChallenge>;
  auto address = validate_email(email);
  if (!address) return tl::unexpected(field_error("email", address.error()));
  if (!is_hex64(browser_hash)) return fail(ErrorCode::kInvalidArgument, "browser hash must be 64 hex characters");

  return store::transaction_value(db_, [&](store::Db& tx) -> Result<Opened> {
    auto admins = store::AdminRepo(tx).find_by_email_any_org(*address);
    AVOW_TRY(admins);
    const store::AdminRecord* admin = nullptr;
    for (const store::AdminRecord& a : *admins) {
      if (!a.disabled_at && a.device_id) {
        admin = &a;
        break;
      }
    }
    const UnixTime now = clock_.unix_now();
    if (!admin) {
      // Recorded under the org of an admin with this address that cannot sign in (invited, removed), if any.
      if (!admins->empty()) {
        const store::AdminRecord& a = admins->front();
        AVOW_TRY(append(tx,
                        Event{a.org_id,
                              "system",
                              "",
                              "admin.signin_refused",
                              "admin",
                              a.id,
                              context.ip,
                              {{"method", "push"}, {"reason", a.disabled_at ? "removed" : "no_device"}}},
                        now));
      }
      return Opened();
    }
    auto pushes = admin_pushes(tx, admin->id, now);
    AVOW_TRY(pushes);
    if (pushes->limited) {
      AVOW_TRY(append(tx,
                      Event{admin->org_id,
                            "system",
                            "",
                            "admin.signin_refused",
                            "admin",
                            admin->id,
                            context.ip,
                            {{"method", "push"}, {"reason", "rate_limited"}, {"recent", pushes->recent}}},
                      now));
      return Opened();
    }
    auto org = store::OrgRepo(tx).get(admin->org_id);
    AVOW_TRY(org);
    NewChallenge nc;
    nc.kind = store::ChallengeKind::kAdminSignin;
    nc.org_id = admin->org_id;
    nc.admin_id = admin->id;
    nc.context = context;
    nc.context.org_name = org->name;
    nc.context.user_label = admin->email;
    nc.context.integration_name = kDashboardName;
    nc.context.created_at = now;
    nc.flow_secret_hash = std::string(browser_hash);
    auto opened = ChallengeService(tx, clock_, challenges_).open(nc);
    AVOW_TRY(opened);
    nlohmann::json details = {{"method", "push"}, {"challenge_id", opened->challenge.id}};
    if (opened->replaced_id) details["replaced"] = *opened->replaced_id;
    AVOW_TRY(append(
        tx, Event{admin->org_id, "system", "", "admin.signin_started", "admin", admin->id, context.ip, details}, now));
    return Opened(std::move(*opened));
  });
}

Result<std::vector<std::string>> AdminAccessService::notify_for(const OpenedChallenge& opened) {
  std::vector<std::string> topics;
  if (opened.challenge.admin_id) {
    auto admin = store::AdminRepo(db_).get(*opened.challenge.admin_id);
    AVOW_TRY(admin);
    if (admin->device_id) topics.push_back("device:" + *admin->device_id);
  }
  if (opened.replaced_id) topics.push_back("challenge:" + *opened.replaced_id);
  return topics;
}

// ===================================================================== the device's scan

Result<AdminScanResult> AdminAccessService::scan(std::string_view code, std::string_view device_id,
                                                 std::string_view ip) {
  if (code.empty() || code.size() > kMaxScanCodeBytes) return fail(ErrorCode::kUnauthenticated, "unknown scan code");
  if (bad_id(device_id)) return fail(ErrorCode::kPermissionDenied, "unknown device");

  return unwrap(store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome<AdminScanResult>> {
    const UnixTime now = clock_.unix_now();
    auto found = store::ScanCodeRepo(tx).find_by_hash(sha256_hex(code));
    AVOW_TRY(found);
    if (!*found) return fail(ErrorCode::kUnauthenticated, "unknown scan code");
    const store::ScanCodeRecord rec = std::move(**found);
    if (rec.purpose == ScanCodePurpose::kBindUser) {
      return fail(ErrorCode::kInvalidArgument, "this scan code is for bind_user");
    }
    const std::string purpose(store::to_string(rec.purpose));

    // A refusal: audited and committed, nothing else written; the code stays usable when it was.
    auto refuse = [&](const std::optional<std::string>& org_id,
                      const Error& cause) -> Result<Outcome<AdminScanResult>> {
      if (!is_refusal(cause)) return tl::unexpected(cause);
      AVOW_TRY(append(tx,
                      Event{org_id,
                            "device",
                            std::string(device_id),
                            "admin.scan_refused",
                            "scan_code",
                            rec.id,
                            ip,
                            {{"purpose", purpose}, {"reason", to_string(cause.code)}, {"message", cause.message}}},
                      now));
      return Outcome<AdminScanResult>{std::nullopt, cause};
    };

    switch (effective_state(rec, now)) {
      case ScanCodeState::kConsumed:
        // Not kConflict: that is kept for the refusals the device should hear about (see the header).
        return refuse(rec.org_id, Error{ErrorCode::kUnauthenticated, "scan code already used"});
      case ScanCodeState::kExpired:
        return refuse(rec.org_id, Error{ErrorCode::kExpired, "scan code expired"});
      case ScanCodeState::kActive:
        break;
    }
    auto device = store::DeviceRepo(tx).get(device_id);
    if (!device) {
      if (device.error().code == ErrorCode::kNotFound) {
        return refuse(rec.org_id, Error{ErrorCode::kPermissionDenied, "unknown device"});
      }
      return tl::unexpected(device.error());
    }
    if (device->status != store::DeviceStatus::kActive) {
      return refuse(rec.org_id, Error{ErrorCode::kPermissionDenied, "device is revoked"});
    }

    AdminScanResult out;
    out.purpose = rec.purpose;
    Event done{std::nullopt, "device", std::string(device_id), "", "admin", "", ip, {{"scan_code_id", rec.id}}};
    const nlohmann::json details = details_of(rec);
    switch (rec.purpose) {
      case ScanCodePurpose::kAdminSignup: {
        bool open = options_.open_signup;
        if (!open) {
          auto orgs = store::OrgRepo(tx).count();
          AVOW_TRY(orgs);
          open = *orgs == 0;
        }
        if (!open) return refuse(std::nullopt, Error{ErrorCode::kConflict, "sign-up has closed"});
        NewAdmin owner;
        owner.display_name = string_member(details, "display_name");
        owner.email = string_member(details, "email");
        owner.role = store::AdminRole::kOwner;
        auto created = AdminService(tx, clock_).create_org(string_member(details, "org_name"), owner);
        if (!created) return refuse(std::nullopt, created.error());
        AVOW_TRY(AdminService(tx, clock_).set_device(created->owner.id, device_id));
        created->owner.device_id = std::string(device_id);
        // No settings row: an org without one runs under the server's configured policies (settings.h).
        out.org = std::move(created->org);
        out.admin = std::move(created->owner);
        done.kind = "admin.signup";
        done.details["org_name"] = out.org.name;
        break;
      }
      case ScanCodePurpose::kAdminSignin: {
        auto admin = enabled_admin_of_device(tx, device_id);
        AVOW_TRY(admin);
        if (!*admin) {
          return refuse(std::nullopt, Error{ErrorCode::kPermissionDenied, "this device belongs to no admin"});
        }
        out.admin = std::move(**admin);
        auto org = store::OrgRepo(tx).get(out.admin.org_id);
        AVOW_TRY(org);
        out.org = std::move(*org);
        done.kind = "admin.signin_scanned";
        done.details["method"] = "scan";
        break;
      }
      case ScanCodePurpose::kAdminInvite: {
        if (!rec.admin_id) return fail(ErrorCode::kInternal, "admin_invite scan code without an admin");
        auto admin = store::AdminRepo(tx).get(*rec.admin_id);
        AVOW_TRY(admin);
        if (admin->disabled_at) {
          return refuse(admin->org_id, Error{ErrorCode::kPermissionDenied, "the invited admin was removed"});
        }
        if (admin->device_id) {
          return refuse(admin->org_id, Error{ErrorCode::kConflict, "the invited admin already has a device"});
        }
        AVOW_TRY(AdminService(tx, clock_).set_device(admin->id, device_id));
        admin->device_id = std::string(device_id);
        out.admin = std::move(*admin);
        auto org = store::OrgRepo(tx).get(out.admin.org_id);
        AVOW_TRY(org);
        out.org = std::move(*org);
        done.kind = "admin.invite_accepted";
        done.details["role"] = store::to_string(out.admin.role);
        break;
      }
      case ScanCodePurpose::kBindUser:
        return fail(ErrorCode::kInternal, "unreachable");
    }
    // Last, in this transaction: a racer that consumed the code first rolls all of the above back.
    auto used = ScanCodeService(tx, clock_, scan_codes_).redeem(code, rec.purpose, std::string(device_id));
    if (!used && used.error().code == ErrorCode::kConflict) {
      return fail(ErrorCode::kUnauthenticated, "scan code already used");
    }
    AVOW_TRY(used);
    done.org_id = out.org.id;
    done.subject_id = out.admin.id;
    AVOW_TRY(append(tx, done, now));
    out.notify.push_back("scan:" + rec.id);
    return Outcome<AdminScanResult>{std::move(out), std::nullopt};
  }));
}

Result<ScanWait> AdminAccessService::scan_state(std::string_view scan_code_id, std::string_view browser_hash) {
  if (bad_id(scan_code_id)) return fail(ErrorCode::kNotFound, "scan code not found");
  auto rec = ScanCodeService(db_, clock_, scan_codes_).get(scan_code_id);
  AVOW_TRY(rec);
  if (rec->purpose == ScanCodePurpose::kAdminSignup || rec->purpose == ScanCodePurpose::kAdminSignin) {
    if (!browser_matches(string_member(details_of(*rec), "browser"), browser_hash)) return ScanWait::kWaiting;
  }
  switch (rec->state) {
    case ScanCodeState::kActive:
      return ScanWait::kWaiting;
    case ScanCodeState::kConsumed:
      return ScanWait::kScanned;
    case ScanCodeState::kExpired:
      return ScanWait::kExpired;
  }
  return ScanWait::kExpired;
}

// ===================================================================== claims

namespace {

// Refuses a claim of a code that is not (or no longer) claimable: not scanned yet, expired, already claimed,
// or scanned too long ago.
Status check_claimable(const store::ScanCodeRecord& rec, UnixTime now) {
  switch (effective_state(rec, now)) {
    case ScanCodeState::kActive:
      return fail(ErrorCode::kConflict, "the code has not been scanned yet");
    case ScanCodeState::kExpired:
      return fail(ErrorCode::kExpired, "the code expired");
    case ScanCodeState::kConsumed:
      break;
  }
  if (rec.claimed_at) return fail(ErrorCode::kConflict, "the code was claimed already");
  if (!rec.consumed_at || now > *rec.consumed_at + kClaimWindowSeconds) {
    return fail(ErrorCode::kExpired, "the scan is too old to sign in with");
  }
  return ok();
}

}  // namespace

Result<store::AdminRecord> AdminAccessService::claim_scan(std::string_view scan_code_id, std::string_view browser_hash,
                                                          std::string_view ip) {
  if (bad_id(scan_code_id)) return fail(ErrorCode::kNotFound, "scan code not found");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::AdminRecord> {
    store::ScanCodeRepo codes(tx);
    auto rec = codes.get(scan_code_id);
    AVOW_TRY(rec);
    if (rec->purpose != ScanCodePurpose::kAdminSignup && rec->purpose != ScanCodePurpose::kAdminSignin) {
      return fail(ErrorCode::kNotFound, "scan code not found");
    }
    const nlohmann::json details = details_of(*rec);
    if (!browser_matches(string_member(details, "browser"), browser_hash)) {
      return fail(ErrorCode::kPermissionDenied, "not this browser's code");
    }
    const UnixTime now = clock_.unix_now();
    AVOW_TRY(check_claimable(*rec, now));
    const std::string device = rec->consumed_by_device.value_or("");

    std::optional<store::AdminRecord> admin;
    if (rec->purpose == ScanCodePurpose::kAdminSignin) {
      auto a = enabled_admin_of_device(tx, device);
      AVOW_TRY(a);
      admin = std::move(*a);
    } else {
      // The owner the scan created: the newest admin with the form's address on the scanning device.
      auto candidates = store::AdminRepo(tx).find_by_email_any_org(string_member(details, "email"));
      AVOW_TRY(candidates);
      for (const store::AdminRecord& a : *candidates) {
        if (a.device_id == std::optional<std::string>(device) && a.role == store::AdminRole::kOwner && !a.disabled_at &&
            (!admin || a.created_at >= admin->created_at)) {
          admin = a;
        }
      }
    }
    if (!admin) return fail(ErrorCode::kPermissionDenied, "no admin to sign in");
    auto won = codes.claim(rec->id, now);
    AVOW_TRY(won);
    if (!*won) return fail(ErrorCode::kConflict, "the code was claimed already");
    AVOW_TRY(append(tx,
                    Event{admin->org_id,
                          "admin",
                          admin->id,
                          "admin.signin",
                          "admin",
                          admin->id,
                          ip,
                          {{"method", "scan"}, {"scan_code_id", rec->id}, {"device_id", device}}},
                    now));
    return *admin;
  });
}

Result<store::AdminRecord> AdminAccessService::claim_invite(std::string_view invite_code, std::string_view ip) {
  if (invite_code.empty() || invite_code.size() > kMaxScanCodeBytes) {
    return fail(ErrorCode::kUnauthenticated, "unknown invite");
  }
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::AdminRecord> {
    store::ScanCodeRepo codes(tx);
    auto found = codes.find_by_hash(sha256_hex(invite_code));
    AVOW_TRY(found);
    if (!*found || (*found)->purpose != ScanCodePurpose::kAdminInvite || !(*found)->admin_id) {
      return fail(ErrorCode::kUnauthenticated, "unknown invite");
    }
    const store::ScanCodeRecord rec = std::move(**found);
    const UnixTime now = clock_.unix_now();
    AVOW_TRY(check_claimable(rec, now));
    auto admin = store::AdminRepo(tx).get(*rec.admin_id);
    AVOW_TRY(admin);
    if (admin->disabled_at) return fail(ErrorCode::kPermissionDenied, "the invited admin was removed");
    if (!admin->device_id || admin->device_id != rec.consumed_by_device) {
      return fail(ErrorCode::kPermissionDenied, "the invited admin's device changed");
    }
    auto won = codes.claim(rec.id, now);
    AVOW_TRY(won);
    if (!*won) return fail(ErrorCode::kConflict, "the invite was claimed already");
    AVOW_TRY(append(tx,
                    Event{admin->org_id,
                          "admin",
                          admin->id,
                          "admin.signin",
                          "admin",
                          admin->id,
                          ip,
                          {{"method", "scan"}, {"via", "invite"}, {"scan_code_id", rec.id}}},
                    now));
    return std::move(*admin);
  });
}

Result<std::pair<store::ScanCodeRecord, store::AdminRecord>> AdminAccessService::invite_for(
    std::string_view invite_code) {
  if (invite_code.empty() || invite_code.size() > kMaxScanCodeBytes) {
    return fail(ErrorCode::kUnauthenticated, "unknown invite");
  }
  auto found = store::ScanCodeRepo(db_).find_by_hash(sha256_hex(invite_code));
  AVOW_TRY(found);
  if (!*found || (*found)->purpose != ScanCodePurpose::kAdminInvite || !(*found)->admin_id) {
    return fail(ErrorCode::kUnauthenticated, "unknown invite");
  }
  store::ScanCodeRecord rec = std::move(**found);
  rec.state = effective_state(rec, clock_.unix_now());
  if (rec.state == ScanCodeState::kExpired) return fail(ErrorCode::kExpired, "the invite expired");
  if (rec.state == ScanCodeState::kConsumed) return fail(ErrorCode::kConflict, "the invite was used");
  auto admin = store::AdminRepo(db_).get(*rec.admin_id);
  AVOW_TRY(admin);
  return std::make_pair(std::move(rec), std::move(*admin));
}

Result<store::AdminRecord> AdminAccessService::claim_push(std::string_view challenge_id, std::string_view browser_hash,
                                                          std::string_view ip) {
  if (bad_id(challenge_id)) return fail(ErrorCode::kNotFound, "challenge not found");
  return unwrap(store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome<store::AdminRecord>> {
    auto c = store::ChallengeRepo(tx).get(challenge_id);
    AVOW_TRY(c);
    if (c->kind != store::ChallengeKind::kAdminSignin || !c->admin_id) {
      return fail(ErrorCode::kNotFound, "challenge not found");
    }
    if (!browser_matches(c->flow_secret_hash, browser_hash)) {
      return fail(ErrorCode::kPermissionDenied, "not this browser's sign-in");
    }
    auto done = ChallengeService(tx, clock_, challenges_).complete(challenge_id);
    AVOW_TRY(done);
    const UnixTime now = clock_.unix_now();
    auto admin = store::AdminRepo(tx).get(*c->admin_id);
    AVOW_TRY(admin);
    std::optional<std::string> reason;
    if (done->state != ChallengeState::kApproved) {
      reason = std::string(store::to_string(done->state));
    } else if (!done->decided_at || now > *done->decided_at + kClaimWindowSeconds) {
      reason = "stale";
    } else if (admin->disabled_at) {
      reason = "removed";
    }
    if (reason) {
      AVOW_TRY(append(tx,
                      Event{c->org_id,
                            "system",
                            "",
                            "admin.signin_refused",
                            "admin",
                            admin->id,
                            ip,
                            {{"method", "push"}, {"reason", *reason}, {"challenge_id", c->id}}},
                      now));
      return Outcome<store::AdminRecord>{std::nullopt, Error{ErrorCode::kUnauthenticated, "not approved"}};
    }
    AVOW_TRY(append(tx,
                    Event{c->org_id,
                          "admin",
                          admin->id,
                          "admin.signin",
                          "admin",
                          admin->id,
                          ip,
                          {{"method", "push"}, {"challenge_id", c->id}}},
                    now));
    return Outcome<store::AdminRecord>{std::move(*admin), std::nullopt};
  }));
}

// ===================================================================== invite, remove

Result<InviteIssued> AdminAccessService::invite(std::string_view org_id, std::string_view inviter_id,
                                                std::string_view display_name, std::string_view email,
                                                store::AdminRole role, std::string_view ip) {
  if (bad_id(org_id) || bad_id(inviter_id)) return fail(ErrorCode::kPermissionDenied, "not an admin of this org");
  auto name = validate_name("name", display_name);
  if (!name) return tl::unexpected(field_error("display_name", name.error()));
  auto address = validate_email(email);
  if (!address) return tl::unexpected(field_error("email", address.error()));

  return store::transaction_value(db_, [&](store::Db& tx) -> Result<InviteIssued> {
    auto inviter = store::AdminRepo(tx).get(inviter_id);
    if (!inviter) {
      if (inviter.error().code == ErrorCode::kNotFound) {
        return fail(ErrorCode::kPermissionDenied, "not an admin of this org");
      }
      return tl::unexpected(inviter.error());
    }
    if (inviter->org_id != org_id || inviter->disabled_at) {
      return fail(ErrorCode::kPermissionDenied, "not an admin of this org");
    }
    if (role == store::AdminRole::kOwner && inviter->role != store::AdminRole::kOwner) {
      return fail(ErrorCode::kPermissionDenied, "only an owner may invite an owner");
    }
    auto added = AdminService(tx, clock_).add_admin(org_id, {*name, *address, role});
    if (!added) {
      if (added.error().code == ErrorCode::kAlreadyExists) {
        return fail(ErrorCode::kAlreadyExists, "email: An admin with this email exists already");
      }
      return tl::unexpected(added.error());
    }
    ScanCodeRequest request;
    request.purpose = ScanCodePurpose::kAdminInvite;
    request.org_id = std::string(org_id);
    request.admin_id = added->id;
    request.details = json_text({{"role", store::to_string(role)}, {"invited_by", inviter->id}});
    auto issued = ScanCodeService(tx, clock_, scan_codes_).issue(request);
    AVOW_TRY(issued);
    AVOW_TRY(append(tx,
                    Event{std::string(org_id),
                          "admin",
                          inviter->id,
                          "admin.invited",
                          "admin",
                          added->id,
                          ip,
                          {{"role", store::to_string(role)},
                           {"email", added->email},
                           {"display_name", added->display_name},
                           {"scan_code_id", issued->record.id},
                           {"expires_at", issued->record.expires_at}}},
                    clock_.unix_now()));
    return InviteIssued{std::move(*added), std::move(*issued)};
  });
}

Result<store::AdminRecord> AdminAccessService::remove(std::string_view org_id, std::string_view actor_id,
                                                      std::string_view target_id, std::string_view ip) {
  if (bad_id(org_id) || bad_id(actor_id)) return fail(ErrorCode::kPermissionDenied, "not an admin of this org");
  if (bad_id(target_id)) return fail(ErrorCode::kNotFound, "admin not found");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::AdminRecord> {
    store::AdminRepo admins(tx);
    auto actor = admins.get(actor_id);
    if (!actor) {
      if (actor.error().code == ErrorCode::kNotFound) return fail(ErrorCode::kPermissionDenied, "not an admin");
      return tl::unexpected(actor.error());
    }
    if (actor->org_id != org_id || actor->disabled_at) {
      return fail(ErrorCode::kPermissionDenied, "not an admin of this org");
    }
    auto target = admins.get(target_id);
    AVOW_TRY(target);
    if (target->org_id != org_id) return fail(ErrorCode::kNotFound, "admin not found");
    if (target->role == store::AdminRole::kOwner && actor->role != store::AdminRole::kOwner) {
      return fail(ErrorCode::kPermissionDenied, "only an owner may remove an owner");
    }
    auto removed = AdminService(tx, clock_).disable(target_id);
    AVOW_TRY(removed);
    AVOW_TRY(append(tx,
                    Event{std::string(org_id),
                          "admin",
                          actor->id,
                          "admin.removed",
                          "admin",
                          removed->id,
                          ip,
                          {{"role", store::to_string(removed->role)}, {"email", removed->email}}},
                    clock_.unix_now()));
    return std::move(*removed);
  });
}

Result<store::AdminRecord> AdminAccessService::set_role(std::string_view org_id, std::string_view actor_id,
                                                        std::string_view target_id, store::AdminRole role,
                                                        std::string_view ip) {
  if (bad_id(org_id) || bad_id(actor_id)) return fail(ErrorCode::kPermissionDenied, "not an admin of this org");
  if (bad_id(target_id)) return fail(ErrorCode::kNotFound, "admin not found");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::AdminRecord> {
    store::AdminRepo admins(tx);
    auto actor = admins.get(actor_id);
    if (!actor) {
      if (actor.error().code == ErrorCode::kNotFound) return fail(ErrorCode::kPermissionDenied, "not an admin");
      return tl::unexpected(actor.error());
    }
    if (actor->org_id != org_id || actor->disabled_at || actor->role != store::AdminRole::kOwner)
      return fail(ErrorCode::kPermissionDenied, "only an owner may change roles");
    auto target = admins.get(target_id);
    AVOW_TRY(target);
    if (target->org_id != org_id) return fail(ErrorCode::kNotFound, "admin not found");
    if (target->disabled_at) return fail(ErrorCode::kConflict, "the admin was removed");
    if (target->role == role) return std::move(*target);
    if (target->role == store::AdminRole::kOwner) {
      auto owners = admins.count_active_owners(org_id);
      AVOW_TRY(owners);
      if (*owners <= 1) return fail(ErrorCode::kConflict, "cannot demote the organisation's last owner");
    }
    AVOW_TRY(admins.set_role(target_id, role));
    AVOW_TRY(append(tx,
                    Event{std::string(org_id),
                          "admin",
                          actor->id,
                          "admin.role_changed",
                          "admin",
                          target->id,
                          ip,
                          {{"from", store::to_string(target->role)}, {"to", store::to_string(role)}}},
                    clock_.unix_now()));
    target->role = role;
    return std::move(*target);
  });
}

// ===================================================================== re-authentication

Result<OpenedChallenge> AdminAccessService::begin_reauth(std::string_view admin_id, std::string_view browser_hash,
                                                         const ChallengeContext& context) {
  if (bad_id(admin_id)) return fail(ErrorCode::kNotFound, "admin not found");
  if (!is_hex64(browser_hash)) return fail(ErrorCode::kInvalidArgument, "browser hash must be 64 hex characters");
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<OpenedChallenge> {
    auto admin = store::AdminRepo(tx).get(admin_id);
    AVOW_TRY(admin);
    if (admin->disabled_at) return fail(ErrorCode::kPermissionDenied, "admin is disabled");
    if (!admin->device_id) return fail(ErrorCode::kPermissionDenied, "admin has no device");
    auto org = store::OrgRepo(tx).get(admin->org_id);
    AVOW_TRY(org);
    const UnixTime now = clock_.unix_now();
    auto pushes = admin_pushes(tx, admin->id, now);
    AVOW_TRY(pushes);
    if (pushes->limited)
      return fail(ErrorCode::kExhausted, "too many pushes to this phone in the last hour; try again later");
    NewChallenge nc;
    nc.kind = store::ChallengeKind::kAdminSignin;
    nc.org_id = admin->org_id;
    nc.admin_id = admin->id;
    nc.context = context;
    nc.context.org_name = org->name;
    nc.context.user_label = admin->email;
    nc.context.integration_name = kDashboardName;
    nc.context.created_at = now;
    nc.flow_secret_hash = std::string(browser_hash);
    auto opened = ChallengeService(tx, clock_, challenges_).open(nc);
    AVOW_TRY(opened);
    AVOW_TRY(append(tx,
                    Event{admin->org_id,
                          "admin",
                          admin->id,
                          "admin.reauth_started",
                          "admin",
                          admin->id,
                          context.ip,
                          {{"challenge_id", opened->challenge.id}}},
                    now));
    return std::move(*opened);
  });
}

Status AdminAccessService::finish_reauth(std::string_view challenge_id, std::string_view browser_hash,
                                         std::string_view admin_id, std::string_view session_id_hash,
                                         std::string_view ip) {
  if (bad_id(challenge_id)) return fail(ErrorCode::kNotFound, "challenge not found");
  if (bad_id(admin_id)) return fail(ErrorCode::kPermissionDenied, "not this admin's challenge");
  auto outcome = store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome<bool>> {
    auto c = store::ChallengeRepo(tx).get(challenge_id);
    AVOW_TRY(c);
    if (c->kind != store::ChallengeKind::kAdminSignin || !c->admin_id) {
      return fail(ErrorCode::kNotFound, "challenge not found");
    }
    if (*c->admin_id != admin_id || !browser_matches(c->flow_secret_hash, browser_hash)) {
      return fail(ErrorCode::kPermissionDenied, "not this admin's challenge");
    }
    store::SessionRepo sessions(tx);
    auto session = sessions.find(session_id_hash);
    AVOW_TRY(session);
    if (!*session || (*session)->admin_id != admin_id) {
      return fail(ErrorCode::kPermissionDenied, "not this admin's session");
    }
    auto done = ChallengeService(tx, clock_, challenges_).complete(challenge_id);
    AVOW_TRY(done);
    const UnixTime now = clock_.unix_now();
    std::optional<std::string> reason;
    if (done->state != ChallengeState::kApproved) {
      reason = std::string(store::to_string(done->state));
    } else if (!done->decided_at || now > *done->decided_at + kClaimWindowSeconds) {
      reason = "stale";
    }
    if (!reason) {
      auto marked = sessions.mark_reauthenticated(session_id_hash, now);
      AVOW_TRY(marked);
      if (!*marked) reason = "session_ended";
    }
    if (reason) {
      AVOW_TRY(append(tx,
                      Event{c->org_id,
                            "admin",
                            std::string(admin_id),
                            "admin.reauth_refused",
                            "admin",
                            std::string(admin_id),
                            ip,
                            {{"reason", *reason}, {"challenge_id", c->id}}},
                      now));
      return Outcome<bool>{std::nullopt, Error{ErrorCode::kUnauthenticated, "not approved"}};
    }
    AVOW_TRY(append(tx,
                    Event{c->org_id,
                          "admin",
                          std::string(admin_id),
                          "admin.reauthenticated",
                          "admin",
                          std::string(admin_id),
                          ip,
                          {{"challenge_id", c->id}}},
                    now));
    return Outcome<bool>{true, std::nullopt};
  });
  auto done = unwrap(std::move(outcome));
  AVOW_TRY(done);
  return ok();
}

}  // namespace avow::domain
