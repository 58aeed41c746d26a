// avow/dashboard/pages.h — the dashboard's pages: Mustache templates (kainjow, Debian's libkainjow-mustache-dev)
// rendered inside one layout, escaping by default.
//
//   nlohmann::json view = {{"title", "Integrations"}, {"csp_nonce", nonce}, {"csrf", token}, …};
//   Result<std::string> html = render_page("integrations", view);
//
// The views' keys are listed per page in pages.cpp. JSON maps onto Mustache data: objects → objects, arrays →
// lists, strings and numbers → text, true/false → booleans, null → false. `{{x}}` escapes; `{{{x}}}` is used only
// for markup the server generated itself (the QR SVG).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace avow::dashboard {

// Renders page `page` inside the layout. kNotFound for an unknown page; kInternal if a template is broken
// (a bug).
Result<std::string> render_page(std::string_view page, const nlohmann::json& view);

}  // namespace avow::dashboard
