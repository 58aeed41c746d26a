#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/sealed.h"

namespace avow::crypto {
namespace {

namespace fs = std::filesystem;

TEST(Sealed, RoundTrip) {
  const MasterKey key = MasterKey::generate();
  const std::string blob = key.seal("secret bytes", "kid-1");
  EXPECT_EQ(blob.size(), std::string("secret bytes").size() + MasterKey::kSealOverhead);
  EXPECT_EQ(static_cast<unsigned char>(blob[0]), MasterKey::kSealVersion);
  EXPECT_EQ(blob.find("secret bytes"), std::string::npos);
  auto opened = key.open(blob, "kid-1");
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, "secret bytes");
  // Fresh nonce each time.
  EXPECT_NE(key.seal("secret bytes", "kid-1"), blob);
  // Empty plaintext and empty aad are fine.
  EXPECT_EQ(key.open(key.seal("", ""), "").value(), "");
}

TEST(Sealed, TamperWrongKeyWrongAad) {
  const MasterKey key = MasterKey::generate();
  const std::string blob = key.seal("private key der", "kid-1");
  for (std::size_t i = 1; i < blob.size(); ++i) {  // nonce, ciphertext and tag bytes
    std::string t = blob;
    t[i] = static_cast<char>(t[i] ^ 0x40);
    auto r = key.open(t, "kid-1");
    ASSERT_FALSE(r) << "byte " << i;
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  }
  std::string version = blob;
  version[0] = 2;
  EXPECT_EQ(key.open(version, "kid-1").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(key.open(blob.substr(0, MasterKey::kSealOverhead - 1), "kid-1").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(key.open(blob.substr(0, blob.size() - 1), "kid-1").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(key.open(blob, "kid-2").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(key.open(blob, "").error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(MasterKey::generate().open(blob, "kid-1").error().code, ErrorCode::kUnauthenticated);
}

TEST(Sealed, KeyFromBytesAndBase64url) {
  EXPECT_FALSE(MasterKey::from_bytes(std::string(31, 'k')));
  EXPECT_FALSE(MasterKey::from_bytes(std::string(33, 'k')));
  auto a = MasterKey::from_bytes(std::string(32, 'k'));
  ASSERT_TRUE(a);
  auto b = MasterKey::from_base64url("  " + a->to_base64url() + "\n");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->open(a->seal("x", "y"), "y").value(), "x");
  EXPECT_FALSE(MasterKey::from_base64url(a->to_base64url().substr(1)));
  EXPECT_FALSE(MasterKey::from_base64url(a->to_base64url() + "A"));
  std::string bad = a->to_base64url();
  bad[3] = '+';
  EXPECT_FALSE(MasterKey::from_base64url(bad));
}

class MasterKeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/avow-mk-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ / "master.key";
  }
  void TearDown() override { fs::remove_all(dir_); }
  static unsigned mode_of(const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 07777;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir_, path_;
};

TEST_F(MasterKeyFile, CreatesWithMode0600ThenLoadsTheSameKey) {
  ::umask(022);
  auto created = MasterKey::load_or_create_file(path_);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(mode_of(path_), 0600u);
  EXPECT_EQ(read(path_), created->to_base64url() + "\n");
  // Only the key file is left behind (the temporary was unlinked).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);

  auto loaded = MasterKey::load_or_create_file(path_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->to_base64url(), created->to_base64url());
  EXPECT_EQ(loaded->open(created->seal("s", "a"), "a").value(), "s");
}

TEST_F(MasterKeyFile, RefusesGroupOrWorldReadableFile) {
  ASSERT_TRUE(MasterKey::load_or_create_file(path_));
  const std::string before = read(path_);
  ::chmod(path_.c_str(), 0644);
  auto r = MasterKey::load_or_create_file(path_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message.find("0644"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos) << r.error().message;
  ::chmod(path_.c_str(), 0640);
  EXPECT_EQ(MasterKey::load_or_create_file(path_).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(read(path_), before);  // never rewritten
  ::chmod(path_.c_str(), 0400);
  EXPECT_TRUE(MasterKey::load_or_create_file(path_));
}

TEST_F(MasterKeyFile, RefusesMalformedFileWithoutOverwriting) {
  {
    std::ofstream out(path_);
    out << "not a key\n";
  }
  ::chmod(path_.c_str(), 0600);
  auto r = MasterKey::load_or_create_file(path_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("malformed"), std::string::npos);
  EXPECT_EQ(read(path_), "not a key\n");

  {
    std::ofstream out(path_, std::ios::trunc);  // empty
  }
  EXPECT_EQ(MasterKey::load_or_create_file(path_).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(read(path_), "");
}

TEST_F(MasterKeyFile, RefusesDirectoryAndMissingParent) {
  fs::create_directory(path_);
  ::chmod(path_.c_str(), 0700);
  EXPECT_EQ(MasterKey::load_or_create_file(path_).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(MasterKey::load_or_create_file(dir_ / "missing" / "master.key").error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace avow::crypto
