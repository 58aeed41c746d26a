#include "domain/policy.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/random.h"

namespace avow::domain {

seconds ScanCodePolicy::ttl_for(store::ScanCodePurpose purpose) const {
  switch (purpose) {
    case store::ScanCodePurpose::kBindUser:
      return bind_user_ttl;
    case store::ScanCodePurpose::kAdminSignin:
      return admin_signin_ttl;
    case store::ScanCodePurpose::kAdminSignup:
      return admin_signup_ttl;
    case store::ScanCodePurpose::kAdminInvite:
      return admin_invite_ttl;
  }
  return bind_user_ttl;
}

namespace {

int lowest_with(int digits) {
  int v = 1;
  for (int i = 1; i < digits; ++i) v *= 10;
  return v;
}

}  // namespace

Result<NumberMatch> make_number_match(int digits, int choices) {
  if (digits < 2 || digits > 6) return fail(ErrorCode::kInvalidArgument, "number digits must be between 2 and 6");
  if (choices < 2 || choices > 9) return fail(ErrorCode::kInvalidArgument, "number choices must be between 2 and 9");
  const int low = lowest_with(digits);
  const auto span = static_cast<std::uint32_t>(low * 10 - low);  // 2 digits: 90 values, 10..99

  NumberMatch m;
  m.choices.reserve(static_cast<std::size_t>(choices));
  while (static_cast<int>(m.choices.size()) < choices) {
    const int candidate = low + static_cast<int>(random_below(span));
    if (std::find(m.choices.begin(), m.choices.end(), candidate) == m.choices.end()) m.choices.push_back(candidate);
  }
  // Each draw is uniform over the unused values, so choices[0] is a uniform number and the rest uniform
  // decoys; a Fisher–Yates shuffle then hides which one is the number.
  m.number = m.choices.front();
  for (std::size_t i = m.choices.size() - 1; i > 0; --i) {
    const std::size_t j = random_below(static_cast<std::uint32_t>(i + 1));
    std::swap(m.choices[i], m.choices[j]);
  }
  return m;
}

bool is_well_formed(const NumberMatch& m, int digits) {
  if (digits < 2 || digits > 6 || m.choices.size() < 2) return false;
  const int low = lowest_with(digits);
  const std::set<int> distinct(m.choices.begin(), m.choices.end());
  if (distinct.size() != m.choices.size()) return false;
  for (int c : m.choices) {
    if (c < low || c >= low * 10) return false;
  }
  return distinct.count(m.number) == 1;
}

}  // namespace avow::domain
