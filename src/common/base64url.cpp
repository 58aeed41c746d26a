#include "common/base64url.h"

#include <array>

namespace avow {
namespace {

constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_table(const char* alphabet) {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto kUrlTable = make_table(kUrlAlphabet);
constexpr auto kStdTable = make_table(kStdAlphabet);

std::string encode(const unsigned char* p, std::size_t n, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  if (n - i == 1) {
    std::uint32_t v = p[i] << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    if (pad) out.append("==");
  } else if (n - i == 2) {
    std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    if (pad) out.push_back('=');
  }
  return out;
}

Result<std::string> decode(std::string_view text, const std::array<std::int8_t, 256>& table, const char* what) {
  const std::size_t n = text.size();
  if (n % 4 == 1) return fail(ErrorCode::kInvalidArgument, std::string(what) + ": impossible length");
  const std::size_t tail = n % 4;  // 0, 2 or 3 characters after the last full quantum
  std::string out(n / 4 * 3 + (tail ? tail - 1 : 0), '\0');
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  // Four characters → three bytes per step, with one validity test per quantum (invalid entries are -1).
  for (std::size_t i = 0; i + 4 <= n; i += 4, o += 3) {
    const int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
    if ((a | b | c | d) < 0) return fail(ErrorCode::kInvalidArgument, std::string(what) + ": invalid character");
    const std::uint32_t v = (std::uint32_t(a) << 18) | (std::uint32_t(b) << 12) | (std::uint32_t(c) << 6) | std::uint32_t(d);
    o[0] = static_cast<unsigned char>(v >> 16);
    o[1] = static_cast<unsigned char>(v >> 8);
    o[2] = static_cast<unsigned char>(v);
  }
  if (tail != 0) {
    const unsigned char* t = in + (n - tail);
    const int a = table[t[0]], b = table[t[1]], c = tail == 3 ? table[t[2]] : 0;
    if ((a | b | c) < 0) return fail(ErrorCode::kInvalidArgument, std::string(what) + ": invalid character");
    const std::uint32_t v = (std::uint32_t(a) << 18) | (std::uint32_t(b) << 12) | (std::uint32_t(c) << 6);
    // The bits below the last whole byte must be zero, so one value has one spelling.
    if ((tail == 2 && (v & 0xffff) != 0) || (tail == 3 && (v & 0xff) != 0))
      return fail(ErrorCode::kInvalidArgument, std::string(what) + ": non-zero trailing bits");
    o[0] = static_cast<unsigned char>(v >> 16);
    if (tail == 3) o[1] = static_cast<unsigned char>(v >> 8);
  }
  return out;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  return encode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), kUrlAlphabet, false);
}

std::string base64url_encode(std::span<const std::uint8_t> bytes) {
  return encode(bytes.data(), bytes.size(), kUrlAlphabet, false);
}

Result<std::string> base64url_decode(std::string_view text) { return decode(text, kUrlTable, "base64url"); }

std::string base64_encode(std::string_view bytes) {
  return encode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), kStdAlphabet, true);
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return fail(ErrorCode::kInvalidArgument, "base64: length is not a multiple of 4");
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  return decode(text.substr(0, text.size() - pad), kStdTable, "base64");
}

}  // namespace avow
