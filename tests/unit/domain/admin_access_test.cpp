// AdminAccessService: how admins get into the dashboard — sign-up, sign-in by scan and by push, invites,
// removal and re-authentication.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "domain/admin_access.h"
#include "domain/hashing.h"
#include "domain/sessions.h"
#include "domain/sign_in.h"
#include "fixture.h"

namespace avow::domain {
namespace {

using std::chrono::seconds;
using store::AdminRole;
using store::ChallengeState;
using store::ScanCodePurpose;
using store::ScanCodeState;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

class AdminAccessTest : public testing::DomainTest {
 protected:
  AdminAccessService access(bool open_signup = false) {
    return AdminAccessService(db(), clock_, {.open_signup = open_signup});
  }
  SignInService flows() { return SignInService(db(), clock_); }

  // The owner signs in with `device_`.
  void give_owner_a_device() {
    ASSERT_TRUE(AdminService(db(), clock_).set_device(owner_.id, device_.id));
    owner_.device_id = device_.id;
  }

  store::AdminRecord add_admin(std::string name, std::string email, AdminRole role, bool with_device) {
    auto a = AdminService(db(), clock_).add_admin(org_.id, {std::move(name), std::move(email), role});
    EXPECT_TRUE(a) << a.error().message;
    if (with_device) {
      auto d = new_device();
      EXPECT_TRUE(AdminService(db(), clock_).set_device(a->id, d.id));
      a->device_id = d.id;
    }
    return *a;
  }

  ChallengeContext browser() {
    ChallengeContext c;
    c.ip = "203.0.113.9";
    c.user_agent = "Mozilla/5.0";
    return c;
  }

  // What the device sees of a pending challenge (its pending list), or a failure when it is not there.
  std::optional<DeviceChallenge> pushed(const std::string& device_id, const std::string& challenge_id) {
    auto pending = flows().pending_for_device(device_id);
    EXPECT_TRUE(pending) << pending.error().message;
    for (const DeviceChallenge& c : *pending)
      if (c.challenge.id == challenge_id) return c;
    return std::nullopt;
  }

  Result<AnswerResult> answer(const std::string& device_id, const DeviceChallenge& c, DeviceAction action, int number) {
    return flows().answer(c.challenge.id, device_id, action, number, context_hash(c.context_json), "198.51.100.7");
  }

  // Opens a push sign-in for the owner and approves it on `device_`; returns the challenge id.
  std::string approved_push() {
    auto opened = access().begin_signin_push(owner_.email, hash_, browser());
    EXPECT_TRUE(opened && *opened);
    auto c = pushed(device_.id, (**opened).challenge.id);
    EXPECT_TRUE(c);
    auto a = answer(device_.id, *c, DeviceAction::kApprove, c->challenge.number);
    EXPECT_TRUE(a) << a.error().message;
    return c->challenge.id;
  }

  std::vector<store::AuditEventRecord> audit(std::optional<std::string> org_id) {
    store::AuditQuery q;
    q.org_id = std::move(org_id);
    q.limit = 500;
    return store::AuditRepo(db()).list(q).value();
  }
  std::vector<std::string> audit_kinds(std::optional<std::string> org_id) {
    std::vector<std::string> kinds;
    for (const auto& e : audit(std::move(org_id))) kinds.push_back(e.kind);
    return kinds;
  }
  // No audit detail holds a secret: the codes handed out nor the browser hashes.
  void expect_no_secrets_in_audit(const std::vector<std::string>& secrets) {
    store::AuditQuery q;
    q.limit = 500;
    const std::vector<store::AuditEventRecord> events_1 = store::AuditRepo(db()).list(q).value();
    for (const auto& e : events_1)
      for (const std::string& s : secrets) EXPECT_EQ(e.details.find(s), std::string::npos) << e.kind << e.details;
  }

  const std::string secret_ = random_token();
  const std::string hash_ = sha256_hex(secret_);
  const std::string other_hash_ = sha256_hex("another browser");
};

// A fresh install: no org yet.
class EmptyInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions opts;
    opts.path = ":memory:";
    auto opened = store::open_sqlite(opts);
    ASSERT_TRUE(opened) << opened.error().message;
    database_ = *opened;
    ASSERT_TRUE(database_->migrate());
    auto c = database_->connection();
    ASSERT_TRUE(c);
    conn_.emplace(std::move(*c));
    device_ = new_device();
  }
  store::Db& db() { return **conn_; }
  AdminAccessService access() { return AdminAccessService(db(), clock_); }
  store::DeviceRecord new_device() {
    NewDevice d;
    d.name = "Grace's phone";
    d.public_jwk = R"({"kty":"EC","crv":"P-256","x":"x","y":"y"})";
    return DeviceService(db(), clock_).enroll(d).value();
  }

