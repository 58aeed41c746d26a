#include "web/form.h"

namespace avow::web {
namespace {

constexpr std::size_t kMaxCookieHeaderBytes = 8 * 1024;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one name or value. False on a malformed escape.
bool decode_component(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (in.size() - i < 3) return false;
      const int hi = hex_digit(in[i + 1]);
      const int lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<FormFields> parse_form(std::string_view body, const FormLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    return fail(ErrorCode::kInvalidArgument, "form body exceeds " + std::to_string(limits.max_body_bytes) + " bytes");
  FormFields fields;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    if (fields.size() == limits.max_fields)
      return fail(ErrorCode::kInvalidArgument, "form has more than " + std::to_string(limits.max_fields) + " fields");
    const std::size_t eq = pair.find('=');
    std::string name, value;
    if (!decode_component(pair.substr(0, eq), name))
      return fail(ErrorCode::kInvalidArgument, "form field name has a malformed percent escape");
    if (name.empty()) return fail(ErrorCode::kInvalidArgument, "form field with an empty name");
    if (name.size() > limits.max_name_bytes)
      return fail(ErrorCode::kInvalidArgument,
                  "form field name exceeds " + std::to_string(limits.max_name_bytes) + " bytes");
    if (eq != std::string_view::npos && !decode_component(pair.substr(eq + 1), value))
      return fail(ErrorCode::kInvalidArgument, "form field value has a malformed percent escape");
    fields.emplace_back(std::move(name), std::move(value));
  }
  return fields;
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  if (header.size() > kMaxCookieHeaderBytes || name.empty()) return std::nullopt;
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t semi = header.find(';', pos);
    if (semi == std::string_view::npos) semi = header.size();
    const std::string_view pair = trim_spaces(header.substr(pos, semi - pos));
    pos = semi + 1;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim_spaces(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim_spaces(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return std::nullopt;
}

}  // namespace avow::web
