// avow/authenticator/http_transport.h — internal: one libcurl easy handle behind a small blocking call.
//
//   HttpTransport t(options);
//   DeviceResult<HttpResponse> r = t.perform({"GET", url, {"Authorization: AvowDevice …"}, ""}, extra);
//
// Not part of the device library's interface. The handle is kept between calls so a long-poll loop reuses
// its TLS connection. Redirects are not followed (a signed `htu` would not match anyway), only http and
// https are spoken, TLS peer and host are verified, the answer is bounded, and every call has a connect
// timeout and a total timeout.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "authenticator/device.h"

namespace avow::device::detail {

struct HttpRequest {
  std::string method;  // "GET" | "POST"
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // POST only
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class HttpTransport {
 public:
  explicit HttpTransport(const ClientOptions& options);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Any HTTP status is a success here. kNetwork: cannot resolve/connect, TLS failure, timeout (total time =
  // request_timeout + `extra_time`), connection dropped. kLocal: the CA file cannot be read, the URL is
  // malformed. kServer: the answer exceeds max_response_size. kCancelled: options.cancel became true.
  DeviceResult<HttpResponse> perform(const HttpRequest& request, std::chrono::milliseconds extra_time);

 private:
  ClientOptions options_;  // a copy: the owning DeviceClient may move
  void* curl_ = nullptr;   // CURL*, kept out of this header
};

}  // namespace avow::device::detail
