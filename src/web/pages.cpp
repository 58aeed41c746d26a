#include "web/pages.h"

#include "common/random.h"
#include "web/html.h"

namespace avow::web {
namespace {

// Shared by every page. Colours keep at least 4.5:1 contrast (text ≥ 7:1) in both light and dark schemes;
// the QR keeps its own white background whatever the scheme, as scanners want dark on light.
constexpr std::string_view kStyle = R"CSS(
:root{color-scheme:light dark;--bg:#f3f5f8;--card:#fff;--text:#1b1f24;--muted:#4a5360;--accent:#0b57d0;--line:#d5dae1}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1c2128;--text:#eef1f5;--muted:#b8c0cc;--accent:#8ab4f8;--line:#38404b}}
*{box-sizing:border-box}
html,body{margin:0;padding:0}
body{background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:16px}
main{background:var(--card);border:1px solid var(--line);border-radius:12px;max-width:26rem;width:100%;padding:24px;text-align:center}
.brand{font-weight:700;letter-spacing:.04em;color:var(--accent);margin:0 0 8px}
h1{font-size:1.35rem;margin:0 0 4px}
.sub{color:var(--muted);margin:0 0 16px;overflow-wrap:anywhere}
.user{margin:0 0 20px;overflow-wrap:anywhere}
.qr{background:#fff;border-radius:8px;padding:8px;margin:0 auto 12px;width:min(260px,100%)}
.qr svg{display:block;width:100%;height:auto}
.number{font-size:4rem;font-weight:700;line-height:1.1;margin:8px 0;letter-spacing:.05em;font-variant-numeric:tabular-nums}
.status{color:var(--muted);min-height:1.5em;margin:16px 0 0}
.left{color:var(--muted);font-size:.875rem;margin:4px 0 0}
.alt{font-size:.875rem;margin:8px 0 0}
a{color:var(--accent)}
button{font:inherit;background:var(--accent);color:#fff;border:0;border-radius:8px;padding:10px 20px;margin-top:16px;cursor:pointer}
@media (prefers-color-scheme:dark){button{color:#111418}}
button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.linkbtn{background:none;color:var(--accent);padding:0;margin-top:12px;text-decoration:underline;font-size:.9375rem}
@media (prefers-color-scheme:dark){.linkbtn{color:var(--accent)}}
#code-form{margin-top:12px}
#code-form label{display:block;margin:0 0 6px}
#code-input{font:inherit;font-size:1.5rem;letter-spacing:.2em;text-align:center;width:10ch;padding:6px;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--text)}
#code-input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.code-error{color:var(--text);font-weight:600;min-height:1.5em;margin:8px 0 0}
button:disabled,input:disabled{opacity:.6;cursor:not-allowed}
[hidden]{display:none!important}
)CSS";

constexpr std::string_view kMfaPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Verify your sign-in – Avow</title>
<style nonce="{{nonce}}">{{{style}}}</style>
</head>
<body>
<main id="flow" data-wait-url="{{wait_url}}" data-view="{{view}}" data-expires-in="{{expires_in}}" data-codes="{{codes}}">
<p class="brand">Avow</p>
<h1>Verify your sign-in</h1>
<p class="sub"><span data-testid="integration-name">{{integration_name}}</span> · <span data-testid="org-name">{{org_name}}</span></p>
<p class="user">Signing in as <strong data-testid="user-label">{{user_label}}</strong></p>
<section id="scan" data-testid="scancode" data-url="{{scan_url}}" aria-labelledby="scan-text"{{scan_hidden}}>
<div class="qr" id="qr">{{{scan_svg}}}</div>
<p id="scan-text">Scan with the Avow app to link your phone</p>
<p class="alt">On your phone already? <a id="scan-link" href="{{scan_url}}">Open the link in the Avow app</a></p>
</section>
<section id="match" aria-labelledby="match-text"{{match_hidden}}>
<p class="number" data-testid="match-number" id="match-number">{{number}}</p>
<p id="match-text">Open the Avow app and tap <strong id="match-inline">{{number}}</strong></p>
</section>
<p class="status" id="status" data-testid="status" role="status" aria-live="polite">{{status}}</p>
<p class="left" id="left"></p>
<form id="finish" method="post" action="{{finish_url}}">
<noscript><p>JavaScript is off: answer in the Avow app, then press Continue.</p></noscript>
<button type="submit" id="continue" data-testid="continue">Continue</button>
</form>
<section id="codes" data-testid="code-option" hidden>
<button type="button" class="linkbtn" id="code-show" data-testid="use-code" aria-controls="code-form" aria-expanded="false">Use a verification code instead</button>
<form id="code-form" method="post" action="{{code_url}}" data-testid="code-form" novalidate hidden>
<label for="code-input">Code shown by <code>avow code</code> in the Avow app</label>
<input id="code-input" name="code" type="text" data-testid="code-input" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="12" spellcheck="false" aria-describedby="code-error">
<button type="submit" id="code-submit" data-testid="code-submit">Verify code</button>
<p class="code-error" id="code-error" data-testid="code-error" role="alert"></p>
</form>
</section>
</main>
<script nonce="{{nonce}}">{{{script}}}</script>
</body>
</html>
)HTML";

// One request in flight at a time: the next wait is issued only after the previous one answered (or after
// a growing pause when it failed), so an idle page costs one open connection, not a stream of requests.
constexpr std::string_view kMfaScript = R"JS(
(function () {
  "use strict";
  var root = document.getElementById("flow");
  var waitUrl = root.getAttribute("data-wait-url");
  var view = root.getAttribute("data-view");
  var left = parseInt(root.getAttribute("data-expires-in"), 10) || 0;
  var scan = document.getElementById("scan");
  var match = document.getElementById("match");
  var statusLine = document.getElementById("status");
  var leftLine = document.getElementById("left");
  var form = document.getElementById("finish");
  var done = false;
  var failures = 0;
  var codes = document.getElementById("codes");
  var codesOpen = root.getAttribute("data-codes") === "open";
  var codeShow = document.getElementById("code-show");
  var codeForm = document.getElementById("code-form");
  var codeInput = document.getElementById("code-input");
  var codeSubmit = document.getElementById("code-submit");
  var codeError = document.getElementById("code-error");
  var codeBusy = false;
  var codeClosed = false;
  var messages = {
    approved: "Approved. Returning to Microsoft\u2026",
    denied: "Denied in the Avow app. Returning to Microsoft\u2026",
    expired: "This sign-in timed out. Returning to Microsoft\u2026",
    cancelled: "A newer sign-in replaced this one. Returning to Microsoft\u2026"
  };
  document.getElementById("continue").hidden = true;

  function say(text) { if (statusLine.textContent !== text) statusLine.textContent = text; }

  function tick() {
    if (done) return;
    var m = Math.floor(left / 60), s = left % 60;
    leftLine.textContent = "Time left: " + m + ":" + (s < 10 ? "0" : "") + s;
    if (left > 0) { left -= 1; setTimeout(tick, 1000); }
  }

  function finish(state) {
    if (done) return;
    done = true;
    leftLine.textContent = "";
    say(messages[state] || "Returning to Microsoft\u2026");
    form.submit();
  }

  function show(flow) {
    if (typeof flow.expires_in === "number") left = flow.expires_in;
    if (flow.scan_code) {
      // An empty url means the code shown is still the current one.
      if (flow.scan_code.url && scan.getAttribute("data-url") !== flow.scan_code.url) {
        document.getElementById("qr").innerHTML = flow.scan_code.svg;
        scan.setAttribute("data-url", flow.scan_code.url);
        document.getElementById("scan-link").setAttribute("href", flow.scan_code.url);
      }
      scan.hidden = false;
      match.hidden = true;
      say("Waiting for the Avow app to scan the code\u2026");
    } else {
      document.getElementById("match-number").textContent = String(flow.number);
      document.getElementById("match-inline").textContent = String(flow.number);
      scan.hidden = true;
      match.hidden = false;
      say("Waiting for your answer in the Avow app\u2026");
    }
    codes.hidden = !codesOpen || !!flow.scan_code;
  }

  codeShow.addEventListener("click", function () {
    codeShow.hidden = true;
    codeShow.setAttribute("aria-expanded", "true");
    codeForm.hidden = false;
    codeInput.focus();
  });

  function codeAnswer(r) {
    return r.json().then(function (j) { return { status: r.status, body: j || {} }; },
                        function () { return { status: r.status, body: {} }; });
  }

  codeForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (done || codeBusy || codeClosed) return;
    var value = codeInput.value.replace(/[\s-]/g, "");
    if (!value) { codeError.textContent = "Enter the code from the Avow app."; return; }
    codeBusy = true;
    codeSubmit.disabled = true;
    codeError.textContent = "";
    fetch(codeForm.getAttribute("action"), {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json" },
      body: "code=" + encodeURIComponent(value)
    })
      .then(codeAnswer)
      .then(function (res) {
        codeBusy = false;
        if (res.status === 200 && res.body.result === "approved") { finish("approved"); return; }
        if (res.status === 409) { finish("decided"); return; }
        if (res.status === 200 && res.body.result === "refused") {
          codeError.textContent = res.body.message || "That code didn\u2019t work.";
          codeInput.value = "";
          if (res.body.closed) {
            codeClosed = true;
            codeInput.disabled = true;
            codeSubmit.disabled = true;
          } else {
            codeSubmit.disabled = false;
            codeInput.focus();
          }
          return;
        }
        codeSubmit.disabled = false;
        codeError.textContent = "The code could not be checked. Try again.";
      })
      .catch(function () {
        codeBusy = false;
        codeSubmit.disabled = false;
        codeError.textContent = "The code could not be checked. Try again.";
      });
  });

  function poll() {
    if (done) return;
    var url = waitUrl + "?seen=" + encodeURIComponent(view);
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 403 || r.status === 404) {
          done = true;
          leftLine.textContent = "";
          say("This sign-in can no longer be completed in this window. Start again from the Microsoft sign-in page.");
          return null;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (flow) {
        if (!flow) return;
        failures = 0;
        view = flow.view;
        if (flow.state !== "pending") { finish(flow.state); return; }
        show(flow);
        poll();
      })
      .catch(function () {
        failures += 1;
        say("Connection lost. Retrying\u2026");
        setTimeout(poll, Math.min(30000, 1000 * Math.pow(2, Math.min(failures, 5))));
      });
  }

  codes.hidden = !codesOpen || match.hidden;
  tick();
  poll();
})();
)JS";

constexpr std::string_view kMessagePage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{title}} – Avow</title>
<style nonce="{{nonce}}">{{{style}}}</style>
</head>
<body>
<main>
<p class="brand">Avow</p>
<h1>{{title}}</h1>
<p class="sub" data-testid="message">{{message}}</p>
</main>
</body>
</html>
)HTML";

