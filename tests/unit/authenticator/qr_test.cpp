// decode_qr_png: QR pictures made here with libqrencode and libpng, and the errors for everything else.
#include <gtest/gtest.h>

#include "authenticator/qr.h"
#include "qr_png.h"
#include "test_util.h"

namespace avow::device {
namespace {

using testing::read_text;
using testing::TempDir;
using testing::write_qr_png;
using testing::write_text;

TEST(DecodeQrPng, ReadsTheUrlOfAScanCode) {
  TempDir dir;
  const std::string url = "https://avow.example.com/s/Xk3_9aB-2c";
  ASSERT_TRUE(write_qr_png(dir / "code.png", {url}));
  auto text = decode_qr_png(dir / "code.png");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, url);
}

TEST(DecodeQrPng, ReadsColourPicturesWithAlpha) {
  TempDir dir;
  const std::string url = "http://127.0.0.1:8080/avow/s/abcdefghijklmnopqrstuvwxyz0123456789";
  ASSERT_TRUE(write_qr_png(dir / "colour.png", {url}, /*rgba=*/true, /*scale=*/3));
  auto text = decode_qr_png(dir / "colour.png");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, url);
}

TEST(DecodeQrPng, PictureWithoutQrCode) {
  TempDir dir;
  ASSERT_TRUE(write_qr_png(dir / "blank.png", {}));
  auto text = decode_qr_png(dir / "blank.png");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(text.error().message.find("no QR code"), std::string::npos) << text.error().message;
}

TEST(DecodeQrPng, SeveralQrCodesAreRefused) {
  TempDir dir;
  ASSERT_TRUE(write_qr_png(dir / "two.png", {"https://a.example/s/one", "https://a.example/s/two"}));
  auto text = decode_qr_png(dir / "two.png");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(text.error().message.find("2 QR codes"), std::string::npos) << text.error().message;
}

TEST(DecodeQrPng, NotAPng) {
  TempDir dir;
  write_text(dir / "notes.png", "just some text, not a picture\n");
  auto text = decode_qr_png(dir / "notes.png");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(text.error().message.find("not a PNG"), std::string::npos) << text.error().message;

  write_text(dir / "empty.png", "");
  EXPECT_FALSE(decode_qr_png(dir / "empty.png"));
}

TEST(DecodeQrPng, TruncatedPng) {
  TempDir dir;
  ASSERT_TRUE(write_qr_png(dir / "code.png", {"https://avow.example.com/s/abc"}));
  const std::string bytes = read_text(dir / "code.png");
  write_text(dir / "cut.png", bytes.substr(0, bytes.size() / 2));
  auto text = decode_qr_png(dir / "cut.png");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(text.error().message.find("damaged"), std::string::npos) << text.error().message;
}

TEST(DecodeQrPng, MissingFileAndDirectory) {
  TempDir dir;
  auto missing = decode_qr_png(dir / "nope.png");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto directory = decode_qr_png(dir.path());
  ASSERT_FALSE(directory);
}

}  // namespace
}  // namespace avow::device
