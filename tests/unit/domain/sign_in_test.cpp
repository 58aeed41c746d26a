// SignInService: one Entra sign-in from begin() to finish(), every path of its rules.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "domain/challenges.h"
#include "domain/hashing.h"
#include "domain/scan_codes.h"
#include "domain/sign_in.h"
#include "fixture.h"

namespace avow::domain {
namespace {

using std::chrono::seconds;
using store::ChallengeState;
using store::ScanCodePurpose;
using store::ScanCodeState;
using testing::kDirectory;
using testing::kGuestTenant;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

class SignInTest : public testing::DomainTest {
 protected:
  SignInService flows() { return SignInService(db(), clock_, challenge_policy_, scan_policy_, lockout_); }

  SignInRequest request(const store::UserRecord& u, std::string tid = kDirectory) {
    SignInRequest r;
    r.integration_id = integration_.id;
    r.identity = {std::move(tid), u.object_id, u.upn, u.display_name};
    r.kind = store::ChallengeKind::kEam;
    r.context.ip = "203.0.113.9";
    r.context.user_agent = "Mozilla/5.0";
    r.nonce = "nonce-1";
    r.state_param = "state-1";
    r.redirect_uri = "https://login.microsoftonline.com/common/federation/externalauthprovider";
    r.client_id = integration_.client_id;
    r.hint_sub = "pairwise-sub";
    r.response_params = R"({"acr":"possessionorinherence","amr":["swk"]})";
    r.flow_secret_hash = flow_hash_;
    return r;
  }

  SignInStart begin_for(const store::UserRecord& u) {
    auto s = flows().begin(request(u));
    EXPECT_TRUE(s) << s.error().message;
    return *s;
  }

  // What a device does: fetch its pending list and hash the context it shows.
  DeviceChallenge pushed(const store::DeviceRecord& d, const std::string& challenge_id) {
    auto pending = flows().pending_for_device(d.id);
    EXPECT_TRUE(pending) << pending.error().message;
    for (const DeviceChallenge& c : *pending)
      if (c.challenge.id == challenge_id) return c;
    ADD_FAILURE() << "challenge " << challenge_id << " not pushed to device " << d.id;
    return {};
  }

  Result<AnswerResult> answer(const store::DeviceRecord& d, const store::ChallengeRecord& c, DeviceAction action,
                              int number) {
    return flows().answer(c.id, d.id, action, number, context_hash(c.context), "198.51.100.7");
  }

  static int wrong_number(const store::ChallengeRecord& c) {
    for (int n : c.choices)
      if (n != c.number) return n;
    return c.number == 10 ? 11 : 10;
  }

  std::vector<std::string> audit_kinds(const std::string& org_id) {
    store::AuditQuery q;
    q.org_id = org_id;
    q.limit = 500;
    std::vector<std::string> kinds;
    const std::vector<store::AuditEventRecord> events = store::AuditRepo(db()).list(q).value();
    for (const auto& e : events) kinds.push_back(e.kind);
    return kinds;
  }
  std::vector<std::string> audit_kinds() { return audit_kinds(org_.id); }

  std::vector<store::AuditEventRecord> audit_of_kind(std::string kind) {
    store::AuditQuery q;
    q.kind = std::move(kind);
    q.limit = 500;
    return store::AuditRepo(db()).list(q).value();
  }

  store::ScanCodeRecord scan_code_record(const std::string& code) {
    auto rec = store::ScanCodeRepo(db()).find_by_hash(sha256_hex(code));
    EXPECT_TRUE(rec && *rec);
    return **rec;
  }

  ChallengePolicy challenge_policy_;
  ScanCodePolicy scan_policy_;
  LockoutPolicy lockout_;
  const std::string flow_secret_ = random_token();
  const std::string flow_hash_ = sha256_hex(flow_secret_);
};

// ---------------------------------------------------------------- begin

TEST_F(SignInTest, ABoundUserGetsAChallengeAndItsDevicesAreNotified) {
  bind(user_, device_);
  auto second = new_device();
  ASSERT_TRUE(UserService(db(), clock_).allow_new_device(user_.id, true));
  bind(user_, second);

  SignInStart s = begin_for(user_);
  EXPECT_EQ(s.scan_code, std::nullopt);
  EXPECT_EQ(s.user.id, user_.id);
  EXPECT_EQ(s.org_name, "Contoso");
  EXPECT_EQ(s.integration_name, integration_.name);
  EXPECT_EQ(s.challenge.state, ChallengeState::kPending);
  EXPECT_EQ(s.challenge.kind, store::ChallengeKind::kEam);
  EXPECT_EQ(s.challenge.user_id, std::optional<std::string>(user_.id));
  EXPECT_EQ(s.notify.size(), 2u);
  EXPECT_TRUE(contains(s.notify, "device:" + device_.id));
  EXPECT_TRUE(contains(s.notify, "device:" + second.id));

  // The context is the canonical JSON text the device hashes.
  auto ctx = nlohmann::json::parse(s.challenge.context);
  EXPECT_EQ(ctx.dump(), s.challenge.context);  // sorted keys, no spaces
  EXPECT_EQ(ctx["integration"], integration_.name);
  EXPECT_EQ(ctx["org"], "Contoso");
  EXPECT_EQ(ctx["user"], "ada@contoso.example");
  EXPECT_EQ(ctx["ip"], "203.0.113.9");
  EXPECT_EQ(ctx["user_agent"], "Mozilla/5.0");
  EXPECT_EQ(ctx["created_at"], now());

  auto stored = store::ChallengeRepo(db()).get(s.challenge.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->context, s.challenge.context);
  EXPECT_EQ(stored->response_params, request(user_).response_params);
  EXPECT_EQ(stored->flow_secret_hash, flow_hash_);
  EXPECT_EQ(stored->nonce, "nonce-1");
  EXPECT_EQ(stored->hint_sub, "pairwise-sub");

  auto started = audit_of_kind("signin.started");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].subject_id, s.challenge.id);
  EXPECT_EQ(started[0].ip, "203.0.113.9");
  // No secrets in the audit trail.
  EXPECT_EQ(started[0].details.find(flow_hash_), std::string::npos);
  EXPECT_EQ(started[0].details.find("nonce-1"), std::string::npos);
}

