#include "web/html.h"

#include <gtest/gtest.h>

namespace avow::web {
namespace {

TEST(EscapeHtml, EscapesTheFiveCharacters) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(html_escape("plain text é"), "plain text é");
  EXPECT_EQ(html_escape(""), "");
}

TEST(RenderTemplate, EscapesDoubleAndKeepsTripleBraces) {
  TemplateVars vars{{"name", "<script>alert(1)</script>"}, {"svg", "<svg></svg>"}};
  auto out = render_template("<p>{{name}}</p>{{{svg}}}", vars);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p><svg></svg>");
}

TEST(RenderTemplate, RepeatsAndLeavesOtherTextAlone) {
  TemplateVars vars{{"n", "42"}};
  auto out = render_template("{ {{n}} } {{n}}{", vars);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "{ 42 } 42{");
}

TEST(RenderTemplate, ValuesAreNotReexpanded) {
  TemplateVars vars{{"a", "{{b}}"}, {"b", "no"}};
  auto out = render_template("{{{a}}}", vars);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "{{b}}");
}

TEST(RenderTemplate, UnknownOrMalformedTagsAreBugs) {
  TemplateVars vars{{"a", "1"}};
  for (const char* t : {"{{b}}", "{{a", "{{}}", "{{a b}}", "{{{a}}", "x {{a}} {{"}) {
    auto out = render_template(t, vars);
    ASSERT_FALSE(out) << t;
    EXPECT_EQ(out.error().code, ErrorCode::kInternal);
  }
}

}  // namespace
}  // namespace avow::web
