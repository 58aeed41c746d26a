// avow/entra/microsoft_keys.h — Microsoft's signing keys, fetched, cached and refreshed.
//
//   CurlKeyFetcher fetcher(FetchOptions{});
//   MicrosoftKeys keys(fetcher, clock);
//   Result<std::shared_ptr<const crypto::Jwks>> set = keys.get(url);            // cached for `ttl`
//   … validate_hint(…) fails with kNotFound (unknown kid) …
//   set = keys.refresh_for_unknown_kid(url);                                     // rate-limited re-fetch
//
// Fetching blocks (network I/O): call these from the blocking pool, never on the event loop. When the key
// URL cannot be reached the caller gets kUnavailable and must refuse the flow: no hint is ever accepted
// unverified. A stale set is still served while a re-fetch fails, for at most `max_stale`.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/jwk.h"

namespace avow::entra {

// Fetches a URL's body. Implementations bound size and time.
class KeyFetcher {
 public:
  virtual ~KeyFetcher() = default;
  // The body of a 200 answer; kUnavailable for network errors, timeouts, other statuses or an oversized body.
  virtual Result<std::string> fetch(const std::string& url) = 0;
};

struct FetchOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{5000};
  std::size_t max_body = 512 * 1024;
  // Plain http is refused unless the host is a loopback address and this is set (the Entra simulator in tests).
  bool allow_loopback_http = false;
  // Extra CA bundle (PEM file) to trust, e.g. the simulator's self-signed certificate. Empty: system CAs.
  std::string ca_file;
};

// libcurl-based fetcher: HTTPS with certificate verification, HTTP/2 when offered, no redirects.
class CurlKeyFetcher final : public KeyFetcher {
 public:
  explicit CurlKeyFetcher(FetchOptions options);
  Result<std::string> fetch(const std::string& url) override;

 private:
  FetchOptions options_;
};

struct KeyCacheOptions {
  std::chrono::seconds ttl{std::chrono::hours(24)};
  std::chrono::seconds min_refresh_interval{std::chrono::minutes(5)};  // between unknown-kid refreshes
  std::chrono::seconds max_stale{std::chrono::hours(72)};
};

class MicrosoftKeys {
 public:
  MicrosoftKeys(KeyFetcher& fetcher, const Clock& clock, KeyCacheOptions options = {});

  // The key set at `url`, fetched when absent or older than `ttl`. kUnavailable when it cannot be fetched
  // and no usable cached copy exists; kInvalidArgument when the body is not a JWKS.
  Result<std::shared_ptr<const crypto::Jwks>> get(const std::string& url);

  // Re-fetches because a token named a kid the cached set lacks (Microsoft rolled its keys). At most once
  // per `min_refresh_interval` per URL; otherwise returns the cached set unchanged.
  Result<std::shared_ptr<const crypto::Jwks>> refresh_for_unknown_kid(const std::string& url);

 private:
  struct Entry {
    std::shared_ptr<const crypto::Jwks> keys;
    Clock::time_point fetched_at{};
    Clock::time_point last_attempt{};
    Clock::time_point last_kid_refresh{};  // the last re-fetch caused by an unknown kid (rate-limited alone)
  };
  Result<std::shared_ptr<const crypto::Jwks>> fetch_locked(const std::string& url, Entry& entry);

  KeyFetcher& fetcher_;
  const Clock& clock_;
  KeyCacheOptions options_;
  std::mutex mu_;  // held across a fetch: concurrent callers wait for one fetch rather than stampeding
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace avow::entra
