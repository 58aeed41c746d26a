// SettingsService: an org's sign-in settings — validation, defaults, saving (audited) and the policies.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/settings.h"
#include "fixture.h"

namespace avow::domain {
namespace {

using std::chrono::seconds;

SettingsForm valid_form() {
  SettingsForm f;
  f.challenge_ttl_seconds = "90";
  f.number_digits = "3";
  f.max_pushes_per_hour = "12";
  f.lockout_max_failures = "4";
  f.code_lockout_threshold = "7";
  return f;
}

SignInPolicies server_policies() {
  SignInPolicies p;
  p.challenges.ttl = seconds(100);
  p.challenges.after_scan = seconds(50);
  p.challenges.max_lifetime = seconds(200);
  p.challenges.number_digits = 2;
  p.challenges.number_choices = 4;
  p.lockout.max_failures = 6;
  p.codes.window_steps = 2;
  p.codes.max_attempts_per_challenge = 3;
  p.codes.lockout_threshold = 9;
  p.max_pushes_per_hour = 25;
  return p;
}

// ---------------------------------------------------------------- validate_settings

TEST(SettingsValidationTest, AcceptsEveryBoundAndTrims) {
  SettingsForm low{"30", "2", "1", "1", "1"};
  auto l = validate_settings("org-1", low);
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->org_id, "org-1");
  EXPECT_EQ(l->challenge_ttl_seconds, 30);
  EXPECT_EQ(l->number_digits, 2);
  EXPECT_EQ(l->max_pushes_per_hour, 1);
  EXPECT_EQ(l->lockout_max_failures, 1);
  EXPECT_EQ(l->code_lockout_threshold, 1);

  SettingsForm high{" 240 ", "\t3\n", "1000", "100", "  100"};
  auto h = validate_settings("org-1", high);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->challenge_ttl_seconds, 240);
  EXPECT_EQ(h->number_digits, 3);
  EXPECT_EQ(h->max_pushes_per_hour, 1000);
  EXPECT_EQ(h->lockout_max_failures, 100);
  EXPECT_EQ(h->code_lockout_threshold, 100);

  SettingsForm zeros{"060", "02", "0012", "004", "07"};  // leading zeros are still whole numbers
  auto z = validate_settings("org-1", zeros);
  ASSERT_TRUE(z) << z.error().message;
  EXPECT_EQ(z->challenge_ttl_seconds, 60);
  EXPECT_EQ(z->max_pushes_per_hour, 12);
}

TEST(SettingsValidationTest, RefusesEachFieldOutOfItsBoundsWithItsMessage) {
  struct Field {
    std::string SettingsForm::*member;
    std::string message;
    std::string below, above;
  };
  const std::vector<Field> fields = {
      {&SettingsForm::challenge_ttl_seconds, "challenge_ttl_seconds: must be a whole number of seconds from 30 to 240",
       "29", "241"},
      {&SettingsForm::number_digits, "number_digits: must be a whole number from 2 to 3", "1", "4"},
      {&SettingsForm::max_pushes_per_hour, "max_pushes_per_hour: must be a whole number from 1 to 1000", "0", "1001"},
      {&SettingsForm::lockout_max_failures, "lockout_max_failures: must be a whole number from 1 to 100", "0", "101"},
      {&SettingsForm::code_lockout_threshold, "code_lockout_threshold: must be a whole number from 1 to 100", "0",
       "101"},
  };
  const std::vector<std::string> malformed = {"",           "   ", "abc", "12a",  "-5", "+60",
                                              "1.5",        "1e2", "6 0", "0x1f", "٣",  "99999999999999999999",
                                              "2147483648", "\xff"};
  for (const Field& f : fields) {
    std::vector<std::string> bad = malformed;
    bad.push_back(f.below);
    bad.push_back(f.above);
    for (const std::string& value : bad) {
      SettingsForm form = valid_form();
      form.*f.member = value;
      auto r = validate_settings("org-1", form);
      ASSERT_FALSE(r) << f.message << " accepted '" << value << "'";
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
      EXPECT_EQ(r.error().message, f.message) << "for '" << value << "'";
    }
  }
}

TEST(SettingsValidationTest, ReportsTheFirstBadField) {
  SettingsForm form = valid_form();
  form.number_digits = "9";
  form.code_lockout_threshold = "x";
  auto r = validate_settings("org-1", form);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.starts_with("number_digits: ")) << r.error().message;
}

