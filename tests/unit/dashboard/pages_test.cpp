#include "dashboard/pages.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/html.h"
#include "web/qr.h"

namespace avow::dashboard {
namespace {

using nlohmann::json;

constexpr char kNonce[] = "N0nce123";
constexpr char kCsrf[] = "CSRFtok456";
constexpr char kEvil[] = "<script>alert(1)</script>\"'&";
constexpr char kEvilEscaped[] = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;";
constexpr char kScanUrl[] = "https://avow.example.com/s/SCANcode123";

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

bool has(const std::string& page, const std::string& what) { return page.find(what) != std::string::npos; }

bool has_testid(const std::string& page, const std::string& id) { return has(page, "data-testid=\"" + id + "\""); }

json base_view(std::string title, bool signed_in, std::string nav = "") {
  json v = {
      {"csp_nonce", kNonce}, {"title", std::move(title)}, {"csrf", kCsrf}, {"signed_in", signed_in}, {"base", ""}};
  if (signed_in) {
    v["me"] = {{"id", "adm1"},
               {"display_name", "Ada Admin"},
               {"email", "ada@contoso.example"},
               {"role", "owner"},
               {"is_owner", true}};
    v["org"] = {{"id", "org1"}, {"name", "Contoso"}};
    if (!nav.empty()) v["nav_" + nav] = true;
  }
  return v;
}

json scan(std::string id = "sc1") {
  return {
      {"url", kScanUrl}, {"qr_svg", *web::qr_svg(kScanUrl, "ScanCode")}, {"id", std::move(id)}, {"expires_in", 170}};
}

json audit_row(int id) {
  return {{"id", id},
          {"at_text", "2024-05-01 10:00 UTC"},
          {"kind", "integration.created"},
          {"actor", "Ada Admin"},
          {"subject", "Contoso Entra"},
          {"user", "usr1"},
          {"integration", "int1"},
          {"ip", "203.0.113.7"},
          {"details", "{\"name\":\"Contoso Entra\"}"}};
}

struct PageCase {
  std::string page;
  json view;
  std::vector<std::string> testids;
  bool script;
};

std::vector<PageCase> cases() {
  std::vector<PageCase> out;
  {
    json v = base_view("Sign in to Avow", false);
    v["scan"] = scan();
    v["wait_url"] = "/dashboard/scan/sc1/wait";
    v["claim_url"] = "/dashboard/scan/sc1/claim";
    v["push_url"] = "/dashboard/signin/push";
    v["signup_open"] = true;
    v["values"] = {{"email", "ada@contoso.example"}};
    v["errors"] = {{"email", "Enter the email address of your admin account."}};
    out.push_back({"signin", v, {"signin-qr", "signin-email", "signin-push", "signup-link", "signin-status"}, true});
  }
  {
    json v = base_view("Create your organization", false);
    v["values"] = {{"org_name", "Contoso"}, {"display_name", "Ada"}, {"email", "ada@contoso.example"}};
    v["errors"] = {{"org_name", "Enter a name."}, {"display_name", "Too long."}, {"email", "Not an email."}};
    out.push_back({"signup", v, {"signup-org", "signup-name", "signup-email", "signup-submit"}, false});
  }
  {
    json v = base_view("Scan to create Contoso", false);
    v["heading"] = "Scan with the Avow app";
    v["text"] = "Scan with the Avow app to create your organization";
    v["scan"] = scan();
    v["wait_url"] = "/dashboard/scan/sc1/wait";
    v["claim_url"] = "/dashboard/scan/sc1/claim";
    out.push_back({"scan_wait", v, {"scan-qr", "scan-status"}, true});
  }
  {
    json v = base_view("Approve the sign-in", false);
    v["number"] = "42";
    v["mode"] = "signin";
    v["wait_url"] = "/dashboard/push/ch1/wait";
    v["claim_url"] = "/dashboard/push/ch1/claim";
    v["retry_url"] = "/dashboard/signin";
    v["next"] = "/dashboard/integrations";
    out.push_back({"push_wait", v, {"push-number", "push-status"}, true});
  }
  {
    json v = base_view("Join Contoso", false);
    v["org_name"] = "Contoso";
    v["role"] = "admin";
    v["invited_name"] = "Bob";
    v["scan"] = scan();
    v["wait_url"] = "/dashboard/scan/sc2/wait";
    v["claim_url"] = "/dashboard/invite/CODE/claim";
    out.push_back({"invite", v, {"invite-qr"}, true});
  }
  {
    json v = base_view("Invite created", true, "admins");
    v["invite"] = {{"url", "https://avow.example.com/dashboard/invite/CODE"},
                   {"expires_at_text", "2024-05-08 10:00 UTC"},
                   {"display_name", "Bob"},
                   {"email", "bob@contoso.example"},
                   {"role", "admin"}};
    out.push_back({"invite_created", v, {"invite-link", "copy-invite"}, true});
  }
  {
    json v = base_view("Sign-up is closed", false);
    v["message"] = "Ask one of its admins for an invite link.";
    v["link"] = {{"href", "/dashboard/signin"}, {"text", "Sign in instead"}};
    out.push_back({"message", v, {"message", "message-link"}, false});
  }
  {
    json v = base_view("Overview", true, "overview");
    v["counts"] = {{"integrations", 0}, {"users", 3}, {"devices", 2}, {"admins", 1}};
    v["recent"] = json::array({audit_row(2), audit_row(1)});
    v["has_integrations"] = false;
    v["flash"] = "Welcome to Avow.";
    out.push_back({"overview", v, {"create-integration", "recent-row", "flash", "nav-overview"}, false});
  }
  {
    json v = base_view("Integrations", true, "integrations");
    v["integrations"] = json::array({{{"id", "int1"},
                                      {"name", "Contoso Entra"},
                                      {"directory_id", "11111111-2222-3333-4444-555555555555"},
                                      {"client_id", "66666666-7777-8888-9999-000000000000"},
                                      {"status", "enabled"},
                                      {"enabled", true},
                                      {"last_success_text", "never"}}});
    v["empty"] = false;
    out.push_back({"integrations", v, {"integration-row", "new-integration"}, false});
  }
  {
    json v = base_view("New Entra integration", true, "integrations");
    v["mode_create"] = true;
    v["action"] = "/dashboard/integrations";
    v["values"] = {{"name", "Contoso"},
                   {"directory_id", "11111111-2222-3333-4444-555555555555"},
                   {"app_id", ""},
                   {"guest_policy", "list"},
                   {"guest_tenants", "a\nb"},
                   {"claim_type", "AvowMfa"},
                   {"claim_value", "MfaDone"},
                   {"cloud", "usgov"}};
    v["errors"] = {{"directory_id", "Enter a GUID."}, {"guest_tenants", "Bad tenant."}};
    out.push_back(
        {"integration_form", v, {"field-name", "field-directory-id", "field-app-id", "save-integration"}, false});
  }
  {
    json v = base_view("Contoso Entra", true, "integrations");
    v["integration"] = {{"id", "int1"},
                        {"name", "Contoso Entra"},
                        {"status", "enabled"},
                        {"enabled", true},
                        {"directory_id", "11111111-2222-3333-4444-555555555555"},
                        {"app_id", "aaaaaaaa-2222-3333-4444-555555555555"},
                        {"client_id", "66666666-7777-8888-9999-000000000000"},
                        {"cloud", "global"},
                        {"guest_policy_text", "Anyone"},
                        {"created_text", "2024-05-01 10:00 UTC"},
                        {"last_success_text", "never"},
                        {"seen_success", false}};
    v["eam"] = {{"client_id", "66666666-7777-8888-9999-000000000000"},
                {"discovery_url", "https://avow.example.com/entra/x/.well-known/openid-configuration"},
                {"app_id", "aaaaaaaa-2222-3333-4444-555555555555"}};
    v["custom_control_json"] = "{\n  \"AppId\": \"x\"\n}";
    v["steps_eam"] = json::array({{{"text", "Open Entra."}}, {{"text", "Add external method."}}});
    v["steps_cc"] = json::array({{{"text", "Open Conditional Access."}}});
    v["edit_url"] = "/dashboard/integrations/int1/edit";
    v["disable_url"] = "/dashboard/integrations/int1/disable";
    v["enable_url"] = "/dashboard/integrations/int1/enable";
    v["delete_url"] = "/dashboard/integrations/int1/delete";
    out.push_back({"integration",
                   v,
                   {"eam-client-id", "eam-discovery-url", "eam-app-id", "custom-control-json", "copy-eam-client-id",
                    "copy-eam-discovery-url", "copy-eam-app-id", "copy-custom-control-json", "success-status",
                    "edit-integration", "disable-integration", "delete-integration"},
                   true});
  }
  {
    json v = base_view("Users", true, "users");
    v["q"] = "ada";
    v["status"] = "locked";
    v["users"] = json::array({{{"id", "usr1"},
                               {"upn", "ada@contoso.example"},
                               {"display_name", "Ada"},
                               {"status", "locked"},
                               {"locked", true},
                               {"guest", true},
                               {"devices", 1},
                               {"last_sign_in_text", "never"}}});
    v["total"] = 1;
    v["page"] = 1;
    v["next_url"] = "/dashboard/users?q=ada&page=2";
    v["empty"] = false;
    out.push_back({"users", v, {"user-search", "user-status", "user-row", "users-next"}, false});
  }
  {
    json v = base_view("Ada", true, "users");
    v["user"] = {{"id", "usr1"},
                 {"upn", "ada@contoso.example"},
                 {"display_name", "Ada"},
                 {"tenant_id", "11111111-2222-3333-4444-555555555555"},
                 {"object_id", "99999999-2222-3333-4444-555555555555"},
                 {"status", "active"},
                 {"locked", false},
                 {"guest", false},
                 {"allow_new_device", false},
                 {"codes_locked", true},
                 {"failed_attempts", 2},
                 {"created_text", "2024-05-01 10:00 UTC"},
                 {"last_sign_in_text", "never"}};
    v["devices"] = json::array({{{"id", "dev1"},
                                 {"name", "Ada's phone"},
                                 {"status", "active"},
                                 {"bound_text", "2024-05-01"},
                                 {"last_seen_text", "2024-05-02"}}});
    v["bindings"] = json::array({{{"id", "b1"},
                                  {"device_name", "Ada's phone"},
                                  {"status", "active"},
                                  {"created_text", "2024-05-01"},
                                  {"revoked_text", ""}}});
    v["challenges"] = json::array({{{"id", "ch1"},
                                    {"kind", "entra"},
                                    {"state", "approved"},
                                    {"created_text", "2024-05-02"},
                                    {"integration", "Contoso Entra"}}});
    v["reset_url"] = "/dashboard/users/usr1/reset";
    v["allow_url"] = "/dashboard/users/usr1/allow-device";
    v["lock_url"] = "/dashboard/users/usr1/lock";
    v["unlock_url"] = "/dashboard/users/usr1/unlock";
    v["unlock_codes_url"] = "/dashboard/users/usr1/unlock-codes";
    out.push_back({"user", v, {"reset-binding", "allow-device", "lock-user", "unlock-codes", "challenge-row"}, false});
  }
  {
    json v = base_view("Devices", true, "devices");
    v["devices"] = json::array({{{"id", "dev1"},
                                 {"name", "Ada's phone"},
                                 {"status", "active"},
                                 {"active", true},
                                 {"users", "ada@contoso.example, bob@contoso.example"},
                                 {"last_seen_text", "2024-05-02"},
                                 {"rename_url", "/dashboard/devices/dev1/rename"},
                                 {"revoke_url", "/dashboard/devices/dev1/revoke"}}});
    v["empty"] = false;
    out.push_back({"devices", v, {"device-row", "rename-device", "revoke-device"}, false});
  }
  {
    json v = base_view("Admins", true, "admins");
    v["admins"] = json::array({{{"id", "adm1"},
                                {"display_name", "Ada Admin"},
                                {"email", "ada@contoso.example"},
                                {"role", "owner"},
                                {"status", "active"},
                                {"is_me", true},
                                {"removable", false},
                                {"remove_url", "/dashboard/admins/adm1/remove"}},
                               {{"id", "adm2"},
                                {"display_name", "Bob"},
                                {"email", "bob@contoso.example"},
                                {"role", "admin"},
                                {"status", "invited"},
                                {"is_me", false},
                                {"removable", true},
                                {"remove_url", "/dashboard/admins/adm2/remove"}}});
    v["values"] = {{"display_name", "Carol"}, {"email", "carol@contoso.example"}, {"role", "owner"}};
    v["errors"] = {{"email", "An admin with this email already exists."}};
    v["can_invite_owner"] = true;
    out.push_back({"admins",
                   v,
                   {"admin-row", "invite-name", "invite-email", "invite-role", "invite-submit", "remove-admin"},
                   false});
  }
  {
    json v = base_view("Audit log", true, "audit");
    v["filters"] = {
        {"user", "usr1"}, {"integration", "int1"}, {"kind", "signin."}, {"from", "2024-05-01"}, {"to", "2024-05-31"}};
    v["kinds"] = json::array({{{"value", ""}, {"label", "All events"}, {"selected", false}},
                              {{"value", "signin."}, {"label", "Sign-ins"}, {"selected", true}}});
    v["integrations"] = json::array({{{"id", "int1"}, {"name", "Contoso Entra"}, {"selected", true}}});
    v["events"] = json::array({audit_row(3), audit_row(2)});
    v["next_url"] = "/dashboard/audit?before=2";
    v["first_url"] = "/dashboard/audit?";
    v["csv_url"] = "/dashboard/audit.csv?kind=signin.";
    v["json_url"] = "/dashboard/audit.json?kind=signin.";
    v["empty"] = false;
    out.push_back({"audit", v, {"audit-row", "audit-filter", "export-csv", "export-json"}, false});
  }
  {
    json v = base_view("Settings", true, "settings");
    v["values"] = {{"challenge_ttl_seconds", "120"},
                   {"number_digits", "2"},
                   {"max_pushes_per_hour", "20"},
                   {"lockout_max_failures", "10"},
                   {"code_lockout_threshold", "5"}};
    v["errors"] = {{"number_digits", "Enter 2 or 3."}};
    out.push_back({"settings", v, {"settings-submit"}, false});
  }
  {
    json v = base_view("Confirm it's you", true);
    v["next"] = "/dashboard/integrations/int1";
    v["action"] = "/dashboard/reauth";
    out.push_back({"reauth", v, {"reauth-push"}, false});
  }
  return out;
}

PageCase case_of(const std::string& page) {
  for (PageCase& c : cases())
    if (c.page == page) return c;
  ADD_FAILURE() << "no case " << page;
  return {};
}

// Every string of `v` replaced by kEvil, except the markup the server makes itself (the QR) and the nonce.
json poisoned(const json& v, const std::string& key = "") {
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, item] : v.items()) out[k] = (k == "qr_svg" || k == "csp_nonce") ? item : poisoned(item, k);
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& item : v) out.push_back(poisoned(item, key));
    return out;
  }
  if (v.is_string()) return kEvil;
  return v;
}

