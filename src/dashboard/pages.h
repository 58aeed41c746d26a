// avow/dashboard/pages.h — the dashboard's pages: Mustache templates (kainjow, Debian's libkainjow-mustache-dev)
// rendered inside one layout, escaping by default.
//
//   nlohmann::json view = {{"title", "Integrations"}, {"csp_nonce", nonce}, {"csrf", token}, …};
//   Result<std::string> html = render_page("integrations", view);
//
// The templates are src/dashboard/templates/<page>.mustache (plus layout.mustache, style.css, script.js),
// compiled into the binary. The views' keys are listed per page in the dashboard spec and in each template.
// JSON maps onto Mustache data: objects → objects, arrays → lists, strings and numbers → text, true/false →
// booleans, null and "" → false. `{{x}}` escapes; `{{{x}}}` is used only for markup the server generated
// itself (the QR SVG). Keys the templates need but JSON cannot express are derived when the view lacks them:
// `chosen.<field>.<value>` (a select's current option, from `values` and top-level strings), `has_<list>`
// for each top-level array, and a few per page (users: `searching`; integration_form: `advanced_open`;
// integration: `discovery_https`; scan_wait: `restart_url`). Every link is prefixed with the view's `base`.
//
// The page carries the dashboard script (live waits, copy buttons) only when it needs it: signin, scan_wait,
// push_wait, invite, invite_created and integration. Safe to call from any number of threads.
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
