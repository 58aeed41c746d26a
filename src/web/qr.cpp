#include "web/qr.h"

#include <qrencode.h>

#include <cerrno>
#include <memory>

#include "web/html.h"

namespace avow::web {
namespace {

constexpr int kQuietZone = 4;

struct QrCodeFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

}  // namespace

Result<QrMatrix> qr_encode(std::string_view text) {
  if (text.empty()) return fail(ErrorCode::kInvalidArgument, "QR text is empty");
  if (text.size() > kMaxQrTextBytes)
    return fail(ErrorCode::kInvalidArgument, "QR text exceeds " + std::to_string(kMaxQrTextBytes) + " bytes");
  errno = 0;
  std::unique_ptr<QRcode, QrCodeFree> code(QRcode_encodeData(static_cast<int>(text.size()),
                                                             reinterpret_cast<const unsigned char*>(text.data()),
                                                             /*version=*/0, QR_ECLEVEL_M));
  if (!code) return fail(ErrorCode::kInternal, "QR encoding failed (errno " + std::to_string(errno) + ")");
  QrMatrix m;
  m.size = code->width;
  m.dark.resize(static_cast<std::size_t>(m.size) * m.size);
  for (std::size_t i = 0; i < m.dark.size(); ++i) m.dark[i] = (code->data[i] & 1) != 0;  // bit 0: dark module
  return m;
}

std::string qr_svg(const QrMatrix& m, std::string_view label) {
  const int side = m.size + 2 * kQuietZone;
  std::string svg;
  svg.reserve(static_cast<std::size_t>(m.size) * m.size * 4 + 512);
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ";
  svg += std::to_string(side) + " " + std::to_string(side);
  svg += "\" role=\"img\" aria-label=\"";
  svg += html_escape(label);
  svg += "\" shape-rendering=\"crispEdges\"><title>";
  svg += html_escape(label);
  svg += "</title><rect width=\"";
  svg += std::to_string(side) + "\" height=\"" + std::to_string(side);
  svg += "\" fill=\"#fff\"/><path fill=\"#000\" d=\"";
  // One sub-path per horizontal run of dark modules: a few hundred short commands for a ScanCode URL.
  for (int y = 0; y < m.size; ++y) {
    int x = 0;
    while (x < m.size) {
      if (!m.at(x, y)) {
        ++x;
        continue;
      }
      const int start = x;
      while (x < m.size && m.at(x, y)) ++x;
      const int run = x - start;
      // Appended piece by piece: no temporaries (and no GCC 12 -Wrestrict false positive on `"M" + …`).
      svg += 'M';
      svg += std::to_string(start + kQuietZone);
      svg += ' ';
      svg += std::to_string(y + kQuietZone);
      svg += 'h';
      svg += std::to_string(run);
      svg += "v1h-";
      svg += std::to_string(run);
      svg += 'z';
    }
  }
  svg += "\"/></svg>";
  return svg;
}

Result<std::string> qr_svg(std::string_view text, std::string_view label) {
  Result<QrMatrix> m = qr_encode(text);
  if (!m) return tl::unexpected(m.error());
  return qr_svg(*m, label);
}

}  // namespace avow::web
