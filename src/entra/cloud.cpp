#include "entra/cloud.h"

#include <strings.h>

#include "common/random.h"

namespace avow::entra {
namespace {

constexpr CloudProfile kProfiles[] = {
    {Cloud::kGlobal, "login.microsoftonline.com", "https://sts.windows.net/",
     "https://login.microsoftonline.com/common/discovery/v2.0/keys"},
    {Cloud::kUsGov, "login.microsoftonline.us", "https://login.microsoftonline.us/",
     "https://login.microsoftonline.us/common/discovery/v2.0/keys"},
    {Cloud::kChina, "login.partner.microsoftonline.cn", "https://sts.chinacloudapi.cn/",
     "https://login.partner.microsoftonline.cn/common/discovery/v2.0/keys"},
};

constexpr std::string_view kEamPath = "/common/federation/externalauthprovider";
constexpr std::string_view kCustomControlPath = "/common/federation/OAuth2ClaimsProvider";

bool equals_ascii_nocase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

const CloudProfile& profile(Cloud cloud) { return kProfiles[static_cast<int>(cloud)]; }

std::string CloudProfile::v2_issuer(std::string_view tenant) const {
  return "https://" + std::string(login_host) + "/" + std::string(tenant) + "/v2.0";
}

std::string CloudProfile::v1_issuer(std::string_view tenant) const {
  return std::string(v1_prefix) + std::string(tenant) + "/";
}

std::string CloudProfile::eam_redirect_uri() const {
  return "https://" + std::string(login_host) + std::string(kEamPath);
}

std::string CloudProfile::custom_control_redirect_uri() const {
  return "https://" + std::string(login_host) + std::string(kCustomControlPath);
}

Result<Flavor> classify_redirect_uri(Cloud cloud, std::string_view redirect_uri, std::string_view extra_allowed) {
  const CloudProfile& p = profile(cloud);
  if (redirect_uri == p.eam_redirect_uri()) return Flavor::kEam;
  const std::string origin = "https://" + std::string(p.login_host);
  if (redirect_uri.size() == origin.size() + kCustomControlPath.size() && redirect_uri.starts_with(origin) &&
      equals_ascii_nocase(redirect_uri.substr(origin.size()), kCustomControlPath))
    return Flavor::kCustomControl;
  if (!extra_allowed.empty() && redirect_uri == extra_allowed) return Flavor::kEam;
  return fail(ErrorCode::kInvalidArgument,
              "redirect_uri is not a Microsoft Entra redirect URI for this integration's cloud");
}

Result<HintIssuer> parse_hint_issuer(Cloud cloud, std::string_view iss) {
  const CloudProfile& p = profile(cloud);
  auto guid_then = [](std::string_view rest, std::string_view suffix) -> Result<std::string> {
    if (rest.size() != 36 + suffix.size() || !rest.ends_with(suffix) || !is_guid(rest.substr(0, 36)))
      return fail(ErrorCode::kUnauthenticated, "hint issuer does not name a tenant GUID");
    return normalize_guid(rest.substr(0, 36));
  };
  const std::string v2_prefix = "https://" + std::string(p.login_host) + "/";
  if (iss.starts_with(v2_prefix) && iss.ends_with("/v2.0")) {
    auto tenant = guid_then(iss.substr(v2_prefix.size()), "/v2.0");
    if (!tenant) return tl::unexpected(tenant.error());
    return HintIssuer{2, std::move(*tenant)};
  }
  if (iss.starts_with(p.v1_prefix)) {
    auto tenant = guid_then(iss.substr(p.v1_prefix.size()), "/");
    if (!tenant) return tl::unexpected(tenant.error());
    return HintIssuer{1, std::move(*tenant)};
  }
  return fail(ErrorCode::kUnauthenticated, "hint issuer is not Microsoft Entra ID for this integration's cloud");
}

}  // namespace avow::entra
