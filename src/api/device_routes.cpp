#include <utility>  // before Asio: asio#944

#include "api/device_routes.h"

#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "crypto/otp.h"
#include "domain/admin_access.h"
#include "domain/codes.h"
#include "domain/devices.h"
#include "domain/hashing.h"
#include "domain/sign_in.h"
#include "store/repositories.h"

namespace avow::api {
namespace {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using nlohmann::json;

// What every handler shares: the dependencies and the parsed-key cache.
struct Context {
  explicit Context(DeviceRouteDeps d) : deps(std::move(d)), keys(deps.key_cache_capacity) {}
  DeviceRouteDeps deps;
  DeviceKeyCache keys;
};
using Ctx = std::shared_ptr<Context>;

// docs/device-api.md: every error is {"error", "error_description"}.
Response api_error(int status, std::string_view code, std::string_view description) {
  return Response::json(status, {{"error", code}, {"error_description", description}});
}

Response invalid_request(std::string_view description) { return api_error(400, "invalid_request", description); }

// A failure that is not the device's fault: the database is unreachable, or a bug.
Response server_failure(const Error& e, const Request& req) {
  log::error("device api: request failed",
             {{"request_id", req.request_id}, {"error", e.message}, {"code", to_string(e.code)}});
  if (e.code == ErrorCode::kUnavailable) return api_error(503, "unavailable", "the service is unavailable; retry");
  return api_error(500, "internal", "internal error");
}

// What a worker hands back to the coroutine: the answer, and the hub topics to wake once it is decided.
struct Outcome {
  Response response;
  std::vector<std::string> notify;
};

SignedRequest parts_of(const Request& r) {
  return SignedRequest{r.method, r.target, r.body, r.header("content-type"), r.header("authorization")};
}

// A signed request's jti, verified but not yet recorded: the caller records it in the transaction of the
// call's own work (one commit instead of two), with record_jti_in().
struct DeferredJti {
  std::string subject;
  std::string jti;
  std::int64_t iat = 0;
};

// Writes the device's last_seen_at when it is older than touch_interval. A failure is only logged.
void touch_if_due(Context& ctx, store::Db& db, const VerifiedRequest& caller) {
  const Clock& clock = *ctx.deps.clock;
  const std::int64_t now = clock.unix_now();
  if (!caller.last_seen_at || now - *caller.last_seen_at >= ctx.deps.touch_interval.count()) {
    if (Status touched = domain::DeviceService(db, clock).touch(caller.device_id); !touched)
      log::warn("device api: last_seen_at not recorded",
                {{"device_id", caller.device_id}, {"error", touched.error().message}});
  }
}

// The authenticated caller, or the response refusing it. Runs on a worker (it reads and writes the
// database). A device's last_seen_at is written at most once per touch_interval. With `deferred`, the jti
// is only remembered there (and last_seen_at left alone): the caller must record_jti_in() it before doing
// anything on the request's behalf, and touch_if_due() once it is recorded.
tl::expected<VerifiedRequest, Response> authenticate(Context& ctx, store::Db& db, const Request& req, KeyMode mode,
                                                     DeferredJti* deferred = nullptr) {
  const Clock& clock = *ctx.deps.clock;
  const std::int64_t window = ctx.deps.iat_window_seconds;
  const DeviceKeyLookup lookup = [&ctx, &db, &clock](std::string_view id) -> Result<DeviceKey> {
    Result<store::DeviceRecord> device = domain::DeviceService(db, clock).get(id);
    if (!device) return tl::unexpected(device.error());
    Result<crypto::Jwk> key = ctx.keys.get(device->id, device->public_jwk);
    if (!key) {
      // Enrollment checked the key, so this is a damaged row: the device cannot be verified.
      log::error("device api: stored device key is unusable", {{"device_id", device->id}});
      return fail(ErrorCode::kNotFound, "device key unusable");
    }
    return DeviceKey{std::move(*key), device->status == store::DeviceStatus::kActive, device->last_seen_at};
  };
  const JtiRecorder record = [&db, &clock, window, deferred](std::string_view subject, std::string_view jti,
                                                             std::int64_t iat) -> Status {
    if (deferred) {
      *deferred = DeferredJti{std::string(subject), std::string(jti), iat};
      return ok();
    }
    return domain::accept_device_request(db, clock, subject, jti, iat, window);
  };
  VerifyOptions options;
  options.iat_window_seconds = window;
  Result<VerifiedRequest> verified = verify_device_request(parts_of(req), mode, lookup, record, clock, options);
  if (!verified) {
    if (verified.error().code != ErrorCode::kUnauthenticated)
      return tl::unexpected(server_failure(verified.error(), req));
    log::info("device api: request refused", {{"request_id", req.request_id}, {"reason", verified.error().message}});
    return tl::unexpected(api_error(401, "invalid_signature", verified.error().message));
  }
  if (mode == KeyMode::kDevice && !deferred) touch_if_due(ctx, db, *verified);
  return std::move(*verified);
}

// Records a deferred jti in `tx` (see authenticate). The refusal response for a replayed or stale request
// as verify_device_request gives it; nullopt when recorded. A database failure is returned as an error.
Result<std::optional<Response>> record_jti_in(Context& ctx, store::Db& tx, const Request& req, const DeferredJti& jti) {
  Status recorded =
      domain::accept_device_request(tx, *ctx.deps.clock, jti.subject, jti.jti, jti.iat, ctx.deps.iat_window_seconds);
  if (recorded) return std::optional<Response>();
  Error e = jti_refusal(recorded.error());
  if (e.code != ErrorCode::kUnauthenticated) return tl::unexpected(std::move(e));
  log::info("device api: request refused", {{"request_id", req.request_id}, {"reason", e.message}});
  return std::optional<Response>(api_error(401, "invalid_signature", e.message));
}

// A string field of the payload, or nullptr when absent or not a string.
const std::string* string_field(const json& payload, const char* name) {
  auto it = payload.find(name);
  return it != payload.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

domain::SignInService sign_in(Context& ctx, store::Db& db) {
  domain::SignInService s(db, *ctx.deps.clock, ctx.deps.challenge_policy, ctx.deps.scan_code_policy,
                          ctx.deps.lockout_policy, {ctx.deps.master_key, ctx.deps.code_policy});
  s.use_org_lockout(true);  // an org's saved lockout threshold applies to its users' answers
  return s;
}

// docs/device-api.md "Fallback codes": the binding's TOTP secret as the device stores it.
json code_json(const domain::CodeSecret& c) {
  return {{"binding_id", c.binding_id},
          {"secret", crypto::base32_encode(c.secret)},
          {"algorithm", crypto::to_string(domain::kCodeAlgorithm)},
          {"digits", domain::kCodeDigits},
          {"period", domain::kCodePeriodSeconds}};
}

json challenge_json(const domain::DeviceChallenge& c) {
  json context = json::parse(c.context_json, nullptr, /*allow_exceptions=*/false);
  if (!context.is_object()) {
    log::error("device api: challenge context is not a JSON object", {{"challenge_id", c.challenge.id}});
    context = json::object();
  } else if (context.dump(-1, ' ', false, json::error_handler_t::replace) != c.context_json) {
    // The device hashes context.dump() of what it parsed; the server hashes context_json. They agree
    // only while the domain writes the context in that same form (sorted keys, no spaces).
    log::warn("device api: challenge context is not in canonical form", {{"challenge_id", c.challenge.id}});
  }
  return {{"id", c.challenge.id},
          {"kind", store::to_string(c.challenge.kind)},
          {"choices", c.challenge.choices},
          {"context", std::move(context)},
          {"context_hash", domain::context_hash(c.context_json)},
          {"expires_at", c.challenge.expires_at}};
}

// ---------------------------------------------------------------------------------------------------------
// Workers: plain functions run on the BlockingPool, one database connection each.

Outcome enroll_work(Context& ctx, const Request& req) {
  Result<store::Connection> conn = ctx.deps.database->connection();
  if (!conn) return {server_failure(conn.error(), req), {}};
  store::Db& db = **conn;
  auto caller = authenticate(ctx, db, req, KeyMode::kEnrollment);
  if (!caller) return {std::move(caller.error()), {}};

  const std::string* name = string_field(caller->payload, "name");
  if (!name) return {invalid_request("name must be a string of 1 to 64 characters"), {}};
  const std::string* platform = string_field(caller->payload, "platform");
  if (!platform || *platform != "builtin")
    return {invalid_request("platform must be \"builtin\" (push platforms are not supported yet)"), {}};

  domain::NewDevice device;
  device.name = *name;
  device.public_jwk = caller->enrollment_key->to_public_json().dump();
  device.push_platform = store::PushPlatform::kBuiltin;
  Result<store::DeviceRecord> created = domain::DeviceService(db, *ctx.deps.clock).enroll(device);
  if (!created) {
    if (created.error().code == ErrorCode::kInvalidArgument) return {invalid_request(created.error().message), {}};
    return {server_failure(created.error(), req), {}};
  }
  log::info("device api: device enrolled", {{"request_id", req.request_id}, {"device_id", created->id}});
  return {Response::json(201, {{"device_id", created->id}}), {}};
}

// POST /scan with a dashboard admin code (sign-up, sign-in, invite): domain::AdminAccessService::scan.
Outcome admin_scan(Context& ctx, store::Db& db, const Request& req, const std::string& code,
                   const std::string& device_id) {
  domain::AdminAccessService access(db, *ctx.deps.clock, {.open_signup = ctx.deps.open_signup},
                                    ctx.deps.scan_code_policy, ctx.deps.challenge_policy);
  Result<domain::AdminScanResult> scanned = access.scan(code, device_id, req.remote_address);
  if (!scanned) {
    switch (scanned.error().code) {
      case ErrorCode::kUnauthenticated:
      case ErrorCode::kExpired:
      case ErrorCode::kNotFound:
        return {api_error(404, "invalid_code", "the code is unknown, used or expired"), {}};
      // The device is no admin's (sign-in), or the invited admin was removed.
      case ErrorCode::kPermissionDenied:
        return {api_error(403, "not_an_admin", scanned.error().message), {}};
      // Sign-up closed meanwhile, or the invited admin has a device already.
      case ErrorCode::kConflict: {
        Result<std::optional<store::ScanCodeRecord>> rec =
            store::ScanCodeRepo(db).find_by_hash(domain::sha256_hex(code));
        const bool signup = rec && *rec && (*rec)->purpose == store::ScanCodePurpose::kAdminSignup;
        return {api_error(409, signup ? "signup_closed" : "admin_has_device", scanned.error().message), {}};
      }
      case ErrorCode::kInvalidArgument:
        return {invalid_request(scanned.error().message), {}};
      default:
        return {server_failure(scanned.error(), req), {}};
    }
  }
  log::info("device api: admin code scanned", {{"request_id", req.request_id},
                                               {"purpose", std::string(store::to_string(scanned->purpose))},
                                               {"admin_id", scanned->admin.id}});
  json body = {{"result", store::to_string(scanned->purpose)},
               {"org", scanned->org.name},
               {"admin", scanned->admin.display_name},
               {"email", scanned->admin.email},
               {"role", store::to_string(scanned->admin.role)}};
  return {Response::json(200, body), std::move(scanned->notify)};
}

Outcome scan_work(Context& ctx, const Request& req) {
  Result<store::Connection> conn = ctx.deps.database->connection();
  if (!conn) return {server_failure(conn.error(), req), {}};
  store::Db& db = **conn;
  auto caller = authenticate(ctx, db, req, KeyMode::kDevice);
  if (!caller) return {std::move(caller.error()), {}};

  const std::string* code = string_field(caller->payload, "code");
  if (!code || code->empty() || code->size() > kMaxScanCodeChars)
    return {invalid_request("code must be a string of 1 to 256 characters"), {}};
  Result<domain::ScanResult> scanned = sign_in(ctx, db).scan(*code, caller->device_id, req.remote_address);
  if (!scanned) {
    switch (scanned.error().code) {
      // Unknown, used and expired codes get one answer, so a guesser learns nothing from it.
      case ErrorCode::kUnauthenticated:
      case ErrorCode::kExpired:
      case ErrorCode::kConflict:
      case ErrorCode::kNotFound:
        return {api_error(404, "invalid_code", "the code is unknown, used or expired"), {}};
      // The domain's words say which refusal it was (a device already bound, a locked user).
      case ErrorCode::kPermissionDenied:
        return {api_error(409, "user_has_device", scanned.error().message), {}};
      // A valid code of another purpose: a dashboard admin code.
      case ErrorCode::kInvalidArgument:
        return admin_scan(ctx, db, req, *code, caller->device_id);
      default:
        return {server_failure(scanned.error(), req), {}};
    }
  }
  json account = {
      {"user", scanned->user_label}, {"org", scanned->org_name}, {"integration", scanned->integration_name}};
  if (scanned->code_secret) {
    account["binding_id"] = scanned->code_secret->binding_id;
    account["code"] = code_json(*scanned->code_secret);
  }
  json body = {{"result", "bound"}, {"account", std::move(account)}, {"challenge_id", scanned->challenge_id}};
  return {Response::json(200, body), std::move(scanned->notify)};
}

// The pending list as the response; `*empty` tells whether it listed nothing (when non-null).
Response pending_response(Context& ctx, store::Db& db, std::string_view device_id, const Request& req,
                          bool* empty = nullptr) {
  Result<std::vector<domain::DeviceChallenge>> pending = sign_in(ctx, db).pending_for_device(device_id);
  if (!pending) {
    // Revoked between the signature check and this read (or during a long-poll).
    if (pending.error().code == ErrorCode::kPermissionDenied)
      return api_error(401, "invalid_signature", "unknown or revoked device");
    return server_failure(pending.error(), req);
  }
  if (empty) *empty = pending->empty();
  json list = json::array();
  for (const domain::DeviceChallenge& c : *pending) list.push_back(challenge_json(c));
  return Response::json(200, {{"challenges", std::move(list)}});
}

// The first read of GET /challenges: authenticate, then list. `device_id` is set when the caller is
// authenticated (a later re-read needs no second check: the request was verified once).
struct PendingRead {
  Response response;
  std::optional<std::string> device_id;
  bool empty = false;
};

PendingRead first_pending_work(Context& ctx, const Request& req) {
  Result<store::Connection> conn = ctx.deps.database->connection();
  if (!conn) return {server_failure(conn.error(), req), std::nullopt, false};
  store::Db& db = **conn;
  auto caller = authenticate(ctx, db, req, KeyMode::kDevice);
  if (!caller) return {std::move(caller.error()), std::nullopt, false};
  bool empty = false;
  Response r = pending_response(ctx, db, caller->device_id, req, &empty);
  return {std::move(r), caller->device_id, empty};
}

Response pending_work(Context& ctx, const Request& req, const std::string& device_id) {
  Result<store::Connection> conn = ctx.deps.database->connection();
  if (!conn) return server_failure(conn.error(), req);
  return pending_response(ctx, **conn, device_id, req);
}

// The answer itself, for an authenticated caller whose jti is recorded in `tx`.
Outcome answer_in(Context& ctx, store::Db& tx, const Request& req, const VerifiedRequest* caller);

// The jti and the decision commit together: one write transaction per answer. The signature is checked
// before it opens, so the write lock is never held across the ECDSA verification.
Outcome answer_work(Context& ctx, const Request& req) {
  Result<store::Connection> conn = ctx.deps.database->connection();
  if (!conn) return {server_failure(conn.error(), req), {}};
  store::Db& db = **conn;
  DeferredJti jti;
  auto caller = authenticate(ctx, db, req, KeyMode::kDevice, &jti);
  if (!caller) return {std::move(caller.error()), {}};
  Outcome out;
  bool recorded = false;
  Status st = db.transaction([&](store::Db& tx) -> Status {
    recorded = false;
    Result<std::optional<Response>> refused = record_jti_in(ctx, tx, req, jti);
    if (!refused) return tl::unexpected(refused.error());
    if (*refused) {
      out = Outcome{std::move(**refused), {}};
      return ok();
    }
    recorded = true;
    out = answer_in(ctx, tx, req, &*caller);
    // A database failure rolls the jti back with the rest: the device may send the answer again.
    if (out.response.status >= 500) return fail(ErrorCode::kUnavailable, "the answer could not be recorded");
    return ok();
  });
  if (!st) {
    if (out.response.status >= 500) return out;
    return {server_failure(st.error(), req), {}};
  }
  if (recorded) touch_if_due(ctx, db, *caller);
  return out;
}

Outcome answer_in(Context& ctx, store::Db& db, const Request& req, const VerifiedRequest* caller) {
  const json& p = caller->payload;

  const std::string_view id = req.param("id").value_or("");
  const std::string* challenge = string_field(p, "challenge");
  if (!challenge || *challenge != id) return {invalid_request("challenge must equal the challenge id in the path"), {}};
  const std::string* action_text = string_field(p, "action");
  domain::DeviceAction action;
  if (action_text && *action_text == "approve") {
    action = domain::DeviceAction::kApprove;
  } else if (action_text && *action_text == "deny") {
    action = domain::DeviceAction::kDeny;
  } else if (action_text && *action_text == "fraud") {
    action = domain::DeviceAction::kFraud;
  } else {
    return {invalid_request("action must be \"approve\", \"deny\" or \"fraud\""), {}};
  }
  int number = 0;
  if (action == domain::DeviceAction::kApprove) {
    auto n = p.find("number");
    if (n == p.end() || !n->is_number_integer() || n->get<std::int64_t>() < 0 || n->get<std::int64_t>() > 999'999'999)
      return {invalid_request("approve needs the chosen number"), {}};
    number = static_cast<int>(n->get<std::int64_t>());
  }
  const std::string* hash = string_field(p, "context_hash");
  if (!hash || hash->empty() || hash->size() > 64)
    return {invalid_request("context_hash must be the hash of the context shown"), {}};

  Result<domain::AnswerResult> answered =
      sign_in(ctx, db).answer(id, caller->device_id, action, number, *hash, req.remote_address);
  if (!answered) {
    switch (answered.error().code) {
      case ErrorCode::kNotFound:
        return {api_error(404, "not_found", "no such challenge"), {}};
      case ErrorCode::kPermissionDenied:
        return {api_error(403, "not_bound", answered.error().message), {}};
      case ErrorCode::kExpired:
        return {api_error(410, "expired", "the challenge has expired"), {}};
      case ErrorCode::kConflict:
        return {api_error(409, "already_decided", "the challenge was already decided"), {}};
      case ErrorCode::kInvalidArgument:
        return {invalid_request(answered.error().message), {}};
      default:
        return {server_failure(answered.error(), req), {}};
    }
  }
  json body = {{"state", store::to_string(answered->challenge.state)}};
  if (answered->challenge.state != store::ChallengeState::kApproved) body["reason"] = answered->reason;
  return {Response::json(200, body), std::move(answered->notify)};
}

// The integration an account signs in through: the org's integration for the user's directory when
// there is one, else the org's only (or first) integration.
std::string integration_name_for(store::Db& db, const store::UserRecord& user) {
  Result<std::vector<store::IntegrationRecord>> list = store::IntegrationRepo(db).list_by_org(user.org_id);
  if (!list || list->empty()) return "";
  for (const auto& i : *list)
    if (i.directory_id == user.tenant_id) return i.name;
  return list->front().name;
}

Outcome accounts_work(Context& ctx, const Request& req) {
  Result<store::Connection> conn = ctx.deps.database->connection();
  if (!conn) return {server_failure(conn.error(), req), {}};
  store::Db& db = **conn;
  auto caller = authenticate(ctx, db, req, KeyMode::kDevice);
  if (!caller) return {std::move(caller.error()), {}};

  Result<std::vector<store::BindingRecord>> bindings = store::BindingRepo(db).list_for_device(caller->device_id);
  if (!bindings) return {server_failure(bindings.error(), req), {}};
  json accounts = json::array();
  for (const store::BindingRecord& b : *bindings) {
    if (b.status != store::BindingStatus::kActive) continue;
    Result<store::UserRecord> user = store::UserRepo(db).get(b.user_id);
    if (!user) return {server_failure(user.error(), req), {}};
    Result<store::OrgRecord> org = store::OrgRepo(db).get(user->org_id);
    if (!org) return {server_failure(org.error(), req), {}};
    json account = {{"user", user->upn.empty() ? user->display_name : user->upn},
                    {"org", org->name},
                    {"integration", integration_name_for(db, *user)},
                    {"bound_at", b.created_at},
                    {"binding_id", b.id}};
    if (ctx.deps.master_key) {
      // A binding made before fallback codes existed (or by an admin) gets its secret now.
      Result<domain::CodeSecret> secret = sign_in(ctx, db).code_secret(b.id, caller->device_id);
      if (secret) {
        account["code"] = code_json(*secret);
      } else if (secret.error().code != ErrorCode::kPermissionDenied) {
        return {server_failure(secret.error(), req), {}};
      }
    }
    accounts.push_back(std::move(account));
  }
  return {Response::json(200, {{"accounts", std::move(accounts)}}), {}};
}

// ---------------------------------------------------------------------------------------------------------
// Coroutines (named functions taking their arguments by value: STYLE.md, blocking_pool.h).

using Work = Outcome (*)(Context&, const Request&);

asio::awaitable<Response> run_call(Request req, Ctx ctx, Work work) {
  // `req` lives in this frame until the worker is done with it.
  const Request* r = &req;
  auto job = [ctx, r, work] { return work(*ctx, *r); };
  Outcome out = co_await ctx->deps.pool->run(std::move(job));
  for (const std::string& topic : out.notify) ctx->deps.hub->notify(topic);
  co_return std::move(out.response);
}

// GET /challenges?wait=N. Subscribes to the device's topic BEFORE the first read, so a push between the
// read and the wait is never lost; then at most one more read after a wake-up.
asio::awaitable<Response> get_challenges(Request req, Ctx ctx) {
  int wait = 0;
  if (std::optional<std::string> text = req.query_param("wait")) {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), wait);
    if (text->empty() || ec != std::errc() || end != text->data() + text->size() || wait < 0 ||
        wait > kMaxChallengeWaitSeconds)
      co_return invalid_request("wait must be an integer from 0 to 30");
  }
  std::optional<events::Subscription> subscription;
  if (wait > 0) {
    // The claimed id is unverified; a false claim only subscribes until the request is refused below.
    if (std::optional<std::string> claimed = claimed_device_id(parts_of(req))) {
      std::string topic = "device:" + *claimed;
      events::Subscription s = co_await ctx->deps.hub->subscribe(std::move(topic));
      subscription.emplace(std::move(s));
    }
  }
  const Request* r = &req;
  auto first = [ctx, r] { return first_pending_work(*ctx, *r); };
  PendingRead read = co_await ctx->deps.pool->run(std::move(first));
  if (!read.device_id || !read.empty || !subscription) co_return std::move(read.response);

