// tools/entra-sim/receiver.h — Entra's end of a sign-in: what it remembers when it sends the user to a
// provider, and how it judges the form_post that comes back.
//
//   SignInLedger ledger;
//   ledger.remember({.state = s, .discovery_url = d, .client_id = c, .nonce = n, .sub = hint_sub});
//   … the provider's page POSTs id_token + state to the receiver …
//   std::optional<PendingSignIn> p = ledger.take(state);              // a state is answered once
//   ReceivedAnswer a = check_provider_answer(fields, *p, fetcher, now);   // fetches discovery and JWKS
//   ledger.record(a);                                                 // GET /results/{state}
//
// The checks are Entra's (microsoft.h): the discovery document's rules at the discovery URL the admin
// configured, the JWKS's x5c/x5t/kid rules, then the id_token's signature, iss (= the discovery issuer),
// aud (= client_id), sub (= the hint's sub), nonce, lifetime and per flavour acr/amr or the echoed claim.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "entra/microsoft_keys.h"
#include "tools/entra-sim/microsoft.h"

namespace avow::entra_sim {

// One sign-in Entra sent to a provider and awaits the answer of.
struct PendingSignIn {
  std::string state;
  std::string discovery_url;  // as the admin configured it; the issuer must equal its base
  std::string client_id;
  std::string nonce;
  std::string sub;  // the hint's sub, which the id_token must carry
  Flavor flavor = Flavor::kEam;
  std::string claim_type = "AvowMfa";  // custom control: the claim that must be echoed
  std::string claim_value = "MfaDone";
  std::int64_t created_at = 0;
};

// Entra's verdict on a provider's answer.
struct ReceivedAnswer {
  enum class Outcome {
    kAccepted,       // an id_token that passed every check
    kProviderError,  // the provider posted error=… (access_denied, temporarily_unavailable)
    kRejected,       // something broke a rule: `error_description` names it
  };
  std::string state;
  Outcome outcome = Outcome::kRejected;
  std::string error;  // the provider's error code, or "invalid_response" for a rejection
  std::string error_description;
  nlohmann::json claims = nlohmann::json::object();  // kAccepted: the id_token's claims
  nlohmann::json fields = nlohmann::json::object();  // every field posted (first value of each name)
  std::int64_t received_at = 0;
};

// {"state","outcome":"accepted"|"provider_error"|"rejected","error","error_description","claims","fields",
//  "received_at"}.
nlohmann::json to_json(const ReceivedAnswer& answer);
std::string_view to_string(ReceivedAnswer::Outcome outcome);

// Judges a provider's form_post for `pending`. Never fails: a rule broken is a kRejected answer that names
// it. Blocks while fetching the provider's discovery document and JWKS: call it off the event loop.
ReceivedAnswer check_provider_answer(const FormFields& posted, const PendingSignIn& pending, entra::KeyFetcher& fetcher,
                                     std::int64_t now);

// What Entra checks when an admin saves a provider (and whenever its cached metadata expires): the
// discovery document at `discovery_url` by its rules, a bare GET on the authorization_endpoint answering 200
// (else the method shows as "Non-usable"), and the JWKS by its x5c/x5t/kid rules. Returns
// {"issuer","authorization_endpoint","jwks_uri","kids":[…]}; kInvalidArgument naming the rule broken, or
// the fetcher's kUnavailable naming the URL. Blocks (network).
Result<nlohmann::json> check_provider(entra::KeyFetcher& fetcher, const std::string& discovery_url);

// The sign-ins in flight and the answers received, in memory, bounded (oldest dropped first), thread-safe.
class SignInLedger {
 public:
  explicit SignInLedger(std::size_t capacity = 20'000) : capacity_(capacity) {}

  // kAlreadyExists when `state` is pending already; kInvalidArgument for an empty or over-4 KiB state.
  Status remember(PendingSignIn pending);
  // Removes and returns the sign-in awaiting `state`; nullopt when none (unknown, or answered already).
  std::optional<PendingSignIn> take(const std::string& state);
  // Whether `state` was ever answered (a second post for it is a replay).
  bool answered(const std::string& state) const;
  void record(ReceivedAnswer answer);
  // The answer recorded for `state`, or nullopt.
  std::optional<ReceivedAnswer> answer(const std::string& state) const;

 private:
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::map<std::string, PendingSignIn, std::less<>> pending_;
  std::deque<std::string> pending_order_;
  std::map<std::string, ReceivedAnswer, std::less<>> answers_;
  std::deque<std::string> answer_order_;
};

}  // namespace avow::entra_sim