// Each <form …>…</form> of the page.
std::vector<std::string> forms(const std::string& page) {
  std::vector<std::string> out;
  for (std::size_t p = page.find("<form"); p != std::string::npos; p = page.find("<form", p + 1)) {
    std::size_t end = page.find("</form>", p);
    EXPECT_NE(end, std::string::npos);
    out.push_back(page.substr(p, end - p));
  }
  return out;
}

TEST(DashboardPages, EveryPageRendersWithItsTestIds) {
  for (const PageCase& c : cases()) {
    SCOPED_TRACE(c.page);
    auto page = render_page(c.page, c.view);
    ASSERT_TRUE(page) << page.error().message;
    for (const std::string& id : c.testids) EXPECT_TRUE(has_testid(*page, id)) << id;
    EXPECT_TRUE(has(*page, "<!doctype html>"));
    EXPECT_TRUE(has(*page, "<html lang=\"en\">"));
    EXPECT_TRUE(has(*page, "name=\"viewport\""));
    EXPECT_TRUE(has(*page, "<main id=\"main\""));
    EXPECT_TRUE(has(*page, "<a class=\"skip\" href=\"#main\">"));
    EXPECT_EQ(count(*page, "<h1>"), 1u);
    EXPECT_TRUE(has(*page, "<h1>" + html_escape(c.view["title"].get<std::string>()) + "</h1>"));
  }
}

