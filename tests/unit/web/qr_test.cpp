#include "web/qr.h"

#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zbar.h>

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace avow::web {
namespace {

using namespace zbar;  // zbar.h declares its C API inside namespace zbar when compiled as C++

constexpr char kUrl[] = "https://mfa.example.com/s/Xk3vQ9bH2mN7pL4sR8tW1yZ6cD0fG5jK9aE3uI7oPq";

// Reads the module matrix back out of qr_svg's markup: the viewBox gives the side, each "Mx yhNv1h-Nz"
// sub-path a run of dark modules. Anything else in the path makes this return nullopt.
std::optional<QrMatrix> matrix_from_svg(const std::string& svg) {
  std::smatch box;
  if (!std::regex_search(svg, box, std::regex("viewBox=\"0 0 (\\d+) (\\d+)\""))) return std::nullopt;
  const int side = std::stoi(box[1]);
  if (side != std::stoi(box[2]) || side <= 8) return std::nullopt;
  std::smatch d;
  if (!std::regex_search(svg, d, std::regex("<path fill=\"#000\" d=\"([^\"]*)\""))) return std::nullopt;
  QrMatrix m;
  m.size = side - 8;
  m.dark.assign(static_cast<std::size_t>(m.size) * m.size, false);
  const std::string path = d[1];
  const std::regex run("M(\\d+) (\\d+)h(\\d+)v1h-(\\d+)z");
  std::size_t consumed = 0;
  for (auto it = std::sregex_iterator(path.begin(), path.end(), run); it != std::sregex_iterator(); ++it) {
    if (static_cast<std::size_t>(it->position()) != consumed) return std::nullopt;
    consumed += it->length();
    const int x = std::stoi((*it)[1]) - 4, y = std::stoi((*it)[2]) - 4, n = std::stoi((*it)[3]);
    if ((*it)[3] != (*it)[4] || x < 0 || y < 0 || y >= m.size || x + n > m.size) return std::nullopt;
    for (int i = 0; i < n; ++i) m.dark[static_cast<std::size_t>(y) * m.size + x + i] = true;
  }
  if (consumed != path.size()) return std::nullopt;
  return m;
}

// Draws the matrix with a 4-module quiet zone at `scale` pixels per module (8-bit grey, dark = 0) and
// asks zbar what it reads. Returns every decoded QR text.
std::vector<std::string> scan(const QrMatrix& m, int scale = 4) {
  const int side = (m.size + 8) * scale;
  std::vector<unsigned char> pixels(static_cast<std::size_t>(side) * side, 255);
  for (int y = 0; y < m.size; ++y)
    for (int x = 0; x < m.size; ++x)
      if (m.at(x, y))
        for (int dy = 0; dy < scale; ++dy)
          for (int dx = 0; dx < scale; ++dx)
            pixels[static_cast<std::size_t>((y + 4) * scale + dy) * side + (x + 4) * scale + dx] = 0;
  zbar_image_scanner_t* scanner = zbar_image_scanner_create();
  zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
  zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
  zbar_image_t* image = zbar_image_create();
  zbar_image_set_format(image, zbar_fourcc('Y', '8', '0', '0'));
  zbar_image_set_size(image, side, side);
  zbar_image_set_data(image, pixels.data(), pixels.size(), nullptr);
  std::vector<std::string> found;
  if (zbar_scan_image(scanner, image) > 0) {
    for (const zbar_symbol_t* s = zbar_image_first_symbol(image); s; s = zbar_symbol_next(s))
      found.emplace_back(zbar_symbol_get_data(s), zbar_symbol_get_data_length(s));
  }
  zbar_image_destroy(image);
  zbar_image_scanner_destroy(scanner);
  return found;
}

TEST(QrEncode, ProducesAValidSizeAndFinderPatterns) {
  auto m = qr_encode(kUrl);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_GE(m->size, 21);
  EXPECT_EQ((m->size - 21) % 4, 0);
  ASSERT_EQ(m->dark.size(), static_cast<std::size_t>(m->size) * m->size);
  // The top-left finder pattern: a dark 7×7 ring with a dark 3×3 centre.
  for (int i = 0; i < 7; ++i) {
    EXPECT_TRUE(m->at(i, 0));
    EXPECT_TRUE(m->at(0, i));
    EXPECT_TRUE(m->at(i, 6));
    EXPECT_TRUE(m->at(6, i));
  }
  EXPECT_FALSE(m->at(1, 1));
  EXPECT_TRUE(m->at(3, 3));
}

TEST(QrEncode, DecodesBackToTheText) {
  auto m = qr_encode(kUrl);
  ASSERT_TRUE(m);
  EXPECT_EQ(scan(*m), std::vector<std::string>{kUrl});
}

TEST(QrEncode, RefusesEmptyAndOversizedText) {
  auto empty = qr_encode("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  auto big = qr_encode(std::string(kMaxQrTextBytes + 1, 'a'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(qr_encode(std::string(kMaxQrTextBytes, 'a')));
}

TEST(QrSvg, IsWellFormedSvg) {
  auto svg = qr_svg(kUrl, "ScanCode");
  ASSERT_TRUE(svg) << svg.error().message;
  xmlDocPtr doc = xmlReadMemory(svg->data(), static_cast<int>(svg->size()), "qr.svg", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  ASSERT_NE(doc, nullptr) << "not well-formed XML";
  xmlNodePtr root = xmlDocGetRootElement(doc);
  ASSERT_NE(root, nullptr);
  EXPECT_STREQ(reinterpret_cast<const char*>(root->name), "svg");
  ASSERT_NE(root->ns, nullptr);
  EXPECT_STREQ(reinterpret_cast<const char*>(root->ns->href), "http://www.w3.org/2000/svg");
  xmlFreeDoc(doc);
}

TEST(QrSvg, EncodesTheUrl) {
  auto svg = qr_svg(kUrl, "ScanCode");
  ASSERT_TRUE(svg);
  std::optional<QrMatrix> m = matrix_from_svg(*svg);
  ASSERT_TRUE(m) << "the SVG path is not the expected run list";
  auto direct = qr_encode(kUrl);
  ASSERT_TRUE(direct);
  EXPECT_EQ(m->size, direct->size);
  EXPECT_EQ(m->dark, direct->dark);
  EXPECT_EQ(scan(*m), std::vector<std::string>{kUrl});
}

TEST(QrSvg, HasNoScriptsStylesOrExternalReferences) {
  auto svg = qr_svg(kUrl, "ScanCode");
  ASSERT_TRUE(svg);
  for (const char* banned : {"<script", "style", "href", "<image", "<foreignObject", "url("})
    EXPECT_EQ(svg->find(banned), std::string::npos) << banned;
  EXPECT_NE(svg->find("role=\"img\""), std::string::npos);
  EXPECT_NE(svg->find("<title>ScanCode</title>"), std::string::npos);
}

TEST(QrSvg, EscapesTheLabel) {
  auto svg = qr_svg(kUrl, "<b>\"x\"</b>");
  ASSERT_TRUE(svg);
  EXPECT_EQ(svg->find("<b>"), std::string::npos);
  EXPECT_NE(svg->find("&lt;b&gt;&quot;x&quot;&lt;/b&gt;"), std::string::npos);
}

TEST(QrSvg, DifferentTextsDrawDifferentCodes) {
  auto a = qr_svg("https://mfa.example.com/s/aaaa", "x");
  auto b = qr_svg("https://mfa.example.com/s/aaab", "x");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace avow::web
