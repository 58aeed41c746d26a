// Makes PNG pictures of QR codes for the tests: libqrencode draws the modules, libpng writes the file.
#pragma once

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <png.h>
#include <qrencode.h>

namespace avow::device::testing {

// Writes the QR codes of `texts` side by side (each with a 4-module quiet zone, `scale` pixels a module) as
// an 8-bit grey PNG, or RGBA (dark modules navy, light ones opaque white) when `rgba`. An empty `texts`
// writes a blank white picture. Returns false when encoding or writing fails.
inline bool write_qr_png(const std::filesystem::path& path, const std::vector<std::string>& texts, bool rgba = false,
                         int scale = 4) {
  constexpr int kQuiet = 4;
  std::vector<QRcode*> codes;
  int width = 0, height = 64;
  for (const auto& t : texts) {
    QRcode* q = QRcode_encodeString(t.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (q == nullptr) return false;
    codes.push_back(q);
    width += (q->width + 2 * kQuiet) * scale;
    height = std::max(height, (q->width + 2 * kQuiet) * scale);
  }
  if (codes.empty()) width = 64;
  const int channels = rgba ? 4 : 1;
  std::vector<unsigned char> pixels(static_cast<std::size_t>(width) * height * channels, 255);
  int x0 = 0;
  for (QRcode* q : codes) {
    for (int my = 0; my < q->width; ++my)
      for (int mx = 0; mx < q->width; ++mx) {
        if ((q->data[my * q->width + mx] & 1) == 0) continue;
        for (int dy = 0; dy < scale; ++dy)
          for (int dx = 0; dx < scale; ++dx) {
            const int x = x0 + (mx + kQuiet) * scale + dx, y = (my + kQuiet) * scale + dy;
            unsigned char* p = &pixels[(static_cast<std::size_t>(y) * width + x) * channels];
            if (rgba) {
              p[0] = 0x10, p[1] = 0x20, p[2] = 0x60, p[3] = 255;
            } else {
              p[0] = 0;
            }
          }
      }
    x0 += (q->width + 2 * kQuiet) * scale;
    QRcode_free(q);
  }
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = rgba ? PNG_FORMAT_RGBA : PNG_FORMAT_GRAY;
  const bool ok = png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr) != 0;
  png_image_free(&image);
  return ok;
}

}  // namespace avow::device::testing
