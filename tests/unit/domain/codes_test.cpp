// Fallback codes (sign_in.h): the secret made at binding and sealed, ±1 step, replay, attempts per challenge,
// the per-user lockout and its two ways out, uniform refusals, and finish() answering "otp".
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "crypto/otp.h"
#include "crypto/sealed.h"
#include "domain/codes.h"
#include "domain/hashing.h"
#include "domain/sign_in.h"
#include "fixture.h"

namespace avow::domain {
namespace {

using std::chrono::seconds;
using store::ChallengeState;
using testing::kDirectory;

class CodesTest : public testing::DomainTest {
 protected:
  SignInService flows() { return SignInService(db(), clock_, {}, {}, {}, FallbackCodes{&master_key_, code_policy_}); }

  SignInRequest request(const store::UserRecord& u) {
    SignInRequest r;
    r.integration_id = integration_.id;
    r.identity = {kDirectory, u.object_id, u.upn, u.display_name};
    r.kind = store::ChallengeKind::kEam;
    r.context.ip = "203.0.113.9";
    r.nonce = "nonce";
    r.redirect_uri = "https://login.microsoftonline.com/common/federation/externalauthprovider";
    r.client_id = integration_.client_id;
    r.hint_sub = "sub";
    r.flow_secret_hash = flow_hash_;
    return r;
  }

  SignInStart begin_for(const store::UserRecord& u) {
    auto s = flows().begin(request(u));
    EXPECT_TRUE(s) << s.error().message;
    return *s;
  }

  // The first sign-in of `u` on `d`: ScanCode → scan binds → the binding's secret.
  CodeSecret bind_by_scan(const store::UserRecord& u, const store::DeviceRecord& d) {
    SignInStart s = begin_for(u);
    EXPECT_TRUE(s.scan_code);
    auto scanned = flows().scan(*s.scan_code, d.id, "198.51.100.7");
    EXPECT_TRUE(scanned) << scanned.error().message;
    EXPECT_TRUE(scanned->code_secret);
    return *scanned->code_secret;
  }

  static std::string code_at(const CodeSecret& s, store::UnixTime t) {
    return crypto::totp_at(s.secret, t, kCodePeriodSeconds, kCodeDigits, kCodeAlgorithm).value();
  }

  // A code that is none of the window's codes for `s` at now.
  std::string wrong_code(const CodeSecret& s) {
    for (int n = 0; n < 1000; ++n) {
      std::string candidate = std::to_string(n);
      candidate.insert(0, 6 - candidate.size(), '0');
      bool in_window = false;
      for (int k = -3; k <= 3; ++k) in_window = in_window || code_at(s, now() + k * kCodePeriodSeconds) == candidate;
      if (!in_window) return candidate;
    }
    ADD_FAILURE() << "no wrong code among 000000-000999";  // 7 window codes cannot cover 1000 candidates
    return "";
  }

  Result<CodeVerdict> verify(const store::ChallengeRecord& c, std::string_view code) {
    return flows().verify_code(c.id, flow_hash_, code, "203.0.113.9");
  }

  std::vector<nlohmann::json> audit(const std::string& kind) {
    store::AuditQuery q;
    q.org_id = org_.id;
    q.kind = kind;
    q.limit = 500;
    auto list = store::AuditRepo(db()).list(q);
    EXPECT_TRUE(list);
    std::vector<nlohmann::json> out;
    for (const auto& e : *list) out.push_back(nlohmann::json::parse(e.details));
    return out;
  }

  store::UserCodeLock lock_of(const store::UserRecord& u) { return store::UserRepo(db()).code_lock(u.id).value(); }

