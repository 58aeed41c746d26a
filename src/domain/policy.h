// avow/domain/policy.h — the tunable rules: lifetimes, number matching, lockouts, fallback codes, session expiry.
//
// Plain values with safe defaults; the server fills them from configuration and hands them to the
// services. The functions here are pure (no I/O, no clock reads: `now` is passed in).
//
//   NumberMatch m = make_number_match(policy.number_digits, policy.number_choices).value();
//   // browser shows m.number; the device offers m.choices (m.number among them, in random order)
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "common/result.h"
#include "store/records.h"

namespace avow::domain {

using std::chrono::seconds;

// Adds a lifetime to a Unix time.
inline store::UnixTime expires_after(store::UnixTime now, seconds ttl) { return now + ttl.count(); }

struct ChallengePolicy {
  // Entra abandons an attempt about 5 minutes after redirecting; finish well before.
  seconds ttl{120};
  // A first sign-in spends part of `ttl` on scanning the ScanCode: a scan leaves at least `after_scan` for
  // the push, but the challenge never outlives `max_lifetime` from its creation (under Entra's 5 minutes).
  seconds after_scan{60};
  seconds max_lifetime{240};
  // The number to match: `number_digits` digits, offered among `number_choices` distinct numbers.
  int number_digits = 2;
  int number_choices = 3;
};

struct ScanCodePolicy {
  seconds bind_user_ttl{180};     // shown during an Entra sign-in: under Entra's 5 minutes
  seconds admin_signin_ttl{120};  // the dashboard sign-in page refreshes it
  seconds admin_signup_ttl{600};  // first-run setup
  seconds admin_invite_ttl{7 * 24 * 3600};

  seconds ttl_for(store::ScanCodePurpose purpose) const;
};

// Consecutive failed answers (a wrong number picked on the device) before the user is locked. An admin
// unlocks; a successful answer resets the count. 0 disables locking.
struct LockoutPolicy {
  int max_failures = 5;
  bool should_lock(int failures) const { return max_failures > 0 && failures >= max_failures; }
};

// Fallback codes (RFC 6238 TOTP, one secret per binding) for a sign-in whose phone is offline. The code
// format itself is fixed (domain/codes.h): every device must compute the same codes.
struct CodePolicy {
  int window_steps = 1;                // codes of the steps just before and after the current one are accepted
  int max_attempts_per_challenge = 5;  // then the challenge takes no more codes (the push still can answer)
  // Consecutive failed codes (across challenges) that lock the user's code fallback until an admin unlocks
  // it or a push is approved. Configurable in [kMinCodeLockout, kMaxCodeLockout].
  int lockout_threshold = 10;
  bool should_lock(int failures) const { return failures >= lockout_threshold; }
};
inline constexpr int kMinCodeLockout = 1;
inline constexpr int kMaxCodeLockout = 100;

// Dashboard sessions: an idle timeout that each request slides, capped by an absolute lifetime.
struct SessionPolicy {
  seconds idle{30 * 60};
  seconds absolute{12 * 3600};

  // The idle expiry after activity at `now`, never beyond the absolute expiry.
  store::UnixTime idle_expiry(store::UnixTime now, store::UnixTime absolute_expires_at) const {
    const store::UnixTime idle_end = now + idle.count();
    return idle_end < absolute_expires_at ? idle_end : absolute_expires_at;
  }
};

// The number a user matches, and what the device offers.
struct NumberMatch {
  int number = 0;
  std::vector<int> choices;  // distinct, `number` among them, order random
};

// Draws a number with exactly `digits` digits (2 → 10..99) and `choices - 1` distinct decoys of the same
// width, shuffled, from the secure generator. kInvalidArgument unless 2 <= digits <= 6 and
// 2 <= choices <= 9.
Result<NumberMatch> make_number_match(int digits = 2, int choices = 3);

// True when `m` is well formed for `digits`: every choice has that many digits, all are distinct, and the
// number is among them.
bool is_well_formed(const NumberMatch& m, int digits);

}  // namespace avow::domain
