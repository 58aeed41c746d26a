// DeviceIdentity: the 0600 identity file, its atomic writing, and the refusals when loading it.
#include <gtest/gtest.h>

#include <unistd.h>

#include "authenticator/device.h"
#include "crypto/jws.h"
#include "test_util.h"

namespace avow::device {
namespace {

using testing::make_identity;
using testing::mode_of;
using testing::read_text;
using testing::TempDir;
using testing::write_text;

TEST(DeviceIdentity, SaveThenLoadRoundTrips) {
  TempDir dir;
  const auto home = dir / "home";
  const DeviceIdentity id = make_identity("https://avow.example.com/base", "dev-42");
  ASSERT_TRUE(id.save(home));

  auto loaded = DeviceIdentity::load(home);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->server, "https://avow.example.com/base");
  EXPECT_EQ(loaded->device_id, "dev-42");
  EXPECT_EQ(loaded->name, "test-laptop");
  EXPECT_TRUE(loaded->key.is_private());
  EXPECT_TRUE(loaded->key.same_public_key(id.key));

  // The loaded key still signs for the original public key.
  auto token = crypto::jws::sign(loaded->key, nullptr, "x");
  ASSERT_TRUE(token);
  EXPECT_TRUE(crypto::jws::verify(*token, id.key.public_key()));
}

TEST(DeviceIdentity, FileIs0600AndHomeIs0700AndNoTemporaryIsLeft) {
  TempDir dir;
  const auto home = dir / "fresh";
  ASSERT_TRUE(make_identity().save(home));
  EXPECT_EQ(mode_of(DeviceIdentity::file_path(home)), 0600u);
  EXPECT_EQ(mode_of(home), 0700u);
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(home)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "device.json");
  }
  EXPECT_EQ(entries, 1u);
}

TEST(DeviceIdentity, FileHoldsThePrivateKeyAsJwk) {
  TempDir dir;
  const DeviceIdentity id = make_identity();
  ASSERT_TRUE(id.save(dir.path()));
  const auto doc = nlohmann::json::parse(read_text(DeviceIdentity::file_path(dir.path())));
  EXPECT_EQ(doc["format"], "avow-device");
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["key"]["kty"], "EC");
  EXPECT_EQ(doc["key"]["crv"], "P-256");
  EXPECT_TRUE(doc["key"].contains("d"));
}

TEST(DeviceIdentity, MissingFileIsNotFound) {
  TempDir dir;
  auto loaded = DeviceIdentity::load(dir.path());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kNotFound);
  EXPECT_NE(loaded.error().message.find("not enrolled"), std::string::npos);
}

TEST(DeviceIdentity, RefusesAFileOthersCanRead) {
  TempDir dir;
  ASSERT_TRUE(make_identity().save(dir.path()));
  const auto file = DeviceIdentity::file_path(dir.path());
  for (mode_t mode : {0644, 0640, 0604, 0620, 0660}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    auto loaded = DeviceIdentity::load(dir.path());
    ASSERT_FALSE(loaded) << std::oct << mode;
    EXPECT_EQ(loaded.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(loaded.error().message.find("chmod 600"), std::string::npos) << loaded.error().message;
  }
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);  // read-only to the owner is fine
  EXPECT_TRUE(DeviceIdentity::load(dir.path()));
}

TEST(DeviceIdentity, RefusesASymbolicLink) {
  TempDir dir;
  const auto real = dir / "real";
  ASSERT_TRUE(make_identity().save(real));
  const auto home = dir / "linked";
  std::filesystem::create_directory(home);
  std::filesystem::create_symlink(DeviceIdentity::file_path(real), DeviceIdentity::file_path(home));
  auto loaded = DeviceIdentity::load(home);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kPermissionDenied);
}

TEST(DeviceIdentity, CorruptFilesAreClearErrors) {
  TempDir dir;
  const DeviceIdentity id = make_identity();
  ASSERT_TRUE(id.save(dir.path()));
  const auto file = DeviceIdentity::file_path(dir.path());
  const std::string good = read_text(file);
  auto doc = nlohmann::json::parse(good);

  auto public_key_doc = doc;
  public_key_doc["key"].erase("d");
  auto no_device = doc;
  no_device.erase("device_id");
  auto wrong_format = doc;
  wrong_format["format"] = "something-else";
  auto future = doc;
  future["version"] = 2;
  auto bad_server = doc;
  bad_server["server"] = "HTTPS://Avow.Example.com/";  // not normalised: written by hand
  auto rsa = doc;
  rsa["key"] = *crypto::Jwk::generate_rsa()->to_private_json();

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"not json", "this is not json"},
      {"truncated", good.substr(0, good.size() / 2)},
      {"truncated by one byte", good.substr(0, good.find_last_of('}'))},
      {"an array", "[1,2,3]"},
      {"public key only", public_key_doc.dump()},
      {"no device id", no_device.dump()},
      {"wrong format", wrong_format.dump()},
      {"future version", future.dump()},
      {"server not normalised", bad_server.dump()},
      {"rsa key", rsa.dump()},
  };
  for (const auto& [what, text] : cases) {
    write_text(file, text, 0600);
    auto loaded = DeviceIdentity::load(dir.path());
    ASSERT_FALSE(loaded) << what;
    EXPECT_EQ(loaded.error().code, ErrorCode::kInvalidArgument) << what;
    EXPECT_NE(loaded.error().message.find(file.string()), std::string::npos) << what << ": " << loaded.error().message;
  }
}

TEST(DeviceIdentity, OversizedFileIsRefused) {
  TempDir dir;
  write_text(DeviceIdentity::file_path(dir.path()), std::string(kMaxIdentityFileSize + 1, ' '), 0600);
  auto loaded = DeviceIdentity::load(dir.path());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(loaded.error().message.find("larger than"), std::string::npos);
}

TEST(DeviceIdentity, DirectoryInPlaceOfTheFileIsRefused) {
  TempDir dir;
  std::filesystem::create_directory(DeviceIdentity::file_path(dir.path()));
  ::chmod(DeviceIdentity::file_path(dir.path()).c_str(), 0700);
  auto loaded = DeviceIdentity::load(dir.path());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kInvalidArgument);
}

TEST(DeviceIdentity, NeverReplacesAnExistingIdentityUnlessAsked) {
  TempDir dir;
  const DeviceIdentity first = make_identity("https://one.example.com", "dev-1");
  const DeviceIdentity second = make_identity("https://two.example.com", "dev-2");
  ASSERT_TRUE(first.save(dir.path()));

  auto refused = second.save(dir.path());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(DeviceIdentity::load(dir.path())->device_id, "dev-1");

  ASSERT_TRUE(second.save(dir.path(), /*overwrite=*/true));
  auto loaded = DeviceIdentity::load(dir.path());
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->device_id, "dev-2");
  EXPECT_EQ(mode_of(DeviceIdentity::file_path(dir.path())), 0600u);
}

TEST(DeviceIdentity, SaveRefusesAPublicKey) {
  TempDir dir;
  DeviceIdentity id = make_identity();
  id.key = id.key.public_key();
  auto saved = id.save(dir.path());
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(DeviceIdentity::file_path(dir.path())));
}

TEST(DeviceIdentity, SaveReportsAnUnwritableHome) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes anywhere";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0500), 0);
  auto saved = make_identity().save(dir.path());
  ::chmod(dir.path().c_str(), 0700);
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace avow::device