TEST_F(SignInTest, AnUnboundUserGetsAScanCodeTiedToTheChallenge) {
  SignInStart s = begin_for(user_);
  ASSERT_TRUE(s.scan_code);
  EXPECT_EQ(s.scan_code->size(), 43u);
  EXPECT_EQ(s.scan_code_expires_at, now() + scan_policy_.bind_user_ttl.count());
  EXPECT_TRUE(s.notify.empty());  // no device to tell yet
  store::ScanCodeRecord rec = scan_code_record(*s.scan_code);
  EXPECT_EQ(rec.purpose, ScanCodePurpose::kBindUser);
  EXPECT_EQ(rec.user_id, std::optional<std::string>(user_.id));
  EXPECT_EQ(rec.challenge_id, std::optional<std::string>(s.challenge.id));
  EXPECT_EQ(rec.org_id, std::optional<std::string>(org_.id));
  // The code is nowhere in the audit trail.
  for (const auto& e : audit_of_kind("signin.started")) EXPECT_EQ(e.details.find(*s.scan_code), std::string::npos);
}

TEST_F(SignInTest, AnAdminAllowedNewDeviceGetsAScanCodeBesideThePush) {
  bind(user_, device_);
  ASSERT_TRUE(UserService(db(), clock_).allow_new_device(user_.id, true));
  SignInStart s = begin_for(user_);
  ASSERT_TRUE(s.scan_code);                                 // the new phone can bind
  EXPECT_TRUE(contains(s.notify, "device:" + device_.id));  // the old one still gets the push
  auto phone = new_device();
  auto scanned = flows().scan(*s.scan_code, phone.id, "198.51.100.7");
  ASSERT_TRUE(scanned) << scanned.error().message;
  // The permission is used up: the page stops offering a code.
  auto shown = flows().current_scan_code(s.challenge.id, flow_hash_);
  ASSERT_TRUE(shown) << shown.error().message;
  EXPECT_FALSE(*shown);
  EXPECT_FALSE(begin_for(user_).scan_code);
}

TEST_F(SignInTest, BeginCreatesTheUserOnFirstSight) {
  store::UserRecord stranger;
  stranger.object_id = new_id();
  stranger.upn = "grace@contoso.example";
  auto s = flows().begin(request(stranger));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->user.object_id, stranger.object_id);
  EXPECT_EQ(s->user.upn, "grace@contoso.example");
  EXPECT_FALSE(s->user.is_guest);
  EXPECT_TRUE(s->scan_code);
}

TEST_F(SignInTest, ANewSignInReplacesThePendingOneAndWakesItsPage) {
  bind(user_, device_);
  SignInStart first = begin_for(user_);
  SignInStart second = begin_for(user_);
  EXPECT_TRUE(contains(second.notify, "challenge:" + first.challenge.id));
  EXPECT_EQ(flows().status(first.challenge.id, flow_hash_)->state, ChallengeState::kCancelled);
  EXPECT_EQ(flows().status(second.challenge.id, flow_hash_)->state, ChallengeState::kPending);
}

TEST_F(SignInTest, GuestPolicyRefusesAndLeavesNoUserBehind) {
  IntegrationSpec spec;
  spec.name = integration_.name;
  spec.directory_id = kDirectory;
  spec.guest_policy = "members";
  ASSERT_TRUE(IntegrationService(db(), clock_).update(integration_.id, spec));

  store::UserRecord guest;
  guest.object_id = new_id();
  auto refused = flows().begin(request(guest, kGuestTenant));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(store::UserRepo(db()).find_by_identity(org_.id, kGuestTenant, guest.object_id).value());
  auto audited = audit_of_kind("signin.refused");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(audited[0].details)["reason"], "guest_policy");
  EXPECT_EQ(nlohmann::json::parse(audited[0].details)["tenant_id"], kGuestTenant);

  // Listed tenants pass, as guests.
  spec.guest_policy = "list";
  spec.guest_tenants = {kGuestTenant};
  ASSERT_TRUE(IntegrationService(db(), clock_).update(integration_.id, spec));
  auto admitted = flows().begin(request(guest, kGuestTenant));
  ASSERT_TRUE(admitted) << admitted.error().message;
  EXPECT_TRUE(admitted->user.is_guest);
  // Members always pass.
  EXPECT_TRUE(flows().begin(request(user_)));
}

