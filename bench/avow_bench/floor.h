// bench/avow_bench/floor.h — the crypto a full EAM flow cannot avoid, timed straight on OpenSSL 3 EVP:
// one RSA-2048 PKCS#1 v1.5 SHA-256 signature (the id_token), one RSA verification (Microsoft's hint) and one
// ECDSA P-256 verification (the device's signed answer). Pre-parsed keys, pre-fetched digest: the best case.
//
//   Result<CryptoFloor> f = measure_floor(0.5);   // ~0.5 s of CPU per operation
//   f->per_flow_us();                             // µs of CPU one flow needs at least
#pragma once

#include "common/result.h"

namespace avow::bench {

struct CryptoFloor {
  double rsa_sign_us = 0;
  double rsa_verify_us = 0;
  double ecdsa_verify_us = 0;
  double per_flow_us() const { return rsa_sign_us + rsa_verify_us + ecdsa_verify_us; }
};

// Times each operation for about `seconds` of this thread's CPU. kInternal if OpenSSL fails.
Result<CryptoFloor> measure_floor(double seconds);

}  // namespace avow::bench
