// avow/authenticator/device.h — the device side of Avow: its identity and a client of the device API
// (docs/device-api.md). The `avow` CLI is built on this; so can any other authenticator app.
//
//   ClientOptions options{.home = "/home/me/.avow"};
//   Result<DeviceIdentity> id = DeviceIdentity::load(options.home);   // kNotFound before enrolment
//   DeviceClient client(options, id ? std::optional(*id) : std::nullopt);
//   auto bound = client.scan("https://avow.example.com/s/Xk3…");      // enrols (and saves) first if needed
//   auto list = client.pending(25);                                     // long-poll, up to 25 s
//   const Challenge& c = list->front();                                 // show c.shown and c.choices
//   client.answer(c.id, Answer::kApprove, number_the_user_picked, c.context_hash);
//
// Every request is signed with the device's P-256 key exactly as docs/device-api.md says: one compact JWS,
// the POST body (`Content-Type: application/jose`) or `Authorization: AvowDevice <jws>` on a GET, whose
// payload binds the method (`htm`), the request target (`htu`), the time (`iat`) and a fresh `jti` to the
// call's fields. TLS is verified; plain http:// is only spoken to a loopback host unless explicitly allowed.
//
// Failures are `DeviceError`s, which say whether the fault is local (identity, arguments), the network, or
// a refusal by the server (with its `error` code), so a front end can tell "fix your set-up" from "try
// again" from "no". A DeviceClient is not thread-safe: use one per thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/jwk.h"
#include "crypto/otp.h"

namespace avow::device {

namespace detail {
class HttpTransport;
}

// Bounds on what this side reads.
inline constexpr std::size_t kMaxIdentityFileSize = 64 * 1024;
inline constexpr std::size_t kMaxResponseSize = 1024 * 1024;  // one answer from the server
inline constexpr std::size_t kMaxUrlSize = 2048;
inline constexpr std::size_t kMaxCodeSize = 256;  // a ScanCode's code
inline constexpr std::size_t kMaxIdSize = 128;    // device and challenge ids
inline constexpr std::size_t kMaxNameSize = 64;   // a device name, in characters (UTF-8 code points)
inline constexpr int kMaxWaitSeconds = 30;        // the long-poll bound of GET /challenges
inline constexpr std::string_view kIdentityFileName = "device.json";
inline constexpr std::string_view kAccountsFileName = "accounts.json";
inline constexpr std::string_view kApiBasePath = "/api/device/v1";
inline constexpr std::string_view kJwsType = "avow-device+jwt";

// ---------------------------------------------------------------------------------------------------------
// Identity

// Who this device is to one server. Kept in `<home>/device.json`, mode 0600:
//   {"format":"avow-device","version":1,"server":…,"device_id":…,"name":…,"key":{private EC JWK}}
struct DeviceIdentity {
  std::string server;     // the server's public URL, normalised (see normalize_server_url)
  std::string device_id;  // given by the server at enrolment; the `kid` of every later request
  std::string name;       // what the server and the dashboard call this device
  crypto::Jwk key;        // the device's private EC P-256 key

  // `<home>/device.json`.
  static std::filesystem::path file_path(const std::filesystem::path& home);

  // Reads the identity in `home`. kNotFound: no identity file (the device is not enrolled).
  // kPermissionDenied: the file is readable or writable by group or others, is owned by another user, or is
  // a symbolic link — a key others could read is not trusted and not used. kInvalidArgument: the file is
  // not a regular file, is larger than kMaxIdentityFileSize, or is corrupt (truncated or invalid JSON, a
  // missing or malformed member, a key that is not a private P-256 key). kUnavailable: an I/O error.
  // Every message names the file and says what to do.
  static Result<DeviceIdentity> load(const std::filesystem::path& home);

  // Writes the identity to `home` atomically: `home` is created 0700 when missing, the text goes to a 0600
  // temporary file in `home` that is fsynced and then renamed over (or, without `overwrite`, linked to)
  // `device.json`, so a crash leaves the old file or the new one, never half of one.
  // kAlreadyExists: `device.json` exists and `overwrite` is false (an identity is never replaced silently).
  // kInvalidArgument: the key is not a private P-256 key, or a member is empty. kUnavailable: the directory
  // or the file cannot be created, written, synced or renamed.
  Status save(const std::filesystem::path& home, bool overwrite = false) const;

