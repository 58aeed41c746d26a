// DeviceClient: the device API calls, their answers parsed into structs, their errors into DeviceErrors.
#include <cctype>
#include <ctime>

#include "authenticator/device.h"
#include "authenticator/http_transport.h"

namespace avow::device {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxServerErrorSize = 64;
constexpr std::size_t kMaxServerDescriptionSize = 512;

DeviceError local_error(ErrorCode code, std::string message) {
  DeviceError e;
  e.kind = FailureKind::kLocal;
  e.code = code;
  e.message = std::move(message);
  return e;
}

DeviceError local_error(const Error& error) { return local_error(error.code, error.message); }

DeviceError bad_answer(const std::string& what) {
  DeviceError e;
  e.kind = FailureKind::kServer;
  e.code = ErrorCode::kInternal;
  e.message = "the server's answer cannot be read: " + what;
  return e;
}

ErrorCode code_for_status(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 410:
      return ErrorCode::kExpired;
    case 413:
      return ErrorCode::kInvalidArgument;
    case 429:
      return ErrorCode::kExhausted;
    default:
      return status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kInternal;
  }
}

// Maps a non-2xx answer: {"error","error_description"} when the body is that JSON, the status otherwise.
DeviceError status_error(int status, const std::string& body) {
  DeviceError e;
  e.kind = (status == 502 || status == 503 || status == 504) ? FailureKind::kNetwork : FailureKind::kServer;
  e.code = code_for_status(status);
  e.http_status = status;
  std::string description;
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    if (auto it = doc.find("error"); it != doc.end() && it->is_string())
      e.server_error = it->get<std::string>().substr(0, kMaxServerErrorSize);
    if (auto it = doc.find("error_description"); it != doc.end() && it->is_string())
      description = it->get<std::string>().substr(0, kMaxServerDescriptionSize);
  }
  if (!description.empty()) {
    e.message = description;
  } else if (!e.server_error.empty()) {
    e.message = "the server refused: " + e.server_error;
  } else {
    e.message = "the server answered HTTP " + std::to_string(status);
  }
  return e;
}

// Display text of a value the protocol leaves loosely typed (a name, or an object with one).
std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_object()) {
    for (const char* key : {"display_name", "name", "upn", "id"})
      if (auto it = v.find(key); it != v.end() && it->is_string()) return it->get<std::string>();
  }
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Display text of a time: Unix seconds become RFC 3339 UTC, strings are kept.
std::string time_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) {
    const std::time_t t = static_cast<std::time_t>(v.get<std::int64_t>());
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) return v.dump();
    char buf[32];
    if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return v.dump();
    return buf;
  }
  return "";
}

std::string member_text(const json& obj, const char* key, bool as_time = false) {
  auto it = obj.find(key);
  if (it == obj.end()) return "";
  return as_time ? time_text(*it) : text_of(*it);
}

bool is_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdSize) return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':') return false;
  return true;
}

// Path segments are stricter than ids in general: no ':' either.
bool is_path_id(std::string_view id) { return is_id(id) && id.find(':') == std::string_view::npos; }

bool is_hash(std::string_view h) {
  if (h.size() != 43) return false;  // base64url of 32 bytes, unpadded
  for (unsigned char c : h)
    if (!std::isalnum(c) && c != '-' && c != '_') return false;
  return true;
}

// 1–64 characters of valid UTF-8, no control characters.
Status check_name(std::string_view name) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > name.size())
      return fail(ErrorCode::kInvalidArgument, "the device name is not valid UTF-8");
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(name[i + k]) & 0xC0) != 0x80)
        return fail(ErrorCode::kInvalidArgument, "the device name is not valid UTF-8");
    if (len == 1 && (c < 0x20 || c == 0x7f))
      return fail(ErrorCode::kInvalidArgument, "the device name holds a control character");
    i += len;
    ++chars;
  }
  if (chars == 0 || chars > kMaxNameSize)
    return fail(ErrorCode::kInvalidArgument,
                "the device name must be 1 to " + std::to_string(kMaxNameSize) + " characters");
  return ok();
}

