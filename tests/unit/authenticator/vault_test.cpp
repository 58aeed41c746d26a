// The encrypted vault file: round trip, wrong passphrase, truncated and bit-flipped files (never overwritten),
// concurrent writers (threads and processes), a crash between write and rename, and the entry helpers.
#include "authenticator/vault.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "test_util.h"

namespace avow::device {
namespace {

using testing::mode_of;
using testing::read_text;
using testing::TempDir;
using testing::write_text;

// Cheap Argon2id so the tests stay fast; the default is 64 MiB × 3.
VaultOptions cheap(std::function<bool()> hook = nullptr) {
  VaultOptions o;
  o.kdf = KdfParams{256, 1, 1};
  o.before_rename = std::move(hook);
  return o;
}

VaultEntry entry(const std::string& issuer, const std::string& account, Category category = Category::kOther,
                 std::int64_t added_at = 1'700'000'000) {
  VaultEntry e;
  e.account.issuer = issuer;
  e.account.account = account;
  e.account.secret = "secret-of-" + issuer + ":" + account;
  e.category = category;
  e.added_at = added_at;
  return e;
}

Status add(Vault& v, std::string_view pass, VaultEntry e, bool replace = false) {
  return v.update(pass, [&](std::vector<VaultEntry>& all) { return add_entry(all, std::move(e), replace); });
}

std::vector<std::string> temporaries(const std::filesystem::path& home) {
  std::vector<std::string> out;
  for (const auto& item : std::filesystem::directory_iterator(home)) {
    const std::string name = item.path().filename().string();
    if (name.rfind(".vault.avow.tmp-", 0) == 0) out.push_back(name);
  }
  return out;
}

TEST(Vault, RoundTripsEveryField) {
  TempDir dir;
  const auto home = dir / "home";
  Vault vault(home, cheap());
  EXPECT_FALSE(vault.exists());
  bool created = false;
  ASSERT_TRUE(vault.update(
      "correct horse", [](std::vector<VaultEntry>&) { return ok(); }, &created));
  EXPECT_TRUE(created);
  ASSERT_TRUE(vault.update(
      "correct horse", [](std::vector<VaultEntry>&) { return ok(); }, &created));
  EXPECT_FALSE(created);
  VaultEntry a = entry("GitHub", "alice", Category::kBusiness, 1'700'000'123);
  a.account.algorithm = crypto::OtpAlgorithm::kSha512;
  a.account.digits = 8;
  a.account.period = 60;
  a.account.secret = std::string("\0\x01\xFF\x80 raw bytes", 14);
  ASSERT_TRUE(add(vault, "correct horse", a));
  ASSERT_TRUE(add(vault, "correct horse", entry("", "bob@example.com", Category::kGaming)));
  EXPECT_TRUE(vault.exists());
  EXPECT_EQ(mode_of(home), 0700u);
  EXPECT_EQ(mode_of(vault.file()), 0600u);
  EXPECT_EQ(vault.file(), home / "vault.avow");

  auto loaded = Vault(home).load("correct horse");  // default options: the cost comes from the header
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->size(), 2u);
  const VaultEntry& got = (*loaded)[0];
  EXPECT_EQ(got.account.issuer, "GitHub");
  EXPECT_EQ(got.account.account, "alice");
  EXPECT_EQ(got.account.secret, a.account.secret);
  EXPECT_EQ(got.account.algorithm, crypto::OtpAlgorithm::kSha512);
  EXPECT_EQ(got.account.digits, 8);
  EXPECT_EQ(got.account.period, 60);
  EXPECT_EQ(got.category, Category::kBusiness);
  EXPECT_EQ(got.added_at, 1'700'000'123);
  EXPECT_EQ((*loaded)[1].label(), "bob@example.com");
  EXPECT_EQ((*loaded)[1].category, Category::kGaming);

  // Encrypted at rest: neither the names nor the secrets are in the file.
  const std::string bytes = read_text(vault.file());
  EXPECT_EQ(bytes.substr(0, 8), std::string("AVOWVLT\0", 8));
  EXPECT_EQ(bytes.find("GitHub"), std::string::npos);
  EXPECT_EQ(bytes.find("bob@example.com"), std::string::npos);
  EXPECT_EQ(bytes.find(crypto::base32_encode("secret-of-:bob@example.com")), std::string::npos);
  EXPECT_TRUE(temporaries(home).empty());
}

TEST(Vault, NoVaultIsNotFoundAndEmptyPassphrasesAreRefused) {
  TempDir dir;
  Vault vault(dir.path(), cheap());
  auto none = vault.load("pw");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_NE(none.error().message.find("avow totp add"), std::string::npos);
  auto empty = add(vault, "", entry("A", "b"));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(vault.exists());
  EXPECT_FALSE(add(vault, std::string(kMaxPassphraseSize + 1, 'p'), entry("A", "b")));
  EXPECT_FALSE(vault.exists());
}

TEST(Vault, WrongPassphraseIsAClearErrorAndNeverOverwrites) {
  TempDir dir;
  Vault vault(dir.path(), cheap());
  ASSERT_TRUE(add(vault, "right", entry("A", "a")));
  const std::string before = read_text(vault.file());
  auto wrong = vault.load("wrong");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(wrong.error().message.find("wrong passphrase"), std::string::npos) << wrong.error().message;
  auto write = add(vault, "wrong", entry("B", "b"));
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(read_text(vault.file()), before);
  EXPECT_TRUE(vault.load("right"));
}

TEST(Vault, ATruncatedFileIsReportedAsTruncatedAndKept) {
  TempDir dir;
  Vault vault(dir.path(), cheap());
  ASSERT_TRUE(add(vault, "pw", entry("A", "a")));
  const std::string full = read_text(vault.file());
  for (std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{9}, std::size_t{50}, std::size_t{99},
                           std::size_t{100}, full.size() - 16, full.size() - 1}) {
    write_text(vault.file(), full.substr(0, size));
    auto r = vault.load("pw");
    ASSERT_FALSE(r) << size;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << size;
    EXPECT_NE(r.error().message.find("is truncated"), std::string::npos) << size << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(vault.file().string()), std::string::npos);
    EXPECT_FALSE(add(vault, "pw", entry("B", "b"))) << size;
    EXPECT_EQ(read_text(vault.file()), full.substr(0, size)) << "a failed write must not touch the file";
  }
}

TEST(Vault, EveryFlippedBitIsDamageNeverAWrongPassphraseOrSilentChange) {
  TempDir dir;
  Vault vault(dir.path(), cheap());
  ASSERT_TRUE(add(vault, "pw", entry("A", "a")));
  const std::string full = read_text(vault.file());
  for (std::size_t i = 0; i < full.size(); ++i) {
    std::string bad = full;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    write_text(vault.file(), bad);
    auto r = vault.load("pw");
    ASSERT_FALSE(r) << "byte " << i;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << "byte " << i << ": " << r.error().message;
    const std::string& m = r.error().message;
    const char* expected = i < 8 ? "is not an Avow vault" : i < 10 ? "version" : "is damaged";
    EXPECT_NE(m.find(expected), std::string::npos) << "byte " << i << ": " << m;
    if (i >= 100) {
      EXPECT_NE(m.find("do not authenticate"), std::string::npos) << m;
    } else if (i >= 10) {
      EXPECT_NE(m.find("header"), std::string::npos) << "byte " << i << ": " << m;
    }
  }
  write_text(vault.file(), full + "x");
  auto extra = vault.load("pw");
  ASSERT_FALSE(extra);
  EXPECT_NE(extra.error().message.find("unexpected bytes"), std::string::npos);
  write_text(vault.file(), "{\"entries\":[]}");
  auto other = vault.load("pw");
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("is not an Avow vault"), std::string::npos);
  write_text(vault.file(), full);
  EXPECT_TRUE(vault.load("pw"));
}