TEST(SettingsValidationTest, ListsEveryBadFieldForThePage) {
  EXPECT_TRUE(settings_errors(valid_form()).empty());
  SettingsForm form = valid_form();
  form.number_digits = "9";
  form.code_lockout_threshold = "x";
  const std::vector<std::string> errors = settings_errors(form);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_TRUE(errors[0].starts_with("number_digits: ")) << errors[0];
  EXPECT_TRUE(errors[1].starts_with("code_lockout_threshold: ")) << errors[1];
}

// ---------------------------------------------------------------- policies

TEST(SettingsPoliciesTest, DefaultsEqualTheServerPolicies) {
  const SignInPolicies server = server_policies();
  const store::OrgSettingsRecord d = default_settings("org-1", server);
  EXPECT_EQ(d.org_id, "org-1");
  EXPECT_EQ(d.challenge_ttl_seconds, 100);
  EXPECT_EQ(d.number_digits, 2);
  EXPECT_EQ(d.max_pushes_per_hour, 25);
  EXPECT_EQ(d.lockout_max_failures, 6);
  EXPECT_EQ(d.code_lockout_threshold, 9);
  EXPECT_EQ(d.updated_at, 0);

  const SignInPolicies p = policies_for(d, server);
  EXPECT_EQ(p.challenges.ttl, server.challenges.ttl);
  EXPECT_EQ(p.challenges.max_lifetime, server.challenges.max_lifetime);
  EXPECT_EQ(p.challenges.number_digits, server.challenges.number_digits);
  EXPECT_EQ(p.lockout.max_failures, server.lockout.max_failures);
  EXPECT_EQ(p.codes.lockout_threshold, server.codes.lockout_threshold);
  EXPECT_EQ(p.max_pushes_per_hour, server.max_pushes_per_hour);
}

TEST(SettingsPoliciesTest, AppliesTheOrgsSettingsAndKeepsTheRest) {
  const SignInPolicies server = server_policies();
  store::OrgSettingsRecord s = *validate_settings("org-1", valid_form());
  SignInPolicies p = policies_for(s, server);
  EXPECT_EQ(p.challenges.ttl, seconds(90));
  EXPECT_EQ(p.challenges.max_lifetime, seconds(200));  // the server's, already ≥ ttl
  EXPECT_EQ(p.challenges.number_digits, 3);
  EXPECT_EQ(p.lockout.max_failures, 4);
  EXPECT_EQ(p.codes.lockout_threshold, 7);
  EXPECT_TRUE(p.codes.should_lock(7));
  EXPECT_FALSE(p.codes.should_lock(6));
  EXPECT_EQ(p.max_pushes_per_hour, 12);
  // Not settings: kept as the server has them.
  EXPECT_EQ(p.challenges.after_scan, seconds(50));
  EXPECT_EQ(p.challenges.number_choices, 4);
  EXPECT_EQ(p.codes.window_steps, 2);
  EXPECT_EQ(p.codes.max_attempts_per_challenge, 3);

  // A lifetime longer than the server's maximum raises the maximum with it.
  s.challenge_ttl_seconds = 240;
  p = policies_for(s, server);
  EXPECT_EQ(p.challenges.ttl, seconds(240));
  EXPECT_EQ(p.challenges.max_lifetime, seconds(240));
}

// ---------------------------------------------------------------- SettingsService

class SettingsTest : public testing::DomainTest {
 protected:
  SettingsService settings() { return SettingsService(db(), clock_); }

  std::vector<store::AuditEventRecord> audited(const std::string& org_id) {
    store::AuditQuery q;
    q.org_id = org_id;
    q.kind = "settings.updated";
    q.limit = 100;
    return store::AuditRepo(db()).list(q).value();
  }
};

TEST_F(SettingsTest, AnOrgThatNeverSavedGetsTheServerDefaults) {
  auto s = settings().get(org_.id, server_policies());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->org_id, org_.id);
  EXPECT_EQ(s->challenge_ttl_seconds, 100);
  EXPECT_EQ(s->number_digits, 2);
  EXPECT_EQ(s->max_pushes_per_hour, 25);
  EXPECT_EQ(s->lockout_max_failures, 6);
  EXPECT_EQ(s->code_lockout_threshold, 9);
  EXPECT_EQ(s->updated_at, 0);
  // With the server's built-in policies, the built-in defaults.
  auto b = settings().get(org_.id, SignInPolicies{});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->challenge_ttl_seconds, 120);
  EXPECT_EQ(b->number_digits, 2);
  EXPECT_EQ(b->max_pushes_per_hour, 20);
  EXPECT_EQ(b->lockout_max_failures, 5);
  EXPECT_EQ(b->code_lockout_threshold, 10);
}