DeviceResult<Account> parse_account(const json& a) {
  Account out;
  out.user = member_text(a, "user");
  out.org = member_text(a, "org");
  out.integration = member_text(a, "integration");
  out.bound_at = member_text(a, "bound_at", /*as_time=*/true);
  if (auto b = a.find("binding_id"); b != a.end() && b->is_string() && is_id(b->get_ref<const std::string&>()))
    out.binding_id = b->get<std::string>();
  if (auto c = a.find("code"); c != a.end()) {
    if (out.binding_id.empty()) return tl::unexpected(bad_answer("an account has a \"code\" but no \"binding_id\""));
    auto secret = parse_code_secret(*c);
    if (!secret) return tl::unexpected(bad_answer("an account's code secret is unusable: " + secret.error().message));
    out.code = std::move(*secret);
  }
  return out;
}

DeviceResult<Challenge> parse_challenge(const json& c) {
  if (!c.is_object()) return tl::unexpected(bad_answer("a challenge is not an object"));
  Challenge out;
  auto id = c.find("id");
  if (id == c.end() || !id->is_string() || !is_id(id->get_ref<const std::string&>()))
    return tl::unexpected(bad_answer("a challenge has no valid \"id\""));
  out.id = id->get<std::string>();
  out.kind = member_text(c, "kind");
  auto choices = c.find("choices");
  if (choices == c.end() || !choices->is_array() || choices->empty() || choices->size() > 10)
    return tl::unexpected(bad_answer("challenge " + out.id + " has no \"choices\""));
  for (const json& n : *choices) {
    if (!n.is_number_integer() || n.get<std::int64_t>() < 0 || n.get<std::int64_t>() > 999'999'999)
      return tl::unexpected(bad_answer("challenge " + out.id + " has a choice that is not a number"));
    out.choices.push_back(n.get<int>());
  }
  auto context = c.find("context");
  if (context == c.end() || !context->is_object())
    return tl::unexpected(bad_answer("challenge " + out.id + " has no \"context\" object"));
  out.context = *context;
  out.shown = ChallengeContext{member_text(out.context, "integration"), member_text(out.context, "org"),
                               member_text(out.context, "user"),        member_text(out.context, "ip"),
                               member_text(out.context, "user_agent"),  member_text(out.context, "created_at", true)};
  out.context_hash = context_hash(out.context);
  if (auto h = c.find("context_hash"); h != c.end() && h->is_string()) out.server_context_hash = h->get<std::string>();
  out.expires_at = member_text(c, "expires_at", /*as_time=*/true);
  out.raw = c;
  return out;
}

}  // namespace

DeviceClient::DeviceClient(ClientOptions options, std::optional<DeviceIdentity> identity)
    : options_(std::move(options)),
      identity_(std::move(identity)),
      transport_(std::make_unique<detail::HttpTransport>(options_)) {}

DeviceClient::~DeviceClient() = default;
DeviceClient::DeviceClient(DeviceClient&&) noexcept = default;
DeviceClient& DeviceClient::operator=(DeviceClient&&) noexcept = default;

std::int64_t DeviceClient::now() const {
  return options_.clock != nullptr ? options_.clock->unix_now() : SystemClock::instance().unix_now();
}

DeviceResult<SignedRequest> DeviceClient::sign(std::string_view method, std::string_view endpoint, const json& fields) {
  if (!identity_)
    return tl::unexpected(local_error(
        ErrorCode::kNotFound, "this device is not enrolled (run `avow enroll --server URL` or `avow scan URL`)"));
  auto request = sign_request(identity_->key, identity_->device_id, method, identity_->server, endpoint, fields, now());
  if (!request) return tl::unexpected(local_error(request.error()));
  return std::move(*request);
}

DeviceResult<DeviceClient::Reply> DeviceClient::send(const SignedRequest& request,
                                                     std::chrono::milliseconds extra_time) {
  detail::HttpRequest http;
  http.method = request.method;
  http.url = request.url;
  if (!request.content_type.empty()) http.headers.push_back("Content-Type: " + request.content_type);
  if (!request.authorization.empty()) http.headers.push_back("Authorization: " + request.authorization);
  http.body = request.body;
  auto response = transport_->perform(http, extra_time);
  if (!response) return tl::unexpected(response.error());
  if (response->status < 200 || response->status > 299)
    return tl::unexpected(status_error(response->status, response->body));
  json body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) {
    DeviceError e = bad_answer("HTTP " + std::to_string(response->status) + " without a JSON object");
    e.http_status = response->status;
    return tl::unexpected(std::move(e));
  }
  return Reply{response->status, std::move(body)};
}

