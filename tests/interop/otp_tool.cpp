// otp_tool — TOTP codes from avow_crypto (src/crypto/otp.h) for the comparison with `otplib` (npm).
//
//   echo '{"secret_base32":"GEZDGNBV…","algorithm":"SHA256","digits":8,"period":60,"time":59}' | otp_tool
//       → one line per input line: the code, or "error: <message>"
//
// Not shipped: a test tool, so it trusts its caller and keeps error handling plain.
#include <cstdint>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/otp.h"

int main() {
  using nlohmann::json;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const json in = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (in.is_discarded() || !in.is_object()) {
      std::cout << "error: not a JSON object\n";
      continue;
    }
    auto secret = avow::crypto::base32_decode(in.value("secret_base32", ""));
    auto algorithm = avow::crypto::parse_otp_algorithm(in.value("algorithm", "SHA1"));
    if (!secret || !algorithm) {
      std::cout << "error: bad secret or algorithm\n";
      continue;
    }
    auto code = avow::crypto::totp_at(*secret, in.value("time", std::int64_t{0}), in.value("period", std::int64_t{30}),
                                      in.value("digits", 6), *algorithm);
    std::cout << (code ? *code : "error: " + code.error().message) << "\n";
  }
  return 0;
}