TEST(Vault, AnUnknownVersionIsNamed) {
  TempDir dir;
  Vault vault(dir.path(), cheap());
  ASSERT_TRUE(add(vault, "pw", entry("A", "a")));
  std::string bytes = read_text(vault.file());
  bytes[8] = 2;
  write_text(vault.file(), bytes);
  auto r = vault.load("pw");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is a version 2 vault; this avow reads version 1"), std::string::npos)
      << r.error().message;
}

TEST(Vault, KeepsTheHeadersCostAndUsesAFreshNonceOnEveryWrite) {
  TempDir dir;
  ASSERT_TRUE(add(*std::make_unique<Vault>(dir.path(), cheap()), "pw", entry("A", "a")));
  const std::string first = read_text(dir / "vault.avow");
  VaultOptions dearer;
  dearer.kdf = KdfParams{512, 2, 1};
  Vault other(dir.path(), dearer);
  ASSERT_TRUE(add(other, "pw", entry("B", "b")));
  const std::string second = read_text(dir / "vault.avow");
  EXPECT_EQ(second.substr(12, 12), first.substr(12, 12)) << "Argon2id cost changed";
  EXPECT_EQ(second.substr(24, 16), first.substr(24, 16)) << "salt changed";
  EXPECT_NE(second.substr(40, 24), first.substr(40, 24)) << "nonce reused";
  EXPECT_EQ(static_cast<unsigned char>(first[12]) | (static_cast<unsigned char>(first[13]) << 8), 256);
}

