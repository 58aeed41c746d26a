#include "web/pages.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "web/qr.h"

namespace avow::web {
namespace {

constexpr char kEvil[] = "<script>alert('x')</script>\"><img src=x>";
constexpr char kScanUrl[] = "https://mfa.example.com/s/CODEcode123";

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

MfaPageView number_view() {
  MfaPageView v;
  v.org_name = "Contoso";
  v.integration_name = "Contoso Entra";
  v.user_label = "ada@contoso.example";
  v.flow.state = "pending";
  v.flow.number = 42;
  v.flow.expires_in = 110;
  v.wait_url = "/entra/cid/flow/ch1/wait";
  v.finish_url = "/entra/cid/flow/ch1/finish";
  v.csp_nonce = "N0nce123";
  return v;
}

MfaPageView scan_view() {
  MfaPageView v = number_view();
  ScanCodeView sc;
  sc.url = kScanUrl;
  sc.svg = *qr_svg(kScanUrl, "ScanCode");
  sc.expires_at = 1'700'000'180;
  v.flow.scan_code = sc;
  return v;
}

TEST(MfaPage, EscapesEverythingEntraOrAnAdminSupplied) {
  MfaPageView v = number_view();
  v.org_name = kEvil;
  v.integration_name = kEvil;
  v.user_label = kEvil;
  auto page = render_mfa_page(v);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->find("<script>alert"), std::string::npos);
  EXPECT_EQ(page->find("<img"), std::string::npos);
  EXPECT_EQ(count(*page, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img src=x&gt;"), 3u);
  EXPECT_EQ(count(*page, "<script"), 1u);  // the page's own, nothing else
}

TEST(MfaPage, NumberModeShowsTheNumberAndHidesTheScanCode) {
  auto page = render_mfa_page(number_view());
  ASSERT_TRUE(page);
  EXPECT_NE(page->find("data-testid=\"match-number\" id=\"match-number\">42</p>"), std::string::npos);
  EXPECT_NE(page->find("Open the Avow app and tap <strong id=\"match-inline\">42</strong>"), std::string::npos);
  EXPECT_TRUE(std::regex_search(*page, std::regex("<section id=\"scan\" data-testid=\"scancode\"[^>]* hidden>")));
  EXPECT_NE(page->find("<section id=\"match\" aria-labelledby=\"match-text\">"), std::string::npos);
  EXPECT_NE(page->find("data-view=\"number:42\""), std::string::npos);
  EXPECT_NE(page->find("ada@contoso.example"), std::string::npos);
  EXPECT_NE(page->find("Contoso Entra"), std::string::npos);
}

TEST(MfaPage, ScanModeShowsTheQrAndItsUrl) {
  MfaPageView v = scan_view();
  auto page = render_mfa_page(v);
  ASSERT_TRUE(page);
  EXPECT_NE(page->find("data-testid=\"scancode\" data-url=\"" + std::string(kScanUrl) + "\""), std::string::npos);
  EXPECT_NE(page->find(v.flow.scan_code->svg), std::string::npos);  // inserted as markup, not escaped
  EXPECT_NE(page->find("Scan with the Avow app to link your phone"), std::string::npos);
  EXPECT_TRUE(std::regex_search(*page, std::regex("<section id=\"match\"[^>]* hidden>")));
  EXPECT_NE(page->find("data-view=\"scan:1700000180\""), std::string::npos);
}

TEST(MfaPage, StyleAndScriptCarryTheNonceAndNothingIsExternal) {
  auto page = render_mfa_page(scan_view());
  ASSERT_TRUE(page);
  EXPECT_NE(page->find("<style nonce=\"N0nce123\">"), std::string::npos);
  EXPECT_NE(page->find("<script nonce=\"N0nce123\">"), std::string::npos);
  EXPECT_EQ(count(*page, "<script"), 1u);
  EXPECT_EQ(count(*page, "<style"), 1u);
  EXPECT_EQ(page->find("<link"), std::string::npos);
  EXPECT_EQ(page->find(" src="), std::string::npos);
  EXPECT_EQ(page->find(" style=\""), std::string::npos);  // inline style attributes would break the CSP
  EXPECT_EQ(page->find("onclick"), std::string::npos);
  // The finish form posts to the flow's finish URL; the script long-polls the wait URL.
  EXPECT_NE(page->find("<form id=\"finish\" method=\"post\" action=\"/entra/cid/flow/ch1/finish\">"),
            std::string::npos);
  EXPECT_NE(page->find("data-wait-url=\"/entra/cid/flow/ch1/wait\""), std::string::npos);
  EXPECT_NE(page->find("lang=\"en\""), std::string::npos);
  EXPECT_NE(page->find("name=\"viewport\""), std::string::npos);
  EXPECT_NE(page->find("role=\"status\""), std::string::npos);
}

TEST(MfaPage, ScriptHasNoBusyLoop) {
  auto page = render_mfa_page(number_view());
  ASSERT_TRUE(page);
  EXPECT_EQ(page->find("setInterval"), std::string::npos);
  // The long-poll (one request at a time, re-issued from its own answer) and the code form's post, sent only
  // when the person submits a code.
  EXPECT_EQ(count(*page, "fetch("), 2u);
  EXPECT_NE(page->find("form.submit()"), std::string::npos);
}

TEST(MfaPage, OffersAFallbackCodeFormOnlyWhenCodesAreOpen) {
  MfaPageView v = number_view();
  v.code_url = "/entra/cid/flow/ch1/code";
  auto off = render_mfa_page(v);
  ASSERT_TRUE(off);
  EXPECT_NE(off->find("data-codes=\"off\""), std::string::npos);
  v.codes_open = true;
  auto page = render_mfa_page(v);
  ASSERT_TRUE(page);
  EXPECT_NE(page->find("data-codes=\"open\""), std::string::npos);
  EXPECT_NE(page->find("<form id=\"code-form\" method=\"post\" action=\"/entra/cid/flow/ch1/code\""),
            std::string::npos);
  EXPECT_NE(page->find("inputmode=\"numeric\""), std::string::npos);
  EXPECT_NE(page->find("autocomplete=\"one-time-code\""), std::string::npos);
  EXPECT_NE(page->find("<label for=\"code-input\">"), std::string::npos);
  EXPECT_NE(page->find("Use a verification code instead"), std::string::npos);
  // Hidden until the script reveals it (the page's script is the only way to post a code), and no inline
  // handlers: the strict CSP allows the nonce'd script alone.
  EXPECT_NE(page->find("<section id=\"codes\" data-testid=\"code-option\" hidden>"), std::string::npos);
  EXPECT_EQ(page->find("onclick"), std::string::npos);
  EXPECT_EQ(page->find("onsubmit"), std::string::npos);
  // The finish form stays the first form (clients that look for the first action find it).
  EXPECT_LT(page->find("<form id=\"finish\""), page->find("<form id=\"code-form\""));
  // Without a code URL there is nothing to offer.
  v.code_url.clear();
  EXPECT_NE(render_mfa_page(v)->find("data-codes=\"off\""), std::string::npos);
}

TEST(FlowViewJson, HasTheWaitShape) {
  FlowView f;
  f.state = "pending";
  f.number = 7;
  f.expires_in = -3;
  nlohmann::json j = to_json(f);
  EXPECT_EQ(j["state"], "pending");
  EXPECT_EQ(j["number"], 7);
  EXPECT_EQ(j["expires_in"], 0);
  EXPECT_TRUE(j["scan_code"].is_null());
  EXPECT_EQ(j["view"], "number:7");

  f.scan_code = ScanCodeView{kScanUrl, "<svg/>", 1'700'000'180};
  j = to_json(f);
  EXPECT_EQ(j["scan_code"]["url"], kScanUrl);
  EXPECT_EQ(j["scan_code"]["svg"], "<svg/>");
  EXPECT_EQ(j["scan_code"]["expires_at"], 1'700'000'180);
  EXPECT_EQ(j["view"], "scan:1700000180");
}

TEST(FlowViewJson, ViewTokenChangesWithWhatIsShown) {
  FlowView a;
  a.number = 12;
  FlowView b = a;
  b.scan_code = ScanCodeView{"u", "s", 100};
  FlowView c = b;
  c.scan_code->expires_at = 160;  // a re-issued code
  EXPECT_NE(a.view_token(), b.view_token());
  EXPECT_NE(b.view_token(), c.view_token());
}

TEST(MessagePage, EscapesAndHasNoScript) {
  auto page = render_message_page({kEvil, kEvil, "n1"});
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->find("<script"), std::string::npos);
  EXPECT_EQ(page->find("<img"), std::string::npos);
  EXPECT_NE(page->find("<style nonce=\"n1\">"), std::string::npos);
  EXPECT_NE(page->find("data-testid=\"message\""), std::string::npos);
}

TEST(PageCsp, IsStrict) {
  const std::string with = page_csp("abc", true);
  EXPECT_NE(with.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(with.find("script-src 'nonce-abc'"), std::string::npos);
  EXPECT_NE(with.find("style-src 'nonce-abc'"), std::string::npos);
  EXPECT_NE(with.find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(with.find("form-action 'self'"), std::string::npos);
  EXPECT_NE(with.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(with.find("unsafe"), std::string::npos);
  const std::string without = page_csp("abc", false);
  EXPECT_EQ(without.find("script-src"), std::string::npos);
  EXPECT_NE(without.find("form-action 'none'"), std::string::npos);
}

TEST(PageCsp, NoncesAreFreshAndUrlSafe) {
  const std::string a = new_csp_nonce(), b = new_csp_nonce();
  EXPECT_NE(a, b);
  EXPECT_GE(a.size(), 22u);
  EXPECT_TRUE(std::regex_match(a, std::regex("[A-Za-z0-9_-]+")));
}

}  // namespace
}  // namespace avow::web
