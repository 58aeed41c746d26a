#include <utility>  // before Asio: asio#944

#include "http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

namespace avow::bench {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

auto redirect(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string str(beast::string_view s) { return std::string(s.data(), s.size()); }

// The peer closed a kept-alive connection before answering: worth one retry on a fresh connection.
bool closed_by_peer(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequal(n, name)) return v;
  return std::nullopt;
}

std::optional<std::string> HttpResponse::cookie(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (!iequal(n, "set-cookie")) continue;
    const std::string_view c = v;
    if (c.size() > name.size() && c.substr(0, name.size()) == name && c[name.size()] == '=') {
      const std::string_view rest = c.substr(name.size() + 1);
      return std::string(rest.substr(0, rest.find(';')));
    }
  }
  return std::nullopt;
}

Connection::Connection(asio::any_io_executor executor, tcp::endpoint server, std::optional<asio::ip::address> source)
    : stream_(std::move(executor)), server_(server), source_(std::move(source)) {
  host_ = server_.address().to_string() + ":" + std::to_string(server_.port());
}

bool Connection::is_open() const { return stream_.socket().is_open(); }

void Connection::close() {
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
  buffer_.clear();
}

asio::awaitable<Status> Connection::connect(std::chrono::milliseconds timeout) {
  error_code ec;
  auto& sock = stream_.socket();
  sock.open(server_.protocol(), ec);
  if (!ec && source_) {
    // Choose the port at connect time, per (source, destination): many sources × ~28k ports each.
    const int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock.bind(tcp::endpoint(*source_, 0), ec);
  }
  if (ec) {
    close();
    co_return fail(ErrorCode::kUnavailable, "connect: " + ec.message());
  }
  stream_.expires_after(timeout);
  co_await stream_.async_connect(server_, redirect(ec));
  if (ec) {
    close();
    co_return fail(ErrorCode::kUnavailable, "connect to " + host_ + ": " + ec.message());
  }
  sock.set_option(tcp::no_delay(true), ec);
  co_return ok();
}

asio::awaitable<Result<HttpResponse>> Connection::request(std::string method, std::string target, Headers headers,
                                                          std::string body, std::chrono::milliseconds timeout) {
  bool reused = is_open();
  for (int attempt = 0;; ++attempt) {
    if (!is_open()) {
      Status s = co_await connect(timeout);
      if (!s) co_return tl::unexpected(s.error());
      reused = false;
    }
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, host_);
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    error_code ec;
    stream_.expires_after(timeout);
    co_await bhttp::async_write(stream_, req, redirect(ec));
    if (!ec) {
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(kMaxResponseBody);
      co_await bhttp::async_read(stream_, buffer_, parser, redirect(ec));
      if (!ec) {
        stream_.expires_never();
        auto& res = parser.get();
        HttpResponse out;
        out.status = static_cast<int>(res.result_int());
        out.headers.reserve(8);
        for (const auto& f : res) out.headers.emplace_back(str(f.name_string()), str(f.value()));
        out.body = std::move(res.body());
        if (!res.keep_alive()) close();
        co_return out;
      }
    }
    close();
    if (!(reused && attempt == 0 && closed_by_peer(ec)))
      co_return fail(ErrorCode::kUnavailable, method + " " + target.substr(0, target.find('?')) + ": " + ec.message());
  }
}

BalancedConnection::BalancedConnection(asio::any_io_executor executor, const std::vector<tcp::endpoint>& nodes,
                                       std::size_t* turn, std::optional<asio::ip::address> source)
    : turn_(turn) {
  for (const tcp::endpoint& at : nodes) nodes_.push_back(std::make_unique<Connection>(executor, at, source));
}

asio::awaitable<Result<HttpResponse>> BalancedConnection::request(std::string method, std::string target,
                                                                  Headers headers, std::string body,
                                                                  std::chrono::milliseconds timeout) {
  Connection& c = *nodes_[(*turn_)++ % nodes_.size()];
  co_return co_await c.request(std::move(method), std::move(target), std::move(headers), std::move(body), timeout);
}

void BalancedConnection::close() {
  for (auto& c : nodes_) c->close();
}

}  // namespace avow::bench
