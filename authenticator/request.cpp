// URLs, ScanCode targets, request signing and the context hash: the pure parts of the device API client.
#include <unistd.h>

#include <cctype>
#include <memory>
#include <optional>

#include <curl/curl.h>

#include "authenticator/device.h"
#include "common/base64url.h"
#include "common/random.h"
#include "crypto/hash.h"
#include "crypto/jws.h"

namespace avow::device {
namespace {

using nlohmann::json;

struct UrlParts {
  std::string scheme;  // lowercase
  std::string host;    // lowercase; an IPv6 address keeps its brackets
  std::string port;    // "" when absent or the scheme's default
  std::string path;    // starts with '/'
};

bool has_space_or_control(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f) return true;
  return false;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One part of a parsed URL; nullopt when the URL has none (or libcurl cannot give it).
std::optional<std::string> url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* out = nullptr;
  if (curl_url_get(u, part, &out, flags) != CURLUE_OK || out == nullptr) return std::nullopt;
  std::string s(out);
  curl_free(out);
  return s;
}

Result<UrlParts> parse_url(std::string_view url) {
  if (url.empty()) return fail(ErrorCode::kInvalidArgument, "the URL is empty");
  if (url.size() > kMaxUrlSize)
    return fail(ErrorCode::kInvalidArgument, "the URL is longer than " + std::to_string(kMaxUrlSize) + " characters");
  if (has_space_or_control(url))
    return fail(ErrorCode::kInvalidArgument, "the URL contains spaces or control characters");
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  if (!u) return fail(ErrorCode::kInternal, "out of memory");
  const std::string text(url);
  if (CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0); rc != CURLUE_OK)
    return fail(ErrorCode::kInvalidArgument, std::string("not a valid URL: ") + curl_url_strerror(rc));
  UrlParts parts;
  parts.scheme = lower(url_part(u.get(), CURLUPART_SCHEME).value_or(""));
  if (parts.scheme != "https" && parts.scheme != "http")
    return fail(ErrorCode::kInvalidArgument, "the URL must start with https:// (or http:// for a local server)");
  if (url_part(u.get(), CURLUPART_USER) || url_part(u.get(), CURLUPART_PASSWORD))
    return fail(ErrorCode::kInvalidArgument, "the URL must not carry a user name or password");
  if (url_part(u.get(), CURLUPART_QUERY))
    return fail(ErrorCode::kInvalidArgument, "the URL must not have a query (?…)");
  if (url_part(u.get(), CURLUPART_FRAGMENT))
    return fail(ErrorCode::kInvalidArgument, "the URL must not have a fragment (#…)");
  parts.host = lower(url_part(u.get(), CURLUPART_HOST).value_or(""));
  if (parts.host.empty()) return fail(ErrorCode::kInvalidArgument, "the URL has no host");
  parts.port = url_part(u.get(), CURLUPART_PORT, CURLU_NO_DEFAULT_PORT).value_or("");
  parts.path = url_part(u.get(), CURLUPART_PATH).value_or("/");
  if (parts.path.empty() || parts.path.front() != '/') parts.path.insert(parts.path.begin(), '/');
  return parts;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  if (host.rfind("127.", 0) != 0) return false;
  for (char c : host)
    if (c != '.' && !std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

Result<std::string> compose_server(const UrlParts& parts, std::string_view path, bool allow_insecure_http) {
  if (parts.scheme == "http" && !allow_insecure_http && !is_loopback(parts.host))
    return fail(ErrorCode::kInvalidArgument,
                "plain http:// is only used with a server on this machine (localhost); use "
                "https:// (or allow insecure HTTP explicitly)");
  std::string server = parts.scheme + "://" + parts.host;
  if (!parts.port.empty()) server += ":" + parts.port;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  server += path;
  return server;
}

bool is_code_char(unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; }

Status check_code(std::string_view code) {
  if (code.empty()) return fail(ErrorCode::kInvalidArgument, "the code is empty");
  if (code.size() > kMaxCodeSize)
    return fail(ErrorCode::kInvalidArgument, "the code is longer than " + std::to_string(kMaxCodeSize) + " characters");
  for (unsigned char c : code)
    if (!is_code_char(c))
      return fail(ErrorCode::kInvalidArgument,
                  "not a ScanCode URL (https://…/s/CODE) or code: it holds characters "
                  "other than letters, digits, '-' and '_'");
  return ok();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::kLocal:
      return "local";
    case FailureKind::kNetwork:
      return "network";
    case FailureKind::kServer:
      return "server";
    case FailureKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(Answer action) {
  switch (action) {
    case Answer::kApprove:
      return "approve";
    case Answer::kDeny:
      return "deny";
    case Answer::kFraud:
      return "fraud";
  }
  return "deny";
}

Result<std::string> normalize_server_url(std::string_view url, bool allow_insecure_http) {
  auto parts = parse_url(url);
  if (!parts) return tl::unexpected(parts.error());
  return compose_server(*parts, parts->path, allow_insecure_http);
}

Result<ScanTarget> parse_scan_target(std::string_view code_or_url, bool allow_insecure_http) {
  const std::string_view input = trim(code_or_url);
  if (input.find("://") == std::string_view::npos) {
    AVOW_TRY(check_code(input));
    return ScanTarget{"", std::string(input)};
  }
  auto parts = parse_url(input);
  if (!parts) return tl::unexpected(parts.error());
  const std::string_view path = parts->path;
  const auto at = path.rfind("/s/");
  if (at == std::string_view::npos)
    return fail(ErrorCode::kInvalidArgument, "not a ScanCode URL: its path does not end in /s/CODE");
  const std::string_view code = path.substr(at + 3);
  if (code.find('/') != std::string_view::npos || code.empty())
    return fail(ErrorCode::kInvalidArgument, "not a ScanCode URL: its path does not end in /s/CODE");
  AVOW_TRY(check_code(code));
  auto server = compose_server(*parts, path.substr(0, at), allow_insecure_http);
  if (!server) return tl::unexpected(server.error());
  return ScanTarget{std::move(*server), std::string(code)};
}

std::string context_hash(const json& context) {
  // See the header: both sides hash `context.dump()`. The parser already rejected invalid UTF-8, so
  // `replace` never changes the text of a received context; it only keeps this function from throwing.
  return base64url_encode(crypto::sha256(context.dump(-1, ' ', false, json::error_handler_t::replace)));
}

std::string default_device_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "avow";
  std::string name(buf);
  std::string clean;
  for (unsigned char c : name)
    if (c > 0x20 && c < 0x7f) clean += static_cast<char>(c);
  if (clean.empty()) return "avow";
  if (clean.size() > kMaxNameSize) clean.resize(kMaxNameSize);
  return clean;
}

Result<SignedRequest> sign_request(const crypto::Jwk& key, std::string_view device_id, std::string_view method,
                                   std::string_view server, std::string_view endpoint, const json& fields,
                                   std::int64_t iat) {
  if (!key.is_private() || key.type() != crypto::KeyType::kEcP256)
    return fail(ErrorCode::kInvalidArgument, "device requests are signed with a private P-256 key");
  if (method != "GET" && method != "POST") return fail(ErrorCode::kInvalidArgument, "method must be GET or POST");
  if (!fields.is_null() && !fields.is_object())
    return fail(ErrorCode::kInvalidArgument, "request fields must be a JSON object");
  if (method == "GET" && fields.is_object() && !fields.empty())
    return fail(ErrorCode::kInvalidArgument, "a GET request carries no fields");
  for (const char* reserved : {"htm", "htu", "iat", "jti"})
    if (fields.is_object() && fields.contains(reserved))
      return fail(ErrorCode::kInvalidArgument, std::string("request fields must not set \"") + reserved + "\"");
  if (endpoint.empty() || endpoint.front() != '/' || endpoint.size() > kMaxUrlSize || has_space_or_control(endpoint))
    return fail(ErrorCode::kInvalidArgument, "the endpoint must be a path starting with '/'");
  if (device_id.size() > kMaxIdSize) return fail(ErrorCode::kInvalidArgument, "the device id is too long");

  auto normal = normalize_server_url(server, /*allow_insecure_http=*/true);
  if (!normal || *normal != server)
    return fail(ErrorCode::kInvalidArgument, "the server URL is not normalised (see normalize_server_url)");
  const auto authority = server.find('/', server.find("://") + 3);
  const std::string_view origin = server.substr(0, authority);
  const std::string_view prefix = authority == std::string_view::npos ? std::string_view() : server.substr(authority);

  SignedRequest request;
  request.method = std::string(method);
  request.target = std::string(prefix) + std::string(kApiBasePath) + std::string(endpoint);
  request.url = std::string(origin) + request.target;

  json payload = fields.is_object() ? fields : json::object();
  payload["htm"] = request.method;
  payload["htu"] = request.target;
  payload["iat"] = iat;
  payload["jti"] = random_token(16);

  json header = {{"typ", kJwsType}};
  std::string payload_text;
  try {
    payload_text = payload.dump();
  } catch (const json::exception&) {
    return fail(ErrorCode::kInvalidArgument, "request fields hold a string that is not UTF-8");
  }
  Result<std::string> token;
  if (device_id.empty()) {
    // Enrolment: the server does not know the device yet, so the key travels in the header. jws::sign
    // always writes "kid"; with_kid("") makes it the key's thumbprint, which names the same key.
    header["jwk"] = key.public_key().to_public_json();
    token = crypto::jws::sign(key.with_kid(""), header, payload_text);
  } else {
    token = crypto::jws::sign(key.with_kid(std::string(device_id)), header, payload_text);
  }
  if (!token) return tl::unexpected(token.error());
  request.jws = std::move(*token);
  if (method == "POST") {
    request.content_type = "application/jose";
    request.body = request.jws;
  } else {
    request.authorization = "AvowDevice " + request.jws;
  }
  return request;
}

}  // namespace avow::device
