// A tiny HTTP/1.1 server for the device client's tests: a blocking socket on 127.0.0.1 in one thread that
// answers each connection with the next canned response (Connection: close) and records what it received.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace avow::device::testing {

struct CapturedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct CannedResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  bool hold = false;  // send nothing; wait for the client to hang up
};

class FakeServer {
 public:
  explicit FakeServer(std::vector<CannedResponse> responses) : responses_(std::move(responses)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeServer() {
    join();
    ::close(fd_);
  }

  int port() const { return port_; }

  // How many requests arrived so far (without waiting).
  std::size_t received() {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Waits until every canned response was served (or the server gave up waiting) and returns the requests.
  std::vector<CapturedRequest> requests() {
    join();
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  void serve() {
    for (const CannedResponse& response : responses_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20'000) != 1) return;  // a safety net so a broken test fails instead of hanging
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      CapturedRequest request;
      if (read_request(c, request)) {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      if (response.hold) {
        char buf[256];
        pollfd q{c, POLLIN, 0};
        while (::poll(&q, 1, 20'000) == 1 && ::read(c, buf, sizeof buf) > 0) {
        }
      } else {
        const std::string text = "HTTP/1.1 " + std::to_string(response.status) +
                                 " X\r\nContent-Type: " + response.content_type +
                                 "\r\nContent-Length: " + std::to_string(response.body.size()) +
                                 "\r\nConnection: close\r\n\r\n" + response.body;
        std::size_t sent = 0;
        while (sent < text.size()) {
          const ssize_t n = ::send(c, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<std::size_t>(n);
        }
      }
      ::shutdown(c, SHUT_RDWR);
      ::close(c);
    }
  }

  static bool read_request(int c, CapturedRequest& out) {
    std::string data;
    char buf[4096];
    std::size_t header_end = std::string::npos;
    while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0 || data.size() > 256 * 1024) return false;
      data.append(buf, static_cast<std::size_t>(n));
    }
    const std::string head = data.substr(0, header_end);
    std::size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const auto sp1 = request_line.find(' ');
    const auto sp2 = request_line.find(' ', sp1 + 1);
    out.method = request_line.substr(0, sp1);
    out.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      std::size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      const std::string line = head.substr(pos, end - pos);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(value.begin());
        out.headers[name] = value;
      }
      pos = end + 2;
    }
    std::size_t length = 0;
    if (auto it = out.headers.find("content-length"); it != out.headers.end()) length = std::stoul(it->second);
    out.body = data.substr(header_end + 4);
    while (out.body.size() < length) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) return false;
      out.body.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  std::vector<CannedResponse> responses_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<CapturedRequest> requests_;
};

// A port on 127.0.0.1 that refuses connections: bound (so nobody else takes it) but not listening.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace avow::device::testing