  crypto::MasterKey master_key_ = crypto::MasterKey::generate();
  CodePolicy code_policy_;
  const std::string flow_secret_ = "flow-secret";
  const std::string flow_hash_ = sha256_hex(flow_secret_);
};

TEST_F(CodesTest, BindingMakesASecretThatIsStoredSealedUnderTheMasterKey) {
  const CodeSecret s = bind_by_scan(user_, device_);
  EXPECT_EQ(s.secret.size(), kCodeSecretBytes);
  auto binding = store::BindingRepo(db()).find_active(user_.id, device_.id).value();
  ASSERT_TRUE(binding);
  EXPECT_EQ(s.binding_id, binding->id);

  auto row = store::CodeSecretRepo(db()).find(s.binding_id).value();
  ASSERT_TRUE(row);
  EXPECT_EQ(row->secret_sealed.find(s.secret), std::string::npos) << "the database holds no clear secret";
  EXPECT_EQ(row->secret_sealed.size(), s.secret.size() + crypto::MasterKey::kSealOverhead);
  EXPECT_EQ(master_key_.open(row->secret_sealed, code_secret_aad(s.binding_id)).value(), s.secret);
  // Bound to its row: it does not open as another binding's, nor under another master key.
  EXPECT_FALSE(master_key_.open(row->secret_sealed, code_secret_aad("another-binding")));
  EXPECT_FALSE(crypto::MasterKey::generate().open(row->secret_sealed, code_secret_aad(s.binding_id)));

  // The device asking again gets the same secret; another device gets nothing.
  EXPECT_EQ(flows().code_secret(s.binding_id, device_.id).value().secret, s.secret);
  const store::DeviceRecord other = new_device();
  EXPECT_EQ(flows().code_secret(s.binding_id, other.id).error().code, ErrorCode::kPermissionDenied);
}

TEST_F(CodesTest, ABindingWithoutASecretGetsOneWhenItsDeviceAsks) {
  bind(user_, device_);  // an admin's binding: no secret yet
  auto binding = store::BindingRepo(db()).find_active(user_.id, device_.id).value();
  ASSERT_TRUE(binding);
  EXPECT_FALSE(store::CodeSecretRepo(db()).find(binding->id).value());
  auto made = flows().code_secret(binding->id, device_.id);
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(made->secret.size(), kCodeSecretBytes);
  EXPECT_TRUE(store::CodeSecretRepo(db()).find(binding->id).value());
  EXPECT_EQ(audit("binding.code_secret_issued").size(), 1u);
  EXPECT_EQ(flows().code_secret(binding->id, device_.id).value().secret, made->secret);
  EXPECT_EQ(audit("binding.code_secret_issued").size(), 1u) << "made once";
  // Without a master key there are no codes at all.
  EXPECT_EQ(SignInService(db(), clock_).code_secret(binding->id, device_.id).error().code, ErrorCode::kConflict);
}

TEST_F(CodesTest, ARightCodeApprovesAndFinishAnswersOtp) {
  const CodeSecret s = bind_by_scan(user_, device_);
  SignInStart second = begin_for(user_);
  EXPECT_FALSE(second.scan_code);
  EXPECT_TRUE(second.codes_open);
  auto v = verify(second.challenge, code_at(s, now()));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->accepted);
  EXPECT_EQ(v->challenge.state, ChallengeState::kApproved);
  EXPECT_TRUE(v->challenge.approved_by_code);
  EXPECT_EQ(v->notify, std::vector<std::string>{"challenge:" + second.challenge.id});
  auto done = flows().finish(second.challenge.id, flow_hash_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->method, "otp");
  ASSERT_EQ(audit("signin.code_ok").size(), 1u);
  EXPECT_EQ(audit("signin.code_ok")[0]["binding_id"], s.binding_id);
  // The code is never in the audit log.
  store::AuditQuery q;
  q.org_id = org_.id;
  q.limit = 500;
  auto events = store::AuditRepo(db()).list(q);  // named: a range-for over a temporary's value() dangles
  ASSERT_TRUE(events.has_value());
  ASSERT_FALSE(events->empty());
  for (const auto& e : *events) EXPECT_EQ(e.details.find(code_at(s, now())), std::string::npos) << e.kind;
}

TEST_F(CodesTest, APushApprovalStillFinishesAsSwk) {
  bind_by_scan(user_, device_);
  SignInStart second = begin_for(user_);
  ASSERT_TRUE(flows()
                  .answer(second.challenge.id, device_.id, DeviceAction::kApprove, second.challenge.number,
                          context_hash(second.challenge.context), "")
                  .has_value());
  EXPECT_EQ(flows().finish(second.challenge.id, flow_hash_).value().method, "swk");
}

TEST_F(CodesTest, OneStepEitherSideIsAcceptedTwoAreNot) {
  const CodeSecret s = bind_by_scan(user_, device_);
  const store::UnixTime t = now();
  // Oldest first: each accepted step must be newer than the last.
  for (int k : {-1, 0, 1}) {
    SignInStart c = begin_for(user_);
    auto v = verify(c.challenge, code_at(s, t + k * kCodePeriodSeconds));
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->accepted) << "step " << k;
  }
  const store::UserRecord other_user = new_user();
  const store::DeviceRecord other_device = new_device();
  const CodeSecret o = bind_by_scan(other_user, other_device);
  for (int k : {-2, 2}) {
    SignInStart c = begin_for(other_user);
    auto v = verify(c.challenge, code_at(o, t + k * kCodePeriodSeconds));
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->accepted) << "step " << k;
  }
}