TEST(DashboardPages, StyleAndScriptCarryTheNonceAndNothingIsExternal) {
  for (const PageCase& c : cases()) {
    SCOPED_TRACE(c.page);
    auto page = render_page(c.page, c.view);
    ASSERT_TRUE(page) << page.error().message;
    EXPECT_EQ(count(*page, "<style"), 1u);
    EXPECT_TRUE(has(*page, "<style nonce=\"N0nce123\">"));
    EXPECT_EQ(count(*page, "<script"), c.script ? 1u : 0u);
    if (c.script) {
      EXPECT_TRUE(has(*page, "<script nonce=\"N0nce123\">"));
    }
    // The one link: an inline icon (data: URL), so the browser asks for no /favicon.ico either.
    EXPECT_EQ(count(*page, "<link"), 1u);
    EXPECT_TRUE(has(*page, "<link rel=\"icon\" href=\"data:image/svg+xml,"));
    EXPECT_FALSE(has(*page, " src="));
    EXPECT_FALSE(has(*page, " style=\""));                                 // style attributes would break the CSP
    EXPECT_FALSE(std::regex_search(*page, std::regex(R"(\son[a-z]+=)")));  // no inline handlers
    EXPECT_FALSE(has(*page, "url("));
    EXPECT_FALSE(has(*page, "@import"));
    EXPECT_FALSE(has(*page, "setInterval"));
  }
}