TEST_F(SignInTest, ALockedUserIsRefusedAndAudited) {
  ASSERT_TRUE(UserService(db(), clock_).lock(user_.id));
  auto r = flows().begin(request(user_));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(store::ChallengeRepo(db()).find_pending_for_user(user_.id).value());
  auto audited = audit_of_kind("signin.refused");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].user_id, std::optional<std::string>(user_.id));
  EXPECT_EQ(nlohmann::json::parse(audited[0].details)["reason"], "user_locked");
}

TEST_F(SignInTest, BeginRefusals) {
  ASSERT_TRUE(IntegrationService(db(), clock_).disable(integration_.id));
  EXPECT_EQ(flows().begin(request(user_)).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(nlohmann::json::parse(audit_of_kind("signin.refused").at(0).details)["reason"], "integration_disabled");
  ASSERT_TRUE(IntegrationService(db(), clock_).enable(integration_.id));

  SignInRequest r = request(user_);
  r.integration_id = "no-such-integration";
  EXPECT_EQ(flows().begin(r).error().code, ErrorCode::kNotFound);
  r = request(user_);
  r.kind = store::ChallengeKind::kAdminSignin;
  EXPECT_EQ(flows().begin(r).error().code, ErrorCode::kInvalidArgument);
  r = request(user_);
  r.flow_secret_hash = "";
  EXPECT_EQ(flows().begin(r).error().code, ErrorCode::kInvalidArgument);
  r.flow_secret_hash = std::string(64, 'g');
  EXPECT_EQ(flows().begin(r).error().code, ErrorCode::kInvalidArgument);
  r = request(user_);
  r.response_params.assign(kMaxResponseParamsBytes + 1, ' ');
  EXPECT_EQ(flows().begin(r).error().code, ErrorCode::kInvalidArgument);
  r = request(user_);
  r.nonce.assign(kMaxNonceBytes + 1, 'n');
  EXPECT_EQ(flows().begin(r).error().code, ErrorCode::kInvalidArgument);
  r = request(user_);
  r.identity.object_id = "not-a-guid";
  EXPECT_EQ(flows().begin(r).error().code, ErrorCode::kInvalidArgument);
  // A refused request opened nothing.
  EXPECT_FALSE(store::ChallengeRepo(db()).find_pending_for_user(user_.id).value());
}

TEST_F(SignInTest, ADeletedIntegrationIsUnknown) {
  ASSERT_TRUE(store::IntegrationRepo(db()).mark_deleted(integration_.id, now()).value());
  auto r = flows().begin(request(user_));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(store::ChallengeRepo(db()).find_pending_for_user(user_.id).value());
}

// ---------------------------------------------------------------- the push rate limit

TEST_F(SignInTest, TooManySignInsInAnHourAreRefusedAndAudited) {
  auto limited = [&] {
    SignInService s = flows();
    s.set_max_pushes_per_hour(3);
    return s;
  };
  const store::UnixTime t0 = now();
  std::string last;
  for (int i = 0; i < 3; ++i) {
    auto s = limited().begin(request(user_));
    ASSERT_TRUE(s) << i << ": " << s.error().message;
    last = s->challenge.id;
    advance(seconds(60));
  }
  auto refused = limited().begin(request(user_));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kExhausted);
  EXPECT_EQ(refused.error().message, "too many sign-in requests for this user; try again later");
  // No challenge was made: the last one is still the user's pending sign-in.
  EXPECT_EQ(store::ChallengeRepo(db()).count_for_user_since(user_.id, t0).value(), 3);
  auto pending = store::ChallengeRepo(db()).find_pending_for_user(user_.id).value();
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->id, last);

  auto audited = audit_of_kind("signin.rate_limited");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].org_id, std::optional<std::string>(org_.id));
  EXPECT_EQ(audited[0].user_id, std::optional<std::string>(user_.id));
  EXPECT_EQ(audited[0].integration_id, std::optional<std::string>(integration_.id));
  EXPECT_EQ(audited[0].actor_kind, "entra");
  const nlohmann::json d = nlohmann::json::parse(audited[0].details);
  EXPECT_EQ(d["reason"], "rate_limited");
  EXPECT_EQ(d["limit"], 3);
  EXPECT_EQ(d["recent"], 3);
  EXPECT_TRUE(audit_of_kind("signin.refused").empty());

  // Another user of the org is not limited by this one.
  store::UserRecord other = new_user();
  EXPECT_TRUE(limited().begin(request(other)));

  // The window rolls: once the first sign-in is over an hour old, one more may start.
  advance(seconds(3600 - 3 * 60));  // the first is exactly an hour old: still counted
  EXPECT_EQ(limited().begin(request(user_)).error().code, ErrorCode::kExhausted);
  advance(seconds(1));
  EXPECT_TRUE(limited().begin(request(user_)));
  EXPECT_EQ(limited().begin(request(user_)).error().code, ErrorCode::kExhausted);
}