TEST(Vault, AFailedChangeLeavesTheFileAlone) {
  TempDir dir;
  Vault vault(dir.path(), cheap());
  ASSERT_TRUE(add(vault, "pw", entry("A", "a")));
  const std::string before = read_text(vault.file());
  auto refused = vault.update("pw", [](std::vector<VaultEntry>& all) -> Status {
    all.clear();
    return fail(ErrorCode::kConflict, "no");
  });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "no");
  EXPECT_EQ(read_text(vault.file()), before);
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

TEST(Vault, ACrashBetweenWriteAndRenameKeepsTheOldVault) {
  TempDir dir;
  ASSERT_TRUE(add(*std::make_unique<Vault>(dir.path(), cheap()), "pw", entry("A", "a")));
  const std::string before = read_text(dir / "vault.avow");

  bool reached = false;
  Vault crashing(dir.path(), cheap([&] {
                   reached = true;
                   return false;  // the process "dies" after fsync, before rename
                 }));
  auto r = add(crashing, "pw", entry("B", "b"));
  ASSERT_FALSE(r);
  EXPECT_TRUE(reached);
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  ASSERT_EQ(temporaries(dir.path()).size(), 1u) << "the half-done write stays behind, as after a crash";
  EXPECT_EQ(mode_of(dir / temporaries(dir.path())[0]), 0600u);
  EXPECT_EQ(read_text(dir / "vault.avow"), before);

  Vault next(dir.path(), cheap());
  auto old = next.load("pw");
  ASSERT_TRUE(old) << old.error().message;
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].label(), "A:a");

  write_text(dir / ".vault.avow.tmp-junk12", "garbage from another crash");
  ASSERT_TRUE(add(next, "pw", entry("C", "c")));
  EXPECT_TRUE(temporaries(dir.path()).empty()) << "stale temporary files are cleared by the next write";
  auto after = next.load("pw");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[1].label(), "C:c");
}

