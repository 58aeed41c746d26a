// avow/domain/states.h — the state machines of the model, in one place.
//
//   challenge    pending → approved | denied | expired | cancelled   (the four are final; completed_at is
//                                                                       set once, after leaving pending)
//   scan code    active → consumed | expired                        (single use; both final)
//   device       active → revoked                                   (final: re-enrol instead)
//   binding      active → revoked                                   (final: bind again instead)
//   user         active ⇄ locked
//   integration  enabled ⇄ disabled
//
// Services check a change with check_transition() before the compare-and-set UPDATE that makes it, so a
// refused change reads the same whichever actor tries it:
//
//   AVOW_TRY(check_transition(current.state, store::ChallengeState::kCancelled));   // kConflict if refused
#pragma once

#include "common/result.h"
#include "store/records.h"

namespace avow::domain {

// True when the machine allows `from` → `to`. Staying in the same state is not a transition (false).
bool can_transition(store::ChallengeState from, store::ChallengeState to);
bool can_transition(store::ScanCodeState from, store::ScanCodeState to);
bool can_transition(store::DeviceStatus from, store::DeviceStatus to);
bool can_transition(store::BindingStatus from, store::BindingStatus to);
bool can_transition(store::UserStatus from, store::UserStatus to);
bool can_transition(store::IntegrationStatus from, store::IntegrationStatus to);

// ok when allowed; otherwise kConflict saying "<what> is <from>, cannot become <to>".
template <class S>
Status check_transition(S from, S to, std::string_view what);

// A challenge is final once it left pending.
inline bool is_final(store::ChallengeState s) { return s != store::ChallengeState::kPending; }

// The state a challenge is in at `now`: a pending challenge at or past expires_at is expired even before
// any sweep has written it.
store::ChallengeState effective_state(const store::ChallengeRecord& c, store::UnixTime now);

// Likewise for a scan code.
store::ScanCodeState effective_state(const store::ScanCodeRecord& s, store::UnixTime now);

}  // namespace avow::domain
