// The HTTP server in-process: routing to sync and coroutine handlers, per-route body limits, response
// hygiene. A real socket on 127.0.0.1:0, a blocking client; no sleeps.
#include <utility>  // before Asio: asio#944

#include "http/server.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace avow::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

asio::awaitable<Response> length_on_worker(Request req, BlockingPool* pool) {
  // A named callable (see blocking_pool.h), returning the body size computed on a worker thread.
  auto measure = [body = req.body] { return body.size(); };
  const std::size_t n = co_await pool->run(std::move(measure));
  co_return Response::json(200, {{"length", n}, {"id", std::string(req.param("id").value_or(""))}});
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.blocking_threads = 1;
    o.max_body_bytes = 1024;
    o.handle_signals = false;
    server_ = std::make_unique<Server>(o, metrics_);
    Router& r = server_->router();
    BlockingPool* pool = &server_->blocking_pool();
    ASSERT_TRUE(
        r.add("POST", "/items/{id}", AsyncHandler([pool](Request q) { return length_on_worker(std::move(q), pool); })));
    ASSERT_TRUE(r.add("POST", "/small", SyncHandler([](const Request& q) { return Response::text(200, q.body); }),
                      {.max_body_bytes = 64}));
    ASSERT_TRUE(
        r.add("GET", "/throws", SyncHandler([](const Request&) -> Response { throw std::runtime_error("bug"); })));
    ASSERT_TRUE(r.add("GET", "/headers", SyncHandler([](const Request& q) {
                        Response res = Response::text(200, "hi");
                        res.set_header("Cache-Control", "public, max-age=60");
                        res.set_header("Content-Length", "999");           // framing belongs to the server: dropped
                        res.set_header("X-Evil", "a\r\nSet-Cookie: x=1");  // header injection: dropped
                        res.set_header("X-Echo-Query", q.query);
                        return res;
                      })));
    Result<Endpoint> at = server_->start();
    ASSERT_TRUE(at) << at.error().message;
    port_ = at->port;
    runner_ = std::thread([this] { server_->run(); });
  }

  void TearDown() override {
    if (server_) server_->shutdown();
    if (runner_.joinable()) runner_.join();
  }

  bhttp::response<bhttp::string_body> exchange(bhttp::request<bhttp::string_body> req) {
    asio::io_context ioc;
    asio::ip::tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), port_});
    req.version(11);
    req.set(bhttp::field::host, "test");
    req.prepare_payload();
    bhttp::write(sock, req);
    boost::beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(req.method() == bhttp::verb::head);
    bhttp::read(sock, buf, parser);
    return parser.release();
  }

  static bhttp::request<bhttp::string_body> make(bhttp::verb v, std::string target, std::string body = "") {
    bhttp::request<bhttp::string_body> r(v, target, 11);
    r.body() = std::move(body);
    return r;
  }

  Metrics metrics_{"test"};
  std::unique_ptr<Server> server_;
  std::thread runner_;
  std::uint16_t port_ = 0;
};

TEST_F(ServerTest, CoroutineHandlerRunsBlockingWorkAndGetsParams) {
  auto res = exchange(make(bhttp::verb::post, "/items/a%20b", std::string(1000, 'x')));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(res.body()), (nlohmann::json{{"length", 1000}, {"id", "a b"}}));
}

TEST_F(ServerTest, BodyLimitsArePerRoute) {
  EXPECT_EQ(exchange(make(bhttp::verb::post, "/small", std::string(64, 'x'))).result_int(), 200);
  EXPECT_EQ(exchange(make(bhttp::verb::post, "/small", std::string(65, 'x'))).result_int(), 413);
  // The server default (1024) still applies elsewhere.
  EXPECT_EQ(exchange(make(bhttp::verb::post, "/items/1", std::string(1024, 'x'))).result_int(), 200);
  EXPECT_EQ(exchange(make(bhttp::verb::post, "/items/1", std::string(1025, 'x'))).result_int(), 413);
}

TEST_F(ServerTest, HandlerExceptionBecomes500) {
  auto res = exchange(make(bhttp::verb::get, "/throws"));
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_EQ(nlohmann::json::parse(res.body())["error"], "internal");
}

TEST_F(ServerTest, HandlerHeadersOverrideDefaultsButNotFraming) {
  auto res = exchange(make(bhttp::verb::get, "/headers?a=1&b=2"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[bhttp::field::cache_control], "public, max-age=60");
  EXPECT_EQ(res[bhttp::field::content_length], "2");
  EXPECT_EQ(res.body(), "hi");
  EXPECT_EQ(res.count("X-Evil"), 0u);
  EXPECT_EQ(res.count(bhttp::field::set_cookie), 0u);
  EXPECT_EQ(res["X-Echo-Query"], "a=1&b=2");
  EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(res[bhttp::field::server], "avow");
}

TEST_F(ServerTest, MetricsCountByRoutePattern) {
  exchange(make(bhttp::verb::post, "/items/7", "abc"));
  exchange(make(bhttp::verb::get, "/items/7"));
  // Counted after the response is written: stop the server (it drains every connection) before reading.
  server_->shutdown();
  runner_.join();
  const std::string page = metrics_.render();
  EXPECT_NE(page.find(R"(avow_http_requests_total{route="/items/{id}",method="POST",status="200"} 1)"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find(R"(avow_http_requests_total{route="/items/{id}",method="GET",status="405"} 1)"),
            std::string::npos);
  EXPECT_EQ(page.find("/items/7"), std::string::npos);
}

TEST(ServerStart, FailsCleanlyOnBadHostAndBusyPort) {
  Metrics metrics("test");
  ServerOptions o;
  o.host = "not-an-ip";
  o.handle_signals = false;
  Server bad(o, metrics);
  Result<Endpoint> r = bad.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  ServerOptions a;
  a.port = 0;
  a.handle_signals = false;
  Server first(a, metrics);
  Result<Endpoint> at = first.start();
  ASSERT_TRUE(at);
  ServerOptions b = a;
  b.port = at->port;
  Server second(b, metrics);
  Result<Endpoint> busy = second.start();
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kUnavailable);

  ServerOptions t = a;
  t.tls = TlsFiles{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
  Server tls(t, metrics);
  Result<Endpoint> no_cert = tls.start();
  ASSERT_FALSE(no_cert);
  EXPECT_EQ(no_cert.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace avow::http