TEST(DashboardPages, EscapesEveryTextField) {
  for (const PageCase& c : cases()) {
    SCOPED_TRACE(c.page);
    auto page = render_page(c.page, poisoned(c.view));
    ASSERT_TRUE(page) << page.error().message;
    EXPECT_FALSE(has(*page, "<script>alert")) << *page;
    EXPECT_FALSE(has(*page, "\"'&"));
    EXPECT_TRUE(has(*page, kEvilEscaped));
    EXPECT_EQ(count(*page, "<script"), c.script ? 1u : 0u);
  }
}

TEST(DashboardPages, EveryPostFormCarriesTheCsrfToken) {
  const std::string csrf = std::string("<input type=\"hidden\" name=\"csrf\" value=\"") + kCsrf + "\">";
  for (const PageCase& c : cases()) {
    SCOPED_TRACE(c.page);
    auto page = render_page(c.page, c.view);
    ASSERT_TRUE(page);
    for (const std::string& form : forms(*page)) {
      if (has(form, "method=\"get\"")) {
        EXPECT_FALSE(has(form, "name=\"csrf\"")) << form;  // never in a URL
        continue;
      }
      EXPECT_TRUE(has(form, "method=\"post\"")) << form;
      EXPECT_TRUE(has(form, csrf)) << form;
    }
  }
}