TEST_F(SignInTest, ThePushLimitDefaultsToTwentyAnHour) {
  EXPECT_EQ(flows().max_pushes_per_hour(), kDefaultMaxPushesPerHour);
  EXPECT_EQ(kDefaultMaxPushesPerHour, 20);
  for (int i = 0; i < 20; ++i) {
    auto s = flows().begin(request(user_));
    ASSERT_TRUE(s) << i << ": " << s.error().message;
  }
  EXPECT_EQ(flows().begin(request(user_)).error().code, ErrorCode::kExhausted);

  // A limit of 0 turns it off.
  SignInService unlimited = flows();
  unlimited.set_max_pushes_per_hour(0);
  EXPECT_TRUE(unlimited.begin(request(user_)));
}

// ---------------------------------------------------------------- scan

TEST_F(SignInTest, ScanningBindsTheDeviceAndTheChallengeBecomesItsPush) {
  SignInStart s = begin_for(user_);
  ASSERT_TRUE(s.scan_code);
  auto scanned = flows().scan(*s.scan_code, device_.id, "198.51.100.7");
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_EQ(scanned->challenge_id, s.challenge.id);
  EXPECT_EQ(scanned->user_label, "ada@contoso.example");
  EXPECT_EQ(scanned->org_name, "Contoso");
  EXPECT_EQ(scanned->integration_name, integration_.name);
  EXPECT_TRUE(contains(scanned->notify, "challenge:" + s.challenge.id));
  EXPECT_TRUE(contains(scanned->notify, "device:" + device_.id));
  EXPECT_TRUE(store::BindingRepo(db()).find_active(user_.id, device_.id).value());
  EXPECT_EQ(scan_code_record(*s.scan_code).state, ScanCodeState::kConsumed);

  DeviceChallenge push = pushed(device_, s.challenge.id);
  EXPECT_EQ(push.context_json, s.challenge.context);
  EXPECT_EQ(push.challenge.number, s.challenge.number);
  // Bound now: the page has no code to show any more.
  EXPECT_EQ(flows().current_scan_code(s.challenge.id, flow_hash_).value(), std::nullopt);

  auto bound = audit_of_kind("device.bound");
  ASSERT_EQ(bound.size(), 1u);
  EXPECT_EQ(bound[0].user_id, std::optional<std::string>(user_.id));
  EXPECT_EQ(bound[0].ip, "198.51.100.7");
  EXPECT_EQ(nlohmann::json::parse(bound[0].details)["decision"], "first_device");
  EXPECT_EQ(bound[0].details.find(*s.scan_code), std::string::npos);
}

TEST_F(SignInTest, ACodeIsUsedOnceAndABoundUserRefusesASecondDevice) {
  SignInStart s = begin_for(user_);
  ASSERT_TRUE(flows().scan(*s.scan_code, device_.id, ""));
  auto intruder = new_device();
  // The same code again, from another device.
  auto reused = flows().scan(*s.scan_code, intruder.id, "");
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code, ErrorCode::kConflict);

  // A new code for the (now bound) user: trust on first use refuses the second device, the code survives.
  ScanCodeRequest r;
  r.purpose = ScanCodePurpose::kBindUser;
  r.org_id = org_.id;
  r.user_id = user_.id;
  r.challenge_id = s.challenge.id;
  auto fresh = ScanCodeService(db(), clock_).issue(r);
  ASSERT_TRUE(fresh);
  auto refused = flows().scan(fresh->code, intruder.id, "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(scan_code_record(fresh->code).state, ScanCodeState::kActive);
  EXPECT_FALSE(store::BindingRepo(db()).find_active(user_.id, intruder.id).value());
  EXPECT_EQ(audit_of_kind("device.bind_refused").size(), 2u);
  // The intruder sees nothing of the user's sign-in.
  EXPECT_TRUE(flows().pending_for_device(intruder.id).value().empty());

  // The user's own device scanning it again is harmless and succeeds.
  auto again = flows().scan(fresh->code, device_.id, "");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(scan_code_record(fresh->code).state, ScanCodeState::kConsumed);
  EXPECT_EQ(nlohmann::json::parse(audit_of_kind("device.bound").at(0).details)["decision"], "already_bound");
}