  ManualClock clock_;
  std::shared_ptr<store::Database> database_;
  std::optional<store::Connection> conn_;
  store::DeviceRecord device_;
  const std::string hash_ = sha256_hex("browser secret");
};

// ---------------------------------------------------------------- sign-up

TEST_F(EmptyInstallTest, TheFirstSignupCreatesTheOrgAndItsOwnerWithTheScanningDevice) {
  EXPECT_TRUE(access().signup_open().value());
  auto code = access().begin_signup({"  Contoso ", "Grace Hopper", "Grace@Contoso.example"}, hash_, "203.0.113.9");
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_EQ(code->record.purpose, ScanCodePurpose::kAdminSignup);
  EXPECT_EQ(code->record.org_id, std::nullopt);
  EXPECT_EQ(access().scan_state(code->record.id, hash_).value(), ScanWait::kWaiting);
  // The claim waits for the scan.
  EXPECT_EQ(access().claim_scan(code->record.id, hash_, "").error().code, ErrorCode::kConflict);

  auto scanned = access().scan(code->code, device_.id, "198.51.100.7");
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_EQ(scanned->purpose, ScanCodePurpose::kAdminSignup);
  EXPECT_EQ(scanned->org.name, "Contoso");
  EXPECT_EQ(scanned->admin.display_name, "Grace Hopper");
  EXPECT_EQ(scanned->admin.email, "grace@contoso.example");
  EXPECT_EQ(scanned->admin.role, AdminRole::kOwner);
  EXPECT_EQ(scanned->admin.device_id, std::optional<std::string>(device_.id));
  EXPECT_EQ(scanned->notify, std::vector<std::string>{"scan:" + code->record.id});
  EXPECT_EQ(store::AdminRepo(db()).get(scanned->admin.id)->device_id, std::optional<std::string>(device_.id));
  EXPECT_EQ(access().scan_state(code->record.id, hash_).value(), ScanWait::kScanned);
  // Another browser that learned the code's id is told nothing.
  EXPECT_EQ(access().scan_state(code->record.id, std::string(64, 'b')).value(), ScanWait::kWaiting);
  EXPECT_FALSE(access().signup_open().value());  // the first org closes sign-up

  // Another browser cannot claim it; this one can, exactly once.
  EXPECT_EQ(access().claim_scan(code->record.id, sha256_hex("x"), "").error().code, ErrorCode::kPermissionDenied);
  auto admin = access().claim_scan(code->record.id, hash_, "203.0.113.9");
  ASSERT_TRUE(admin) << admin.error().message;
  EXPECT_EQ(admin->id, scanned->admin.id);
  EXPECT_EQ(access().claim_scan(code->record.id, hash_, "").error().code, ErrorCode::kConflict);
  // The code was used: scanning it again is refused (as an unknown code).
  EXPECT_EQ(access().scan(code->code, device_.id, "").error().code, ErrorCode::kUnauthenticated);

  store::AuditQuery q;
  q.org_id = scanned->org.id;
  std::vector<std::string> kinds;
  const std::vector<store::AuditEventRecord> events_2 = store::AuditRepo(db()).list(q).value();
  for (const auto& e : events_2) kinds.push_back(e.kind);
  EXPECT_TRUE(contains(kinds, "admin.signup"));
  EXPECT_TRUE(contains(kinds, "admin.signin"));
  q.org_id.reset();
  q.limit = 500;
  const std::vector<store::AuditEventRecord> events_3 = store::AuditRepo(db()).list(q).value();
  for (const auto& e : events_3) {
    EXPECT_EQ(e.details.find(hash_), std::string::npos) << e.kind;
    EXPECT_EQ(e.details.find(code->code), std::string::npos) << e.kind;
  }
}