TEST(DashboardPages, UnknownPageIsNotFound) {
  for (std::string_view name : {"nope", "layout", "style", "", "signin.mustache", "../signin"}) {
    auto page = render_page(name, base_view("x", false));
    ASSERT_FALSE(page) << name;
    EXPECT_EQ(page.error().code, ErrorCode::kNotFound);
  }
}

TEST(DashboardPages, EveryFieldHasALabelAndIdsAreUnique) {
  const std::regex id_re("\\sid=\"([^\"]+)\"");
  const std::regex control_re("<(input|select|textarea)\\b([^>]*)>");
  for (const PageCase& c : cases()) {
    SCOPED_TRACE(c.page);
    auto page = render_page(c.page, c.view);
    ASSERT_TRUE(page);
    std::set<std::string> ids;
    for (auto it = std::sregex_iterator(page->begin(), page->end(), id_re); it != std::sregex_iterator(); ++it)
      EXPECT_TRUE(ids.insert((*it)[1]).second) << "duplicate id " << (*it)[1];
    for (auto it = std::sregex_iterator(page->begin(), page->end(), control_re); it != std::sregex_iterator(); ++it) {
      const std::string attrs = (*it)[2];
      if (has(attrs, "type=\"hidden\"")) continue;
      std::smatch m;
      ASSERT_TRUE(std::regex_search(attrs, m, id_re)) << attrs;
      EXPECT_TRUE(has(*page, "<label for=\"" + m[1].str() + "\"") ||
                  has(*page, "<label class=\"sr-only\" for=\"" + m[1].str() + "\""))
          << "no label for " << m[1];
    }
    // aria-describedby points at elements that exist.
    const std::regex described("aria-describedby=\"([^\"]+)\"");
    for (auto it = std::sregex_iterator(page->begin(), page->end(), described); it != std::sregex_iterator(); ++it) {
      std::istringstream refs((*it)[1]);
      for (std::string ref; refs >> ref;) EXPECT_TRUE(ids.count(ref)) << "aria-describedby " << ref;
    }
  }
}