  const std::chrono::milliseconds timeout(static_cast<std::int64_t>(wait) * 1000);
  const bool woken = co_await subscription->wait(timeout);
  if (!woken) co_return std::move(read.response);
  std::string device_id = std::move(*read.device_id);
  auto again = [ctx, r, device_id] { return pending_work(*ctx, *r, device_id); };
  Response second = co_await ctx->deps.pool->run(std::move(again));
  co_return second;
}

}  // namespace

Status add_device_routes(http::Router& router, DeviceRouteDeps deps) {
  if (!deps.pool || !deps.database || !deps.hub || !deps.clock)
    return fail(ErrorCode::kInvalidArgument, "device routes need a blocking pool, a database, a hub and a clock");
  auto ctx = std::make_shared<Context>(std::move(deps));
  const std::string base(kDeviceApiBase);
  http::RouteOptions signed_body;
  signed_body.max_body_bytes = kMaxSignedRequestBytes;

  auto post = [&](const std::string& path, Work work) {
    return router.add("POST", base + path,
                      http::AsyncHandler([ctx, work](Request r) { return run_call(std::move(r), ctx, work); }),
                      signed_body);
  };
  AVOW_TRY(post("/enroll", &enroll_work));
  AVOW_TRY(post("/scan", &scan_work));
  AVOW_TRY(post("/challenges/{id}/answer", &answer_work));
  AVOW_TRY(router.add("GET", base + "/challenges",
                      http::AsyncHandler([ctx](Request r) { return get_challenges(std::move(r), ctx); }), signed_body));
  AVOW_TRY(router.add("GET", base + "/accounts",
                      http::AsyncHandler([ctx](Request r) { return run_call(std::move(r), ctx, &accounts_work); }),
                      signed_body));
  return ok();
}

}  // namespace avow::api