TEST_F(SignInTest, ALateScanLeavesThePushTimeButNeverPastTheMaximum) {
  SignInStart s = begin_for(user_);
  ASSERT_TRUE(s.scan_code);
  const std::int64_t created = s.challenge.created_at;
  ASSERT_EQ(s.challenge.expires_at, created + challenge_policy_.ttl.count());
  // The user took 100 of the 120 seconds to scan: the push gets `after_scan` from now.
  clock_.advance(std::chrono::seconds(100));
  ASSERT_TRUE(flows().scan(*s.scan_code, device_.id, ""));
  auto c = store::ChallengeRepo(db()).get(s.challenge.id);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->expires_at, created + 100 + challenge_policy_.after_scan.count());

  // A scan early in the challenge changes nothing; and no extension passes max_lifetime.
  auto other = new_device();
  store::UserRecord second;
  second.object_id = new_id();
  SignInStart t = flows().begin(request(second)).value();
  ASSERT_TRUE(t.scan_code);
  ASSERT_TRUE(flows().scan(*t.scan_code, other.id, ""));
  EXPECT_EQ(store::ChallengeRepo(db()).get(t.challenge.id)->expires_at, t.challenge.expires_at);
  EXPECT_TRUE(store::ChallengeRepo(db())
                  .extend_pending(t.challenge.id, t.challenge.expires_at + 10, clock_.unix_now())
                  .value());
  EXPECT_FALSE(
      store::ChallengeRepo(db()).extend_pending(t.challenge.id, t.challenge.expires_at, clock_.unix_now()).value());

  // With a long ttl, a very late scan is capped at max_lifetime from creation.
  challenge_policy_.ttl = std::chrono::seconds(230);
  scan_policy_.bind_user_ttl = std::chrono::seconds(230);
  auto third_device = new_device();
  store::UserRecord third;
  third.object_id = new_id();
  SignInStart u = flows().begin(request(third)).value();
  clock_.advance(std::chrono::seconds(220));
  ASSERT_TRUE(flows().scan(*u.scan_code, third_device.id, ""));
  EXPECT_EQ(store::ChallengeRepo(db()).get(u.challenge.id)->expires_at,
            u.challenge.created_at + challenge_policy_.max_lifetime.count());
}

