#include "floor.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <ctime>
#include <memory>
#include <string>

namespace avow::bench {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdFree {
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A signing input the size of the real ones: base64url header "." base64url claims.
std::string signing_input(std::size_t size) {
  std::string s(size, 'A');
  for (std::size_t i = 0; i < size; ++i)
    s[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[(i * 7) % 64];
  s[size / 4] = '.';
  return s;
}

bool sign(EVP_PKEY* key, EVP_MD* md, const std::string& input, std::string* sig) {
  sig->resize(static_cast<std::size_t>(EVP_PKEY_get_size(key)));
  std::size_t len = sig->size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool good = EVP_DigestSignInit(ctx, nullptr, md, nullptr, key) == 1 &&
                    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig->data()), &len,
                                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  sig->resize(len);
  return good;
}

bool verify(EVP_PKEY* key, EVP_MD* md, const std::string& input, const std::string& sig) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool good = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
                    EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return good;
}

// µs of thread CPU per call of `op`, run for about `seconds` (at least 3 calls); -1 when `op` fails.
template <class Op>
double time_op(double seconds, Op op) {
  if (!op()) return -1;  // warm-up and check
  const double start = thread_cpu_seconds();
  long n = 0;
  double now = start;
  while (n < 3 || now - start < seconds) {
    if (!op()) return -1;
    ++n;
    now = thread_cpu_seconds();
  }
  return (now - start) * 1e6 / static_cast<double>(n);
}

}  // namespace

Result<CryptoFloor> measure_floor(double seconds) {
  Pkey rsa(EVP_RSA_gen(2048));
  Pkey ec(EVP_EC_gen("P-256"));
  std::unique_ptr<EVP_MD, MdFree> sha256(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (!rsa || !ec || !sha256) return fail(ErrorCode::kInternal, "floor: OpenSSL key generation failed");
  const std::string id_token = signing_input(820);  // header + EAM claims
  const std::string hint = signing_input(1100);     // Microsoft's id_token_hint
  const std::string answer = signing_input(420);    // the device's signed answer
  std::string sig, hint_sig, answer_sig;
  if (!sign(rsa.get(), sha256.get(), hint, &hint_sig) || !sign(ec.get(), sha256.get(), answer, &answer_sig))
    return fail(ErrorCode::kInternal, "floor: OpenSSL signing failed");

  CryptoFloor f;
  f.rsa_sign_us = time_op(seconds, [&] { return sign(rsa.get(), sha256.get(), id_token, &sig); });
  f.rsa_verify_us = time_op(seconds, [&] { return verify(rsa.get(), sha256.get(), hint, hint_sig); });
  f.ecdsa_verify_us = time_op(seconds, [&] { return verify(ec.get(), sha256.get(), answer, answer_sig); });
  if (f.rsa_sign_us < 0 || f.rsa_verify_us < 0 || f.ecdsa_verify_us < 0)
    return fail(ErrorCode::kInternal, "floor: an OpenSSL operation failed");
  return f;
}

}  // namespace avow::bench
