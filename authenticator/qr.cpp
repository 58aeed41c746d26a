#include "authenticator/qr.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <png.h>
#include <zbar.h>

namespace avow::device {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Result<std::string> decode_qr_png(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(name.c_str(), "rb"));
  if (!file) {
    const int err = errno;
    if (err == ENOENT) return fail(ErrorCode::kNotFound, name + ": no such file");
    return fail(ErrorCode::kUnavailable, "cannot read " + name + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fileno(file.get()), &st) != 0 || !S_ISREG(st.st_mode))
    return fail(ErrorCode::kInvalidArgument, name + " is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxQrImageFileSize)
    return fail(ErrorCode::kInvalidArgument,
                name + " is larger than " + std::to_string(kMaxQrImageFileSize) + " bytes");

  // Check the signature first so "not a PNG" reads as such rather than as libpng's wording.
  unsigned char signature[8] = {0};
  if (std::fread(signature, 1, sizeof signature, file.get()) != sizeof signature || png_sig_cmp(signature, 0, 8) != 0)
    return fail(ErrorCode::kInvalidArgument, name + " is not a PNG picture");
  std::rewind(file.get());

  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_stdio(&image, file.get()) == 0)
    return fail(ErrorCode::kInvalidArgument, name + " is a damaged PNG: " + image.message);
  const std::uint64_t pixels = static_cast<std::uint64_t>(image.width) * image.height;
  if (image.width == 0 || image.height == 0 || pixels > kMaxQrImagePixels) {
    png_image_free(&image);
    return fail(ErrorCode::kInvalidArgument, name + " is too large a picture to scan (" + std::to_string(image.width) +
                                                 "×" + std::to_string(image.height) + ")");
  }
  image.format = PNG_FORMAT_GRAY;  // 8-bit grey, composited over white when the PNG has alpha
  std::vector<unsigned char> grey(PNG_IMAGE_SIZE(image));
  png_color background{255, 255, 255};
  if (png_image_finish_read(&image, &background, grey.data(), 0, nullptr) == 0) {
    const std::string message = image.message;
    png_image_free(&image);
    return fail(ErrorCode::kInvalidArgument, name + " is a damaged PNG: " + message);
  }
  const unsigned width = image.width, height = image.height;
  png_image_free(&image);

  using namespace zbar;  // zbar.h puts its C API in namespace zbar when compiled as C++
  std::unique_ptr<zbar_image_scanner_t, decltype(&zbar_image_scanner_destroy)> scanner(zbar_image_scanner_create(),
                                                                                       &zbar_image_scanner_destroy);
  std::unique_ptr<zbar_image_t, decltype(&zbar_image_destroy)> zimage(zbar_image_create(), &zbar_image_destroy);
  if (!scanner || !zimage) return fail(ErrorCode::kInternal, "zbar failed to start");
  // QR only: a stray EAN or Code 128 in a screenshot is not a ScanCode.
  zbar_image_scanner_set_config(scanner.get(), ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
  zbar_image_scanner_set_config(scanner.get(), ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
  zbar_image_set_format(zimage.get(), zbar_fourcc('Y', '8', '0', '0'));
  zbar_image_set_size(zimage.get(), width, height);
  zbar_image_set_data(zimage.get(), grey.data(), grey.size(), nullptr);  // `grey` outlives zimage's use

  const int found = zbar_scan_image(scanner.get(), zimage.get());
  if (found < 0) return fail(ErrorCode::kInternal, "zbar could not scan " + name);
  std::vector<std::string> texts;
  for (const zbar_symbol_t* s = zbar_image_first_symbol(zimage.get()); s != nullptr; s = zbar_symbol_next(s)) {
    if (zbar_symbol_get_type(s) != ZBAR_QRCODE) continue;
    texts.emplace_back(zbar_symbol_get_data(s), zbar_symbol_get_data_length(s));
  }
  zbar_image_set_data(zimage.get(), nullptr, 0, nullptr);
  if (texts.empty()) return fail(ErrorCode::kInvalidArgument, "no QR code found in " + name);
  if (texts.size() > 1)
    return fail(ErrorCode::kInvalidArgument,
                std::to_string(texts.size()) + " QR codes found in " + name + "; crop the picture to the one to scan");
  if (texts.front().empty()) return fail(ErrorCode::kInvalidArgument, "the QR code in " + name + " is empty");
  if (texts.front().size() > kMaxQrTextSize)
    return fail(ErrorCode::kInvalidArgument,
                "the QR code in " + name + " holds more than " + std::to_string(kMaxQrTextSize) + " bytes");
  return texts.front();
}

}  // namespace avow::device
