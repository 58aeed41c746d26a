// avow/authenticator/qr.h — reads the QR code in a PNG picture (a screenshot of the ScanCode page).
//
//   Result<std::string> url = decode_qr_png("scancode.png");   // "https://avow.example.com/s/Xk3…"
//   if (url) client.scan(*url);
//
// libpng reads the file (any PNG colour type and bit depth, converted to 8-bit grey); libzbar finds QR codes
// in it (only QR: other barcode types are not looked for). Pictures are bounded so a hostile file cannot
// make us allocate without limit.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "common/result.h"

namespace avow::device {

inline constexpr std::size_t kMaxQrImageFileSize = 32 * 1024 * 1024;
inline constexpr std::size_t kMaxQrImagePixels = 64 * 1024 * 1024;  // width × height
inline constexpr std::size_t kMaxQrTextSize = 4096;

// The text of the one QR code in the PNG at `path`. kNotFound: no such file. kUnavailable: it cannot be
// read. kInvalidArgument: not a PNG (or a damaged one), larger than kMaxQrImageFileSize or
// kMaxQrImagePixels, no QR code found, more than one QR code (the message says how many — crop the
// picture), or a code whose text is empty or longer than kMaxQrTextSize.
Result<std::string> decode_qr_png(const std::filesystem::path& path);

}  // namespace avow::device