  // The JSON document save() writes (it holds the private key: never log it).
  Result<nlohmann::json> to_json() const;
  // Parses that document with the checks load() makes on the content (kInvalidArgument when malformed).
  static Result<DeviceIdentity> from_json(const nlohmann::json& document);
};

// ---------------------------------------------------------------------------------------------------------
// Errors

enum class FailureKind {
  kLocal,      // this device: identity file, arguments, configuration (the CLI exits 2)
  kNetwork,    // the server could not be reached, TLS failed, timed out, or a proxy said 502/503/504 (exit 3)
  kServer,     // the server answered with an error, or with an answer this client cannot read (exit 1)
  kCancelled,  // ClientOptions::cancel was set during the call
};
std::string_view to_string(FailureKind kind);

struct DeviceError {
  FailureKind kind = FailureKind::kLocal;
  ErrorCode code = ErrorCode::kInternal;  // from the HTTP status for kServer (404 → kNotFound, 409 → kConflict…)
  std::string message;                    // for a person; the server's error_description when it gave one
  int http_status = 0;                    // kServer/kNetwork from HTTP: the status
  std::string server_error;               // kServer: the answer's "error" member, e.g. "invalid_code"

  Error to_error() const { return Error{code, message}; }
};

template <class T>
using DeviceResult = tl::expected<T, DeviceError>;

// ---------------------------------------------------------------------------------------------------------
// What the server sends

// The context of a challenge, as text fit to show (numbers and times formatted, other values as JSON).
// These strings come from the server and partly from a stranger's browser (user_agent): strip control
// characters before writing them to a terminal.
struct ChallengeContext {
  std::string integration;
  std::string org;
  std::string user;
  std::string ip;
  std::string user_agent;
  std::string created_at;
};

struct Challenge {
  std::string id;
  std::string kind;
  std::vector<int> choices;         // the numbers to pick from (three); the browser shows one of them
  nlohmann::json context;           // the "context" object exactly as parsed
  ChallengeContext shown;           // `context` as display text
  std::string context_hash;         // context_hash(context), computed here: what answer() must send
  std::string server_context_hash;  // the "context_hash" the server sent ("" when absent)
  std::string expires_at;           // display text ("" when absent)
  nlohmann::json raw;               // the whole challenge object, for --json output
};

// A binding's fallback-code secret as the server delivers it (docs/device-api.md "Fallback codes"): TOTP,
// RFC 6238. The secret is raw bytes (the wire's base32 decoded): never print or log it.
struct CodeSecret {
  std::string secret;
  crypto::OtpAlgorithm algorithm = crypto::OtpAlgorithm::kSha1;
  int digits = 6;
  std::int64_t period = 30;
};

// The server's "code" object → CodeSecret. kInvalidArgument naming the member that is wrong: a secret that
// is not base32 of 10 bytes or more, an unknown algorithm, digits outside 6–8, a period outside 1–3600 s.
Result<CodeSecret> parse_code_secret(const nlohmann::json& code);
// The inverse, as accounts.json stores it (it holds the secret).
nlohmann::json code_secret_json(const CodeSecret& code);

// The code to type now and how many seconds it stays the current one (1..period).
struct CurrentCode {
  std::string code;
  int seconds_left = 0;
};
// kInvalidArgument when the secret's parameters are out of range (see crypto::totp_at).
Result<CurrentCode> current_code(const CodeSecret& secret, std::int64_t unix_time);

struct Account {
  std::string user;
  std::string org;
  std::string integration;
  std::string bound_at;            // display text ("" when absent)
  std::string binding_id;          // "" from a server that does not send it
  std::optional<CodeSecret> code;  // the binding's fallback-code secret, when the server sent one
};

// The accounts this device is bound to, with their code secrets, kept in `<home>/accounts.json` so that
// `avow code` works with the phone offline. Mode 0600, written atomically like the identity:
//   {"format":"avow-accounts","version":1,"server":…,"device_id":…,
//    "accounts":[{"binding_id","user","org","integration","bound_at","code":{"secret","algorithm","digits","period"}}]}
// The client updates it: POST /scan adds the new binding's account, GET /accounts replaces the list (the
// server's list is the whole truth: a revoked binding's secret goes).
struct AccountBook {
  std::string server;  // the identity's server and device: a book of another identity is not used
  std::string device_id;
  std::vector<Account> accounts;

