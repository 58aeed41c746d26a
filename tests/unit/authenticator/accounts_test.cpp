// The device's accounts file (accounts.json) with the bindings' fallback-code secrets, the codes computed
// from them, and `avow code`, which works from the file alone (the phone is offline).
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "authenticator/cli.h"
#include "authenticator/device.h"
#include "common/clock.h"
#include "crypto/otp.h"
#include "test_util.h"

namespace avow::device {
namespace {

using nlohmann::json;
using testing::mode_of;
using testing::read_text;
using testing::TempDir;
using testing::write_text;

// RFC 6238 Appendix B: the SHA-1 test secret.
const std::string kRfcSecret = "12345678901234567890";

Account account(std::string binding, std::string user, std::string secret = kRfcSecret) {
  Account a;
  a.binding_id = std::move(binding);
  a.user = std::move(user);
  a.org = "Contoso";
  a.integration = "Contoso Entra";
  a.code = CodeSecret{std::move(secret)};
  return a;
}

AccountBook book_for(const DeviceIdentity& id) {
  AccountBook b{id.server, id.device_id, {}};
  b.upsert(account("b-1", "ada@contoso.example"));
  b.upsert(account("b-2", "ada@fabrikam.example", "another secret 0123"));
  return b;
}

TEST(CodeSecretTest, CodesFollowRfc6238) {
  CodeSecret s{kRfcSecret};
  // RFC 6238 Appendix B, SHA-1, T = 59 and 1111111109 (8 digits there; the last 6 here).
  EXPECT_EQ(current_code(s, 59).value().code, "287082");
  EXPECT_EQ(current_code(s, 59).value().seconds_left, 1);
  EXPECT_EQ(current_code(s, 1111111109).value().code, "081804");
  EXPECT_EQ(current_code(s, 1111111110).value().seconds_left, 30);
  s.digits = 8;
  EXPECT_EQ(current_code(s, 59).value().code, "94287082");
  s.period = 0;
  EXPECT_FALSE(current_code(s, 59));
}

TEST(CodeSecretTest, TheServersCodeObjectIsCheckedMemberByMember) {
  const std::string b32 = crypto::base32_encode(kRfcSecret);
  auto ok = parse_code_secret({{"secret", b32}, {"algorithm", "SHA1"}, {"digits", 6}, {"period", 30}});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->secret, kRfcSecret);
  EXPECT_EQ(code_secret_json(*ok)["secret"], b32);
  EXPECT_EQ(parse_code_secret(code_secret_json(*ok)).value().secret, kRfcSecret);
  for (const json& bad : {json("x"), json{{"secret", "not base32!"}}, json{{"secret", "MFRGG"}},
                          json{{"secret", b32}, {"algorithm", "MD5"}}, json{{"secret", b32}, {"digits", 5}},
                          json{{"secret", b32}, {"period", 0}}, json{{"secret", 7}}}) {
    auto r = parse_code_secret(bad);
    EXPECT_FALSE(r) << bad.dump();
  }
}

TEST(AccountBookTest, SavesPrivatelyAndAtomicallyAndLoadsBack) {
  TempDir home;
  const DeviceIdentity id = testing::make_identity();
  EXPECT_EQ(AccountBook::load(home.path()).error().code, ErrorCode::kNotFound);
  AccountBook b = book_for(id);
  ASSERT_TRUE(b.save(home.path()));
  EXPECT_EQ(mode_of(AccountBook::file_path(home.path())), 0600);
  auto loaded = AccountBook::load(home.path());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->server, id.server);
  EXPECT_EQ(loaded->device_id, id.device_id);
  ASSERT_EQ(loaded->accounts.size(), 2u);
  EXPECT_EQ(loaded->accounts[0].code->secret, kRfcSecret);
  EXPECT_EQ(loaded->accounts[1].user, "ada@fabrikam.example");