TEST_F(EmptyInstallTest, ASecondSignupIsRefusedOnceTheFirstOrgExists) {
  auto first = access().begin_signup({"Contoso", "Grace", "grace@contoso.example"}, hash_, "");
  auto second = access().begin_signup({"Fabrikam", "Mallory", "m@fabrikam.example"}, sha256_hex("b"), "");
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(access().scan(first->code, device_.id, ""));
  auto late = access().scan(second->code, new_device().id, "");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kConflict);
  EXPECT_EQ(access().scan_state(second->record.id, hash_).value(), ScanWait::kWaiting);  // refused, not consumed
  EXPECT_EQ(store::OrgRepo(db()).count().value(), 1);
  EXPECT_EQ(access().begin_signup({"Fabrikam", "Mallory", "m@fabrikam.example"}, hash_, "").error().code,
            ErrorCode::kPermissionDenied);
}

TEST_F(AdminAccessTest, SignupIsClosedWithAnOrgUnlessOpenSignupIsOn) {
  EXPECT_FALSE(access().signup_open().value());
  EXPECT_EQ(access().begin_signup({"Fabrikam", "Alan", "alan@fabrikam.example"}, hash_, "").error().code,
            ErrorCode::kPermissionDenied);

  EXPECT_TRUE(access(true).signup_open().value());
  auto code = access(true).begin_signup({"Fabrikam", "Alan", "alan@fabrikam.example"}, hash_, "");
  ASSERT_TRUE(code) << code.error().message;
  // The same phone may run several orgs (devices belong to people).
  give_owner_a_device();
  auto scanned = access(true).scan(code->code, device_.id, "");
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_NE(scanned->org.id, org_.id);
  auto admin = access(true).claim_scan(code->record.id, hash_, "");
  ASSERT_TRUE(admin) << admin.error().message;
  EXPECT_EQ(admin->id, scanned->admin.id);  // the new owner, not the device's older admin
  EXPECT_EQ(admin->org_id, scanned->org.id);
}