DeviceResult<DeviceIdentity> DeviceClient::enroll(std::string_view server_url, std::string_view name, bool force) {
  auto server = normalize_server_url(server_url, options_.allow_insecure_http);
  if (!server) return tl::unexpected(local_error(server.error()));
  if (identity_ && !force) {
    if (identity_->server == *server)
      return tl::unexpected(local_error(ErrorCode::kAlreadyExists, "this device is already enrolled with " + *server +
                                                                       " as device " + identity_->device_id));
    return tl::unexpected(local_error(
        ErrorCode::kConflict, "this device is enrolled with " + identity_->server + "; enrolling with " + *server +
                                  " would replace that identity (use --force, or another --home)"));
  }
  if (!options_.home.empty() && !force && std::filesystem::exists(DeviceIdentity::file_path(options_.home)))
    return tl::unexpected(local_error(
        ErrorCode::kAlreadyExists,
        DeviceIdentity::file_path(options_.home).string() + " already exists; refusing to replace it (use --force)"));
  const std::string device_name = name.empty() ? default_device_name() : std::string(name);
  if (auto checked = check_name(device_name); !checked) return tl::unexpected(local_error(checked.error()));

  auto key = crypto::Jwk::generate_ec_p256();
  if (!key) return tl::unexpected(local_error(key.error()));
  auto request =
      sign_request(*key, "", "POST", *server, "/enroll", json{{"name", device_name}, {"platform", "builtin"}}, now());
  if (!request) return tl::unexpected(local_error(request.error()));
  auto reply = send(*request);
  if (!reply) return tl::unexpected(reply.error());
  auto id = reply->body.find("device_id");
  if (id == reply->body.end() || !id->is_string() || !is_id(id->get_ref<const std::string&>()))
    return tl::unexpected(bad_answer("enroll returned no valid \"device_id\""));

  DeviceIdentity identity{*server, id->get<std::string>(), device_name, *key};
  if (!options_.home.empty()) {
    if (auto saved = identity.save(options_.home, force); !saved) {
      DeviceError e = local_error(saved.error());
      e.message += " (the server registered device " + identity.device_id + ", which stays unused)";
      return tl::unexpected(std::move(e));
    }
  }
  identity_ = identity;
  return identity;
}

DeviceResult<ScanResult> DeviceClient::scan(std::string_view code_or_url) {
  auto target = parse_scan_target(code_or_url, options_.allow_insecure_http);
  if (!target) return tl::unexpected(local_error(target.error()));
  ScanResult out;
  if (!identity_) {
    if (target->server.empty())
      return tl::unexpected(local_error(ErrorCode::kNotFound,
                                        "this device is not enrolled: scan the full URL (https://…/s/CODE), which "
                                        "enrolls it with that server, or run `avow enroll --server URL` first"));
    auto enrolled = enroll(target->server, {}, /*force=*/false);
    if (!enrolled) return tl::unexpected(enrolled.error());
    out.enrolled = true;
  } else if (!target->server.empty() && target->server != identity_->server) {
    return tl::unexpected(
        local_error(ErrorCode::kConflict,
                    "this code is from " + target->server + " but this device is enrolled with " + identity_->server));
  }

  auto request = sign("POST", "/scan", json{{"code", target->code}});
  if (!request) return tl::unexpected(request.error());
  auto reply = send(*request);
  if (!reply) return tl::unexpected(reply.error());
  const json& body = reply->body;
  auto result = body.find("result");
  if (result == body.end() || !result->is_string()) return tl::unexpected(bad_answer("scan returned no \"result\""));
  out.result = result->get<std::string>();
  if (auto a = body.find("account"); a != body.end() && a->is_object()) {
    auto account = parse_account(*a);
    if (!account) return tl::unexpected(account.error());
    out.account = std::move(*account);
    if (out.account->code && !options_.home.empty()) {
      // Keep the secret with the other accounts, so `avow code` works offline. Not saving it does not undo
      // the binding: the next `avow accounts` fetches it again.
      Result<AccountBook> book = AccountBook::load(options_.home);
      AccountBook fresh{identity_->server, identity_->device_id, {}};
      if (!book && book.error().code != ErrorCode::kNotFound) {
        out.save_error = book.error().message;
      } else {
        AccountBook& b = book ? *book : fresh;
        if (b.server != identity_->server || b.device_id != identity_->device_id) b = fresh;
        b.upsert(*out.account);
        if (Status saved = b.save(options_.home); saved)
          out.code_saved = true;
        else
          out.save_error = saved.error().message;
      }
    }
  }
  if (auto c = body.find("challenge_id"); c != body.end() && c->is_string()) out.challenge_id = c->get<std::string>();
  if (out.result.rfind("admin_", 0) == 0) {
    out.org = member_text(body, "org");
    out.admin = member_text(body, "admin");
    out.admin_email = member_text(body, "email");
    out.admin_role = member_text(body, "role");
  }
  out.raw = body;
  return out;
}

