// `avow totp …` run in-process: add (URI, QR picture, migration export), list, code, remove, export, the
// passphrase from the environment or asked for (twice on creation), and the errors and exit codes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "authenticator/cli.h"
#include "authenticator/otpauth.h"
#include "authenticator/vault.h"
#include "common/base64url.h"
#include "common/clock.h"
#include "crypto/otp.h"
#include "qr_png.h"
#include "test_util.h"

namespace avow::device {
namespace {

using testing::read_text;
using testing::TempDir;
using testing::write_qr_png;

constexpr const char* kAcme = "otpauth://totp/ACME:alice@acme.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME";
constexpr const char* kGitHub =
    "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&algorithm=SHA256&digits=8&period=60";

struct CliRun {
  int rc = -1;
  std::string out;
  std::string err;
};

class TotpCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* p = std::getenv("AVOW_VAULT_PASSPHRASE")) saved_ = p;
    ::setenv("AVOW_VAULT_PASSPHRASE", "test passphrase", 1);
  }
  void TearDown() override {
    if (saved_)
      ::setenv("AVOW_VAULT_PASSPHRASE", saved_->c_str(), 1);
    else
      ::unsetenv("AVOW_VAULT_PASSPHRASE");
  }

  CliRun avow(std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> all = {"avow", "--home", home_.string()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : all) argv.push_back(a.c_str());
    std::istringstream in(input);
    std::ostringstream out, err;
    CliRun r;
    r.rc = cli::run(static_cast<int>(argv.size()), argv.data(), {in, out, err, nullptr});
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  // An empty vault with a cheap Argon2id cost, which the CLI then keeps (the cost lives in the header).
  void make_cheap_vault(const std::string& passphrase = "test passphrase") {
    VaultOptions o;
    o.kdf = KdfParams{256, 1, 1};
    ASSERT_TRUE(Vault(home_, o).update(passphrase, [](std::vector<VaultEntry>&) { return ok(); }));
  }

  // True when `code` is the account's code now or one step ago (the command ran a moment earlier).
  static bool is_current(const std::string& code, const std::string& uri) {
    auto a = parse_otpauth_uri(uri);
    EXPECT_TRUE(a);
    const std::int64_t now = SystemClock::instance().unix_now();
    for (std::int64_t t : {now, now - a->period})
      if (crypto::totp_at(a->secret, t, a->period, a->digits, a->algorithm).value() == code) return true;
    return false;
  }

  TempDir dir_;
  std::filesystem::path home_ = dir_ / "home";
  std::optional<std::string> saved_;
};

TEST_F(TotpCli, AddListCodeRemoveExport) {
  make_cheap_vault();
  CliRun add = avow({"totp", "add", kAcme, "--category", "finance"});
  ASSERT_EQ(add.rc, cli::kExitOk) << add.err;
  EXPECT_EQ(add.out, "Added ACME:alice@acme.com (Finance).\n");
  ASSERT_EQ(avow({"totp", "add", kGitHub}).rc, cli::kExitOk);

  CliRun dup = avow({"totp", "add", "otpauth://totp/github:ALICE?secret=JBSWY3DPEHPK3PXP"});
  EXPECT_EQ(dup.rc, cli::kExitUsage);
  EXPECT_NE(dup.err.find("already holds GitHub:alice"), std::string::npos) << dup.err;
  EXPECT_NE(dup.err.find("--replace"), std::string::npos);

  CliRun list = avow({"totp", "list"});
  ASSERT_EQ(list.rc, cli::kExitOk) << list.err;
  std::istringstream lines(list.out);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(lines, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 2u) << list.out;
  EXPECT_EQ(rows[0].rfind("ACME:alice@acme.com  Finance", 0), 0u) << rows[0];
  EXPECT_EQ(rows[1].rfind("GitHub:alice         Other", 0), 0u) << rows[1];
  {
    std::istringstream row(rows[1]);
    std::string label, category, code;
    row >> label >> category >> code;
    EXPECT_EQ(code.size(), 8u);
    EXPECT_TRUE(is_current(code, kGitHub)) << rows[1];
    EXPECT_NE(rows[1].find(" s left"), std::string::npos);
  }

  CliRun finance = avow({"totp", "list", "--category", "FINANCE"});
  ASSERT_EQ(finance.rc, cli::kExitOk);
  EXPECT_NE(finance.out.find("ACME:alice@acme.com"), std::string::npos);
  EXPECT_EQ(finance.out.find("GitHub"), std::string::npos);
  CliRun gaming = avow({"totp", "list", "--category", "gaming"});
  EXPECT_EQ(gaming.out, "No accounts in the category Gaming.\n");
  CliRun bogus = avow({"totp", "list", "--category", "shopping"});
  EXPECT_EQ(bogus.rc, cli::kExitUsage);
  EXPECT_NE(bogus.err.find("Business, E-commerce"), std::string::npos) << bogus.err;

  CliRun code = avow({"totp", "code", "acme"});
  ASSERT_EQ(code.rc, cli::kExitOk) << code.err;
  ASSERT_EQ(code.out.size(), 7u) << code.out;
  EXPECT_TRUE(is_current(code.out.substr(0, 6), kAcme)) << code.out;
  EXPECT_NE(code.err.find("ACME:alice@acme.com: valid for "), std::string::npos) << code.err;
  CliRun exact = avow({"totp", "code", "GitHub:alice"});
  ASSERT_EQ(exact.rc, cli::kExitOk);
  EXPECT_TRUE(is_current(exact.out.substr(0, 8), kGitHub));

  CliRun ambiguous = avow({"totp", "code", "alice"});
  EXPECT_EQ(ambiguous.rc, cli::kExitUsage);
  EXPECT_NE(ambiguous.err.find("ACME:alice@acme.com, GitHub:alice"), std::string::npos) << ambiguous.err;
  CliRun missing = avow({"totp", "code", "nobody"});
  EXPECT_EQ(missing.rc, cli::kExitUsage);
  EXPECT_NE(missing.err.find("no account in the vault matches \"nobody\""), std::string::npos);

  CliRun exported = avow({"totp", "export"});
  ASSERT_EQ(exported.rc, cli::kExitOk);
  EXPECT_NE(exported.err.find("secrets"), std::string::npos);
  std::istringstream uris(exported.out);
  std::vector<OtpAccount> back;
  while (std::getline(uris, line)) back.push_back(parse_otpauth_uri(line).value());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].label(), "ACME:alice@acme.com");
  EXPECT_EQ(back[0].secret, "12345678901234567890");
  EXPECT_EQ(back[1].label(), "GitHub:alice");
  EXPECT_EQ(back[1].algorithm, crypto::OtpAlgorithm::kSha256);
  EXPECT_EQ(back[1].digits, 8);
  EXPECT_EQ(back[1].period, 60);

  CliRun replaced = avow({"totp", "add", "otpauth://totp/github:ALICE?secret=JBSWY3DPEHPK3PXP", "--replace"});
  EXPECT_EQ(replaced.rc, cli::kExitOk) << replaced.err;
  CliRun removed = avow({"totp", "remove", "git"});
  ASSERT_EQ(removed.rc, cli::kExitOk) << removed.err;
  EXPECT_EQ(removed.out, "Removed github:ALICE.\n");
  CliRun after = avow({"totp", "list"});
  EXPECT_EQ(after.out.find("GitHub"), std::string::npos);
  EXPECT_EQ(avow({"totp", "remove", "git"}).rc, cli::kExitUsage);
}

