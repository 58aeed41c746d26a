// avow/entra/cloud.h — the Microsoft clouds an integration can belong to.
//
// A cloud fixes the hosts Avow trusts: the issuers of the id_token_hint, the URL of Microsoft's signing keys,
// and the only redirect URIs a response may ever be posted to.
//
//   const CloudProfile& p = profile(integration.cloud);      // store::Cloud, parsed by domain::parse_cloud
//   p.v2_issuer("72f988bf-…")  → "https://login.microsoftonline.us/72f988bf-…/v2.0"
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "store/records.h"

namespace avow::entra {

// The cloud enum and its spelling ("global" | "usgov" | "china") belong to the model (store/records.h).
using Cloud = store::Cloud;

struct CloudProfile {
  Cloud cloud;
  std::string_view login_host;  // e.g. "login.microsoftonline.com"
  std::string_view v1_prefix;   // v1 issuer = v1_prefix + tenant + "/"
  std::string_view keys_url;    // Microsoft's common v2 signing keys for this cloud

  std::string v2_issuer(std::string_view tenant) const;
  std::string v1_issuer(std::string_view tenant) const;
  // https://<login_host>/common/federation/externalauthprovider
  std::string eam_redirect_uri() const;
  // https://<login_host>/common/federation/OAuth2ClaimsProvider
  std::string custom_control_redirect_uri() const;
};

const CloudProfile& profile(Cloud cloud);

// Which of Microsoft's two callers sent a request; decided by the redirect URI.
enum class Flavor { kEam, kCustomControl };

// Decides which flavour `redirect_uri` belongs to, or refuses it. Only Microsoft's exact URIs for `cloud`
// are accepted: no trailing slash, no case change, no http, no port, no query, no look-alike host. The
// custom-control path alone is compared without regard to ASCII case (Microsoft spells it both
// `OAuth2ClaimsProvider` and `Oauth2ClaimsProvider`). `extra_allowed` is one further exact URI accepted as
// EAM (the Entra simulator's, only when the server runs with --dev); empty means none.
Result<Flavor> classify_redirect_uri(Cloud cloud, std::string_view redirect_uri, std::string_view extra_allowed = {});

// The issuer of a hint, taken apart: which token version and which tenant (the tenant the user signed in
// to, i.e. the integration's Directory ID).
struct HintIssuer {
  int version = 2;     // 1 (sts.windows.net style) or 2 (…/v2.0)
  std::string tenant;  // lowercase GUID
};

// Parses `iss` against `cloud`'s two issuer forms. Anything else — another cloud's host, a look-alike host,
// a missing or malformed tenant GUID, extra path segments — is refused with a reason.
Result<HintIssuer> parse_hint_issuer(Cloud cloud, std::string_view iss);

}  // namespace avow::entra