std::string_view initial_status(const FlowView& f) {
  if (f.state != "pending") return "Finishing\u2026";
  return f.scan_code ? "Waiting for the Avow app to scan the code\u2026"
                     : "Waiting for your answer in the Avow app\u2026";
}

}  // namespace

std::string FlowView::view_token() const {
  if (scan_code) return "scan:" + std::to_string(scan_code->expires_at);
  return "number:" + std::to_string(number);
}

nlohmann::json to_json(const FlowView& f) {
  nlohmann::json j = {{"state", f.state},
                      {"number", f.number},
                      {"expires_in", f.expires_in < 0 ? 0 : f.expires_in},
                      {"view", f.view_token()},
                      {"scan_code", nullptr}};
  if (f.scan_code)
    j["scan_code"] = {{"url", f.scan_code->url}, {"svg", f.scan_code->svg}, {"expires_at", f.scan_code->expires_at}};
  return j;
}

Result<std::string> render_mfa_page(const MfaPageView& v) {
  const bool scanning = v.flow.scan_code.has_value();
  TemplateVars vars{
      {"nonce", v.csp_nonce},
      {"style", std::string(kStyle)},
      {"script", std::string(kMfaScript)},
      {"wait_url", v.wait_url},
      {"finish_url", v.finish_url},
      {"code_url", v.code_url},
      {"codes", v.codes_open && !v.code_url.empty() ? "open" : "off"},
      {"view", v.flow.view_token()},
      {"expires_in", std::to_string(v.flow.expires_in < 0 ? 0 : v.flow.expires_in)},
      {"org_name", v.org_name},
      {"integration_name", v.integration_name},
      {"user_label", v.user_label},
      {"scan_url", scanning ? v.flow.scan_code->url : ""},
      {"scan_svg", scanning ? v.flow.scan_code->svg : ""},
      {"scan_hidden", scanning ? "" : " hidden"},
      {"match_hidden", scanning ? " hidden" : ""},
      {"number", std::to_string(v.flow.number)},
      {"status", std::string(initial_status(v.flow))},
  };
  return render_template(kMfaPage, vars);
}

Result<std::string> render_message_page(const MessagePageView& v) {
  TemplateVars vars{
      {"nonce", v.csp_nonce},
      {"style", std::string(kStyle)},
      {"title", v.title},
      {"message", v.message},
  };
  return render_template(kMessagePage, vars);
}

std::string page_csp(std::string_view nonce, bool with_script) {
  std::string csp = "default-src 'none'; ";
  if (with_script) csp += "script-src 'nonce-" + std::string(nonce) + "'; ";
  csp += "style-src 'nonce-" + std::string(nonce) + "'; ";
  csp += with_script ? "connect-src 'self'; form-action 'self'; " : "form-action 'none'; ";
  csp += "base-uri 'none'; frame-ancestors 'none'";
  return csp;
}

std::string new_csp_nonce() { return random_token(16); }

}  // namespace avow::web