TEST(Vault, ConcurrentWritersInThreadsAllLand) {
  TempDir dir;
  constexpr int kPerWriter = 8;
  auto writer = [&](const std::string& who) {
    Vault own(dir.path(), cheap());  // its own lock file descriptor, as another process has
    for (int i = 0; i < kPerWriter; ++i) EXPECT_TRUE(add(own, "pw", entry(who, "user" + std::to_string(i))));
  };
  std::thread a(writer, "A"), b(writer, "B");
  a.join();
  b.join();
  auto all = Vault(dir.path()).load("pw");
  ASSERT_TRUE(all) << all.error().message;
  std::set<std::string> labels;
  for (const auto& e : *all) labels.insert(e.label());
  EXPECT_EQ(labels.size(), 2u * kPerWriter);
  EXPECT_EQ(all->size(), 2u * kPerWriter);
}

TEST(Vault, ConcurrentWriterProcessesAllLand) {
  TempDir dir;
  constexpr int kPerWriter = 8;
  std::vector<pid_t> children;
  for (const char* who : {"P", "Q"}) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Vault own(dir.path(), cheap());
      int failures = 0;
      for (int i = 0; i < kPerWriter; ++i)
        if (!add(own, "pw", entry(who, "user" + std::to_string(i)))) ++failures;
      ::_exit(failures == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto all = Vault(dir.path()).load("pw");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 2u * kPerWriter);
}

TEST(Vault, RefusesASymbolicLink) {
  TempDir dir;
  Vault elsewhere(dir / "real", cheap());
  ASSERT_TRUE(add(elsewhere, "pw", entry("A", "a")));
  std::filesystem::create_directories(dir / "home");
  std::filesystem::create_symlink(elsewhere.file(), dir / "home" / "vault.avow");
  auto r = Vault(dir / "home").load("pw");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
}

TEST(VaultEntries, DuplicatesAreRefusedUnlessReplaced) {
  std::vector<VaultEntry> all;
  ASSERT_TRUE(add_entry(all, entry("GitHub", "alice")));
  ASSERT_TRUE(add_entry(all, entry("GitLab", "alice")));
  auto dup = add_entry(all, entry("github", "ALICE"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(dup.error().message.find("GitHub:alice"), std::string::npos);
  VaultEntry newer = entry("GitHub", "alice", Category::kSocial);
  newer.account.secret = "new secret bytes";
  ASSERT_TRUE(add_entry(all, std::move(newer), /*replace=*/true));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].account.secret, "new secret bytes");  // in the old one's place
  EXPECT_EQ(all[0].category, Category::kSocial);
}

TEST(VaultEntries, FindsByLabelOrUnambiguousPart) {
  std::vector<VaultEntry> all = {};
  for (auto [i, a] : {std::pair{"GitHub", "al"}, {"GitHub", "alice"}, {"Bank", "bob"}, {"", "carol"}})
    ASSERT_TRUE(add_entry(all, entry(i, a)));
  EXPECT_EQ(find_entry(all, "github:al").value(), 0u);  // an exact label wins over a part of a longer one
  EXPECT_EQ(find_entry(all, "GITHUB:ALICE").value(), 1u);
  EXPECT_EQ(find_entry(all, "ank").value(), 2u);
  EXPECT_EQ(find_entry(all, "carol").value(), 3u);
  auto ambiguous = find_entry(all, "github");
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(ambiguous.error().message.find("GitHub:al, GitHub:alice"), std::string::npos) << ambiguous.error().message;
  auto none = find_entry(all, "zed");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(find_entry(all, ""));
}

TEST(VaultEntries, CategoriesParseInAnyCase) {
  EXPECT_EQ(parse_category("finance").value(), Category::kFinance);
  EXPECT_EQ(parse_category("E-COMMERCE").value(), Category::kECommerce);
  EXPECT_EQ(parse_category("Other").value(), Category::kOther);
  for (Category c : {Category::kBusiness, Category::kECommerce, Category::kFinance, Category::kProductivity,
                     Category::kSocial, Category::kGaming, Category::kOther})
    EXPECT_EQ(parse_category(to_string(c)).value(), c);
  auto bad = parse_category("Shopping");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("Business, E-commerce, Finance, Productivity, Social, Gaming, Other"),
            std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace avow::device
