#include "crypto/detail/openssl_util.h"

#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>

namespace avow::crypto::detail {

Error openssl_error(ErrorCode code, std::string_view what) {
  std::string msg(what);
  const unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += " (";
    msg += buf;
    msg += ")";
  }
  ERR_clear_error();
  return Error{code, std::move(msg)};
}

namespace {
const EVP_MD* fetch_or_die(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) {
    std::fprintf(stderr, "avow: OpenSSL has no %s digest; the default provider is not available\n", name);
    std::abort();
  }
  return md;  // lives for the whole process
}
}  // namespace

const EVP_MD* md_sha1() {
  static const EVP_MD* md = fetch_or_die("SHA1");
  return md;
}
const EVP_MD* md_sha256() {
  static const EVP_MD* md = fetch_or_die("SHA256");
  return md;
}
const EVP_MD* md_sha512() {
  static const EVP_MD* md = fetch_or_die("SHA512");
  return md;
}

std::string bn_to_bytes(const BIGNUM* bn, int min_len) {
  const int n = BN_num_bytes(bn);
  const int len = n > min_len ? n : min_len;
  std::string out(static_cast<std::size_t>(len), '\0');
  BN_bn2binpad(bn, u8(out), len);
  return out;
}

}  // namespace avow::crypto::detail
