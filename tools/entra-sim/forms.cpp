#include "tools/entra-sim/forms.h"

namespace avow::entra_sim {
namespace {

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '*';
}

void encode_into(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (unreserved(static_cast<char>(c))) {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (in.size() - i < 3) return fail(ErrorCode::kInvalidArgument, "truncated %-escape");
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return fail(ErrorCode::kInvalidArgument, "malformed %-escape");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

std::string form_encode(const FormFields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    encode_into(out, name);
    out += '=';
    encode_into(out, value);
  }
  return out;
}

Result<FormFields> parse_form(std::string_view body, std::size_t max_fields) {
  FormFields out;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    if (out.size() == max_fields) return fail(ErrorCode::kInvalidArgument, "too many form fields");
    const std::size_t eq = pair.find('=');
    auto name = decode(pair.substr(0, eq));
    if (!name) return tl::unexpected(name.error());
    auto value = decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!value) return tl::unexpected(value.error());
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::optional<std::string> form_value(const FormFields& fields, std::string_view name) {
  for (const auto& [n, v] : fields)
    if (n == name) return v;
  return std::nullopt;
}

}  // namespace avow::entra_sim
