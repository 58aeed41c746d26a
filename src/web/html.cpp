#include "web/html.h"

namespace avow::web {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_name_char(c)) return false;
  return true;
}

}  // namespace

Result<std::string> render_template(std::string_view tmpl, const TemplateVars& vars) {
  std::string out;
  out.reserve(tmpl.size() + 1024);
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    const std::size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(pos));
      break;
    }
    out.append(tmpl.substr(pos, open - pos));
    const bool raw = tmpl.substr(open, 3) == "{{{";
    const std::size_t name_start = open + (raw ? 3 : 2);
    const std::string_view close_tag = raw ? "}}}" : "}}";
    const std::size_t close = tmpl.find(close_tag, name_start);
    if (close == std::string_view::npos)
      return fail(ErrorCode::kInternal, "template: unterminated tag at offset " + std::to_string(open));
    const std::string_view name = tmpl.substr(name_start, close - name_start);
    if (!is_name(name)) return fail(ErrorCode::kInternal, "template: malformed tag at offset " + std::to_string(open));
    const auto it = vars.find(name);
    if (it == vars.end()) return fail(ErrorCode::kInternal, "template: no value for '" + std::string(name) + "'");
    out += raw ? it->second : html_escape(it->second);
    pos = close + close_tag.size();
  }
  return out;
}

}  // namespace avow::web
