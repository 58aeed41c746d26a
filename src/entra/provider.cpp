#include "entra/provider.h"

namespace avow::entra {

using nlohmann::json;

ProviderUrls provider_urls(std::string_view public_url, std::string_view client_id) {
  ProviderUrls u;
  u.issuer = std::string(public_url) + "/entra/" + std::string(client_id);
  u.discovery_url = u.issuer + "/.well-known/openid-configuration";
  u.authorize_url = u.issuer + "/authorize";
  u.jwks_url = u.issuer + "/jwks";
  return u;
}

json discovery_document(const ProviderUrls& urls) {
  return {
      {"issuer", urls.issuer},
      {"authorization_endpoint", urls.authorize_url},
      {"jwks_uri", urls.jwks_url},
      {"scopes_supported", {"openid"}},
      {"response_types_supported", {"id_token"}},
      {"response_modes_supported", {"form_post"}},
      {"subject_types_supported", {"public"}},
      {"id_token_signing_alg_values_supported", {"RS256"}},
      {"claim_types_supported", {"normal"}},
      {"claims_parameter_supported", true},
      {"claims_supported", {"iss", "aud", "sub", "iat", "nbf", "exp", "nonce", "acr", "amr"}},
      {"acr_values_supported",
       {"possessionorinherence", "knowledgeorpossession", "knowledgeorinherence", "knowledgeorpossessionorinherence",
        "possession", "inherence"}},
  };
}

json success_claims(std::string_view issuer, const AuthorizeRequest& request, const HintClaims& hint,
                    const std::pair<std::string, std::string>& acr_amr, std::int64_t now,
                    std::int64_t lifetime_seconds) {
  json c = {
      {"iss", issuer},
      {"aud", request.client_id},
      {"sub", hint.subject},
      {"iat", now},
      {"nbf", now},
      {"exp", now + lifetime_seconds},
      {"nonce", request.nonce},
      {"acr", acr_amr.first},
      {"amr", json::array({acr_amr.second})},
  };
  if (request.flavor == Flavor::kCustomControl && request.custom_claim)
    c[request.custom_claim->type] = request.custom_claim->value;
  return c;
}

std::vector<std::pair<std::string, std::string>> success_fields(const AuthorizeRequest& request, std::string id_token,
                                                                std::int64_t lifetime_seconds) {
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("id_token", std::move(id_token));
  if (request.flavor == Flavor::kCustomControl) {
    f.emplace_back("token_type", "Bearer");
    f.emplace_back("expires_in", std::to_string(lifetime_seconds));
    f.emplace_back("scope", "openid");
  }
  if (request.state) f.emplace_back("state", *request.state);
  return f;
}

std::vector<std::pair<std::string, std::string>> error_fields(const AuthorizeRequest& request, std::string_view error,
                                                              std::string_view description) {
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("error", std::string(error));
  f.emplace_back("error_description", std::string(description));
  if (request.state) f.emplace_back("state", *request.state);
  return f;
}

std::string form_post_page(std::string_view action, const std::vector<std::pair<std::string, std::string>>& fields,
                           std::string_view script_nonce) {
  std::string page;
  page.reserve(2048);
  page +=
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Returning to Microsoft</title>"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\n<body>\n"
      "<form method=\"post\" action=\"";
  page += html_escape(action);
  page += "\">\n";
  for (const auto& [name, value] : fields) {
    page += "<input type=\"hidden\" name=\"";
    page += html_escape(name);
    page += "\" value=\"";
    page += html_escape(value);
    page += "\">\n";
  }
  page +=
      "<noscript><p>Sign-in verified.</p><button type=\"submit\">Continue to Microsoft</button></noscript>\n</form>\n";
  page += "<script nonce=\"";
  page += html_escape(script_nonce);
  page += "\">document.forms[0].submit();</script>\n</body></html>\n";
  return page;
}

nlohmann::ordered_json custom_control_json(const store::IntegrationRecord& i, std::string_view public_url) {
  const ProviderUrls urls = provider_urls(public_url, i.client_id);
  const std::string control = "Require" + i.claim_type;
  return {
      {"Name", i.name},
      {"AppId", i.app_id ? nlohmann::ordered_json(*i.app_id) : nlohmann::ordered_json(nullptr)},
      {"ClientId", i.client_id},
      {"DiscoveryUrl", urls.discovery_url},
      {"Controls",
       nlohmann::ordered_json::array(
           {{{"Id", control},
             {"Name", control},
             {"ClaimsRequested", nlohmann::ordered_json::array(
                                     {{{"Type", i.claim_type}, {"Value", i.claim_value}, {"Values", nullptr}}})}}})}};
}

}  // namespace avow::entra
