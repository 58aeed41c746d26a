// crypto_fuzz — libFuzzer target for the parsers that see untrusted bytes: compact JWS (verify and
// decode_unverified), JWK, JWK Set and base32. Any crash, sanitizer report or hang is a bug; every input
// must come back as a value or an Error.
//
// Build (Clang only), with the library instrumented too:
//   CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DAVOW_FUZZ=ON -DAVOW_BUILD_BENCH=OFF
//       -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined"
//   cmake --build build/fuzz --target crypto_fuzz
//   build/fuzz/tests/unit/crypto/crypto_fuzz tests/unit/crypto/fuzz/corpus -max_total_time=60
// The corpus is also replayed by crypto_test (FuzzCorpus.Replays) on every build.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "crypto/otp.h"

namespace {

const avow::crypto::Jwk& rsa_key() {
  // RFC 7515 A.2's public key.
  static const avow::crypto::Jwk key =
      avow::crypto::Jwk::parse(
          R"({"kty":"RSA","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"})")
          .value();
  return key;
}

const avow::crypto::Jwk& ec_key() {
  // RFC 7515 A.3's public key.
  static const avow::crypto::Jwk key =
      avow::crypto::Jwk::parse(
          R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})")
          .value();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace avow::crypto;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)jws::decode_unverified(in);
  (void)jws::verify(in, rsa_key());
  (void)jws::verify(in, ec_key());
  (void)Jwk::parse(in);
  (void)Jwks::parse(in);
  (void)base32_decode(in);
  return 0;
}
