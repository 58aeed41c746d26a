// ScanCodes (single use, hashed, expiring), devices, and the trust-on-first-use binding rule.
#include <gtest/gtest.h>

#include "domain/hashing.h"
#include "domain/scan_codes.h"
#include "fixture.h"

namespace avow::domain {
namespace {

using std::chrono::seconds;
using store::ScanCodePurpose;
using store::ScanCodeState;

class ScanCodesTest : public testing::DomainTest {
 protected:
  ScanCodeService codes() { return ScanCodeService(db(), clock_, policy_); }
  IssuedScanCode issue_bind(const store::UserRecord& u) {
    ScanCodeRequest r;
    r.purpose = ScanCodePurpose::kBindUser;
    r.org_id = org_.id;
    r.user_id = u.id;
    auto issued = codes().issue(r);
    EXPECT_TRUE(issued) << issued.error().message;
    return *issued;
  }
  ScanCodePolicy policy_;
};

TEST_F(ScanCodesTest, IssueStoresOnlyTheHash) {
  auto issued = issue_bind(user_);
  EXPECT_EQ(issued.code.size(), 43u);  // 256 bits, base64url
  EXPECT_EQ(issued.record.code_hash, sha256_hex(issued.code));
  EXPECT_EQ(issued.record.state, ScanCodeState::kActive);
  EXPECT_EQ(issued.record.expires_at, now() + policy_.bind_user_ttl.count());
  auto stored = store::ScanCodeRepo(db()).get(issued.record.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->code_hash, issued.record.code_hash);
  // The code itself appears nowhere in the row.
  EXPECT_EQ(stored->code_hash.find(issued.code), std::string::npos);
  EXPECT_EQ(stored->details.find(issued.code), std::string::npos);
  auto other = issue_bind(user_);
  EXPECT_NE(other.code, issued.code);
}

TEST_F(ScanCodesTest, IssueChecksSubjectsPerPurpose) {
  ScanCodeRequest r;
  r.purpose = ScanCodePurpose::kBindUser;
  r.org_id = org_.id;
  EXPECT_EQ(codes().issue(r).error().message, "a bind_user scan code needs a user");
  r.purpose = ScanCodePurpose::kAdminInvite;
  EXPECT_EQ(codes().issue(r).error().message, "an admin_invite scan code needs an admin");
  r.admin_id = owner_.id;
  EXPECT_TRUE(codes().issue(r));
  r.org_id.reset();
  EXPECT_EQ(codes().issue(r).error().message, "scan code needs an org");
  r.admin_id.reset();
  r.purpose = ScanCodePurpose::kAdminSignin;  // the scanning device names the admin, and so the org
  EXPECT_TRUE(codes().issue(r));
  r.purpose = ScanCodePurpose::kAdminSignup;  // the org does not exist yet
  auto signup = codes().issue(r);
  ASSERT_TRUE(signup);
  EXPECT_EQ(signup->record.expires_at, now() + policy_.admin_signup_ttl.count());
  r.details.assign(5000, 'x');
  EXPECT_EQ(codes().issue(r).error().code, ErrorCode::kInvalidArgument);
  r.details = "{}";
  r.purpose = ScanCodePurpose::kBindUser;
  r.org_id = org_.id;
  r.user_id = "no-such-user";
  EXPECT_EQ(codes().issue(r).error().code, ErrorCode::kInvalidArgument);  // foreign key
}

TEST_F(ScanCodesTest, RedeemIsSingleUse) {
  auto issued = issue_bind(user_);
  auto first = codes().redeem(issued.code, ScanCodePurpose::kBindUser, device_.id);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->state, ScanCodeState::kConsumed);
  EXPECT_EQ(first->consumed_by_device, std::optional<std::string>(device_.id));
  EXPECT_EQ(first->user_id, std::optional<std::string>(user_.id));
  auto second = codes().redeem(issued.code, ScanCodePurpose::kBindUser, device_.id);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_EQ(second.error().message, "scan code already used");
  EXPECT_EQ(codes().get(issued.record.id)->state, ScanCodeState::kConsumed);
}

TEST_F(ScanCodesTest, RedeemRefusals) {
  auto issued = issue_bind(user_);
  EXPECT_EQ(codes().redeem("", ScanCodePurpose::kBindUser, device_.id).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      codes().redeem(std::string(kMaxScanCodeBytes + 1, 'a'), ScanCodePurpose::kBindUser, device_.id).error().code,
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(codes().redeem("not-a-code", ScanCodePurpose::kBindUser, device_.id).error().code,
            ErrorCode::kUnauthenticated);
  // The wrong purpose does not burn the code.
  auto wrong = codes().redeem(issued.code, ScanCodePurpose::kAdminSignin, device_.id);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(codes().get(issued.record.id)->state, ScanCodeState::kActive);
  EXPECT_TRUE(codes().redeem(issued.code, ScanCodePurpose::kBindUser, device_.id));
}

TEST_F(ScanCodesTest, ExpiryWithTheClock) {
  auto issued = issue_bind(user_);
  advance(policy_.bind_user_ttl - seconds(1));
  EXPECT_EQ(codes().get(issued.record.id)->state, ScanCodeState::kActive);
  advance(seconds(1));
  EXPECT_EQ(codes().get(issued.record.id)->state, ScanCodeState::kExpired);
  auto late = codes().redeem(issued.code, ScanCodePurpose::kBindUser, device_.id);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kExpired);
  EXPECT_EQ(codes().expire_due().value(), 1);
  EXPECT_EQ(store::ScanCodeRepo(db()).get(issued.record.id)->state, ScanCodeState::kExpired);
  EXPECT_EQ(codes().redeem(issued.code, ScanCodePurpose::kBindUser, device_.id).error().code, ErrorCode::kExpired);
}

TEST_F(ScanCodesTest, Withdraw) {
  auto issued = issue_bind(user_);
  ASSERT_TRUE(codes().withdraw(issued.record.id));
  EXPECT_EQ(codes().withdraw(issued.record.id).error().code, ErrorCode::kConflict);
  EXPECT_EQ(codes().redeem(issued.code, ScanCodePurpose::kBindUser, device_.id).error().code, ErrorCode::kExpired);
  EXPECT_EQ(codes().withdraw("nope").error().code, ErrorCode::kNotFound);
}

class BindingsTest : public testing::DomainTest {
 protected:
  BindingService bindings() { return BindingService(db(), clock_); }
  std::string bind_code(const store::UserRecord& u) {
    ScanCodeRequest r;
    r.purpose = ScanCodePurpose::kBindUser;
    r.org_id = org_.id;
    r.user_id = u.id;
    return ScanCodeService(db(), clock_).issue(r)->code;
  }
  std::int64_t active_devices(const store::UserRecord& u) {
    return store::BindingRepo(db()).count_active_for_user(u.id).value();
  }
};

TEST_F(BindingsTest, FirstDeviceBindsByScanCode) {
  const std::string code = bind_code(user_);
  auto r = bindings().bind_with_scan_code(code, device_.id);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->decision, BindingDecision::kFirstDevice);
  EXPECT_EQ(r->binding.user_id, user_.id);
  EXPECT_EQ(r->binding.device_id, device_.id);
  EXPECT_EQ(r->scan_code.state, ScanCodeState::kConsumed);
  EXPECT_EQ(active_devices(user_), 1);
  // The same code cannot be used again, by this device or another.
  auto again = bindings().bind_with_scan_code(code, new_device().id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

TEST_F(BindingsTest, ASecondDeviceIsRefusedAndTheCodeIsNotBurnt) {
  bind(user_, device_);
  const std::string code = bind_code(user_);
  auto intruder = new_device();
  auto r = bindings().bind_with_scan_code(code, intruder.id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(active_devices(user_), 1);
  auto rec = store::ScanCodeRepo(db()).find_by_hash(sha256_hex(code));
  EXPECT_EQ((*rec)->state, ScanCodeState::kActive);  // all or nothing

  // An admin allows one more device: the next binding uses the permission up.
  ASSERT_TRUE(UserService(db(), clock_).allow_new_device(user_.id, true));
  auto allowed = bindings().bind_with_scan_code(code, intruder.id);
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_EQ(allowed->decision, BindingDecision::kAdminAllowed);
  EXPECT_EQ(active_devices(user_), 2);
  EXPECT_FALSE(UserService(db(), clock_).get(user_.id)->allow_new_device);
  auto third = bindings().bind(user_.id, new_device().id);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(BindingsTest, AfterRevocationTheUserMayBindAgain) {
  bind(user_, device_);
  auto binding = store::BindingRepo(db()).find_active(user_.id, device_.id).value();
  ASSERT_TRUE(binding);
  auto revoked = bindings().revoke(binding->id);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, store::BindingStatus::kRevoked);
  EXPECT_EQ(bindings().revoke(binding->id).error().code, ErrorCode::kConflict);
  EXPECT_EQ(active_devices(user_), 0);
  auto fresh = bindings().bind_with_scan_code(bind_code(user_), new_device().id);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(fresh->decision, BindingDecision::kFirstDevice);
}

TEST_F(BindingsTest, ARevokedDeviceNoLongerCountsOrBinds) {
  bind(user_, device_);
  auto revoked = DeviceService(db(), clock_).revoke(device_.id);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, store::DeviceStatus::kRevoked);
  EXPECT_EQ(DeviceService(db(), clock_).revoke(device_.id).error().code, ErrorCode::kConflict);
  // Its bindings went with it.
  EXPECT_FALSE(store::BindingRepo(db()).find_active(user_.id, device_.id).value());
  EXPECT_EQ(active_devices(user_), 0);
  // A revoked device cannot bind; a new one can (first device again).
  auto r = bindings().bind(user_.id, device_.id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "device is revoked");
  EXPECT_TRUE(bindings().bind(user_.id, new_device().id));
}

TEST_F(BindingsTest, BindRefusals) {
  bind(user_, device_);
  EXPECT_EQ(bindings().bind(user_.id, device_.id).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(bindings().bind("no-such-user", device_.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(bindings().bind(user_.id, "no-such-device").error().code, ErrorCode::kNotFound);
  auto fresh_user = new_user();
  ASSERT_TRUE(UserService(db(), clock_).lock(fresh_user.id));
  EXPECT_EQ(bindings().bind(fresh_user.id, new_device().id).error().message, "user is locked");
  // A code for another purpose does not bind.
  ScanCodeRequest signin;
  signin.purpose = ScanCodePurpose::kAdminSignin;
  signin.org_id = org_.id;
  auto code = ScanCodeService(db(), clock_).issue(signin);
  ASSERT_TRUE(code);
  EXPECT_EQ(bindings().bind_with_scan_code(code->code, device_.id).error().code, ErrorCode::kPermissionDenied);
}

TEST_F(BindingsTest, OnePhoneServesUsersOfSeveralOrgs) {
  // Ada is a member here and a B2B guest in Fabrikam: both accounts trust the same phone on first use.
  bind(user_, device_);
  auto fabrikam = AdminService(db(), clock_).create_org("Fabrikam", {"Bob", "bob@fabrikam.example", {}});
  ASSERT_TRUE(fabrikam);
  const std::string fabrikam_directory = "55555555-5555-4555-8555-555555555555";
  auto guest = UserService(db(), clock_)
                   .find_or_create(fabrikam->org.id, fabrikam_directory,
                                   {testing::kDirectory, user_.object_id, "ada@contoso.example", ""});
  ASSERT_TRUE(guest) << guest.error().message;
  EXPECT_TRUE(guest->is_guest);
  ScanCodeRequest r;
  r.purpose = ScanCodePurpose::kBindUser;
  r.org_id = fabrikam->org.id;
  r.user_id = guest->id;
  auto code = ScanCodeService(db(), clock_).issue(r);
  ASSERT_TRUE(code);
  auto bound = bindings().bind_with_scan_code(code->code, device_.id);
  ASSERT_TRUE(bound) << bound.error().message;
  EXPECT_EQ(bound->decision, BindingDecision::kFirstDevice);
  EXPECT_EQ(active_devices(*guest), 1);
  EXPECT_EQ(active_devices(user_), 1);
  // Each org lists the phone among its devices.
  EXPECT_EQ(store::DeviceRepo(db()).list_for_org(org_.id).value().size(), 1u);
  EXPECT_EQ(store::DeviceRepo(db()).list_for_org(fabrikam->org.id).value().size(), 1u);
  // Revoking the device ends both bindings.
  ASSERT_TRUE(DeviceService(db(), clock_).revoke(device_.id));
  EXPECT_EQ(active_devices(*guest), 0);
  EXPECT_EQ(active_devices(user_), 0);
}

TEST_F(BindingsTest, AcceptDeviceRequestRefusesStaleAndReplayedRequests) {
  const std::string jti = random_token(16);
  ASSERT_TRUE(accept_device_request(db(), clock_, device_.id, jti, now()));
  auto replay = accept_device_request(db(), clock_, device_.id, jti, now());
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kConflict);
  // The same jti from another device is that device's own business.
  EXPECT_TRUE(accept_device_request(db(), clock_, new_device().id, jti, now()));
  // The window is ±60 s, inclusive.
  EXPECT_TRUE(accept_device_request(db(), clock_, device_.id, random_token(16), now() - 60));
  EXPECT_TRUE(accept_device_request(db(), clock_, device_.id, random_token(16), now() + 60));
  EXPECT_EQ(accept_device_request(db(), clock_, device_.id, random_token(16), now() - 61).error().code,
            ErrorCode::kExpired);
  EXPECT_EQ(accept_device_request(db(), clock_, device_.id, random_token(16), now() + 61).error().code,
            ErrorCode::kExpired);
  EXPECT_TRUE(accept_device_request(db(), clock_, device_.id, random_token(16), now() - 100, 120));
  // jti bounds: 16..128 characters.
  EXPECT_EQ(accept_device_request(db(), clock_, device_.id, std::string(15, 'j'), now()).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(accept_device_request(db(), clock_, device_.id, std::string(16, 'j'), now()));
  EXPECT_TRUE(accept_device_request(db(), clock_, device_.id, std::string(128, 'j'), now()));
  EXPECT_EQ(accept_device_request(db(), clock_, device_.id, std::string(129, 'j'), now()).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(accept_device_request(db(), clock_, "", jti, now()).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(BindingsTest, ADeviceNonceIsKeptThroughItsWindow) {
  // The nonce outlives the window of its iat: a replay at the window's edge is still caught, and once the
  // window has passed the sweep may forget it because the iat alone refuses the request.
  const store::UnixTime iat = now();
  const std::string late = random_token(16);
  ASSERT_TRUE(accept_device_request(db(), clock_, device_.id, late, iat));
  advance(seconds(60));
  EXPECT_EQ(store::DeviceNonceRepo(db()).purge_expired(now(), 100).value(), 0);
  EXPECT_EQ(accept_device_request(db(), clock_, device_.id, late, iat).error().code, ErrorCode::kConflict);
  advance(seconds(1));
  EXPECT_EQ(store::DeviceNonceRepo(db()).purge_expired(now(), 100).value(), 1);
  EXPECT_EQ(accept_device_request(db(), clock_, device_.id, late, iat).error().code, ErrorCode::kExpired);
}

TEST_F(BindingsTest, DeviceEnrolmentValidation) {
  NewDevice d;
  d.name = "  Phone  ";
  d.public_jwk = "{}";
  auto ok_device = DeviceService(db(), clock_).enroll(d);
  ASSERT_TRUE(ok_device);
  EXPECT_EQ(ok_device->name, "Phone");
  EXPECT_EQ(ok_device->status, store::DeviceStatus::kActive);
  EXPECT_EQ(ok_device->created_at, now());

  NewDevice bad = d;
  bad.name = "";
  EXPECT_EQ(DeviceService(db(), clock_).enroll(bad).error().message, "device name must not be empty");
  bad = d;
  bad.public_jwk.clear();
  EXPECT_EQ(DeviceService(db(), clock_).enroll(bad).error().code, ErrorCode::kInvalidArgument);
  bad.public_jwk.assign(kMaxPublicJwkBytes + 1, 'k');
  EXPECT_EQ(DeviceService(db(), clock_).enroll(bad).error().code, ErrorCode::kInvalidArgument);
  bad = d;
  bad.push_platform = store::PushPlatform::kApns;
  EXPECT_EQ(DeviceService(db(), clock_).enroll(bad).error().message, "push token required for this platform");
  bad.push_token = "apns-token";
  EXPECT_TRUE(DeviceService(db(), clock_).enroll(bad));
  bad.push_platform = store::PushPlatform::kBuiltin;
  EXPECT_EQ(DeviceService(db(), clock_).enroll(bad).error().code, ErrorCode::kInvalidArgument);

  advance(seconds(7));
  ASSERT_TRUE(DeviceService(db(), clock_).touch(ok_device->id));
  EXPECT_EQ(DeviceService(db(), clock_).get(ok_device->id)->last_seen_at, std::optional<store::UnixTime>(now()));
}

}  // namespace
}  // namespace avow::domain
