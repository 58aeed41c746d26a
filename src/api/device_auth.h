// avow/api/device_auth.h — who sent a device API request: the signed-request rules of docs/device-api.md.
//
// Every device API call carries one compact JWS made with the device's P-256 key: the POST body
// (`Content-Type: application/jose`) or `Authorization: AvowDevice <jws>` on a GET. This file checks one,
// with no I/O of its own: the device's key and the jti ledger are callbacks, so tests drive every rule
// without a database and the routes plug in the store.
//
//   SignedRequest parts{req.method, req.target, req.body, req.header("content-type"), req.header("authorization")};
//   Result<VerifiedRequest> v = verify_device_request(parts, KeyMode::kDevice, lookup, record_jti, clock);
//   if (!v) return unauthorized(v.error());     // kUnauthenticated: answer 401 with v.error().message
//   std::string code = v->payload["code"];      // the call's own fields sit beside htm/htu/iat/jti
//
// The order of the checks matters: nothing the sender claims (htm, htu, iat, jti, the call's fields) is
// trusted or recorded before the signature verifies, so a forged request cannot burn a jti or write
// anything. (Its kid is looked up first, to find the key; device ids are random UUIDs, so "unknown or
// revoked device" versus "signature does not verify" tells a guesser nothing useful.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/jwk.h"

namespace avow::api {

// The largest signed body (and Authorization token) accepted.
inline constexpr std::size_t kMaxSignedRequestBytes = 16 * 1024;
inline constexpr std::string_view kDeviceJwsType = "avow-device+jwt";
inline constexpr std::string_view kDeviceJwsContentType = "application/jose";
inline constexpr std::string_view kDeviceAuthScheme = "AvowDevice";
// `iat` may be this far from the server's clock, either way.
inline constexpr std::int64_t kDefaultIatWindowSeconds = 60;
// A jti is base64url of at least 16 random bytes (22 characters); longer ones are refused unread.
inline constexpr std::size_t kMinJtiBytes = 16;
inline constexpr std::size_t kMaxJtiChars = 128;
// Device ids (the `kid`) are server-made ids; anything longer is not one.
inline constexpr std::size_t kMaxDeviceIdChars = 128;

// The parts of an HTTP request the check reads (views into the request; they must outlive the call).
struct SignedRequest {
  std::string_view method;  // as sent, e.g. "POST"
  std::string_view target;  // the raw request-target: path and query
  std::string_view body;
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> authorization;
};

// Where the verifying key comes from.
enum class KeyMode {
  kDevice,      // header "kid" = a device id; the key is the device's stored public JWK
  kEnrollment,  // header "jwk" = the new device's public key (POST /enroll only)
};

// A device as the key lookup finds it.
struct DeviceKey {
  crypto::Jwk key;  // the device's public P-256 key
  bool active = false;
  std::optional<std::int64_t> last_seen_at;
};

// Finds the device `device_id`. kNotFound when there is none; any other error (a database outage) is
// passed on to the caller of verify_device_request unchanged.
using DeviceKeyLookup = std::function<Result<DeviceKey>(std::string_view device_id)>;

// Records that `subject` used `jti` (signed at `iat`) and refuses a second use: kAlreadyExists or
// kConflict when seen before, kExpired when `iat` is out of the window. kUnavailable/kInternal are passed
// on as they are. `subject` is the device id, or "enroll:<thumbprint>" for an enrollment.
using JtiRecorder = std::function<Status(std::string_view subject, std::string_view jti, std::int64_t iat)>;

struct VerifyOptions {
  std::int64_t iat_window_seconds = kDefaultIatWindowSeconds;
};

struct VerifiedRequest {
  std::string device_id;                      // kDevice: the verified kid; kEnrollment: ""
  std::optional<crypto::Jwk> enrollment_key;  // kEnrollment: the new device's public key
  std::optional<std::int64_t> last_seen_at;   // kDevice: as the lookup found it
  nlohmann::json payload;                     // the payload object: htm, htu, iat, jti and the call's fields
  std::string jti;
  std::int64_t iat = 0;
};

// Checks a signed device request, in this order: the carrier (POST: body ≤ kMaxSignedRequestBytes with
// Content-Type application/jose; GET and others: `Authorization: AvowDevice <jws>` and no body), the JWS
// form, header alg = ES256 and typ = avow-device+jwt, the key (kDevice: kid names a device that exists and
// is active, no "jwk"; kEnrollment: "jwk" is a public EC P-256 key without private members, and a "kid", if
// any, is its RFC 7638 thumbprint), the signature, then the payload: a JSON object whose htm equals the
// method, htu equals the target exactly, iat is an integer within ±iat_window_seconds of `clock`, and jti
// is base64url of at least kMinJtiBytes bytes — and, last, record_jti accepts the jti.
//
// Every refusal is kUnauthenticated with a short reason fit to send to the device (it never says more
// than which rule failed; never a key or a token). Errors of `lookup` other than kNotFound, and of
// `record_jti` other than those listed with JtiRecorder, are returned unchanged (the caller answers 5xx).
Result<VerifiedRequest> verify_device_request(const SignedRequest& request, KeyMode mode, const DeviceKeyLookup& lookup,
                                              const JtiRecorder& record_jti, const Clock& clock,
                                              const VerifyOptions& options = {});

// The refusal verify_device_request gives when `record_jti` fails with `error`: kUnauthenticated naming the
// rule for a replay (kAlreadyExists, kConflict), an iat out of the window (kExpired) or a malformed jti
// (kInvalidArgument); any other error is returned unchanged. For callers that pass a recorder which only
// remembers the jti and record it themselves afterwards (in the transaction of the call's own work).
Error jti_refusal(const Error& error);

// The device id a request claims (its JWS header "kid"), read WITHOUT verifying anything: only for work
// that is safe on a false claim, such as subscribing to the device's wake-ups before the request is
// verified. nullopt when the request carries no readable kid.
std::optional<std::string> claimed_device_id(const SignedRequest& request);

// Parsed device keys, so a hot path (every request of every device) does not re-parse and re-validate
// the same JWK text. Keyed by device id and checked against the stored text, so a changed key is parsed
// afresh. Bounded: past `capacity` entries the least recently used is dropped. Thread-safe.
class DeviceKeyCache {
 public:
  explicit DeviceKeyCache(std::size_t capacity = 4096) : capacity_(capacity == 0 ? 1 : capacity) {}
  DeviceKeyCache(const DeviceKeyCache&) = delete;
  DeviceKeyCache& operator=(const DeviceKeyCache&) = delete;

  // The parsed key for `device_id` whose stored JWK text is `jwk_text`. kInvalidArgument when the text
  // is not a public EC P-256 key (a parse failure is not cached).
  Result<crypto::Jwk> get(std::string_view device_id, std::string_view jwk_text);

  std::size_t size() const;

 private:
  struct Entry {
    std::string jwk_text;
    crypto::Jwk key;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;
};

// Parses a device's public key (the header "jwk" at enrollment, or the stored text): a public EC P-256
// JWK. kInvalidArgument for anything else — another key type or curve, a malformed point, or any private
// member (d, p, q, dp, dq, qi, oth, k) present.
Result<crypto::Jwk> parse_device_public_key(const nlohmann::json& jwk);

}  // namespace avow::api
