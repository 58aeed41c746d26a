// avow/dashboard/templates.h — the dashboard's template files (src/dashboard/templates/), compiled into the
// binary by templates/embed.cmake: no files to install or find at run time.
//
//   std::optional<std::string_view> layout = embedded_template("layout.mustache");
#pragma once

#include <optional>
#include <string_view>

namespace avow::dashboard {

// The text of templates/<name> (e.g. "signin.mustache", "style.css"), or nullopt when there is no such file.
std::optional<std::string_view> embedded_template(std::string_view name);

}  // namespace avow::dashboard
