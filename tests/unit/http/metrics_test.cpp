#include "http/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

namespace avow::http {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l == line) return true;
  return false;
}

TEST(Metrics, RendersCountersByRouteMethodStatus) {
  Metrics m("1.2.3");
  RouteStats& h = m.route("/healthz");
  h.record("GET", 200, 0.0004);
  h.record("GET", 200, 0.002);
  h.record("POST", 405, 0.0001);
  h.record("BREW", 418, 0.0001);  // unknown method → OTHER; status without a slot → its class
  const std::string out = m.render();
  EXPECT_TRUE(has_line(out, R"(avow_http_requests_total{route="/healthz",method="GET",status="200"} 2)")) << out;
  EXPECT_TRUE(has_line(out, R"(avow_http_requests_total{route="/healthz",method="POST",status="405"} 1)"));
  EXPECT_TRUE(has_line(out, R"(avow_http_requests_total{route="/healthz",method="OTHER",status="4xx"} 1)"));
  EXPECT_TRUE(has_line(out, R"(avow_build_info{version="1.2.3"} 1)"));
  EXPECT_TRUE(has_line(out, "# TYPE avow_http_requests_total counter"));
  EXPECT_TRUE(has_line(out, "# TYPE avow_http_request_duration_seconds histogram"));
  EXPECT_TRUE(has_line(out, "# TYPE avow_http_open_connections gauge"));
}

TEST(Metrics, SameRouteNameSharesStats) {
  Metrics m("v");
  EXPECT_EQ(&m.route("/a"), &m.route("/a"));
  EXPECT_NE(&m.route("/a"), &m.route("/b"));
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Metrics m("v");
  RouteStats& r = m.route("/x");
  r.record("GET", 200, 0.0005);  // ≤ 0.001
  r.record("GET", 200, 0.003);   // ≤ 0.005
  r.record("GET", 200, 20.0);    // +Inf only
  const std::string out = m.render();
  EXPECT_TRUE(has_line(out, R"(avow_http_request_duration_seconds_bucket{route="/x",le="0.001"} 1)")) << out;
  EXPECT_TRUE(has_line(out, R"(avow_http_request_duration_seconds_bucket{route="/x",le="0.0025"} 1)"));
  EXPECT_TRUE(has_line(out, R"(avow_http_request_duration_seconds_bucket{route="/x",le="0.005"} 2)"));
  EXPECT_TRUE(has_line(out, R"(avow_http_request_duration_seconds_bucket{route="/x",le="10"} 2)"));
  EXPECT_TRUE(has_line(out, R"(avow_http_request_duration_seconds_bucket{route="/x",le="+Inf"} 3)"));
  EXPECT_TRUE(has_line(out, R"(avow_http_request_duration_seconds_count{route="/x"} 3)"));
  EXPECT_TRUE(has_line(out, R"(avow_http_request_duration_seconds_sum{route="/x"} 20.0035)"));
}

TEST(Metrics, UnusedRoutesHaveNoSeries) {
  Metrics m("v");
  m.route("/quiet");
  const std::string out = m.render();
  EXPECT_EQ(out.find("/quiet"), std::string::npos);
}

TEST(Metrics, ConnectionsAndDbPing) {
  Metrics m("v");
  m.connection_opened();
  m.connection_opened();
  m.connection_closed();
  m.connection_rejected();
  m.db_ping().observe(0.002);
  const std::string out = m.render();
  EXPECT_TRUE(has_line(out, "avow_http_open_connections 1"));
  EXPECT_TRUE(has_line(out, "avow_http_connections_total 2"));
  EXPECT_TRUE(has_line(out, "avow_http_connections_rejected_total 1"));
  EXPECT_TRUE(has_line(out, R"(avow_db_ping_seconds_bucket{le="0.0025"} 1)"));
  EXPECT_TRUE(has_line(out, "avow_db_ping_seconds_count 1"));
}

TEST(Metrics, EveryLineIsCommentOrSample) {
  Metrics m("v\"1");
  m.route("/a/{id}").record("GET", 200, 0.01);
  m.add_collector([](std::string& out) { out += "# TYPE avow_extra gauge\navow_extra 7\n"; });
  const std::string out = m.render();
  // name{labels} value — label values quoted with escapes.
  const std::regex sample(
      R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? [-+0-9.eInf]+$)re");
  std::istringstream in(out);
  int samples = 0;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("# HELP ", 0) == 0 || l.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(l, sample)) << l;
    ++samples;
  }
  EXPECT_GT(samples, 10);
  EXPECT_TRUE(has_line(out, R"(avow_build_info{version="v\"1"} 1)"));
  EXPECT_TRUE(has_line(out, "avow_extra 7"));
  EXPECT_EQ(out.back(), '\n');
}

TEST(Metrics, EscapesLabelValues) { EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd"); }

}  // namespace
}  // namespace avow::http