TEST_F(CodesTest, AUsedStepIsNeverAcceptedAgainNorAnOlderOne) {
  const CodeSecret s = bind_by_scan(user_, device_);
  const std::string code = code_at(s, now());
  SignInStart first = begin_for(user_);
  ASSERT_TRUE(verify(first.challenge, code).value().accepted);
  SignInStart again = begin_for(user_);
  auto replay = verify(again.challenge, code);
  ASSERT_TRUE(replay);
  EXPECT_FALSE(replay->accepted);
  EXPECT_EQ(replay->challenge.state, ChallengeState::kPending);
  EXPECT_EQ(audit("signin.code_failed").at(0)["reason"], "replayed");

  // The next step's code, then the current one's (older): refused although never used.
  const store::UserRecord u2 = new_user();
  const store::DeviceRecord d2 = new_device();
  const CodeSecret s2 = bind_by_scan(u2, d2);
  SignInStart a = begin_for(u2);
  ASSERT_TRUE(verify(a.challenge, code_at(s2, now() + kCodePeriodSeconds)).value().accepted);
  SignInStart b = begin_for(u2);
  EXPECT_FALSE(verify(b.challenge, code_at(s2, now())).value().accepted);
  // Time moves on: the step after is fine.
  advance(seconds(2 * kCodePeriodSeconds));
  SignInStart c = begin_for(u2);
  EXPECT_TRUE(verify(c.challenge, code_at(s2, now())).value().accepted);
}

TEST_F(CodesTest, FiveCodesPerChallengeThenTheFormClosesButThePushStillAnswers) {
  const CodeSecret s = bind_by_scan(user_, device_);
  SignInStart c = begin_for(user_);
  for (int i = 1; i <= 5; ++i) {
    auto v = verify(c.challenge, wrong_code(s));
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->accepted);
    EXPECT_EQ(v->closed, i == 5) << "attempt " << i;
  }
  // The sixth — even the right code — is refused, and looks like any refusal.
  auto sixth = verify(c.challenge, code_at(s, now()));
  ASSERT_TRUE(sixth);
  EXPECT_FALSE(sixth->accepted);
  EXPECT_TRUE(sixth->closed);
  EXPECT_EQ(audit("signin.code_failed").at(0)["reason"], "attempts_exhausted");
  EXPECT_EQ(store::ChallengeRepo(db()).get(c.challenge.id).value().code_attempts, 5);
  EXPECT_EQ(lock_of(user_).failures, 5) << "the sixth was not looked at";
  // The push can still be answered.
  auto answered = flows().answer(c.challenge.id, device_.id, DeviceAction::kApprove, c.challenge.number,
                                 context_hash(c.challenge.context), "");
  ASSERT_TRUE(answered) << answered.error().message;
  EXPECT_EQ(answered->challenge.state, ChallengeState::kApproved);
}

TEST_F(CodesTest, ConsecutiveFailuresLockTheUsersCodesUntilAnAdminUnlocks) {
  code_policy_.lockout_threshold = 7;
  const CodeSecret s = bind_by_scan(user_, device_);
  int failures = 0;
  while (failures < 7) {
    SignInStart c = begin_for(user_);
    for (int i = 0; i < 4 && failures < 7; ++i) {
      auto v = verify(c.challenge, wrong_code(s));
      ASSERT_TRUE(v);
      ++failures;
      EXPECT_EQ(v->closed, failures == 7) << failures;
    }
  }
  EXPECT_TRUE(lock_of(user_).locked());
  EXPECT_EQ(lock_of(user_).failures, 7);
  EXPECT_EQ(audit("user.codes_locked").size(), 1u);
  // Push denials are counted apart: the user itself is not locked.
  EXPECT_EQ(store::UserRepo(db()).get(user_.id).value().status, store::UserStatus::kActive);
  EXPECT_EQ(store::UserRepo(db()).get(user_.id).value().failed_attempts, 0);

  SignInStart locked = begin_for(user_);
  EXPECT_FALSE(locked.codes_open);
  auto refused = verify(locked.challenge, code_at(s, now()));
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->accepted);
  EXPECT_TRUE(refused->closed);
  EXPECT_EQ(audit("signin.code_failed").at(0)["reason"], "locked");

  EXPECT_TRUE(flows().unlock_codes(user_.id, "admin", "test").value());
  EXPECT_FALSE(lock_of(user_).locked());
  EXPECT_EQ(lock_of(user_).failures, 0);
  EXPECT_FALSE(flows().unlock_codes(user_.id, "admin", "test").value()) << "was not locked any more";
  EXPECT_EQ(audit("user.codes_unlocked").size(), 2u);
  SignInStart open = begin_for(user_);
  EXPECT_TRUE(open.codes_open);
  EXPECT_TRUE(verify(open.challenge, code_at(s, now())).value().accepted);
  EXPECT_EQ(flows().unlock_codes("no-such-user", "admin", "test").error().code, ErrorCode::kNotFound);
}

