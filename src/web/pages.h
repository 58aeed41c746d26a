// avow/web/pages.h — the server-rendered pages of the Entra flow: the MFA page, and small message pages.
//
// The MFA page is what the user's browser shows between Entra's authorize POST and the answer posted back:
// the org and integration, the user's UPN, and either a ScanCode (QR) to link their phone or the number
// to tap in the Avow app. Its one script long-polls the flow's wait URL (one request at a time, re-issued
// only after each answer; backing off on errors), swaps the QR for the number once the phone is linked,
// and submits the finish form as soon as the sign-in is decided or has expired. Without JavaScript the
// finish form shows a Continue button.
//
// While the number is shown and `codes_open`, the page offers "Use a verification code instead": a button
// revealing a one-field form (inputmode=numeric, autocomplete=one-time-code) that the script posts to
// `code_url` (fetch, form-encoded `code`). Approved → the finish form is submitted; refused → the one
// message the server gives for every refusal, and the form is disabled when the server says it is closed.
// The code option needs JavaScript (as the live page does). data-testid names: use-code, code-form,
// code-input, code-submit, code-error.
//
//   MfaPageView v{.org_name = …, .integration_name = …, .user_label = upn, .flow = flow_view,
//                 .wait_url = …, .finish_url = …, .csp_nonce = new_csp_nonce()};
//   Response r = Response::text(200, *render_mfa_page(v), "text/html; charset=utf-8");
//   r.set_header("Content-Security-Policy", page_csp(v.csp_nonce, /*with_script=*/true));
//
// Every page is self-contained (no external resources) and carries its style and script inline under a
// per-response CSP nonce. Everything that came from Entra, an admin or a device is escaped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace avow::web {

// The ScanCode as the page shows it.
struct ScanCodeView {
  // <public_url>/s/<code>: the secret; never log it. Empty (and svg empty) in a wait answer when the
  // page's current code is still the one to show: the server keeps only its hash.
  std::string url;
  std::string svg;  // qr_svg(url, …): trusted markup
  std::int64_t expires_at = 0;
};

// A sign-in as the page sees it; also the JSON the wait URL answers (to_json).
struct FlowView {
  std::string state;                      // "pending" | "approved" | "denied" | "expired" | "cancelled"
  int number = 0;                         // the number to tap, once the phone is linked
  std::optional<ScanCodeView> scan_code;  // pending and no device linked yet
  std::int64_t expires_in = 0;            // seconds until the sign-in expires (≥ 0)

  // What the page shows, as an opaque token: "scan:<code expiry>" or "number:<n>". The page sends back
  // the token it shows (`?seen=`); the wait URL answers at once when the token it computes differs.
  std::string view_token() const;
};

// {"state", "number", "expires_in", "view", "scan_code": {"url", "svg", "expires_at"} | null}.
nlohmann::json to_json(const FlowView& flow);

struct MfaPageView {
  std::string org_name;
  std::string integration_name;
  std::string user_label;   // UPN, or display name when Entra sent no UPN
  FlowView flow;            // as of rendering
  std::string wait_url;     // path of GET …/flow/<id>/wait
  std::string finish_url;   // path of POST …/flow/<id>/finish
  std::string code_url;     // path of POST …/flow/<id>/code
  bool codes_open = false;  // offer the fallback code (the user has a device, the fallback is not locked)
  std::string csp_nonce;
};

// The MFA page. kInternal only if a template is broken (a bug).
Result<std::string> render_mfa_page(const MfaPageView& view);

// A page with a heading and one paragraph, for endpoint probes, errors and "already finished".
struct MessagePageView {
  std::string title;    // <title>, also the <h1>
  std::string message;  // one paragraph of plain text
  std::string csp_nonce;
};

// kInternal only if the template is broken (a bug).
Result<std::string> render_message_page(const MessagePageView& view);

// The Content-Security-Policy for pages rendered here: nothing but their own nonce'd style (and script when
// `with_script`), inline SVG, same-origin fetches and form posts; never framed.
std::string page_csp(std::string_view nonce, bool with_script);

// A fresh CSP nonce (128 random bits, base64url).
std::string new_csp_nonce();

}  // namespace avow::web
