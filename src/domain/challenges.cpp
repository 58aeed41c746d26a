#include "domain/challenges.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/random.h"
#include "domain/states.h"
#include "domain/users.h"
#include "store/repositories.h"

namespace avow::domain {

using store::ChallengeKind;
using store::ChallengeState;

std::string ChallengeContext::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  auto put = [&](const char* key, const std::string& value, std::size_t max) {
    if (!value.empty()) j[key] = truncate_utf8(value, max);
  };
  put("ip", ip, 64);
  put("user_agent", user_agent, 512);
  put("integration", integration_name, 256);
  put("user", user_label, 256);
  put("org", org_name, 256);
  if (created_at != 0) j["created_at"] = created_at;
  // Labels come from browsers and Entra: never let a bad byte make the whole context unserialisable.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

bool is_entra_kind(ChallengeKind k) { return k == ChallengeKind::kEam || k == ChallengeKind::kCustomControl; }

Status check_bounds(const NewChallenge& r) {
  struct Field {
    const char* name;
    const std::string& value;
    std::size_t max;
  };
  for (const Field& f :
       {Field{"nonce", r.nonce, kMaxNonceBytes}, Field{"state", r.state_param, kMaxStateParamBytes},
        Field{"redirect_uri", r.redirect_uri, kMaxRedirectUriBytes}, Field{"client_id", r.client_id, kMaxClientIdBytes},
        Field{"hint sub", r.hint_sub, kMaxHintSubBytes},
        Field{"response params", r.response_params, kMaxResponseParamsBytes},
        Field{"flow secret hash", r.flow_secret_hash, kMaxFlowSecretHashBytes}}) {
    if (f.value.size() > f.max) return fail(ErrorCode::kInvalidArgument, std::string(f.name) + " is too long");
  }
  if (is_entra_kind(r.kind)) {
    if (r.user_id.empty() || r.integration_id.empty() || !r.admin_id.empty()) {
      return fail(ErrorCode::kInvalidArgument, "an Entra challenge needs a user and an integration, and no admin");
    }
  } else if (r.admin_id.empty() || !r.user_id.empty() || !r.integration_id.empty()) {
    return fail(ErrorCode::kInvalidArgument, "an admin sign-in challenge needs an admin, and no user or integration");
  }
  return ok();
}

std::optional<std::string> non_empty(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

}  // namespace

Result<OpenedChallenge> ChallengeService::open(const NewChallenge& request) {
  AVOW_TRY(check_bounds(request));
  auto match = make_number_match(policy_.number_digits, policy_.number_choices);
  AVOW_TRY(match);
  if (policy_.ttl.count() <= 0) return fail(ErrorCode::kInvalidArgument, "challenge lifetime must be positive");

  return store::transaction_value(db_, [&](store::Db& tx) -> Result<OpenedChallenge> {
    store::ChallengeRepo challenges(tx);
    std::optional<store::ChallengeRecord> pending;
    if (is_entra_kind(request.kind)) {
      auto user = store::UserRepo(tx).get(request.user_id);
      AVOW_TRY(user);
      if (user->org_id != request.org_id) return fail(ErrorCode::kPermissionDenied, "user belongs to another org");
      if (user->status != store::UserStatus::kActive) return fail(ErrorCode::kPermissionDenied, "user is locked");
      auto integration = store::IntegrationRepo(tx).get(request.integration_id);
      AVOW_TRY(integration);
      if (integration->org_id != request.org_id) {
        return fail(ErrorCode::kPermissionDenied, "integration belongs to another org");
      }
      if (integration->status != store::IntegrationStatus::kEnabled) {
        return fail(ErrorCode::kPermissionDenied, "integration is disabled");
      }
      auto p = challenges.find_pending_for_user(request.user_id);
      AVOW_TRY(p);
      pending = std::move(*p);
    } else {
      auto admin = store::AdminRepo(tx).get(request.admin_id);
      AVOW_TRY(admin);
      if (admin->org_id != request.org_id) return fail(ErrorCode::kPermissionDenied, "admin belongs to another org");
      if (admin->disabled_at) return fail(ErrorCode::kPermissionDenied, "admin is disabled");
      if (!admin->device_id) return fail(ErrorCode::kPermissionDenied, "admin has no device to sign in with");
      auto p = challenges.find_pending_for_admin(request.admin_id);
      AVOW_TRY(p);
      pending = std::move(*p);
    }

    const store::UnixTime now = clock_.unix_now();
    OpenedChallenge out;
    if (pending) {
      // The newest request wins (see challenges.h). One already past its time is recorded as expired.
      const ChallengeState to = effective_state(*pending, now) == ChallengeState::kExpired ? ChallengeState::kExpired
                                                                                           : ChallengeState::kCancelled;
      AVOW_TRY(challenges.close_pending(pending->id, to, now));
      out.replaced_id = pending->id;
    }

    store::ChallengeRecord& c = out.challenge;
    c.id = new_id();
    c.org_id = request.org_id;
    c.kind = request.kind;
    c.user_id = non_empty(request.user_id);
    c.admin_id = non_empty(request.admin_id);
    c.integration_id = non_empty(request.integration_id);
    c.state = ChallengeState::kPending;
    c.number = match->number;
    c.choices = match->choices;
    ChallengeContext context = request.context;
    if (context.created_at == 0) context.created_at = now;
    c.context = context.to_json();
    c.nonce = request.nonce;
    c.state_param = request.state_param;
    c.redirect_uri = request.redirect_uri;
    c.client_id = request.client_id;
    c.hint_sub = request.hint_sub;
    c.response_params = request.response_params;
    c.flow_secret_hash = request.flow_secret_hash;
    c.created_at = now;
    c.expires_at = expires_after(now, policy_.ttl);
    if (auto created = challenges.create(c); !created) {
      if (created.error().code == ErrorCode::kAlreadyExists) {
        return fail(ErrorCode::kConflict, "another challenge for this user was opened at the same time");
      }
      return tl::unexpected(created.error());
    }
    return out;
  });
}

Result<store::ChallengeRecord> ChallengeService::get(std::string_view id) {
  auto c = store::ChallengeRepo(db_).get(id);
  AVOW_TRY(c);
  c->state = effective_state(*c, clock_.unix_now());
  return c;
}

Status ChallengeService::check_answering_device(store::Db& tx, const store::ChallengeRecord& c,
                                                std::string_view device_id) {
  auto device = store::DeviceRepo(tx).get(device_id);
  if (!device) {
    if (device.error().code == ErrorCode::kNotFound) return fail(ErrorCode::kPermissionDenied, "unknown device");
    return tl::unexpected(device.error());
  }
  if (device->status != store::DeviceStatus::kActive) return fail(ErrorCode::kPermissionDenied, "device is revoked");
  if (is_entra_kind(c.kind)) {
    auto binding = store::BindingRepo(tx).find_active(*c.user_id, device_id);
    AVOW_TRY(binding);
    if (!*binding) return fail(ErrorCode::kPermissionDenied, "device is not bound to this user");
    auto user = store::UserRepo(tx).get(*c.user_id);
    AVOW_TRY(user);
    if (user->status != store::UserStatus::kActive) return fail(ErrorCode::kPermissionDenied, "user is locked");
  } else {
    auto admin = store::AdminRepo(tx).get(*c.admin_id);
    AVOW_TRY(admin);
    if (admin->disabled_at || admin->device_id != std::optional<std::string>(std::string(device_id))) {
      return fail(ErrorCode::kPermissionDenied, "device may not answer this challenge");
    }
  }
  return ok();
}

Result<Decision> ChallengeService::answer(std::string_view id, std::string_view device_id, const Answer& answer) {
  // Some refusals must still write (an answer that arrives late marks the challenge expired), and an
  // error would roll the transaction back: the transaction returns the refusal as a value instead.
  struct Outcome {
    Decision decision;
    std::optional<Error> refusal;
  };
  auto outcome = store::transaction_value(db_, [&](store::Db& tx) -> Result<Outcome> {
    store::ChallengeRepo challenges(tx);
    auto c = challenges.get(id);
    AVOW_TRY(c);
    AVOW_TRY(check_answering_device(tx, *c, device_id));
    const store::UnixTime now = clock_.unix_now();
    if (c->state != ChallengeState::kPending) {
      return Outcome{{*c}, Error{ErrorCode::kConflict, "challenge is " + std::string(store::to_string(c->state))}};
    }
    if (effective_state(*c, now) == ChallengeState::kExpired) {
      AVOW_TRY(challenges.close_pending(id, ChallengeState::kExpired, now));
      auto expired = challenges.get(id);
      AVOW_TRY(expired);
      return Outcome{{std::move(*expired)}, Error{ErrorCode::kExpired, "challenge expired"}};
    }

    const bool right_number = answer.number == c->number;
    const bool approve = answer.action == Action::kApprove && right_number;
    Outcome out;
    out.decision.wrong_number = answer.action == Action::kApprove && !right_number;
    auto won = challenges.decide(id, approve ? ChallengeState::kApproved : ChallengeState::kDenied, device_id, now);
    AVOW_TRY(won);
    if (!*won) {
      auto now_state = challenges.get(id);
      AVOW_TRY(now_state);
      return Outcome{{std::move(*now_state)}, Error{ErrorCode::kConflict, "challenge was answered meanwhile"}};
    }
    if (c->user_id) {
      store::UserRepo users(tx);
      if (approve) {
        AVOW_TRY(users.record_sign_in(*c->user_id, now));
      } else if (out.decision.wrong_number) {
        auto failures = users.record_failure(*c->user_id);
        AVOW_TRY(failures);
        if (lockout_.should_lock(*failures)) {
          auto locked = users.lock(*c->user_id, now);
          AVOW_TRY(locked);
          out.decision.user_locked = *locked;
        }
      }
    }
    auto decided = challenges.get(id);
    AVOW_TRY(decided);
    out.decision.challenge = std::move(*decided);
    return out;
  });
  AVOW_TRY(outcome);
  if (outcome->refusal) return tl::unexpected(*outcome->refusal);
  return std::move(outcome->decision);
}

Result<store::ChallengeRecord> ChallengeService::cancel(std::string_view id) {
  store::ChallengeRepo challenges(db_);
  auto c = get(id);
  AVOW_TRY(c);
  AVOW_TRY(check_transition(c->state, ChallengeState::kCancelled, "challenge"));
  auto won = challenges.close_pending(id, ChallengeState::kCancelled, clock_.unix_now());
  AVOW_TRY(won);
  if (!*won) return fail(ErrorCode::kConflict, "challenge was answered meanwhile");
  return challenges.get(id);
}

Result<store::ChallengeRecord> ChallengeService::complete(std::string_view id) {
  return store::transaction_value(db_, [&](store::Db& tx) -> Result<store::ChallengeRecord> {
    store::ChallengeRepo challenges(tx);
    auto c = challenges.get(id);
    AVOW_TRY(c);
    if (c->completed_at) return fail(ErrorCode::kConflict, "challenge already completed");
    const store::UnixTime now = clock_.unix_now();
    if (c->state == ChallengeState::kPending) {
      if (effective_state(*c, now) != ChallengeState::kExpired) {
        return fail(ErrorCode::kConflict, "challenge is still pending");
      }
      AVOW_TRY(challenges.close_pending(id, ChallengeState::kExpired, now));
    }
    auto won = challenges.mark_completed(id, now);
    AVOW_TRY(won);
    if (!*won) return fail(ErrorCode::kConflict, "challenge already completed");
    if (c->state == ChallengeState::kApproved && c->integration_id) {
      AVOW_TRY(store::IntegrationRepo(tx).mark_success(*c->integration_id, now));
    }
    return challenges.get(id);
  });
}

Result<std::int64_t> ChallengeService::expire_due() { return store::ChallengeRepo(db_).expire_due(clock_.unix_now()); }

}  // namespace avow::domain
