// Keys generated once per test process: RSA generation costs ~100 ms.
#pragma once

#include <gtest/gtest.h>

#include "crypto/jwk.h"

namespace avow::crypto::testing {

inline const Jwk& rsa_key() {
  static const Jwk key = Jwk::generate_rsa().value();
  return key;
}
inline const Jwk& rsa_key2() {
  static const Jwk key = Jwk::generate_rsa().value();
  return key;
}
inline const Jwk& ec_key() {
  static const Jwk key = Jwk::generate_ec_p256().value();
  return key;
}
inline const Jwk& ec_key2() {
  static const Jwk key = Jwk::generate_ec_p256().value();
  return key;
}

}  // namespace avow::crypto::testing