TEST_F(AdminAccessTest, SignupChecksTheFormFieldByField) {
  auto s = access(true);
  auto e = s.begin_signup({"", "Alan", "alan@x.example"}, hash_, "");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.error().message.rfind("org_name: ", 0), 0u) << e.error().message;
  e = s.begin_signup({"Fabrikam", " ", "alan@x.example"}, hash_, "");
  EXPECT_EQ(e.error().message.rfind("display_name: ", 0), 0u) << e.error().message;
  e = s.begin_signup({"Fabrikam", "Alan", "not an address"}, hash_, "");
  EXPECT_EQ(e.error().message.rfind("email: ", 0), 0u) << e.error().message;
  EXPECT_EQ(s.begin_signup({"Fabrikam", "Alan", "alan@x.example"}, "short", "").error().code,
            ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------- sign-in by scan

TEST_F(AdminAccessTest, AnAdminsDeviceSignsInByScanAndOnlyThatBrowserClaimsIt) {
  give_owner_a_device();
  auto code = access().begin_signin_scan(hash_, "203.0.113.9");
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_EQ(code->record.purpose, ScanCodePurpose::kAdminSignin);
  EXPECT_EQ(code->record.org_id, std::nullopt);

  // A device that belongs to no admin is refused, and the code stays usable.
  auto stranger = new_device();
  auto refused = access().scan(code->code, stranger.id, "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(access().scan_state(code->record.id, hash_).value(), ScanWait::kWaiting);

  auto scanned = access().scan(code->code, device_.id, "198.51.100.7");
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_EQ(scanned->purpose, ScanCodePurpose::kAdminSignin);
  EXPECT_EQ(scanned->admin.id, owner_.id);
  EXPECT_EQ(scanned->org.name, "Contoso");
  EXPECT_TRUE(contains(scanned->notify, "scan:" + code->record.id));

  EXPECT_EQ(access().claim_scan(code->record.id, other_hash_, "").error().code, ErrorCode::kPermissionDenied);
  auto admin = access().claim_scan(code->record.id, hash_, "203.0.113.9");
  ASSERT_TRUE(admin) << admin.error().message;
  EXPECT_EQ(admin->id, owner_.id);
  EXPECT_EQ(access().claim_scan(code->record.id, hash_, "").error().code, ErrorCode::kConflict);

  const auto kinds = audit_kinds(org_.id);
  EXPECT_TRUE(contains(kinds, "admin.signin_scanned"));
  EXPECT_TRUE(contains(kinds, "admin.signin"));
  for (const auto& e : audit(org_.id)) {
    if (e.kind == "admin.signin") {
      EXPECT_EQ(nlohmann::json::parse(e.details)["method"], "scan");
    }
  }
  expect_no_secrets_in_audit({code->code, hash_});
}

TEST_F(AdminAccessTest, ARemovedAdminsDeviceCannotSignInByScan) {
  give_owner_a_device();
  auto other = add_admin("Alan", "alan@contoso.example", AdminRole::kAdmin, true);
  ASSERT_TRUE(access().remove(org_.id, owner_.id, other.id, ""));
  auto code = access().begin_signin_scan(hash_, "").value();
  EXPECT_EQ(access().scan(code.code, *other.device_id, "").error().code, ErrorCode::kPermissionDenied);
}

TEST_F(AdminAccessTest, ScanCodesExpireAndClaimsHaveATimeLimit) {
  give_owner_a_device();
  auto stale = access().begin_signin_scan(hash_, "").value();
  advance(seconds(121));
  EXPECT_EQ(access().scan_state(stale.record.id, hash_).value(), ScanWait::kExpired);
  EXPECT_EQ(access().scan(stale.code, device_.id, "").error().code, ErrorCode::kExpired);
  EXPECT_EQ(access().claim_scan(stale.record.id, hash_, "").error().code, ErrorCode::kExpired);

  auto late = access().begin_signin_scan(hash_, "").value();
  ASSERT_TRUE(access().scan(late.code, device_.id, ""));
  advance(seconds(kClaimWindowSeconds + 1));
  EXPECT_EQ(access().claim_scan(late.record.id, hash_, "").error().code, ErrorCode::kExpired);

  EXPECT_EQ(access().scan_state("no-such-code", hash_).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(access().claim_scan("no-such-code", hash_, "").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(access().scan("no-such-code", device_.id, "").error().code, ErrorCode::kUnauthenticated);
}

TEST_F(AdminAccessTest, ABindUserCodeIsLeftForTheSignInFlow) {
  ScanCodeRequest r;
  r.purpose = ScanCodePurpose::kBindUser;
  r.org_id = org_.id;
  r.user_id = user_.id;
  auto code = ScanCodeService(db(), clock_).issue(r).value();
  EXPECT_EQ(access().scan(code.code, device_.id, "").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ScanCodeService(db(), clock_).get(code.record.id)->state, ScanCodeState::kActive);
}

// ---------------------------------------------------------------- sign-in by push

TEST_F(AdminAccessTest, ADeviceAnswersAnAdminSignInPushAndTheBrowserClaimsItOnce) {
  give_owner_a_device();
  auto opened = access().begin_signin_push("  GRACE@contoso.example ", hash_, browser());
  ASSERT_TRUE(opened) << opened.error().message;
  ASSERT_TRUE(*opened);
  const store::ChallengeRecord& c = (*opened)->challenge;
  EXPECT_EQ(c.kind, store::ChallengeKind::kAdminSignin);
  EXPECT_EQ(c.admin_id, std::optional<std::string>(owner_.id));
  EXPECT_EQ(c.org_id, org_.id);
  EXPECT_EQ(access().notify_for(**opened).value(), std::vector<std::string>{"device:" + device_.id});

  // The admin's device lists it, with what it is for.
  auto shown = pushed(device_.id, c.id);
  ASSERT_TRUE(shown);
  auto ctx = nlohmann::json::parse(shown->context_json);
  EXPECT_EQ(ctx["integration"], "Avow dashboard");
  EXPECT_EQ(ctx["user"], "grace@contoso.example");
  EXPECT_EQ(ctx["org"], "Contoso");
  EXPECT_EQ(ctx["ip"], "203.0.113.9");
  EXPECT_FALSE(pushed(new_device().id, c.id));  // nobody else's

  EXPECT_EQ(access().claim_push(c.id, hash_, "").error().code, ErrorCode::kConflict);  // still pending
  auto a = answer(device_.id, *shown, DeviceAction::kApprove, c.number);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->challenge.state, ChallengeState::kApproved);

  EXPECT_EQ(access().claim_push(c.id, other_hash_, "").error().code, ErrorCode::kPermissionDenied);
  auto admin = access().claim_push(c.id, hash_, "203.0.113.9");
  ASSERT_TRUE(admin) << admin.error().message;
  EXPECT_EQ(admin->id, owner_.id);
  EXPECT_EQ(access().claim_push(c.id, hash_, "").error().code, ErrorCode::kConflict);
  bool audited = false;
  for (const auto& e : audit(org_.id))
    if (e.kind == "admin.signin" && nlohmann::json::parse(e.details)["method"] == "push") audited = true;
  EXPECT_TRUE(audited);
  expect_no_secrets_in_audit({hash_});
}

TEST_F(AdminAccessTest, ADeniedWrongNumberOrExpiredPushIsNotApproved) {
  give_owner_a_device();
  auto deny = access().begin_signin_push(owner_.email, hash_, browser()).value();
  ASSERT_TRUE(deny);
  auto shown = pushed(device_.id, deny->challenge.id);
  ASSERT_TRUE(shown);
  ASSERT_TRUE(answer(device_.id, *shown, DeviceAction::kDeny, 0));
  EXPECT_EQ(access().claim_push(deny->challenge.id, hash_, "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(access().claim_push(deny->challenge.id, hash_, "").error().code, ErrorCode::kConflict);  // completed

  auto wrong = access().begin_signin_push(owner_.email, hash_, browser()).value();
  shown = pushed(device_.id, wrong->challenge.id);
  ASSERT_TRUE(shown);
  int other = 0;
  for (int n : shown->challenge.choices)
    if (n != shown->challenge.number) other = n;
  auto r = answer(device_.id, *shown, DeviceAction::kApprove, other);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "wrong_number");
  EXPECT_EQ(access().claim_push(wrong->challenge.id, hash_, "").error().code, ErrorCode::kUnauthenticated);

  auto expired = access().begin_signin_push(owner_.email, hash_, browser()).value();
  advance(seconds(121));
  EXPECT_EQ(access().claim_push(expired->challenge.id, hash_, "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(contains(audit_kinds(org_.id), "admin.signin_refused"));
}

TEST_F(AdminAccessTest, PushSignInForAnUnknownAddressIsNotAnError) {
  auto none = access().begin_signin_push("nobody@contoso.example", hash_, browser());
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
  // An admin without a device (an invite not yet accepted) cannot be pushed either.
  auto pending = access().begin_signin_push(owner_.email, hash_, browser());
  ASSERT_TRUE(pending);
  EXPECT_FALSE(*pending);
  auto bad = access().begin_signin_push("not an address", hash_, browser());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(access().claim_push("no-such-challenge", hash_, "").error().code, ErrorCode::kNotFound);
}

TEST_F(AdminAccessTest, AnEntraChallengeCannotBeClaimedAsAnAdminSignIn) {
  bind(user_, device_);
  SignInRequest r;
  r.integration_id = integration_.id;
  r.identity = {testing::kDirectory, user_.object_id, user_.upn, user_.display_name};
  r.flow_secret_hash = hash_;
  auto s = flows().begin(r);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(access().claim_push(s->challenge.id, hash_, "").error().code, ErrorCode::kNotFound);
}

// ---------------------------------------------------------------- invites

TEST_F(AdminAccessTest, AnInviteeScansTheLinkAndClaimsASessionOnce) {
  give_owner_a_device();
  auto invited = access().invite(org_.id, owner_.id, "Alan Turing", "Alan@Contoso.example", AdminRole::kAdmin, "");
  ASSERT_TRUE(invited) << invited.error().message;
  EXPECT_EQ(invited->admin.email, "alan@contoso.example");
  EXPECT_EQ(invited->admin.device_id, std::nullopt);
  EXPECT_EQ(invited->code.record.purpose, ScanCodePurpose::kAdminInvite);
  auto details = nlohmann::json::parse(invited->code.record.details);
  EXPECT_EQ(details["role"], "admin");
  EXPECT_EQ(details["invited_by"], owner_.id);

  auto page = access().invite_for(invited->code.code);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->first.id, invited->code.record.id);
  EXPECT_EQ(page->second.id, invited->admin.id);
  EXPECT_EQ(access().invite_for("not-a-code").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(access().claim_invite(invited->code.code, "").error().code, ErrorCode::kConflict);  // not scanned

  auto phone = new_device();
  auto scanned = access().scan(invited->code.code, phone.id, "");
  ASSERT_TRUE(scanned) << scanned.error().message;
  EXPECT_EQ(scanned->purpose, ScanCodePurpose::kAdminInvite);
  EXPECT_EQ(scanned->admin.id, invited->admin.id);
  EXPECT_EQ(scanned->admin.device_id, std::optional<std::string>(phone.id));
  EXPECT_EQ(scanned->org.id, org_.id);
  EXPECT_EQ(access().invite_for(invited->code.code).error().code, ErrorCode::kConflict);  // used
  EXPECT_EQ(access().scan(invited->code.code, new_device().id, "").error().code, ErrorCode::kUnauthenticated);

  auto admin = access().claim_invite(invited->code.code, "");
  ASSERT_TRUE(admin) << admin.error().message;
  EXPECT_EQ(admin->id, invited->admin.id);
  EXPECT_EQ(access().claim_invite(invited->code.code, "").error().code, ErrorCode::kConflict);
  // The invite code is no sign-in code for claim_scan.
  EXPECT_EQ(access().claim_scan(invited->code.record.id, hash_, "").error().code, ErrorCode::kNotFound);

  const auto kinds = audit_kinds(org_.id);
  EXPECT_TRUE(contains(kinds, "admin.invited"));
  EXPECT_TRUE(contains(kinds, "admin.invite_accepted"));
  expect_no_secrets_in_audit({invited->code.code});

  // The new admin can now sign in by push.
  auto push = access().begin_signin_push("alan@contoso.example", hash_, browser());
  ASSERT_TRUE(push && *push);
  EXPECT_TRUE(pushed(phone.id, (*push)->challenge.id));
}

TEST_F(AdminAccessTest, InvitesExpireAndAreCheckedForRights) {
  auto invited = access().invite(org_.id, owner_.id, "Alan", "alan@contoso.example", AdminRole::kAdmin, "").value();
  advance(seconds(7 * 24 * 3600 + 1));
  EXPECT_EQ(access().invite_for(invited.code.code).error().code, ErrorCode::kExpired);
  EXPECT_EQ(access().scan(invited.code.code, device_.id, "").error().code, ErrorCode::kExpired);
  EXPECT_EQ(access().claim_invite(invited.code.code, "").error().code, ErrorCode::kExpired);

  EXPECT_EQ(access().invite(org_.id, owner_.id, "Alan", "alan@contoso.example", AdminRole::kAdmin, "").error().code,
            ErrorCode::kAlreadyExists);
  auto admin = add_admin("Ada", "ada@contoso.example", AdminRole::kAdmin, true);
  EXPECT_EQ(access().invite(org_.id, admin.id, "Eve", "eve@contoso.example", AdminRole::kOwner, "").error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_TRUE(access().invite(org_.id, admin.id, "Eve", "eve@contoso.example", AdminRole::kAdmin, ""));
  EXPECT_EQ(access().invite("another-org", owner_.id, "Bob", "bob@x.example", AdminRole::kAdmin, "").error().code,
            ErrorCode::kPermissionDenied);
  auto bad = access().invite(org_.id, owner_.id, "Bob", "bob", AdminRole::kAdmin, "");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("email: ", 0), 0u) << bad.error().message;
}

TEST_F(AdminAccessTest, AnInviteForAnAdminWithADeviceOrRemovedIsRefused) {
  auto invited = access().invite(org_.id, owner_.id, "Alan", "alan@contoso.example", AdminRole::kAdmin, "").value();
  auto phone = new_device();
  ASSERT_TRUE(AdminService(db(), clock_).set_device(invited.admin.id, phone.id));
  EXPECT_EQ(access().scan(invited.code.code, new_device().id, "").error().code, ErrorCode::kConflict);

  auto gone = access().invite(org_.id, owner_.id, "Bob", "bob@contoso.example", AdminRole::kAdmin, "").value();
  ASSERT_TRUE(access().remove(org_.id, owner_.id, gone.admin.id, ""));
  EXPECT_EQ(access().scan(gone.code.code, new_device().id, "").error().code, ErrorCode::kPermissionDenied);
}

// ---------------------------------------------------------------- removal

TEST_F(AdminAccessTest, RemovalKeepsAnOwnerAndRespectsRoles) {
  // The last owner cannot go.
  auto last = access().remove(org_.id, owner_.id, owner_.id, "");
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, ErrorCode::kConflict);

  auto admin = add_admin("Ada", "ada@contoso.example", AdminRole::kAdmin, true);
  auto co_owner = add_admin("Linus", "linus@contoso.example", AdminRole::kOwner, true);
  EXPECT_EQ(access().remove(org_.id, admin.id, owner_.id, "").error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(access().remove(org_.id, owner_.id, "no-such-admin", "").error().code, ErrorCode::kNotFound);

  // Ending sessions: the removed admin's session stops working.
  auto session = SessionService(db(), clock_).start(admin.id).value();
  auto removed = access().remove(org_.id, owner_.id, admin.id, "203.0.113.9");
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_TRUE(removed->disabled_at);
  EXPECT_FALSE(SessionService(db(), clock_).resume(session.token));
  EXPECT_EQ(access().remove(org_.id, owner_.id, admin.id, "").error().code, ErrorCode::kConflict);
  // A removed admin removes nobody.
  EXPECT_EQ(access().remove(org_.id, admin.id, co_owner.id, "").error().code, ErrorCode::kPermissionDenied);
  // With two owners, one may go.
  EXPECT_TRUE(access().remove(org_.id, co_owner.id, owner_.id, ""));
  EXPECT_TRUE(contains(audit_kinds(org_.id), "admin.removed"));

  // Another org's admin is "not found" here.
  auto other = AdminService(db(), clock_).create_org("Fabrikam", {"Mallory", "m@fabrikam.example", {}}).value();
  EXPECT_EQ(access().remove(org_.id, co_owner.id, other.owner.id, "").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(access().remove(other.org.id, co_owner.id, other.owner.id, "").error().code, ErrorCode::kPermissionDenied);
}

TEST_F(AdminAccessTest, OwnersChangeRolesButNeverDemoteTheLastOwner) {
  auto admin = add_admin("Ada", "ada@contoso.example", AdminRole::kAdmin, true);
  // The only owner cannot step down, and an admin changes no roles.
  EXPECT_EQ(access().set_role(org_.id, owner_.id, owner_.id, AdminRole::kAdmin, "").error().code, ErrorCode::kConflict);
  EXPECT_EQ(access().set_role(org_.id, admin.id, admin.id, AdminRole::kOwner, "").error().code,
            ErrorCode::kPermissionDenied);
  // Promote Ada; now the first owner may step down, and Ada is the last owner.
  auto promoted = access().set_role(org_.id, owner_.id, admin.id, AdminRole::kOwner, "198.51.100.4");
  ASSERT_TRUE(promoted) << promoted.error().message;
  EXPECT_EQ(promoted->role, AdminRole::kOwner);
  EXPECT_EQ(store::AdminRepo(db()).get(admin.id)->role, AdminRole::kOwner);
  EXPECT_TRUE(access().set_role(org_.id, admin.id, owner_.id, AdminRole::kAdmin, ""));
  EXPECT_EQ(access().set_role(org_.id, admin.id, admin.id, AdminRole::kAdmin, "").error().code, ErrorCode::kConflict);
  EXPECT_TRUE(contains(audit_kinds(org_.id), "admin.role_changed"));
  // Another org's admin is "not found"; a removed admin cannot be promoted.
  auto other = AdminService(db(), clock_).create_org("Fabrikam", {"Mallory", "m@fabrikam.example", {}}).value();
  EXPECT_EQ(access().set_role(org_.id, admin.id, other.owner.id, AdminRole::kAdmin, "").error().code,
            ErrorCode::kNotFound);
  auto gone = add_admin("Bob", "bob@contoso.example", AdminRole::kAdmin, true);
  ASSERT_TRUE(access().remove(org_.id, admin.id, gone.id, ""));
  EXPECT_EQ(access().set_role(org_.id, admin.id, gone.id, AdminRole::kOwner, "").error().code, ErrorCode::kConflict);
}

TEST(SignupErrorsTest, ListsEveryBadFieldInFormOrder) {
  EXPECT_TRUE(signup_errors({"Contoso", "Grace", "grace@contoso.example"}).empty());
  const std::vector<std::string> errors = signup_errors({"", "Grace", "not-an-email"});
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_TRUE(errors[0].starts_with("org_name: ")) << errors[0];
  EXPECT_TRUE(errors[1].starts_with("email: ")) << errors[1];
}

TEST_F(AdminAccessTest, AnAdminsPhoneGetsAtMostTenPushesAnHour) {
  give_owner_a_device();
  for (int i = 0; i < kMaxAdminPushesPerHour; ++i) {
    auto opened = access().begin_signin_push(owner_.email, hash_, browser());
    ASSERT_TRUE(opened && *opened) << i;
  }
  // The eleventh gets the decoy (nothing opened), and re-authentication is refused.
  auto flooded = access().begin_signin_push(owner_.email, hash_, browser());
  ASSERT_TRUE(flooded);
  EXPECT_FALSE(*flooded);
  EXPECT_EQ(access().begin_reauth(owner_.id, hash_, browser()).error().code, ErrorCode::kExhausted);
  EXPECT_TRUE(contains(audit_kinds(org_.id), "admin.signin_refused"));
  // An hour later the phone takes pushes again.
  advance(seconds(3601));
  auto later = access().begin_signin_push(owner_.email, hash_, browser());
  ASSERT_TRUE(later && *later);
}

// ---------------------------------------------------------------- re-authentication

TEST_F(AdminAccessTest, AnApprovedReauthPushMarksTheSession) {
  give_owner_a_device();
  auto session = SessionService(db(), clock_).start(owner_.id).value();
  EXPECT_EQ(session.record.reauthenticated_at, std::nullopt);
  auto opened = access().begin_reauth(owner_.id, hash_, browser());
  ASSERT_TRUE(opened) << opened.error().message;
  auto shown = pushed(device_.id, opened->challenge.id);
  ASSERT_TRUE(shown);
  EXPECT_EQ(access().finish_reauth(opened->challenge.id, hash_, owner_.id, session.record.id_hash, "").error().code,
            ErrorCode::kConflict);  // pending
  ASSERT_TRUE(answer(device_.id, *shown, DeviceAction::kApprove, shown->challenge.number));

  auto other = add_admin("Ada", "ada@contoso.example", AdminRole::kAdmin, true);
  auto other_session = SessionService(db(), clock_).start(other.id).value();
  EXPECT_EQ(
      access().finish_reauth(opened->challenge.id, hash_, other.id, other_session.record.id_hash, "").error().code,
      ErrorCode::kPermissionDenied);
  EXPECT_EQ(
      access().finish_reauth(opened->challenge.id, hash_, owner_.id, other_session.record.id_hash, "").error().code,
      ErrorCode::kPermissionDenied);
  EXPECT_EQ(
      access().finish_reauth(opened->challenge.id, other_hash_, owner_.id, session.record.id_hash, "").error().code,
      ErrorCode::kPermissionDenied);

  advance(seconds(3));
  ASSERT_TRUE(access().finish_reauth(opened->challenge.id, hash_, owner_.id, session.record.id_hash, "203.0.113.9"));
  auto stored = store::SessionRepo(db()).find(session.record.id_hash).value();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->reauthenticated_at, std::optional<store::UnixTime>(now()));
  EXPECT_EQ(access().finish_reauth(opened->challenge.id, hash_, owner_.id, session.record.id_hash, "").error().code,
            ErrorCode::kConflict);
  EXPECT_TRUE(contains(audit_kinds(org_.id), "admin.reauthenticated"));
}

TEST_F(AdminAccessTest, ADeniedReauthLeavesTheSessionUnmarked) {
  give_owner_a_device();
  auto session = SessionService(db(), clock_).start(owner_.id).value();
  auto opened = access().begin_reauth(owner_.id, hash_, browser()).value();
  auto shown = pushed(device_.id, opened.challenge.id);
  ASSERT_TRUE(shown);
  ASSERT_TRUE(answer(device_.id, *shown, DeviceAction::kDeny, 0));
  EXPECT_EQ(access().finish_reauth(opened.challenge.id, hash_, owner_.id, session.record.id_hash, "").error().code,
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(store::SessionRepo(db()).find(session.record.id_hash).value()->reauthenticated_at, std::nullopt);
}

TEST_F(AdminAccessTest, ReauthNeedsADevice) {
  EXPECT_EQ(access().begin_reauth(owner_.id, hash_, browser()).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(access().begin_reauth("no-such-admin", hash_, browser()).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace avow::domain