  // Replacing keeps one file and no temporary files behind.
  b.upsert(account("b-1", "ada@contoso.example", "a replaced secret 42"));
  ASSERT_TRUE(b.save(home.path()));
  EXPECT_EQ(AccountBook::load(home.path()).value().accounts[0].code->secret, "a replaced secret 42");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(home.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(AccountBookTest, RefusesLooseCorruptOrForeignFiles) {
  TempDir home;
  const DeviceIdentity id = testing::make_identity();
  ASSERT_TRUE(book_for(id).save(home.path()));
  const auto file = AccountBook::file_path(home.path());
  ::chmod(file.c_str(), 0644);
  EXPECT_EQ(AccountBook::load(home.path()).error().code, ErrorCode::kPermissionDenied);
  const std::string text = read_text(file);
  write_text(file, text.substr(0, text.size() / 2));
  auto truncated = AccountBook::load(home.path());
  EXPECT_EQ(truncated.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(truncated.error().message.find("corrupt"), std::string::npos) << truncated.error().message;
  write_text(file, R"({"format":"avow-device","version":1})");
  EXPECT_EQ(AccountBook::load(home.path()).error().code, ErrorCode::kInvalidArgument);
  write_text(file, R"({"format":7})");
  EXPECT_EQ(AccountBook::load(home.path()).error().code, ErrorCode::kInvalidArgument);
  AccountBook no_binding{id.server, id.device_id, {account("", "x")}};
  EXPECT_EQ(no_binding.save(home.path()).error().code, ErrorCode::kInvalidArgument);
}

TEST(AccountBookTest, FindsAnAccountByUpnOrAnUnambiguousPart) {
  const AccountBook b = book_for(testing::make_identity());
  EXPECT_EQ(b.find("ADA@CONTOSO.EXAMPLE").value()->binding_id, "b-1");
  EXPECT_EQ(b.find("fabrikam").value()->binding_id, "b-2");
  EXPECT_EQ(b.find("ada").error().code, ErrorCode::kInvalidArgument) << "ambiguous";
  EXPECT_EQ(b.find("").error().code, ErrorCode::kInvalidArgument) << "two accounts: name one";
  EXPECT_EQ(b.find("nobody").error().code, ErrorCode::kNotFound);
  AccountBook one{"https://avow.example.com", "dev-1", {account("b-1", "ada@contoso.example")}};
  EXPECT_EQ(one.find("").value()->binding_id, "b-1") << "one account: no name needed";
  Account no_code = account("b-3", "bob@contoso.example");
  no_code.code.reset();
  one.upsert(no_code);
  EXPECT_EQ(one.find("").value()->binding_id, "b-1") << "accounts without a code do not count";
  EXPECT_EQ(one.find("bob").error().code, ErrorCode::kNotFound);
}

struct CliRun {
  int rc = 0;
  std::string out, err;
};

CliRun run_cli(std::vector<std::string> args) {
  std::vector<const char*> argv{"avow"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::istringstream in;
  std::ostringstream out, err;
  CliRun r;
  r.rc = cli::run(static_cast<int>(argv.size()), argv.data(), {in, out, err, nullptr});
  r.out = out.str();
  r.err = err.str();
  return r;
}

TEST(AvowCodeTest, PrintsTheCurrentCodeFromTheStoredSecretWithoutTheServer) {
  TempDir home;
  // The server is unreachable on purpose: `avow code` must not need it.
  const DeviceIdentity id = testing::make_identity("https://127.0.0.1:1", "dev-1");
  ASSERT_TRUE(id.save(home.path()));
  ASSERT_TRUE(book_for(id).save(home.path()));

  const std::int64_t before = SystemClock::instance().unix_now();
  CliRun r = run_cli({"--home", home.path().string(), "code", "contoso", "--json"});
  const std::int64_t after = SystemClock::instance().unix_now();
  ASSERT_EQ(r.rc, cli::kExitOk) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["account"], "ada@contoso.example");
  const CodeSecret s{kRfcSecret};
  EXPECT_TRUE(out["code"] == current_code(s, before).value().code || out["code"] == current_code(s, after).value().code)
      << out.dump();
  EXPECT_GE(out["seconds_left"].get<int>(), 1);
  EXPECT_LE(out["seconds_left"].get<int>(), 30);
  EXPECT_EQ(r.out.find(crypto::base32_encode(kRfcSecret)), std::string::npos) << "never the secret";

  CliRun plain = run_cli({"--home", home.path().string(), "code", "fabrikam"});
  ASSERT_EQ(plain.rc, cli::kExitOk) << plain.err;
  EXPECT_NE(plain.out.find("ada@fabrikam.example"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find(" s left)"), std::string::npos) << plain.out;

  CliRun ambiguous = run_cli({"--home", home.path().string(), "code", "ada"});
  EXPECT_EQ(ambiguous.rc, cli::kExitUsage);
  EXPECT_NE(ambiguous.err.find("matches 2 accounts"), std::string::npos) << ambiguous.err;
}

}  // namespace
}  // namespace avow::device
