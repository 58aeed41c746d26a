// Validation of admin- and Entra-supplied values: accepted spellings, normalisation, and the messages.
#include <gtest/gtest.h>

#include "domain/integrations.h"
#include "domain/users.h"
#include "domain/validation.h"

namespace avow::domain {
namespace {

std::string message_of(const Result<std::string>& r) { return r ? std::string("<ok>") : r.error().message; }

TEST(ValidationTest, TrimStripsAsciiWhitespaceOnly) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t "), "");
}

TEST(ValidationTest, Names) {
  EXPECT_EQ(validate_name("name", "  Contoso Entra ").value(), "Contoso Entra");
  EXPECT_EQ(validate_name("name", "Zürich – Büro").value(), "Zürich – Büro");
  EXPECT_EQ(message_of(validate_name("name", "   ")), "name must not be empty");
  EXPECT_EQ(message_of(validate_name("name", "")), "name must not be empty");
  EXPECT_EQ(message_of(validate_name("name", std::string(101, 'x'))), "name must be at most 100 characters");
  EXPECT_TRUE(validate_name("name", std::string(100, 'x')));
  // 100 two-byte characters are 100 characters, not 200.
  std::string umlauts;
  for (int i = 0; i < 100; ++i) umlauts += "ü";
  EXPECT_TRUE(validate_name("name", umlauts));
  EXPECT_EQ(message_of(validate_name("name",
                                     "a\x01"
                                     "b")),
            "name must be text without control characters");
  EXPECT_EQ(message_of(validate_name("name", "a\x7f")), "name must be text without control characters");
  EXPECT_FALSE(validate_name("name", "bad \xc3"));           // truncated sequence
  EXPECT_FALSE(validate_name("name", "overlong \xc0\xaf"));  // overlong '/'
  EXPECT_FALSE(validate_name("name", "surrogate \xed\xa0\x80"));
  EXPECT_FALSE(validate_name("name", "c1 \xc2\x85"));
  EXPECT_EQ(message_of(validate_name("name", std::string(100000, 'x'))), "name is too long");
  EXPECT_EQ(validate_name("name", "", 5).error().code, ErrorCode::kInvalidArgument);
}

TEST(ValidationTest, Guids) {
  EXPECT_EQ(validate_guid("directory_id", " 2222AAAA-2222-4222-8222-22222222BBBB ").value(),
            "2222aaaa-2222-4222-8222-22222222bbbb");
  EXPECT_EQ(message_of(validate_guid("directory_id", "contoso.onmicrosoft.com")),
            "directory_id must be a GUID like 00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(message_of(validate_guid("directory_id", "")), "directory_id must not be empty");
  EXPECT_FALSE(validate_guid("app_id", "{22222222-2222-4222-8222-222222222222}"));
  EXPECT_FALSE(validate_guid("app_id", "22222222222242228222222222222222"));
  auto none = validate_optional_guid("app_id", "  ");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, std::nullopt);
  EXPECT_EQ(validate_optional_guid("app_id", "33333333-3333-4333-8333-333333333333").value(),
            std::optional<std::string>("33333333-3333-4333-8333-333333333333"));
  EXPECT_FALSE(validate_optional_guid("app_id", "nope"));
}

TEST(ValidationTest, CloudAndGuestPolicy) {
  EXPECT_EQ(parse_cloud("global").value(), store::Cloud::kGlobal);
  EXPECT_EQ(parse_cloud(" USGov ").value(), store::Cloud::kUsGov);
  EXPECT_EQ(parse_cloud("china").value(), store::Cloud::kChina);
  EXPECT_EQ(parse_cloud("germany").error().message, "cloud must be one of global, usgov, china");
  EXPECT_FALSE(parse_cloud(""));
  EXPECT_EQ(parse_guest_policy("Members").value(), store::GuestPolicy::kMembers);
  EXPECT_EQ(parse_guest_policy("list").value(), store::GuestPolicy::kList);
  EXPECT_EQ(parse_guest_policy("some").error().message, "guest_policy must be one of any, members, list");
}

TEST(ValidationTest, ClaimTypeAndValue) {
  EXPECT_EQ(validate_claim_type(" AvowMfa ").value(), "AvowMfa");
  EXPECT_TRUE(validate_claim_type("Duo.Mfa-2_x"));
  EXPECT_EQ(message_of(validate_claim_type("2fa")), "claim_type must start with a letter");
  EXPECT_EQ(message_of(validate_claim_type("Avow Mfa")),
            "claim_type may contain only letters, digits, '_', '.' and '-'");
  EXPECT_EQ(message_of(validate_claim_type("Avow\"Mfa")),
            "claim_type may contain only letters, digits, '_', '.' and '-'");
  EXPECT_EQ(message_of(validate_claim_type("")), "claim_type must not be empty");
  EXPECT_EQ(message_of(validate_claim_type("A" + std::string(64, 'b'))), "claim_type must be at most 64 characters");
  EXPECT_TRUE(validate_claim_type("A" + std::string(63, 'b')));

  EXPECT_EQ(validate_claim_value("MfaDone").value(), "MfaDone");
  EXPECT_TRUE(validate_claim_value("urn:avow:mfa-1.0"));
  EXPECT_EQ(message_of(validate_claim_value("Mfa Done")),
            "claim_value may contain only letters, digits, '_', '.', ':' and '-'");
  EXPECT_EQ(message_of(validate_claim_value("<script>")),
            "claim_value may contain only letters, digits, '_', '.', ':' and '-'");
  EXPECT_EQ(message_of(validate_claim_value(" ")), "claim_value must not be empty");
  EXPECT_EQ(message_of(validate_claim_value(std::string(65, 'v'))), "claim_value must be at most 64 characters");
}

TEST(ValidationTest, Emails) {
  EXPECT_EQ(validate_email(" Grace@Contoso.Example ").value(), "grace@contoso.example");
  EXPECT_EQ(message_of(validate_email("grace")), "email must look like name@example.com");
  EXPECT_EQ(message_of(validate_email("@contoso.example")), "email must look like name@example.com");
  EXPECT_EQ(message_of(validate_email("grace@")), "email must look like name@example.com");
  EXPECT_EQ(message_of(validate_email("a@b@c")), "email must look like name@example.com");
  EXPECT_EQ(message_of(validate_email("gr ace@contoso.example")),
            "email must not contain spaces or control characters");
  EXPECT_EQ(message_of(validate_email("")), "email must not be empty");
  EXPECT_EQ(message_of(validate_email(std::string(250, 'a') + "@b.example")), "email must be at most 254 characters");
}

TEST(ValidationTest, IntegrationSpecDefaultsAndNormalisation) {
  IntegrationSpec spec;
  spec.name = " Contoso ";
  spec.directory_id = "2222AAAA-2222-4222-8222-222222222222";
  auto r = validate_integration(spec);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->name, "Contoso");
  EXPECT_EQ(r->directory_id, "2222aaaa-2222-4222-8222-222222222222");
  EXPECT_EQ(r->app_id, std::nullopt);
  EXPECT_EQ(r->cloud, store::Cloud::kGlobal);
  EXPECT_EQ(r->claim_type, "AvowMfa");
  EXPECT_EQ(r->claim_value, "MfaDone");
  EXPECT_EQ(r->guest_policy, store::GuestPolicy::kAny);
}

