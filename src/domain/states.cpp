#include "domain/states.h"

#include <string>

namespace avow::domain {

using store::ChallengeState;

bool can_transition(ChallengeState from, ChallengeState to) {
  return from == ChallengeState::kPending && to != ChallengeState::kPending;
}

bool can_transition(store::ScanCodeState from, store::ScanCodeState to) {
  return from == store::ScanCodeState::kActive && to != store::ScanCodeState::kActive;
}

bool can_transition(store::DeviceStatus from, store::DeviceStatus to) {
  return from == store::DeviceStatus::kActive && to == store::DeviceStatus::kRevoked;
}

bool can_transition(store::BindingStatus from, store::BindingStatus to) {
  return from == store::BindingStatus::kActive && to == store::BindingStatus::kRevoked;
}

bool can_transition(store::UserStatus from, store::UserStatus to) { return from != to; }

bool can_transition(store::IntegrationStatus from, store::IntegrationStatus to) { return from != to; }

template <class S>
Status check_transition(S from, S to, std::string_view what) {
  if (can_transition(from, to)) return ok();
  return fail(ErrorCode::kConflict, std::string(what) + " is " + std::string(store::to_string(from)) +
                                        ", cannot become " + std::string(store::to_string(to)));
}

template Status check_transition(ChallengeState, ChallengeState, std::string_view);
template Status check_transition(store::ScanCodeState, store::ScanCodeState, std::string_view);
template Status check_transition(store::DeviceStatus, store::DeviceStatus, std::string_view);
template Status check_transition(store::BindingStatus, store::BindingStatus, std::string_view);
template Status check_transition(store::UserStatus, store::UserStatus, std::string_view);
template Status check_transition(store::IntegrationStatus, store::IntegrationStatus, std::string_view);

ChallengeState effective_state(const store::ChallengeRecord& c, store::UnixTime now) {
  if (c.state == ChallengeState::kPending && now >= c.expires_at) return ChallengeState::kExpired;
  return c.state;
}

store::ScanCodeState effective_state(const store::ScanCodeRecord& s, store::UnixTime now) {
  if (s.state == store::ScanCodeState::kActive && now >= s.expires_at) return store::ScanCodeState::kExpired;
  return s.state;
}

}  // namespace avow::domain