TEST_F(SignInTest, ScanRefusals) {
  SignInStart s = begin_for(user_);
  EXPECT_EQ(flows().scan("", device_.id, "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(flows().scan(std::string(kMaxScanCodeBytes + 1, 'c'), device_.id, "").error().code,
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(flows().scan("not-a-code", device_.id, "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(flows().scan(*s.scan_code, "no-such-device", "").error().code, ErrorCode::kPermissionDenied);
  auto revoked = new_device();
  ASSERT_TRUE(DeviceService(db(), clock_).revoke(revoked.id));
  EXPECT_EQ(flows().scan(*s.scan_code, revoked.id, "").error().code, ErrorCode::kPermissionDenied);

  // A code of another purpose is not ours to use: it stays usable for its own flow.
  ScanCodeRequest admin;
  admin.purpose = ScanCodePurpose::kAdminSignin;
  admin.org_id = org_.id;
  auto admin_code = ScanCodeService(db(), clock_).issue(admin);
  ASSERT_TRUE(admin_code);
  EXPECT_EQ(flows().scan(admin_code->code, device_.id, "").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(scan_code_record(admin_code->code).state, ScanCodeState::kActive);

  // None of that burnt the sign-in's code…
  EXPECT_EQ(scan_code_record(*s.scan_code).state, ScanCodeState::kActive);
  // …until it expires.
  advance(scan_policy_.bind_user_ttl);
  EXPECT_EQ(flows().scan(*s.scan_code, device_.id, "").error().code, ErrorCode::kExpired);
  EXPECT_FALSE(store::BindingRepo(db()).find_active(user_.id, device_.id).value());
}

// ---------------------------------------------------------------- the page's ScanCode

TEST_F(SignInTest, TheScanCodeIsRefreshedShortlyBeforeItExpires) {
  scan_policy_.bind_user_ttl = seconds(60);
  SignInStart s = begin_for(user_);
  const std::string first = *s.scan_code;

  // Still good for longer than 30 s: keep showing it.
  auto shown = flows().current_scan_code(s.challenge.id, flow_hash_, 30);
  ASSERT_TRUE(shown && *shown);
  EXPECT_EQ((*shown)->first, "");
  EXPECT_EQ((*shown)->second, s.scan_code_expires_at);

  // Within 30 s of its expiry: a fresh code, the old one withdrawn.
  advance(seconds(31));
  shown = flows().current_scan_code(s.challenge.id, flow_hash_, 30);
  ASSERT_TRUE(shown && *shown);
  const std::string second = (*shown)->first;
  EXPECT_EQ(second.size(), 43u);
  EXPECT_NE(second, first);
  EXPECT_EQ((*shown)->second, now() + 60);
  EXPECT_EQ(flows().scan(first, device_.id, "").error().code, ErrorCode::kExpired);
  EXPECT_EQ(scan_code_record(second).challenge_id, std::optional<std::string>(s.challenge.id));

  // A page that lost its code forces a fresh one.
  shown = flows().current_scan_code(s.challenge.id, flow_hash_, scan_policy_.bind_user_ttl.count());
  ASSERT_TRUE(shown && *shown);
  const std::string third = (*shown)->first;
  EXPECT_FALSE(third.empty());
  EXPECT_EQ(scan_code_record(second).state, ScanCodeState::kExpired);
  ASSERT_TRUE(flows().scan(third, device_.id, ""));

  // Wrong secret, unknown challenge.
  EXPECT_EQ(flows().current_scan_code(s.challenge.id, sha256_hex("other")).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(flows().current_scan_code("no-such-challenge", flow_hash_).error().code, ErrorCode::kNotFound);
}

TEST_F(SignInTest, NoScanCodeOnceTheSignInIsOver) {
  SignInStart s = begin_for(user_);
  advance(challenge_policy_.ttl);
  EXPECT_EQ(flows().current_scan_code(s.challenge.id, flow_hash_).value(), std::nullopt);
}

// ---------------------------------------------------------------- answer, status, finish

TEST_F(SignInTest, TheRightNumberApprovesAndTheSignInFinishesExactlyOnce) {
  bind(user_, device_);
  SignInStart s = begin_for(user_);
  EXPECT_EQ(flows().finish(s.challenge.id, flow_hash_).error().code, ErrorCode::kConflict);  // still pending

  DeviceChallenge push = pushed(device_, s.challenge.id);
  auto a = flows().answer(s.challenge.id, device_.id, DeviceAction::kApprove, push.challenge.number,
                          context_hash(push.context_json), "198.51.100.7");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->challenge.state, ChallengeState::kApproved);
  EXPECT_EQ(a->reason, "approved");
  EXPECT_FALSE(a->user_locked);
  EXPECT_EQ(a->notify, std::vector<std::string>{"challenge:" + s.challenge.id});
  EXPECT_EQ(a->challenge.decided_by_device, std::optional<std::string>(device_.id));
  EXPECT_TRUE(flows().pending_for_device(device_.id).value().empty());

  EXPECT_EQ(flows().status(s.challenge.id, flow_hash_)->state, ChallengeState::kApproved);
  auto done = flows().finish(s.challenge.id, flow_hash_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->challenge.state, ChallengeState::kApproved);
  EXPECT_EQ(done->challenge.completed_at, std::optional<store::UnixTime>(now()));
  EXPECT_EQ(done->response_params, request(user_).response_params);
  EXPECT_EQ(done->method, "swk");
  EXPECT_EQ(done->challenge.nonce, "nonce-1");
  EXPECT_EQ(store::IntegrationRepo(db()).get(integration_.id)->last_success_at, std::optional<store::UnixTime>(now()));

  auto again = flows().finish(s.challenge.id, flow_hash_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);

  const auto kinds = audit_kinds();
  EXPECT_TRUE(contains(kinds, "signin.started"));
  EXPECT_TRUE(contains(kinds, "challenge.approved"));
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "signin.finished"), 1);
}

TEST_F(SignInTest, AWrongNumberDeniesCountsAFailureAndIsAudited) {
  bind(user_, device_);
  SignInStart s = begin_for(user_);
  auto a = answer(device_, s.challenge, DeviceAction::kApprove, wrong_number(s.challenge));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->challenge.state, ChallengeState::kDenied);
  EXPECT_EQ(a->reason, "wrong_number");
  EXPECT_EQ(UserService(db(), clock_).get(user_.id)->failed_attempts, 1);
  auto audited = audit_of_kind("challenge.wrong_number");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].actor_id, device_.id);
  EXPECT_EQ(audited[0].subject_id, s.challenge.id);
  // The page learns it was denied; finishing it answers access_denied.
  auto done = flows().finish(s.challenge.id, flow_hash_);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->challenge.state, ChallengeState::kDenied);
}

TEST_F(SignInTest, EnoughWrongNumbersLockTheUser) {
  lockout_.max_failures = 2;
  bind(user_, device_);
  SignInStart first = begin_for(user_);
  EXPECT_FALSE(answer(device_, first.challenge, DeviceAction::kApprove, wrong_number(first.challenge))->user_locked);
  SignInStart second = begin_for(user_);
  auto a = answer(device_, second.challenge, DeviceAction::kApprove, wrong_number(second.challenge));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->user_locked);
  EXPECT_EQ(audit_of_kind("user.locked").size(), 1u);
  EXPECT_EQ(flows().begin(request(user_)).error().code, ErrorCode::kPermissionDenied);
}

TEST_F(SignInTest, AnOrgsSavedLockoutAppliesToItsUsersAnswers) {
  lockout_.max_failures = 5;  // the server's
  store::OrgSettingsRecord saved;
  saved.org_id = org_.id;
  saved.lockout_max_failures = 1;
  ASSERT_TRUE(store::OrgSettingsRepo(db()).save(saved));
  bind(user_, device_);
  // Without use_org_lockout (the default), the server's policy counts: one wrong number does not lock.
  SignInStart first = begin_for(user_);
  EXPECT_FALSE(answer(device_, first.challenge, DeviceAction::kApprove, wrong_number(first.challenge))->user_locked);
  // With it, the org's threshold of 1 locks at the next wrong number.
  SignInStart second = begin_for(user_);
  SignInService org_flows = flows();
  org_flows.use_org_lockout(true);
  auto a = org_flows.answer(second.challenge.id, device_.id, DeviceAction::kApprove, wrong_number(second.challenge),
                            context_hash(second.challenge.context), "198.51.100.7");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(a->user_locked);
}

