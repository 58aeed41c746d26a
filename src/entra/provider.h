// avow/entra/provider.h — what Avow says as an OpenID provider to Entra: the discovery document, the
// id_token claims, and the auto-submitting form_post that carries the answer back.
//
//   ProviderUrls urls = provider_urls("https://mfa.example.com", client_id);
//   body = discovery_document(urls).dump();
//   json claims = success_claims(urls.issuer, request, hint, {"possessionorinherence", "swk"}, now, 300);
//   std::string page = form_post_page(request.redirect_uri, {{"id_token", token}, {"state", *request.state}}, nonce);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/html.h"
#include "entra/authorize_request.h"
#include "entra/hint.h"
#include "store/records.h"

namespace avow::entra {

// The URLs of one integration. The issuer is the discovery base, character for character: no trailing
// slash, no explicit default port.
struct ProviderUrls {
  std::string issuer;         // <public_url>/entra/<client_id>
  std::string discovery_url;  // <issuer>/.well-known/openid-configuration
  std::string authorize_url;  // <issuer>/authorize
  std::string jwks_url;       // <issuer>/jwks
};

// `public_url` is the server's external base URL (scheme://host[:port][/path], no trailing slash).
ProviderUrls provider_urls(std::string_view public_url, std::string_view client_id);

// The custom-control JSON to paste into Conditional Access (entra-protocol.md §1): Name, AppId, ClientId,
// DiscoveryUrl and one control, "Require" + claim type, requesting the integration's claim. Members in the
// documented order.
nlohmann::ordered_json custom_control_json(const store::IntegrationRecord& integration, std::string_view public_url);

// The discovery document with every member Entra requires (§2 of the contract).
nlohmann::json discovery_document(const ProviderUrls& urls);

// The claims of the id_token for a completed sign-in: iss, aud (= the request's client_id), sub (= the
// hint's sub), iat, nbf, exp (iat + lifetime), nonce, and per flavour either one acr + one amr (EAM) or the
// requested claim echoed (custom control; acr/amr are included too, harmlessly).
nlohmann::json success_claims(std::string_view issuer, const AuthorizeRequest& request, const HintClaims& hint,
                              const std::pair<std::string, std::string>& acr_amr, std::int64_t now,
                              std::int64_t lifetime_seconds);

// The fields of a successful answer: id_token, and state when the request had one. Custom controls also
// get token_type, expires_in and scope, as Duo's provider posts them.
std::vector<std::pair<std::string, std::string>> success_fields(const AuthorizeRequest& request, std::string id_token,
                                                                std::int64_t lifetime_seconds);

// The fields of a refusal: error (access_denied or temporarily_unavailable), error_description, state.
std::vector<std::pair<std::string, std::string>> error_fields(const AuthorizeRequest& request, std::string_view error,
                                                              std::string_view description);

// An HTML page whose form POSTs `fields` to `action` as soon as it loads (with a button for browsers
// without JavaScript). Every value is HTML-escaped. `script_nonce` is the CSP nonce for the one inline
// script; the caller sends the matching `Content-Security-Policy: script-src 'nonce-…'`.
std::string form_post_page(std::string_view action, const std::vector<std::pair<std::string, std::string>>& fields,
                           std::string_view script_nonce);

}  // namespace avow::entra