  static std::filesystem::path file_path(const std::filesystem::path& home);
  // kNotFound when there is no file yet; kPermissionDenied / kInvalidArgument / kUnavailable as for
  // DeviceIdentity::load (loose permissions, a link, another owner, corrupt or oversized content, I/O).
  static Result<AccountBook> load(const std::filesystem::path& home);
  // Replaces the file atomically (0600 temporary, fsync, rename, fsync of the directory). kInvalidArgument
  // when server, device_id or an account's binding_id is empty; kUnavailable on an I/O error.
  Status save(const std::filesystem::path& home) const;
  Result<nlohmann::json> to_json() const;
  static Result<AccountBook> from_json(const nlohmann::json& document, const std::string& what);

  // Adds the account, or replaces the one with the same binding_id.
  void upsert(const Account& account);
  // The account with a code that `query` names: its UPN (any case), or a part of it that only one account's
  // UPN holds; an empty query names the only such account. kNotFound: no account with a code, or none
  // matches; kInvalidArgument: ambiguous (the message says so).
  Result<const Account*> find(std::string_view query) const;
};

struct ScanResult {
  // "bound"; "admin_signup" | "admin_signin" | "admin_invite" (a dashboard code); or a later purpose this
  // version shows as is
  std::string result;
  std::optional<Account> account;  // for "bound"
  // For a dashboard code: the org, and the admin this device now signs in (display name, email, role
  // "owner" | "admin"). Display text from the server: strip control characters before printing.
  std::string org;
  std::string admin;
  std::string admin_email;
  std::string admin_role;
  // The account's code secret was saved in accounts.json (a failure to save does not fail the scan: it is
  // in `save_error`, and `avow accounts` fetches the secret again).
  bool code_saved = false;
  std::string save_error;
  std::string challenge_id;  // the confirmation pushed after binding ("" when none)
  bool enrolled = false;     // true when this scan enrolled the device first
  nlohmann::json raw;        // the server's answer
};

enum class Answer { kApprove, kDeny, kFraud };
std::string_view to_string(Answer action);  // "approve" | "deny" | "fraud"

struct AnswerResult {
  std::string state;   // "approved" | "denied"
  std::string reason;  // for denied: "denied" | "wrong_number" | "fraud" ("" when absent)
};

// ---------------------------------------------------------------------------------------------------------
// Requests (public so tests, and apps with their own HTTP stack, can build exactly what the client sends)

// A signed request ready to send.
struct SignedRequest {
  std::string method;         // "GET" | "POST"
  std::string url;            // absolute: origin + target
  std::string target;         // path and query as sent; equals the payload's `htu`
  std::string content_type;   // POST: "application/jose"; GET: ""
  std::string authorization;  // GET: "AvowDevice <jws>"; POST: ""
  std::string body;           // POST: the JWS; GET: ""
  std::string jws;            // the token, either way
};

// Builds and signs a device API request. `endpoint` is relative to the API base ("/scan",
// "/challenges?wait=25"); the target is the server URL's path + kApiBasePath + endpoint. With a non-empty
// `device_id` the protected header is {"alg":"ES256","typ":"avow-device+jwt","kid":device_id}; with an
// empty one (enrolment) it carries "jwk" (the public key) instead — and, because crypto::jws::sign always
// writes a "kid", kid = the key's RFC 7638 thumbprint. The payload is `fields` plus htm, htu, iat and a
// fresh jti (16 random bytes, base64url). kInvalidArgument: the key is not a private P-256 key, the method is
// not GET/POST, `server` is not a normalised server URL, `endpoint` does not start with '/', `fields` is not
// an object (null counts as empty) or sets htm/htu/iat/jti, or a GET carries fields.
Result<SignedRequest> sign_request(const crypto::Jwk& key, std::string_view device_id, std::string_view method,
                                   std::string_view server, std::string_view endpoint, const nlohmann::json& fields,
                                   std::int64_t iat);

// base64url(SHA-256(text of `context`)). The device must hash the context it showed, and both sides must
// hash the same bytes. The rule both sides follow: the text is `context.dump()` of the parsed object —
// nlohmann::json keeps object members sorted by key and dump() writes no spaces, so the server, which sends
// `context.dump()` verbatim, and this client, which re-serialises what it parsed, produce the same text.
std::string context_hash(const nlohmann::json& context);

// Normalises a server URL to "scheme://host[:port][/path]": scheme and host lowercased, a default port
// dropped, trailing slashes removed. kInvalidArgument: longer than kMaxUrlSize, not http(s), with user
// info, a query or a fragment, or plain http:// to a host other than localhost/127.0.0.0/8/[::1] unless
// `allow_insecure_http`.
Result<std::string> normalize_server_url(std::string_view url, bool allow_insecure_http = false);

// What a scanned QR code or a typed code names.
struct ScanTarget {
  std::string server;  // normalised public URL; "" for a bare code
  std::string code;
};

// Accepts a ScanCode URL "<public_url>/s/<code>" (the server is everything before "/s/") or a bare code
// (1–kMaxCodeSize characters of [A-Za-z0-9_-]). kInvalidArgument for anything else, with the reason.
Result<ScanTarget> parse_scan_target(std::string_view code_or_url, bool allow_insecure_http = false);

// This machine's host name cut to kMaxNameSize, or "avow" when it has none: the default device name.
std::string default_device_name();

// ---------------------------------------------------------------------------------------------------------
// Client

struct ClientOptions {
  std::filesystem::path home;        // enrol() saves the new identity here; empty → kept in memory only
  std::string ca_file;               // PEM CAs to trust instead of the system's (a dev self-signed cert)
  bool allow_insecure_http = false;  // permit plain http:// to a non-loopback host
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};  // per call, added to a long-poll's wait
  std::size_t max_response_size = kMaxResponseSize;
  const Clock* clock = nullptr;               // for `iat`; nullptr → the system clock
  const std::atomic<bool>* cancel = nullptr;  // when it becomes true, a call in flight ends with kCancelled
  std::string user_agent = "avow/0.1";
};