TEST_F(SignInTest, DenyAndFraud) {
  bind(user_, device_);
  SignInStart s = begin_for(user_);
  auto denied = answer(device_, s.challenge, DeviceAction::kDeny, 0);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->challenge.state, ChallengeState::kDenied);
  EXPECT_EQ(denied->reason, "denied");
  EXPECT_EQ(audit_of_kind("challenge.denied").size(), 1u);

  SignInStart t = begin_for(user_);
  // "This wasn't me", even with the right number: denied and reported.
  auto fraud = answer(device_, t.challenge, DeviceAction::kFraud, t.challenge.number);
  ASSERT_TRUE(fraud);
  EXPECT_EQ(fraud->challenge.state, ChallengeState::kDenied);
  EXPECT_EQ(fraud->reason, "fraud");
  auto reported = audit_of_kind("challenge.fraud_reported");
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].ip, "198.51.100.7");
  EXPECT_EQ(UserService(db(), clock_).get(user_.id)->failed_attempts, 0);  // neither is a wrong number
}

TEST_F(SignInTest, AContextHashThatDiffersIsRefusedAndChangesNothing) {
  bind(user_, device_);
  SignInStart s = begin_for(user_);
  auto tampered = nlohmann::json::parse(s.challenge.context);
  tampered["ip"] = "192.0.2.1";
  for (const std::string& hash :
       {context_hash(tampered.dump()), context_hash(s.challenge.context + " "), std::string(), std::string(200, 'h')}) {
    auto r = flows().answer(s.challenge.id, device_.id, DeviceAction::kApprove, s.challenge.number, hash, "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  }
  EXPECT_EQ(flows().status(s.challenge.id, flow_hash_)->state, ChallengeState::kPending);
  auto refused = audit_of_kind("challenge.answer_refused");
  ASSERT_EQ(refused.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(refused[0].details)["reason"], "context_mismatch");
  ASSERT_TRUE(answer(device_, s.challenge, DeviceAction::kApprove, s.challenge.number));
}

TEST_F(SignInTest, OnlyABoundDeviceMayAnswer) {
  bind(user_, device_);
  SignInStart s = begin_for(user_);
  auto stranger = new_device();
  EXPECT_EQ(answer(stranger, s.challenge, DeviceAction::kApprove, s.challenge.number).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(flows().answer("no-such-challenge", device_.id, DeviceAction::kDeny, 0, "", "").error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(flows().status(s.challenge.id, flow_hash_)->state, ChallengeState::kPending);
  EXPECT_EQ(nlohmann::json::parse(audit_of_kind("challenge.answer_refused").at(0).details)["reason"], "not_allowed");
}

TEST_F(SignInTest, AnAnswerAfterExpiryIsRefusedAndTheSignInEndsDenied) {
  bind(user_, device_);
  SignInStart s = begin_for(user_);
  advance(challenge_policy_.ttl);
  EXPECT_TRUE(flows().pending_for_device(device_.id).value().empty());
  auto late = answer(device_, s.challenge, DeviceAction::kApprove, s.challenge.number);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kExpired);
  EXPECT_EQ(store::ChallengeRepo(db()).get(s.challenge.id)->state, ChallengeState::kExpired);  // recorded
  EXPECT_EQ(nlohmann::json::parse(audit_of_kind("challenge.answer_refused").at(0).details)["reason"], "expired");
  EXPECT_EQ(flows().status(s.challenge.id, flow_hash_)->state, ChallengeState::kExpired);
  // A second answer finds it decided.
  EXPECT_EQ(answer(device_, s.challenge, DeviceAction::kDeny, 0).error().code, ErrorCode::kConflict);
  auto done = flows().finish(s.challenge.id, flow_hash_);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->challenge.state, ChallengeState::kExpired);
  EXPECT_EQ(flows().finish(s.challenge.id, flow_hash_).error().code, ErrorCode::kConflict);
}

TEST_F(SignInTest, AnExpiredSignInFinishesWithoutAnAnswer) {
  SignInStart s = begin_for(user_);
  advance(challenge_policy_.ttl);
  auto done = flows().finish(s.challenge.id, flow_hash_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->challenge.state, ChallengeState::kExpired);
}

TEST_F(SignInTest, TheFlowSecretGuardsStatusAndFinish) {
  bind(user_, device_);
  SignInStart s = begin_for(user_);
  ASSERT_TRUE(answer(device_, s.challenge, DeviceAction::kApprove, s.challenge.number));
  for (const std::string& wrong : {sha256_hex("guess"), std::string(), flow_hash_.substr(1)}) {
    EXPECT_EQ(flows().status(s.challenge.id, wrong).error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(flows().finish(s.challenge.id, wrong).error().code, ErrorCode::kPermissionDenied);
  }
  EXPECT_EQ(flows().status("no-such-challenge", flow_hash_).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(flows().finish("no-such-challenge", flow_hash_).error().code, ErrorCode::kNotFound);
  // The refusals did not finish it.
  EXPECT_FALSE(store::ChallengeRepo(db()).get(s.challenge.id)->completed_at);
  EXPECT_TRUE(flows().finish(s.challenge.id, flow_hash_));
}

TEST_F(SignInTest, AChallengeWithoutAFlowSecretHasNoBrowserFlow) {
  ASSERT_TRUE(AdminService(db(), clock_).set_device(owner_.id, device_.id));
  NewChallenge admin;
  admin.kind = store::ChallengeKind::kAdminSignin;
  admin.org_id = org_.id;
  admin.admin_id = owner_.id;
  auto c = ChallengeService(db(), clock_).open(admin);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(flows().status(c->challenge.id, "").error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(flows().finish(c->challenge.id, "").error().code, ErrorCode::kPermissionDenied);

  // The admin's own device sees it among its pushes and answers it like any other.
  DeviceChallenge push = pushed(device_, c->challenge.id);
  auto a = flows().answer(c->challenge.id, device_.id, DeviceAction::kApprove, push.challenge.number,
                          context_hash(push.context_json), "");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->challenge.state, ChallengeState::kApproved);
}

// ---------------------------------------------------------------- the device's push list

TEST_F(SignInTest, ADeviceSeesOnlyTheChallengesOfUsersBoundToIt) {
  auto other_user = new_user();
  auto other_device = new_device();
  bind(user_, device_);
  bind(other_user, other_device);
  SignInStart mine = begin_for(user_);
  SignInStart theirs = begin_for(other_user);

  auto seen = flows().pending_for_device(device_.id);
  ASSERT_TRUE(seen);
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->front().challenge.id, mine.challenge.id);
  EXPECT_EQ(seen->front().context_json, mine.challenge.context);
  auto theirs_seen = flows().pending_for_device(other_device.id);
  ASSERT_EQ(theirs_seen->size(), 1u);
  EXPECT_EQ(theirs_seen->front().challenge.id, theirs.challenge.id);
  EXPECT_TRUE(flows().pending_for_device(new_device().id).value().empty());

  EXPECT_EQ(flows().pending_for_device("no-such-device").error().code, ErrorCode::kPermissionDenied);
  ASSERT_TRUE(DeviceService(db(), clock_).revoke(other_device.id));
  EXPECT_EQ(flows().pending_for_device(other_device.id).error().code, ErrorCode::kPermissionDenied);
}

TEST_F(SignInTest, ADeviceBoundInTwoOrgsSeesBoth) {
  // Ada is a member of Contoso and a B2B guest of Fabrikam; one phone serves both.
  auto fabrikam = AdminService(db(), clock_).create_org("Fabrikam", {"Bob", "bob@fabrikam.example", {}});
  ASSERT_TRUE(fabrikam);
  IntegrationSpec spec;
  spec.name = "Fabrikam Entra";
  spec.directory_id = "55555555-5555-4555-8555-555555555555";
  auto fab_integration = IntegrationService(db(), clock_).create(fabrikam->org.id, spec);
  ASSERT_TRUE(fab_integration);

  bind(user_, device_);
  SignInStart home = begin_for(user_);
  advance(seconds(1));
  SignInRequest guest_request = request(user_);
  guest_request.integration_id = fab_integration->id;
  auto away = flows().begin(guest_request);
  ASSERT_TRUE(away) << away.error().message;
  EXPECT_TRUE(away->user.is_guest);
  ASSERT_TRUE(away->scan_code);  // the guest account is new: bind it with the same phone
  ASSERT_TRUE(flows().scan(*away->scan_code, device_.id, ""));

  auto seen = flows().pending_for_device(device_.id);
  ASSERT_TRUE(seen);
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ((*seen)[0].challenge.id, home.challenge.id);  // oldest first
  EXPECT_EQ((*seen)[1].challenge.id, away->challenge.id);
  EXPECT_EQ(nlohmann::json::parse((*seen)[0].context_json)["org"], "Contoso");
  EXPECT_EQ(nlohmann::json::parse((*seen)[1].context_json)["org"], "Fabrikam");

  auto a = answer(device_, away->challenge, DeviceAction::kApprove, away->challenge.number);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->challenge.state, ChallengeState::kApproved);
  EXPECT_TRUE(contains(audit_kinds(fabrikam->org.id), "challenge.approved"));
  EXPECT_FALSE(contains(audit_kinds(org_.id), "challenge.approved"));
  EXPECT_EQ(flows().pending_for_device(device_.id).value().size(), 1u);
}

TEST(ContextHashTest, IsUnpaddedBase64UrlOfSha256) {
  EXPECT_EQ(context_hash(""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  EXPECT_EQ(context_hash("{}").size(), 43u);
  EXPECT_NE(context_hash(R"({"a":1})"), context_hash(R"({"a": 1})"));
}

}  // namespace
}  // namespace avow::domain