TEST(DashboardPages, FieldErrorsAreShownNextToTheFieldAndValuesRefilled) {
  json v = case_of("signup").view;
  v["errors"] = {{"email", "Not an email."}};
  auto page = render_page("signup", v);
  ASSERT_TRUE(page);
  EXPECT_TRUE(has(*page, "<p class=\"error\" id=\"error-email\">Not an email.</p>"));
  EXPECT_TRUE(has(*page, "aria-describedby=\"hint-email error-email\" aria-invalid=\"true\""));
  EXPECT_TRUE(has(*page, "value=\"ada@contoso.example\""));
  EXPECT_TRUE(has(*page, "value=\"Contoso\""));
  EXPECT_FALSE(has(*page, "id=\"error-org_name\""));
  EXPECT_EQ(count(*page, "aria-invalid=\"true\""), 1u);
  EXPECT_TRUE(has(*page, "Email (for contact)"));
}

TEST(DashboardPages, SignedInLayoutHasTheSidebarAndSignedOutACard) {
  auto in = render_page("integrations", case_of("integrations").view);
  ASSERT_TRUE(in);
  EXPECT_TRUE(has(*in, "<body class=\"app page-integrations\">"));
  EXPECT_TRUE(has(*in, "data-testid=\"nav-integrations\" aria-current=\"page\""));
  EXPECT_EQ(count(*in, " aria-current=\"page\""), 1u);
  for (const char* label : {">Overview<", ">Integrations<", ">Users<", ">Devices<", ">Admins<", ">Audit log<",
                            ">Settings<", ">Sign out<", ">Sign out everywhere<", ">Contoso<", ">Ada Admin<"})
    EXPECT_TRUE(has(*in, label)) << label;
  EXPECT_TRUE(has(*in, "action=\"/dashboard/signout\""));
  EXPECT_TRUE(has(*in, "action=\"/dashboard/signout-everywhere\""));

  auto out = render_page("signin", case_of("signin").view);
  ASSERT_TRUE(out);
  EXPECT_TRUE(has(*out, "<body class=\"public page-signin\">"));
  EXPECT_TRUE(has(*out, "<main id=\"main\" class=\"card\""));
  EXPECT_FALSE(has(*out, "nav-overview"));
  EXPECT_FALSE(has(*out, "signout"));

  // A path prefix (public URL with a path) applies to every link.
  json v = case_of("integrations").view;
  v["base"] = "/avow";
  auto prefixed = render_page("integrations", v);
  ASSERT_TRUE(prefixed);
  EXPECT_TRUE(has(*prefixed, "href=\"/avow/dashboard/integrations/new\""));
  EXPECT_TRUE(has(*prefixed, "action=\"/avow/dashboard/signout\""));
  EXPECT_FALSE(has(*prefixed, "\"/dashboard"));
}