class DeviceClient {
 public:
  explicit DeviceClient(ClientOptions options, std::optional<DeviceIdentity> identity = std::nullopt);
  ~DeviceClient();
  DeviceClient(DeviceClient&&) noexcept;
  DeviceClient& operator=(DeviceClient&&) noexcept;

  const std::optional<DeviceIdentity>& identity() const { return identity_; }
  const ClientOptions& options() const { return options_; }

  // POST /enroll: makes a new P-256 key, registers it with `server` under `name` (default_device_name()
  // when empty), keeps the identity and, when options().home is set, saves it there (replacing a file
  // only with `force`). kLocal: the URL or the name (1–64 characters) is invalid; an identity is already
  // held and `force` is false (kAlreadyExists for the same server, kConflict for another); the identity
  // cannot be saved (the server then holds an unused device, which is harmless). kNetwork/kServer: the call.
  DeviceResult<DeviceIdentity> enroll(std::string_view server, std::string_view name = {}, bool force = false);

  // POST /scan with the code named by `code_or_url` (see parse_scan_target). Without an identity, a full
  // URL first enrols with the URL's server (name = default_device_name()). kLocal: malformed input; a bare
  // code without an identity; a URL of another server than the device's (kConflict). kServer: e.g.
  // server_error "invalid_code" (404: unknown, used or expired) or "user_has_device" (409).
  DeviceResult<ScanResult> scan(std::string_view code_or_url);

  // GET /challenges?wait=N: the pending challenges, waiting up to `wait_seconds` (0–30, else kLocal) for
  // one. Challenges the client cannot read (no id, choices not numbers) are a kServer error.
  DeviceResult<std::vector<Challenge>> pending(int wait_seconds = 0);

  // POST /challenges/{id}/answer. `number` is required for kApprove (kLocal without it) and ignored
  // otherwise; `context_hash` is that of the context shown (Challenge::context_hash). kLocal: malformed id
  // or hash. kServer: "already_decided" (409), "expired" (410), "not_bound" (403)… A wrong number is not
  // an error: the answer is {"state":"denied","reason":"wrong_number"}.
  DeviceResult<AnswerResult> answer(std::string_view challenge_id, Answer action, std::optional<int> number,
                                    std::string_view context_hash);

  // GET /accounts: the users this device is bound to. With options().home set, the list (with the code
  // secrets) replaces accounts.json; a failure to save is a kLocal error after the call succeeded.
  DeviceResult<std::vector<Account>> accounts();

 private:
  struct Reply {
    int status = 0;
    nlohmann::json body;  // a JSON object
  };
  // Signs with the held identity (kLocal when there is none).
  DeviceResult<SignedRequest> sign(std::string_view method, std::string_view endpoint, const nlohmann::json& fields);
  // Sends; a non-2xx answer becomes a DeviceError, a 2xx answer must be a JSON object.
  DeviceResult<Reply> send(const SignedRequest& request, std::chrono::milliseconds extra_time = {});
  std::int64_t now() const;

  ClientOptions options_;
  std::optional<DeviceIdentity> identity_;
  std::unique_ptr<detail::HttpTransport> transport_;
};

}  // namespace avow::device