TEST_F(TotpCli, WrongPassphraseIsRefusedAndTheVaultKept) {
  make_cheap_vault();
  ASSERT_EQ(avow({"totp", "add", kAcme}).rc, cli::kExitOk);
  const std::string before = read_text(home_ / "vault.avow");
  ::setenv("AVOW_VAULT_PASSPHRASE", "not it", 1);
  for (auto args : {std::vector<std::string>{"totp", "list"},
                    {"totp", "code", "acme"},
                    {"totp", "add", kGitHub},
                    {"totp", "remove", "acme"},
                    {"totp", "export"}}) {
    CliRun r = avow(args);
    EXPECT_EQ(r.rc, cli::kExitRefused) << args[1];
    EXPECT_NE(r.err.find("wrong passphrase"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_EQ(read_text(home_ / "vault.avow"), before);
  ::setenv("AVOW_VAULT_PASSPHRASE", "", 1);
  CliRun empty = avow({"totp", "list"});
  EXPECT_EQ(empty.rc, cli::kExitUsage);
  EXPECT_NE(empty.err.find("AVOW_VAULT_PASSPHRASE is set but empty"), std::string::npos);
}

TEST_F(TotpCli, AsksForThePassphraseTwiceWhenCreatingTheVault) {
  ::unsetenv("AVOW_VAULT_PASSPHRASE");
  CliRun mismatch = avow({"totp", "add", kAcme}, "one\ntwo\n");
  EXPECT_EQ(mismatch.rc, cli::kExitUsage);
  EXPECT_NE(mismatch.err.find("do not match"), std::string::npos) << mismatch.err;
  EXPECT_FALSE(std::filesystem::exists(home_ / "vault.avow"));
  CliRun empty = avow({"totp", "add", kAcme}, "\n");
  EXPECT_EQ(empty.rc, cli::kExitUsage);
  EXPECT_NE(empty.err.find("empty passphrase"), std::string::npos) << empty.err;
  CliRun eof = avow({"totp", "add", kAcme}, "");
  EXPECT_EQ(eof.rc, cli::kExitUsage);
  EXPECT_NE(eof.err.find("end of input"), std::string::npos) << eof.err;
  EXPECT_FALSE(std::filesystem::exists(home_ / "vault.avow"));

  // Created with the default Argon2id cost: the one slow step of this suite.
  CliRun created = avow({"totp", "add", kAcme}, "s3cret\ns3cret\n");
  ASSERT_EQ(created.rc, cli::kExitOk) << created.err;
  EXPECT_NE(created.err.find("New vault passphrase: "), std::string::npos);
  EXPECT_NE(created.err.find("Repeat the passphrase: "), std::string::npos);
  EXPECT_EQ(created.err.find("s3cret"), std::string::npos) << "the passphrase is never echoed";
  EXPECT_NE(created.out.find("Created the vault " + (home_ / "vault.avow").string()), std::string::npos);
  EXPECT_EQ(created.out.find("s3cret"), std::string::npos);

  CliRun listed = avow({"totp", "list"}, "s3cret\r\n");  // asked once for an existing vault
  ASSERT_EQ(listed.rc, cli::kExitOk) << listed.err;
  EXPECT_NE(listed.err.find("Vault passphrase: "), std::string::npos);
  EXPECT_EQ(listed.err.find("Repeat"), std::string::npos);
  EXPECT_NE(listed.out.find("ACME:alice@acme.com"), std::string::npos);
}

TEST_F(TotpCli, BadInputIsRefusedBeforeAnyPassphraseIsAsked) {
  ::unsetenv("AVOW_VAULT_PASSPHRASE");
  CliRun bad = avow({"totp", "add", "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQ&digits=9"});
  EXPECT_EQ(bad.rc, cli::kExitUsage);
  EXPECT_NE(bad.err.find("the digits parameter \"9\" is not 6, 7 or 8"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find("passphrase"), std::string::npos) << bad.err;
  CliRun hotp = avow({"totp", "add", "otpauth://hotp/ACME:alice?secret=GEZDGNBVGY3TQOJQ&counter=1"});
  EXPECT_EQ(hotp.rc, cli::kExitUsage);
  EXPECT_NE(hotp.err.find("HOTP"), std::string::npos);
  CliRun category = avow({"totp", "add", kAcme, "--category", "Shopping"});
  EXPECT_EQ(category.rc, cli::kExitUsage);
  EXPECT_NE(category.err.find("unknown category"), std::string::npos);
  CliRun nothing = avow({"totp", "add"});
  EXPECT_EQ(nothing.rc, cli::kExitUsage);
  CliRun both = avow({"totp", "add", kAcme, "--image", "x.png"});
  EXPECT_EQ(both.rc, cli::kExitUsage);
  CliRun no_image = avow({"totp", "add", "--image", (dir_ / "missing.png").string()});
  EXPECT_EQ(no_image.rc, cli::kExitUsage);
  EXPECT_FALSE(std::filesystem::exists(home_ / "vault.avow"));

  CliRun list = avow({"totp", "list"});  // no vault: nothing to unlock
  EXPECT_EQ(list.rc, cli::kExitOk);
  EXPECT_NE(list.out.find("The vault is empty"), std::string::npos);
  EXPECT_EQ(avow({"totp", "remove", "x"}).rc, cli::kExitUsage);
  CliRun no_sub = avow({"totp"});
  EXPECT_EQ(no_sub.rc, cli::kExitUsage);
}

TEST_F(TotpCli, AddsFromAQrPicture) {
  make_cheap_vault();
  const auto png = dir_ / "qr.png";
  ASSERT_TRUE(write_qr_png(png, {kGitHub}));
  CliRun r = avow({"totp", "add", "--image", png.string(), "--category", "Productivity"});
  ASSERT_EQ(r.rc, cli::kExitOk) << r.err;
  EXPECT_EQ(r.out, "Added GitHub:alice (Productivity).\n");
  CliRun code = avow({"totp", "code", "github"});
  ASSERT_EQ(code.rc, cli::kExitOk);
  EXPECT_TRUE(is_current(code.out.substr(0, 8), kGitHub));
}

TEST_F(TotpCli, ImportsAGoogleAuthenticatorExport) {
  make_cheap_vault();
  // MigrationPayload { otp_parameters { secret name issuer algorithm=SHA1 digits=SIX type=TOTP }, … }
  auto params = [](const std::string& name, const std::string& issuer, int type) {
    const std::string secret = "12345678901234567890";
    std::string m;
    m += '\x0A' + std::string(1, static_cast<char>(secret.size())) + secret;
    m += '\x12' + std::string(1, static_cast<char>(name.size())) + name;
    m += '\x1A' + std::string(1, static_cast<char>(issuer.size())) + issuer;
    m += std::string("\x20\x01\x28\x01\x30", 5) + static_cast<char>(type);
    return '\x0A' + std::string(1, static_cast<char>(m.size())) + m;
  };
  const std::string payload = params("Shop:eve", "Shop", 2) + params("frank", "Old", 1) + params("gina", "Web", 2);
  CliRun r =
      avow({"totp", "add", "otpauth-migration://offline?data=" + base64_encode(payload), "--category", "e-commerce"});
  ASSERT_EQ(r.rc, cli::kExitOk) << r.err;
  EXPECT_EQ(r.out, "Added Shop:eve (E-commerce).\nAdded Web:gina (E-commerce).\n");
  EXPECT_NE(r.err.find("skipped Old:frank: HOTP"), std::string::npos) << r.err;
  CliRun list = avow({"totp", "list", "--category", "E-commerce"});
  EXPECT_NE(list.out.find("Shop:eve"), std::string::npos);
  EXPECT_NE(list.out.find("Web:gina"), std::string::npos);
}

}  // namespace
}  // namespace avow::device
