#include "entra/authorize_request.h"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

namespace avow::entra {
namespace {

using nlohmann::json;

Result<std::optional<std::string>> single(const FormFields& fields, std::string_view name, std::size_t max) {
  std::optional<std::string> found;
  for (const auto& [k, v] : fields) {
    if (k != name) continue;
    if (found) return fail(ErrorCode::kInvalidArgument, std::string(name) + " is repeated");
    if (v.size() > max) return fail(ErrorCode::kInvalidArgument, std::string(name) + " is too long");
    found = v;
  }
  return found;
}

Result<std::string> required(const FormFields& fields, std::string_view name, std::size_t max) {
  auto v = single(fields, name, max);
  if (!v) return tl::unexpected(v.error());
  if (!*v || (*v)->empty()) return fail(ErrorCode::kInvalidArgument, std::string(name) + " is required");
  return std::move(**v);
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto sp = list.find(' ');
    if (list.substr(0, sp) == token) return true;
    if (sp == std::string_view::npos) break;
    list.remove_prefix(sp + 1);
  }
  return false;
}

Result<std::vector<std::string>> string_values(const json& claim, std::string_view name) {
  std::vector<std::string> out;
  if (!claim.is_object())
    return fail(ErrorCode::kInvalidArgument, "claims." + std::string(name) + " must be an object");
  if (auto it = claim.find("values"); it != claim.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || it->size() > 32)
      return fail(ErrorCode::kInvalidArgument, "claims." + std::string(name) + ".values must be a non-empty array");
    for (const auto& v : *it) {
      if (!v.is_string() || v.get_ref<const std::string&>().empty() || v.get_ref<const std::string&>().size() > 64)
        return fail(ErrorCode::kInvalidArgument, "claims." + std::string(name) + ".values must hold strings");
      out.push_back(v.get<std::string>());
    }
  } else if (auto jt = claim.find("value"); jt != claim.end() && jt->is_string()) {
    out.push_back(jt->get<std::string>());
  }
  return out;
}

constexpr std::array<std::string_view, 8> kPossession = {"fido", "hwk", "otp", "pop", "sc", "sms", "swk", "tel"};
constexpr std::array<std::string_view, 5> kInherence = {"face", "fpt", "iris", "retina", "vbm"};

bool acr_covers(std::string_view acr, bool possession) {
  if (possession)
    return acr == "possessionorinherence" || acr == "knowledgeorpossession" ||
           acr == "knowledgeorpossessionorinherence" || acr == "possession";
  return acr == "possessionorinherence" || acr == "knowledgeorinherence" || acr == "knowledgeorpossessionorinherence" ||
         acr == "inherence";
}

}  // namespace

Result<AuthorizeRequest> parse_authorize_request(const FormFields& fields, Cloud cloud,
                                                 std::string_view extra_redirect_uri, const AuthorizeLimits& limits) {
  AuthorizeRequest req;
  auto scope = required(fields, "scope", limits.max_other);
  if (!scope) return tl::unexpected(scope.error());
  if (!has_token(*scope, "openid")) return fail(ErrorCode::kInvalidArgument, "scope must include openid");
  auto response_type = required(fields, "response_type", limits.max_other);
  if (!response_type) return tl::unexpected(response_type.error());
  if (*response_type != "id_token") return fail(ErrorCode::kInvalidArgument, "response_type must be id_token");
  auto response_mode = required(fields, "response_mode", limits.max_other);
  if (!response_mode) return tl::unexpected(response_mode.error());
  if (*response_mode != "form_post") return fail(ErrorCode::kInvalidArgument, "response_mode must be form_post");

  auto client_id = required(fields, "client_id", limits.max_other);
  if (!client_id) return tl::unexpected(client_id.error());
  req.client_id = std::move(*client_id);
  auto redirect = required(fields, "redirect_uri", limits.max_other);
  if (!redirect) return tl::unexpected(redirect.error());
  auto flavor = classify_redirect_uri(cloud, *redirect, extra_redirect_uri);
  if (!flavor) return tl::unexpected(flavor.error());
  req.flavor = *flavor;
  req.redirect_uri = std::move(*redirect);

  auto nonce = required(fields, "nonce", limits.max_nonce);
  if (!nonce) return tl::unexpected(nonce.error());
  req.nonce = std::move(*nonce);
  auto state = single(fields, "state", limits.max_state);
  if (!state) return tl::unexpected(state.error());
  req.state = std::move(*state);
  auto hint = required(fields, "id_token_hint", limits.max_hint);
  if (!hint) return tl::unexpected(hint.error());
  req.id_token_hint = std::move(*hint);

  auto claims_text = single(fields, "claims", limits.max_claims);
  if (!claims_text) return tl::unexpected(claims_text.error());
  if (!*claims_text || (*claims_text)->empty()) {
    if (req.flavor == Flavor::kCustomControl)
      return fail(ErrorCode::kInvalidArgument, "claims is required for a custom control");
    return req;  // EAM without claims: any acr/amr pair is acceptable
  }
  const json claims = json::parse(**claims_text, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object() || !claims.contains("id_token") || !claims["id_token"].is_object())
    return fail(ErrorCode::kInvalidArgument, "claims must be a JSON object with an id_token object");
  const json& id_token = claims["id_token"];

  if (req.flavor == Flavor::kEam) {
    if (auto it = id_token.find("acr"); it != id_token.end()) {
      auto v = string_values(*it, "acr");
      if (!v) return tl::unexpected(v.error());
      req.acr_values = std::move(*v);
    }
    if (auto it = id_token.find("amr"); it != id_token.end()) {
      auto v = string_values(*it, "amr");
      if (!v) return tl::unexpected(v.error());
      req.amr_values = std::move(*v);
    }
    return req;
  }

  // Custom control: exactly one requested claim with a string value, e.g.
  // {"AvowMfa":{"essential":true,"value":"MfaDone"}}.
  if (id_token.size() != 1) return fail(ErrorCode::kInvalidArgument, "claims must request exactly one claim");
  const auto it = id_token.begin();
  if (it.key().empty() || it.key().size() > 128) return fail(ErrorCode::kInvalidArgument, "claims: bad claim name");
  auto values = string_values(it.value(), it.key());
  if (!values) return tl::unexpected(values.error());
  if (values->size() != 1) return fail(ErrorCode::kInvalidArgument, "claims: the claim must request one value");
  req.custom_claim = RequestedClaim{it.key(), std::move(values->front())};
  return req;
}

Result<std::pair<std::string, std::string>> choose_acr_amr(const AuthorizeRequest& req, std::string_view method) {
  const bool possession = std::find(kPossession.begin(), kPossession.end(), method) != kPossession.end();
  const bool inherence = std::find(kInherence.begin(), kInherence.end(), method) != kInherence.end();
  if (!possession && !inherence) return fail(ErrorCode::kInvalidArgument, "unknown authentication method");
  if (!req.amr_values.empty() &&
      std::find(req.amr_values.begin(), req.amr_values.end(), method) == req.amr_values.end())
    return fail(ErrorCode::kConflict, "Entra did not accept the authentication method " + std::string(method));
  if (req.acr_values.empty())
    return std::pair<std::string, std::string>{possession ? "possession" : "inherence", std::string(method)};
  for (const auto& acr : req.acr_values)
    if (acr_covers(acr, possession)) return std::pair<std::string, std::string>{acr, std::string(method)};
  return fail(ErrorCode::kConflict, "no requested acr value covers the authentication method");
}

}  // namespace avow::entra
