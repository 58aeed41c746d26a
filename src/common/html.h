// avow/common/html.h — escaping text for HTML.
//
//   page += "<p>" + html_escape(user_supplied) + "</p>";
//   page += "<input value=\"" + html_escape(value) + "\">";
#pragma once

#include <string>
#include <string_view>

namespace avow {

// Escapes & < > " ' so the text is inert in HTML text and in double- or single-quoted attribute values.
std::string html_escape(std::string_view text);

}  // namespace avow
