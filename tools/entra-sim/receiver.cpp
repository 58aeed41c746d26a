#include "tools/entra-sim/receiver.h"

#include "tools/entra-sim/forms.h"

namespace avow::entra_sim {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxState = 4096;

ReceivedAnswer rejected(ReceivedAnswer a, std::string why) {
  a.outcome = ReceivedAnswer::Outcome::kRejected;
  a.error = "invalid_response";
  a.error_description = std::move(why);
  return a;
}

}  // namespace

std::string_view to_string(ReceivedAnswer::Outcome outcome) {
  switch (outcome) {
    case ReceivedAnswer::Outcome::kAccepted:
      return "accepted";
    case ReceivedAnswer::Outcome::kProviderError:
      return "provider_error";
    case ReceivedAnswer::Outcome::kRejected:
      return "rejected";
  }
  return "rejected";
}

json to_json(const ReceivedAnswer& a) {
  return json{{"state", a.state},
              {"outcome", to_string(a.outcome)},
              {"error", a.error},
              {"error_description", a.error_description},
              {"claims", a.claims},
              {"fields", a.fields},
              {"received_at", a.received_at}};
}

ReceivedAnswer check_provider_answer(const FormFields& posted, const PendingSignIn& pending, entra::KeyFetcher& fetcher,
                                     std::int64_t now) {
  ReceivedAnswer a;
  a.state = pending.state;
  a.received_at = now;
  for (const auto& [name, value] : posted)
    if (!a.fields.contains(name)) a.fields[name] = value;

  auto posted_state = form_value(posted, "state");
  if (!posted_state || *posted_state != pending.state) return rejected(std::move(a), "state is not echoed");
  auto error = form_value(posted, "error");
  auto id_token = form_value(posted, "id_token");
  if (error) {
    if (id_token) return rejected(std::move(a), "both error and id_token posted");
    a.outcome = ReceivedAnswer::Outcome::kProviderError;
    a.error = *error;
    a.error_description = form_value(posted, "error_description").value_or("");
    return a;
  }
  if (!id_token || id_token->empty()) return rejected(std::move(a), "no id_token posted (AADSTS900144)");

  // The provider as Entra sees it: its discovery document, then the keys it names.
  auto doc_text = fetcher.fetch(pending.discovery_url);
  if (!doc_text) return rejected(std::move(a), "discovery document: " + doc_text.error().message);
  json doc = json::parse(*doc_text, nullptr, false);
  if (Status s = validate_discovery(doc, pending.discovery_url); !s)
    return rejected(std::move(a), "discovery document: " + s.error().message);
  auto jwks_text = fetcher.fetch(doc["jwks_uri"].get<std::string>());
  if (!jwks_text) return rejected(std::move(a), "JWKS: " + jwks_text.error().message);
  auto keys = validate_provider_jwks(json::parse(*jwks_text, nullptr, false));
  if (!keys) return rejected(std::move(a), "JWKS: " + keys.error().message);

  IdTokenExpectation expect;
  expect.issuer = doc["issuer"].get<std::string>();
  expect.client_id = pending.client_id;
  expect.sub = pending.sub;
  expect.nonce = pending.nonce;
  expect.flavor = pending.flavor;
  expect.claim_type = pending.claim_type;
  expect.claim_value = pending.claim_value;
  auto claims = validate_id_token(*id_token, *keys, expect, now);
  if (!claims) return rejected(std::move(a), "id_token: " + claims.error().message);
  a.outcome = ReceivedAnswer::Outcome::kAccepted;
  a.claims = std::move(*claims);
  return a;
}

Result<json> check_provider(entra::KeyFetcher& fetcher, const std::string& discovery_url) {
  auto doc_text = fetcher.fetch(discovery_url);
  if (!doc_text) return tl::unexpected(doc_text.error());
  json doc = json::parse(*doc_text, nullptr, false);
  AVOW_TRY(validate_discovery(doc, discovery_url));
  const std::string authorize = doc["authorization_endpoint"].get<std::string>();
  if (auto probe = fetcher.fetch(authorize); !probe)
    return fail(ErrorCode::kInvalidArgument,
                "a bare GET on the authorization_endpoint must answer 200 (" + probe.error().message + ")");
  const std::string jwks_uri = doc["jwks_uri"].get<std::string>();
  auto jwks_text = fetcher.fetch(jwks_uri);
  if (!jwks_text) return tl::unexpected(jwks_text.error());
  auto keys = validate_provider_jwks(json::parse(*jwks_text, nullptr, false));
  if (!keys) return tl::unexpected(keys.error());
  json kids = json::array();
  for (const auto& k : keys->keys()) kids.push_back(k.kid());
  return json{{"issuer", doc["issuer"]}, {"authorization_endpoint", authorize}, {"jwks_uri", jwks_uri}, {"kids", kids}};
}

Status SignInLedger::remember(PendingSignIn pending) {
  if (pending.state.empty() || pending.state.size() > kMaxState)
    return fail(ErrorCode::kInvalidArgument, "state must be 1 to 4096 characters");
  std::lock_guard lock(mu_);
  if (pending_.contains(pending.state) || answers_.contains(pending.state))
    return fail(ErrorCode::kAlreadyExists, "a sign-in with this state exists");
  // Drop the oldest while full, and names already taken from the front of the queue.
  while (!pending_order_.empty() && (pending_.size() >= capacity_ || !pending_.contains(pending_order_.front()))) {
    pending_.erase(pending_order_.front());
    pending_order_.pop_front();
  }
  if (pending_order_.size() > 2 * capacity_) {  // names taken out of order linger: compact
    std::deque<std::string> live;
    for (auto& s : pending_order_)
      if (pending_.contains(s)) live.push_back(std::move(s));
    pending_order_.swap(live);
  }
  pending_order_.push_back(pending.state);
  std::string key = pending.state;
  pending_.emplace(std::move(key), std::move(pending));
  return ok();
}

std::optional<PendingSignIn> SignInLedger::take(const std::string& state) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(state);
  if (it == pending_.end()) return std::nullopt;
  PendingSignIn p = std::move(it->second);
  pending_.erase(it);  // the order queue keeps the name until remember() passes it
  return p;
}

bool SignInLedger::answered(const std::string& state) const {
  std::lock_guard lock(mu_);
  return answers_.contains(state);
}

void SignInLedger::record(ReceivedAnswer answer) {
  std::lock_guard lock(mu_);
  while (answers_.size() >= capacity_ && !answer_order_.empty()) {
    answers_.erase(answer_order_.front());
    answer_order_.pop_front();
  }
  answer_order_.push_back(answer.state);
  std::string key = answer.state;
  answers_.insert_or_assign(std::move(key), std::move(answer));
}

std::optional<ReceivedAnswer> SignInLedger::answer(const std::string& state) const {
  std::lock_guard lock(mu_);
  auto it = answers_.find(state);
  if (it == answers_.end()) return std::nullopt;
  return it->second;
}

}  // namespace avow::entra_sim