TEST_F(SettingsTest, SaveThenGetRoundTripsAndIsAudited) {
  advance(seconds(30));
  auto saved = settings().save(org_.id, valid_form(), owner_.id, "203.0.113.5");
  ASSERT_TRUE(saved) << saved.error().message;
  EXPECT_EQ(saved->updated_at, now());

  auto got = settings().get(org_.id, server_policies());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->org_id, org_.id);
  EXPECT_EQ(got->challenge_ttl_seconds, 90);
  EXPECT_EQ(got->number_digits, 3);
  EXPECT_EQ(got->max_pushes_per_hour, 12);
  EXPECT_EQ(got->lockout_max_failures, 4);
  EXPECT_EQ(got->code_lockout_threshold, 7);
  EXPECT_EQ(got->updated_at, now());

  auto events = audited(org_.id);
  ASSERT_EQ(events.size(), 1u);
  const store::AuditEventRecord& e = events[0];
  EXPECT_EQ(e.actor_kind, "admin");
  EXPECT_EQ(e.actor_id, owner_.id);
  EXPECT_EQ(e.subject_kind, "org");
  EXPECT_EQ(e.subject_id, org_.id);
  EXPECT_EQ(e.ip, "203.0.113.5");
  EXPECT_EQ(e.at, now());
  nlohmann::json d = nlohmann::json::parse(e.details);
  EXPECT_TRUE(d["before"].is_null());
  EXPECT_EQ(d["after"]["challenge_ttl_seconds"], 90);
  EXPECT_EQ(d["after"]["number_digits"], 3);
  EXPECT_EQ(d["after"]["max_pushes_per_hour"], 12);
  EXPECT_EQ(d["after"]["lockout_max_failures"], 4);
  EXPECT_EQ(d["after"]["code_lockout_threshold"], 7);

  // A second save replaces the row; its event has the old values and names what changed.
  SettingsForm f = valid_form();
  f.number_digits = "2";
  f.max_pushes_per_hour = "500";
  advance(seconds(5));
  ASSERT_TRUE(settings().save(org_.id, f, owner_.id, "203.0.113.5"));
  got = settings().get(org_.id, server_policies());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->number_digits, 2);
  EXPECT_EQ(got->max_pushes_per_hour, 500);
  EXPECT_EQ(got->challenge_ttl_seconds, 90);
  events = audited(org_.id);
  ASSERT_EQ(events.size(), 2u);
  d = nlohmann::json::parse(events[0].details);  // newest first
  EXPECT_EQ(d["before"]["number_digits"], 3);
  EXPECT_EQ(d["before"]["max_pushes_per_hour"], 12);
  EXPECT_EQ(d["after"]["number_digits"], 2);
  EXPECT_EQ(d["after"]["max_pushes_per_hour"], 500);
  EXPECT_EQ(d["changed"], nlohmann::json::array({"max_pushes_per_hour", "number_digits"}));
}

TEST_F(SettingsTest, AnInvalidFormSavesNothing) {
  SettingsForm f = valid_form();
  f.challenge_ttl_seconds = "300";
  auto r = settings().save(org_.id, f, owner_.id, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "challenge_ttl_seconds: must be a whole number of seconds from 30 to 240");
  EXPECT_FALSE(store::OrgSettingsRepo(db()).find(org_.id).value());
  EXPECT_TRUE(audited(org_.id).empty());
}

TEST_F(SettingsTest, AnUnknownOrgIsRefused) {
  for (const std::string& org : {new_id(), std::string(), std::string(100, 'x')}) {
    auto r = settings().save(org, valid_form(), owner_.id, "");
    ASSERT_FALSE(r) << org;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST_F(SettingsTest, EachOrgHasItsOwnSettings) {
  auto other = AdminService(db(), clock_).create_org("Fabrikam", {"Linus", "linus@fabrikam.example", {}});
  ASSERT_TRUE(other) << other.error().message;
  ASSERT_TRUE(settings().save(org_.id, valid_form(), owner_.id, ""));
  auto theirs = settings().get(other->org.id, SignInPolicies{});
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->number_digits, 2);
  EXPECT_EQ(theirs->updated_at, 0);
  EXPECT_TRUE(audited(other->org.id).empty());
}

}  // namespace
}  // namespace avow::domain
