// avow/web/qr.h — QR codes for ScanCodes, as inline SVG (libqrencode).
//
// The MFA page shows the ScanCode's URL as a QR code the Avow app scans. The SVG is drawn in module units
// (one unit = one module, with the 4-module quiet zone the standard asks for) and scales to any size with
// crisp edges; it has no scripts, no styles and no external references, so it fits the page's strict CSP.
//
//   Result<std::string> svg = qr_svg("https://mfa.example.com/s/Xk3…", "Scan with the Avow app");
//   page.scan_code_svg = *svg;                          // trusted markup: insert without escaping
//
//   Result<QrMatrix> m = qr_encode(text);               // the modules, e.g. to render or decode in tests
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace avow::web {

// Longest text qr_encode accepts. ScanCode URLs are about 100 bytes; this keeps codes scannable.
inline constexpr std::size_t kMaxQrTextBytes = 1024;

// The modules of a QR code, without the quiet zone. `dark[y * size + x]`.
struct QrMatrix {
  int size = 0;  // modules per side (21 for version 1, +4 per version)
  std::vector<bool> dark;
  bool at(int x, int y) const { return dark[static_cast<std::size_t>(y) * size + x]; }
};

// Encodes `text` as bytes (8-bit mode), error correction level M, the smallest version that fits.
// kInvalidArgument when `text` is empty or longer than kMaxQrTextBytes; kInternal if the library fails.
Result<QrMatrix> qr_encode(std::string_view text);

// The matrix as an SVG element: viewBox in module units including a 4-module quiet zone, a white
// background and one black path; role="img" with `label` (escaped) as its accessible name and <title>.
std::string qr_svg(const QrMatrix& matrix, std::string_view label);

// qr_encode, then qr_svg. Errors of qr_encode.
Result<std::string> qr_svg(std::string_view text, std::string_view label);

}  // namespace avow::web