TEST_F(CodesTest, AnApprovedPushUnlocksAndRestartsTheCount) {
  code_policy_.lockout_threshold = 2;
  const CodeSecret s = bind_by_scan(user_, device_);
  SignInStart c = begin_for(user_);
  ASSERT_FALSE(verify(c.challenge, wrong_code(s)).value().accepted);
  ASSERT_TRUE(verify(c.challenge, wrong_code(s)).value().closed);
  ASSERT_TRUE(lock_of(user_).locked());
  auto approved = flows().answer(c.challenge.id, device_.id, DeviceAction::kApprove, c.challenge.number,
                                 context_hash(c.challenge.context), "");
  ASSERT_TRUE(approved) << approved.error().message;
  EXPECT_FALSE(lock_of(user_).locked());
  EXPECT_EQ(lock_of(user_).failures, 0);
  ASSERT_EQ(audit("user.codes_unlocked").size(), 1u);
  EXPECT_EQ(audit("user.codes_unlocked")[0]["reason"], "push_approved");

  // A right code also restarts the count (consecutive failures only).
  SignInStart d = begin_for(user_);
  ASSERT_FALSE(verify(d.challenge, wrong_code(s)).value().accepted);
  ASSERT_TRUE(verify(d.challenge, code_at(s, now())).value().accepted);
  EXPECT_EQ(lock_of(user_).failures, 0);
}

TEST_F(CodesTest, EveryKindOfWrongCodeGetsTheSameVerdict) {
  const CodeSecret s = bind_by_scan(user_, device_);
  const store::UserRecord other_user = new_user();
  const store::DeviceRecord other_device = new_device();
  const CodeSecret o = bind_by_scan(other_user, other_device);

  SignInStart used = begin_for(user_);
  const std::string code = code_at(s, now());
  ASSERT_TRUE(verify(used.challenge, code).value().accepted);

  SignInStart c = begin_for(user_);
  std::vector<CodeVerdict> verdicts;
  for (const std::string& attempt : {wrong_code(s), code /* replayed */, code_at(o, now()) /* another user's */,
                                     std::string("12ab56"), std::string(""), std::string(500, '1')}) {
    auto v = verify(c.challenge, attempt);
    ASSERT_TRUE(v) << v.error().message;
    verdicts.push_back(*v);
  }
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    EXPECT_FALSE(verdicts[i].accepted) << i;
    EXPECT_EQ(verdicts[i].closed, i >= 4) << i << ": only the budget closes the form";
    EXPECT_TRUE(verdicts[i].notify.empty());
    EXPECT_EQ(verdicts[i].challenge.state, ChallengeState::kPending);
  }
}

TEST_F(CodesTest, RequestErrorsAreNotVerdicts) {
  const CodeSecret s = bind_by_scan(user_, device_);
  SignInStart c = begin_for(user_);
  EXPECT_EQ(flows().verify_code(c.challenge.id, sha256_hex("another"), code_at(s, now()), "").error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(flows().verify_code("no-such", flow_hash_, code_at(s, now()), "").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store::ChallengeRepo(db()).get(c.challenge.id).value().code_attempts, 0) << "not counted";
  advance(seconds(600));
  EXPECT_EQ(verify(c.challenge, code_at(s, now())).error().code, ErrorCode::kConflict);
  EXPECT_EQ(SignInService(db(), clock_).verify_code(c.challenge.id, flow_hash_, "123456", "").error().code,
            ErrorCode::kConflict)
      << "codes are off without a master key";
}

TEST_F(CodesTest, ARevokedBindingsCodeIsRefused) {
  const CodeSecret s = bind_by_scan(user_, device_);
  const store::DeviceRecord phone2 = new_device();
  ASSERT_TRUE(store::UserRepo(db()).set_allow_new_device(user_.id, true));
  const CodeSecret s2 = bind_by_scan(user_, phone2);
  ASSERT_TRUE(store::BindingRepo(db()).revoke(s.binding_id, now()).value());
  SignInStart c = begin_for(user_);
  EXPECT_FALSE(verify(c.challenge, code_at(s, now())).value().accepted);
  EXPECT_TRUE(verify(c.challenge, code_at(s2, now())).value().accepted) << "the other binding's code works";
}

}  // namespace
}  // namespace avow::domain
