// avow/crypto/detail/openssl_util.h — internal to src/crypto: owning handles for OpenSSL objects and
// turning the OpenSSL error queue into an `Error`. Not part of the module's interface.
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace avow::crypto::detail {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};

using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using UniquePkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using UniqueCipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using UniqueBn = std::unique_ptr<BIGNUM, BnFree>;
using UniqueX509 = std::unique_ptr<X509, X509Free>;

// A shared, immutable key: EVP_PKEY objects may be used concurrently for signing and verifying once built.
using SharedPkey = std::shared_ptr<EVP_PKEY>;
inline SharedPkey share(UniquePkey p) { return SharedPkey(p.release(), PkeyFree{}); }

// Builds an Error from `what` and the first entry of this thread's OpenSSL error queue, then clears the
// queue so a later, unrelated failure does not report a stale reason.
Error openssl_error(ErrorCode code, std::string_view what);
inline tl::unexpected<Error> openssl_fail(ErrorCode code, std::string_view what) {
  return tl::unexpected<Error>(openssl_error(code, what));
}

// SHA-256 / SHA-1 / SHA-512 fetched once from the default provider. Fetching per call costs a locked
// method-store lookup on every signature; the fetched objects are immutable and shared by all threads.
const EVP_MD* md_sha1();
const EVP_MD* md_sha256();
const EVP_MD* md_sha512();

inline const unsigned char* u8(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
inline unsigned char* u8(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// Big-endian unsigned bytes of `bn`, at least `min_len` long (left-padded with zeros).
std::string bn_to_bytes(const BIGNUM* bn, int min_len = 0);

}  // namespace avow::crypto::detail