TEST(DashboardPages, LiveWaitsCarryTheirUrlsAndTheQr) {
  auto signin = render_page("signin", case_of("signin").view);
  ASSERT_TRUE(signin);
  const std::string svg = *web::qr_svg(kScanUrl, "ScanCode");
  EXPECT_TRUE(has(*signin, "<div class=\"qr\" data-testid=\"signin-qr\" data-url=\"" + std::string(kScanUrl) + "\">" +
                               svg + "</div>"));
  EXPECT_TRUE(has(*signin, "data-wait-url=\"/dashboard/scan/sc1/wait\""));
  EXPECT_TRUE(has(*signin, "data-on-expired=\"reload\""));
  EXPECT_TRUE(
      has(*signin, "<form id=\"claim-form\" class=\"claim\" method=\"post\" action=\"/dashboard/scan/sc1/claim\">"));
  EXPECT_TRUE(has(*signin, "<form method=\"post\" action=\"/dashboard/signin/push\""));
  EXPECT_TRUE(has(*signin, "role=\"status\" aria-live=\"polite\""));
  EXPECT_FALSE(has(*signin, "name=\"next\""));

  json closed = case_of("signin").view;
  closed["signup_open"] = false;
  EXPECT_FALSE(has_testid(*render_page("signin", closed), "signup-link"));

  auto push = render_page("push_wait", case_of("push_wait").view);
  ASSERT_TRUE(push);
  EXPECT_TRUE(has(*push, "data-kind=\"push\""));
  EXPECT_TRUE(has(*push, "data-retry-url=\"/dashboard/signin\""));
  EXPECT_TRUE(has(*push, "<input type=\"hidden\" name=\"next\" value=\"/dashboard/integrations\">"));
  EXPECT_TRUE(has(*push, "</span>42</p>"));
  EXPECT_TRUE(has(*push, "claim.submit()"));

  auto scan_wait = render_page("scan_wait", case_of("scan_wait").view);
  ASSERT_TRUE(scan_wait);
  // A POST's result: never reloaded, the script offers to start again.
  const std::string live = scan_wait->substr(scan_wait->find("<div class=\"live\""));
  const std::string live_tag = live.substr(0, live.find('>'));
  EXPECT_TRUE(has(live_tag, "data-restart-url=\"/dashboard/signup\"")) << live_tag;
  EXPECT_FALSE(has(live_tag, "data-on-expired")) << live_tag;
  EXPECT_TRUE(has(*scan_wait, "Scan with the Avow app to create your organization"));
}

TEST(DashboardPages, SelectsShowTheCurrentChoice) {
  auto form = render_page("integration_form", case_of("integration_form").view);
  ASSERT_TRUE(form);
  EXPECT_TRUE(has(*form, "<option value=\"usgov\" selected>"));
  EXPECT_TRUE(has(*form, "<option value=\"list\" selected>"));
  EXPECT_EQ(count(*form, " selected>"), 2u);
  EXPECT_TRUE(has(*form, "data-testid=\"advanced\" open>"));  // an advanced field has an error
  EXPECT_TRUE(has(*form, ">a\nb</textarea>"));
  EXPECT_TRUE(has(*form, "Entra admin center → Identity → Overview → Tenant ID"));

  auto users = render_page("users", case_of("users").view);
  ASSERT_TRUE(users);
  EXPECT_TRUE(has(*users, "<option value=\"locked\" selected>"));
  EXPECT_TRUE(has(*users, "method=\"get\""));

  auto admins = render_page("admins", case_of("admins").view);
  ASSERT_TRUE(admins);
  EXPECT_TRUE(has(*admins, "<option value=\"owner\" selected>"));
  json v = case_of("admins").view;
  v["can_invite_owner"] = false;
  EXPECT_FALSE(has(*render_page("admins", v), "value=\"owner\""));

  auto audit = render_page("audit", case_of("audit").view);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(has(*audit, "<option value=\"signin.\" selected>Sign-ins</option>"));
  EXPECT_TRUE(has(*audit, "<option value=\"int1\" selected>Contoso Entra</option>"));
  EXPECT_TRUE(has(*audit, "value=\"2024-05-01\""));
}