DeviceResult<std::vector<Challenge>> DeviceClient::pending(int wait_seconds) {
  if (wait_seconds < 0 || wait_seconds > kMaxWaitSeconds)
    return tl::unexpected(local_error(ErrorCode::kInvalidArgument,
                                      "--wait must be 0 to " + std::to_string(kMaxWaitSeconds) + " seconds"));
  auto request = sign("GET", "/challenges?wait=" + std::to_string(wait_seconds), nullptr);
  if (!request) return tl::unexpected(request.error());
  auto reply = send(*request, std::chrono::seconds(wait_seconds));
  if (!reply) return tl::unexpected(reply.error());
  auto list = reply->body.find("challenges");
  if (list == reply->body.end() || !list->is_array()) return tl::unexpected(bad_answer("no \"challenges\" array"));
  std::vector<Challenge> out;
  out.reserve(list->size());
  for (const json& c : *list) {
    auto challenge = parse_challenge(c);
    if (!challenge) return tl::unexpected(challenge.error());
    out.push_back(std::move(*challenge));
  }
  return out;
}

DeviceResult<AnswerResult> DeviceClient::answer(std::string_view challenge_id, Answer action, std::optional<int> number,
                                                std::string_view hash) {
  if (!is_path_id(challenge_id))
    return tl::unexpected(local_error(ErrorCode::kInvalidArgument,
                                      "not a challenge id: " + std::string(challenge_id.substr(0, kMaxIdSize))));
  if (!is_hash(hash))
    return tl::unexpected(local_error(ErrorCode::kInvalidArgument, "the context hash must be 43 base64url characters"));
  json fields{{"challenge", challenge_id}, {"action", to_string(action)}, {"context_hash", hash}};
  if (action == Answer::kApprove) {
    if (!number) return tl::unexpected(local_error(ErrorCode::kInvalidArgument, "approving needs the number"));
    if (*number < 0) return tl::unexpected(local_error(ErrorCode::kInvalidArgument, "the number must not be negative"));
    fields["number"] = *number;
  }
  auto request = sign("POST", "/challenges/" + std::string(challenge_id) + "/answer", fields);
  if (!request) return tl::unexpected(request.error());
  auto reply = send(*request);
  if (!reply) return tl::unexpected(reply.error());
  auto state = reply->body.find("state");
  if (state == reply->body.end() || !state->is_string()) return tl::unexpected(bad_answer("no \"state\""));
  AnswerResult out;
  out.state = state->get<std::string>();
  out.reason = member_text(reply->body, "reason");
  return out;
}

DeviceResult<std::vector<Account>> DeviceClient::accounts() {
  auto request = sign("GET", "/accounts", nullptr);
  if (!request) return tl::unexpected(request.error());
  auto reply = send(*request);
  if (!reply) return tl::unexpected(reply.error());
  auto list = reply->body.find("accounts");
  if (list == reply->body.end() || !list->is_array()) return tl::unexpected(bad_answer("no \"accounts\" array"));
  std::vector<Account> out;
  for (const json& a : *list) {
    if (!a.is_object()) return tl::unexpected(bad_answer("an account is not an object"));
    auto account = parse_account(a);
    if (!account) return tl::unexpected(account.error());
    out.push_back(std::move(*account));
  }
  if (!options_.home.empty()) {
    AccountBook book{identity_->server, identity_->device_id, {}};
    for (const Account& a : out)
      if (!a.binding_id.empty()) book.upsert(a);
    if (Status saved = book.save(options_.home); !saved) return tl::unexpected(local_error(saved.error()));
  }
  return out;
}

}  // namespace avow::device
