#include "authenticator/http_transport.h"

#include <cstdio>
#include <mutex>

#include <curl/curl.h>

namespace avow::device::detail {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string* body;
  std::size_t limit;
  bool overflow = false;
};

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  if (sink->body->size() + n > sink->limit) {
    sink->overflow = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  sink->body->append(data, n);
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(user);
  return cancel != nullptr && cancel->load() ? 1 : 0;
}

DeviceError make_error(FailureKind kind, ErrorCode code, std::string message) {
  DeviceError e;
  e.kind = kind;
  e.code = code;
  e.message = std::move(message);
  return e;
}

// The origin only: a message never repeats a path (which holds no secret today, but a URL may one day).
std::string origin_of(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const auto path = url.find('/', scheme_end + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

}  // namespace

HttpTransport::HttpTransport(const ClientOptions& options) : options_(options) {
  global_init();
  curl_ = curl_easy_init();
}

HttpTransport::~HttpTransport() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

DeviceResult<HttpResponse> HttpTransport::perform(const HttpRequest& request, std::chrono::milliseconds extra_time) {
  if (curl_ == nullptr)
    return tl::unexpected(make_error(FailureKind::kLocal, ErrorCode::kInternal, "libcurl failed to start"));
  if (!options_.ca_file.empty()) {
    // Checked here so a typo reads as a set-up error rather than as a TLS failure.
    std::FILE* f = std::fopen(options_.ca_file.c_str(), "rb");
    if (f == nullptr)
      return tl::unexpected(
          make_error(FailureKind::kLocal, ErrorCode::kInvalidArgument, "cannot read the CA file " + options_.ca_file));
    std::fclose(f);
  }

  CURL* h = static_cast<CURL*>(curl_);
  curl_easy_reset(h);  // keeps the connection cache; forgets the previous call's options

  HttpResponse response;
  Sink sink{&response.body, options_.max_response_size};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  for (const auto& line : request.headers) headers = curl_slist_append(headers, line.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for a small body

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>((options_.request_timeout + extra_time).count()));
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_response_size));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options_.cancel));
  if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }

  const CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

  if (rc != CURLE_OK) {
    const std::string where = origin_of(request.url);
    const std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    switch (rc) {
      case CURLE_ABORTED_BY_CALLBACK:
        return tl::unexpected(make_error(FailureKind::kCancelled, ErrorCode::kUnavailable, "cancelled"));
      case CURLE_WRITE_ERROR:
      case CURLE_FILESIZE_EXCEEDED:
        if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED)
          return tl::unexpected(make_error(
              FailureKind::kServer, ErrorCode::kInvalidArgument,
              "the answer from " + where + " is larger than " + std::to_string(options_.max_response_size) + " bytes"));
        break;
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return tl::unexpected(make_error(FailureKind::kLocal, ErrorCode::kInvalidArgument,
                                         "cannot use the URL " + where + ": " + detail));
      case CURLE_SSL_CACERT_BADFILE:
        return tl::unexpected(make_error(FailureKind::kLocal, ErrorCode::kInvalidArgument,
                                         "cannot use the CA file " + options_.ca_file + ": " + detail));
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_ISSUER_ERROR:
        return tl::unexpected(make_error(
            FailureKind::kNetwork, ErrorCode::kUnavailable,
            "TLS with " + where + " failed: " + detail +
                " (for a server with a self-signed development certificate, pass --ca-file or set AVOW_CA_FILE)"));
      case CURLE_OPERATION_TIMEDOUT:
        return tl::unexpected(
            make_error(FailureKind::kNetwork, ErrorCode::kUnavailable, where + " did not answer in time: " + detail));
      default:
        break;
    }
    return tl::unexpected(
        make_error(FailureKind::kNetwork, ErrorCode::kUnavailable, "cannot reach " + where + ": " + detail));
  }

  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  char* content_type = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type != nullptr)
    response.content_type = content_type;
  return response;
}

}  // namespace avow::device::detail
