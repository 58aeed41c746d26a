// avow/web/html.h — escaping, and the one tiny template syntax the server-rendered pages use.
//
//   std::string safe = html_escape(user_controlled);        // for text and double-quoted attributes
//
//   TemplateVars vars{{"title", "Sign in"}, {"qr", svg}};
//   Result<std::string> html = render_template("<h1>{{title}}</h1>{{{qr}}}", vars);
//
// `{{name}}` inserts the value escaped; `{{{name}}}` inserts it as is, for markup the server generated
// itself (the QR SVG) — never for anything a user, Entra or a device supplied. There are no sections or
// loops: a page that changes shape renders both shapes and hides one (`hidden`), which the page's script
// needs anyway to switch between them.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/html.h"
#include "common/result.h"

namespace avow::web {

using avow::html_escape;  // common/html.h

using TemplateVars = std::map<std::string, std::string, std::less<>>;

// Fills `tmpl`. Names are [A-Za-z0-9_]+. kInternal (the template is part of the program, so this is a
// bug) naming the first unknown name or malformed tag (`{{` without a closing `}}`, an empty or invalid
// name, `{{{` closed by `}}`).
Result<std::string> render_template(std::string_view tmpl, const TemplateVars& vars);

}  // namespace avow::web