TEST(DashboardPages, DangerousActionsAreRedPostButtons) {
  const std::vector<std::pair<std::string, std::string>> dangerous = {{"integration", "delete-integration"},
                                                                      {"user", "reset-binding"},
                                                                      {"devices", "revoke-device"},
                                                                      {"admins", "remove-admin"}};
  for (const auto& [name, id] : dangerous) {
    SCOPED_TRACE(id);
    auto page = render_page(name, case_of(name).view);
    ASSERT_TRUE(page);
    EXPECT_TRUE(
        std::regex_search(*page, std::regex("<form method=\"post\" action=\"[^\"]+\">\\s*<input type=\"hidden\" "
                                            "name=\"csrf\" value=\"CSRFtok456\">\\s*<button type=\"submit\" "
                                            "class=\"btn btn-danger[^\"]*\" data-testid=\"" +
                                            id + "\"")));
  }
  // Only removable admins get the button.
  EXPECT_EQ(count(*render_page("admins", case_of("admins").view), "data-testid=\"remove-admin\""), 1u);
}

TEST(DashboardPages, EmptyStatesSayWhatToDoNext) {
  json v = case_of("integrations").view;
  v["integrations"] = json::array();
  v["empty"] = true;
  auto page = render_page("integrations", v);
  ASSERT_TRUE(page);
  EXPECT_TRUE(has(*page, "No integrations yet. Create one to connect your Entra tenant."));
  EXPECT_FALSE(has(*page, "<table"));
  EXPECT_TRUE(has_testid(*page, "new-integration"));

  auto overview = render_page("overview", case_of("overview").view);
  EXPECT_TRUE(has(*overview, "Create your first Entra integration"));
  json with = case_of("overview").view;
  with["has_integrations"] = true;
  with["recent"] = json::array();
  auto busy = render_page("overview", with);
  EXPECT_FALSE(has_testid(*busy, "create-integration"));
  EXPECT_TRUE(has(*busy, "Nothing has happened yet."));

  json user = case_of("user").view;
  user["devices"] = json::array();
  user["challenges"] = json::array();
  auto u = render_page("user", user);
  EXPECT_TRUE(has_testid(*u, "user-devices-empty"));
  EXPECT_TRUE(has_testid(*u, "user-challenges-empty"));

  json users = case_of("users").view;
  users["users"] = json::array();
  users["empty"] = true;
  EXPECT_TRUE(has(*render_page("users", users), "No users match"));
  users["q"] = "";
  users["status"] = "";
  EXPECT_TRUE(has(*render_page("users", users), "No users yet"));

  json devices = case_of("devices").view;
  devices["devices"] = json::array();
  devices["empty"] = true;
  EXPECT_TRUE(has_testid(*render_page("devices", devices), "devices-empty"));

  json audit = case_of("audit").view;
  audit["events"] = json::array();
  audit["empty"] = true;
  EXPECT_TRUE(has_testid(*render_page("audit", audit), "audit-empty"));
}

TEST(DashboardPages, IntegrationStatusFollowsTheView) {
  json v = case_of("integration").view;
  auto fresh = render_page("integration", v);
  EXPECT_TRUE(has(*fresh, "No successful sign-in yet"));
  v["integration"]["seen_success"] = true;
  v["integration"]["enabled"] = false;
  v["integration"]["status"] = "disabled";
  v["eam"]["discovery_url"] = "http://avow.example.com/x";
  auto seen = render_page("integration", v);
  EXPECT_TRUE(has(*seen, "Avow has seen a successful sign-in"));
  EXPECT_TRUE(has_testid(*seen, "enable-integration"));
  EXPECT_FALSE(has_testid(*seen, "disable-integration"));
  EXPECT_TRUE(has(*seen, "only an https Discovery URL"));
  EXPECT_FALSE(has(*fresh, "only an https Discovery URL"));
  EXPECT_TRUE(has(*fresh, "<pre class=\"json\" id=\"custom-control-json\" data-testid=\"custom-control-json\""));
  EXPECT_TRUE(has(*fresh, "data-copy-target=\"custom-control-json\""));
}

TEST(DashboardPages, RendersFromManyThreadsAlike) {
  const std::vector<PageCase> all = cases();
  std::vector<std::string> expected;
  for (const PageCase& c : all) expected.push_back(*render_page(c.page, c.view));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round)
        for (std::size_t i = 0; i < all.size(); ++i) {
          auto page = render_page(all[i].page, all[i].view);
          if (!page || *page != expected[i]) ++mismatches[t];
        }
    });
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace avow::dashboard
