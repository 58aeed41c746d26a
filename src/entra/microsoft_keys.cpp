#include "entra/microsoft_keys.h"

#include <curl/curl.h>

#include "common/logging.h"

namespace avow::entra {
namespace {

struct Sink {
  std::string body;
  std::size_t max;
  bool overflow = false;
};

size_t on_data(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * nmemb;
  if (sink->body.size() + n > sink->max) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body.append(ptr, n);
  return n;
}

bool is_loopback_http(std::string_view url) {
  for (std::string_view prefix : {"http://127.", "http://localhost:", "http://localhost/", "http://[::1]"})
    if (url.starts_with(prefix)) return true;
  return false;
}

std::once_flag g_curl_init;

}  // namespace

CurlKeyFetcher::CurlKeyFetcher(FetchOptions options) : options_(std::move(options)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Result<std::string> CurlKeyFetcher::fetch(const std::string& url) {
  const bool https = url.starts_with("https://");
  if (!https && !(options_.allow_loopback_http && is_loopback_http(url)))
    return fail(ErrorCode::kInvalidArgument, "key URL must be https");
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  Sink sink{{}, options_.max_body};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "avow");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  const CURLcode rc = curl_easy_perform(c);
  if (sink.overflow) return fail(ErrorCode::kUnavailable, "key set at " + url + " is larger than allowed");
  if (rc != CURLE_OK) return fail(ErrorCode::kUnavailable, "fetching " + url + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return fail(ErrorCode::kUnavailable, "fetching " + url + ": HTTP " + std::to_string(status));
  return std::move(sink.body);
}

MicrosoftKeys::MicrosoftKeys(KeyFetcher& fetcher, const Clock& clock, KeyCacheOptions options)
    : fetcher_(fetcher), clock_(clock), options_(options) {}

Result<std::shared_ptr<const crypto::Jwks>> MicrosoftKeys::fetch_locked(const std::string& url, Entry& entry) {
  const auto now = clock_.now();
  entry.last_attempt = now;
  auto body = fetcher_.fetch(url);
  Result<crypto::Jwks> parsed = body ? crypto::Jwks::parse(*body) : tl::unexpected(body.error());
  if (parsed && parsed->empty()) parsed = fail(ErrorCode::kInvalidArgument, "key set at " + url + " has no usable key");
  if (!parsed) {
    log::error("microsoft_keys_fetch_failed", {{"url", url}, {"error", parsed.error().message}});
    if (entry.keys && now - entry.fetched_at <= options_.max_stale) return entry.keys;
    return fail(ErrorCode::kUnavailable, "Microsoft's signing keys cannot be fetched: " + parsed.error().message);
  }
  entry.keys = std::make_shared<const crypto::Jwks>(std::move(*parsed));
  entry.fetched_at = now;
  log::info("microsoft_keys_fetched", {{"url", url}, {"keys", entry.keys->keys().size()}});
  return entry.keys;
}

Result<std::shared_ptr<const crypto::Jwks>> MicrosoftKeys::get(const std::string& url) {
  std::lock_guard lock(mu_);
  Entry& entry = entries_[url];
  if (entry.keys && clock_.now() - entry.fetched_at < options_.ttl) return entry.keys;
  // After a failure, do not hammer the URL: retry no more often than the refresh interval while a stale copy serves.
  if (entry.keys && clock_.now() - entry.last_attempt < options_.min_refresh_interval &&
      clock_.now() - entry.fetched_at <= options_.max_stale)
    return entry.keys;
  return fetch_locked(url, entry);
}

Result<std::shared_ptr<const crypto::Jwks>> MicrosoftKeys::refresh_for_unknown_kid(const std::string& url) {
  std::lock_guard lock(mu_);
  Entry& entry = entries_[url];
  // Limited by the last unknown-kid refresh, not by the last fetch: a key Microsoft rolls in just after a
  // scheduled fetch is still picked up at once.
  if (entry.keys && entry.last_kid_refresh != Clock::time_point{} &&
      clock_.now() - entry.last_kid_refresh < options_.min_refresh_interval)
    return entry.keys;
  entry.last_kid_refresh = clock_.now();
  return fetch_locked(url, entry);
}

}  // namespace avow::entra