TEST(ValidationTest, IntegrationSpecRefusals) {
  IntegrationSpec good;
  good.name = "Contoso";
  good.directory_id = "22222222-2222-4222-8222-222222222222";
  auto msg = [](const IntegrationSpec& s) {
    auto r = validate_integration(s);
    return r ? std::string("<ok>") : r.error().message;
  };
  IntegrationSpec s = good;
  s.name = "";
  EXPECT_EQ(msg(s), "name must not be empty");
  s = good;
  s.directory_id = "contoso.com";
  EXPECT_EQ(msg(s), "directory_id must be a GUID like 00000000-0000-0000-0000-000000000000");
  s = good;
  s.app_id = "x";
  EXPECT_EQ(msg(s), "app_id must be a GUID like 00000000-0000-0000-0000-000000000000");
  s = good;
  s.cloud = "mars";
  EXPECT_EQ(msg(s), "cloud must be one of global, usgov, china");
  s = good;
  s.guest_policy = "list";
  EXPECT_EQ(msg(s), "guest_tenants must list at least one tenant for guest policy 'list'");
  s.guest_tenants = {"nope"};
  EXPECT_EQ(msg(s), "guest_tenants must be a GUID like 00000000-0000-0000-0000-000000000000");
  s.guest_tenants = {"44444444-4444-4444-8444-444444444444", "44444444-4444-4444-8444-444444444444"};
  auto deduped = validate_integration(s);
  ASSERT_TRUE(deduped);
  EXPECT_EQ(deduped->guest_tenants.size(), 1u);
  s.guest_policy = "members";
  EXPECT_EQ(msg(s), "guest_tenants is only used with guest policy 'list'");
  s = good;
  s.guest_policy = "list";
  s.guest_tenants.assign(kMaxGuestTenants + 1, "44444444-4444-4444-8444-444444444444");
  EXPECT_EQ(msg(s), "guest_tenants may list at most 100 tenants");
}

TEST(ValidationTest, GuestPolicy) {
  store::IntegrationRecord i;
  i.directory_id = "22222222-2222-4222-8222-222222222222";
  const std::string guest = "44444444-4444-4444-8444-444444444444";
  const std::string stranger = "55555555-5555-4555-8555-555555555555";
  i.guest_policy = store::GuestPolicy::kAny;
  EXPECT_TRUE(check_guest_policy(i, i.directory_id));
  EXPECT_TRUE(check_guest_policy(i, guest));
  i.guest_policy = store::GuestPolicy::kMembers;
  EXPECT_TRUE(check_guest_policy(i, i.directory_id));
  EXPECT_EQ(check_guest_policy(i, guest).error().code, ErrorCode::kPermissionDenied);
  i.guest_policy = store::GuestPolicy::kList;
  i.guest_tenants = {guest};
  EXPECT_TRUE(check_guest_policy(i, i.directory_id));
  EXPECT_TRUE(check_guest_policy(i, guest));
  EXPECT_EQ(check_guest_policy(i, stranger).error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(is_guest(i.directory_id, guest));
  EXPECT_FALSE(is_guest(i.directory_id, i.directory_id));
}

TEST(ValidationTest, TruncateUtf8KeepsWholeCharacters) {
  EXPECT_EQ(truncate_utf8("abc", 5), "abc");
  EXPECT_EQ(truncate_utf8("abcdef", 3), "abc");
  EXPECT_EQ(truncate_utf8("aü", 2), "a");  // ü is two bytes: not split
  EXPECT_EQ(truncate_utf8("aü", 3), "aü");
  EXPECT_EQ(truncate_utf8("€€", 4), "€");
}

}  // namespace
}  // namespace avow::domain
