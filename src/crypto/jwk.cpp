#include "crypto/jwk.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <unordered_set>

#include "common/base64url.h"
#include "crypto/detail/openssl_util.h"
#include "crypto/hash.h"

namespace avow::crypto {
namespace {

using detail::openssl_fail;
using detail::u8;
using detail::UniqueBn;
using detail::UniquePkey;
using detail::UniquePkeyCtx;
using json = nlohmann::json;

constexpr int kP256FieldBytes = 32;

struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct DecoderCtxFree {
  void operator()(OSSL_DECODER_CTX* p) const { OSSL_DECODER_CTX_free(p); }
};
struct EncoderCtxFree {
  void operator()(OSSL_ENCODER_CTX* p) const { OSSL_ENCODER_CTX_free(p); }
};
// Private key integers are wiped when freed.
struct BnClearFree {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
using SecretBn = std::unique_ptr<BIGNUM, BnClearFree>;

// Wipes a decoded secret member when it goes out of scope.
struct SecretBytes {
  std::string bytes;
  ~SecretBytes() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

std::size_t b64_len(std::size_t bytes) { return (bytes * 4 + 2) / 3; }

int bit_length(std::string_view big_endian) {
  if (big_endian.empty()) return 0;
  int top = 0;
  for (unsigned c = static_cast<unsigned char>(big_endian[0]); c != 0; c >>= 1) ++top;
  return static_cast<int>((big_endian.size() - 1) * 8) + top;
}

// A required (or, with `optional`, possibly absent) base64url string member, decoded, with a bound on its
// encoded length checked before decoding.
Result<std::string> b64_member(const json& j, const char* name, std::size_t max_bytes, bool* present = nullptr) {
  auto it = j.find(name);
  if (it == j.end()) {
    if (present) {
      *present = false;
      return std::string();
    }
    return fail(ErrorCode::kInvalidArgument, std::string("jwk: missing \"") + name + "\"");
  }
  if (present) *present = true;
  if (!it->is_string()) return fail(ErrorCode::kInvalidArgument, std::string("jwk: \"") + name + "\" is not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return fail(ErrorCode::kInvalidArgument, std::string("jwk: \"") + name + "\" is empty");
  if (s.size() > b64_len(max_bytes))
    return fail(ErrorCode::kInvalidArgument, std::string("jwk: \"") + name + "\" is too long");
  auto d = base64url_decode(s);
  if (!d) return fail(ErrorCode::kInvalidArgument, std::string("jwk: \"") + name + "\" is not base64url");
  return d;
}

Result<std::string> optional_string(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return std::string();
  if (!it->is_string()) return fail(ErrorCode::kInvalidArgument, std::string("jwk: \"") + name + "\" is not a string");
  return it->get<std::string>();
}

UniqueBn bn_from(std::string_view bytes) {
  return UniqueBn(BN_bin2bn(u8(bytes), static_cast<int>(bytes.size()), nullptr));
}
SecretBn secret_bn_from(std::string_view bytes) {
  BIGNUM* bn = BN_secure_new();
  if (bn != nullptr && BN_bin2bn(u8(bytes), static_cast<int>(bytes.size()), bn) == nullptr) {
    BN_clear_free(bn);
    bn = nullptr;
  }
  return SecretBn(bn);
}

bool get_bn(EVP_PKEY* pkey, const char* name, UniqueBn* out) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
    ERR_clear_error();
    return false;
  }
  out->reset(bn);
  return true;
}

bool has_private_part(EVP_PKEY* pkey, KeyType type) {
  UniqueBn bn;
  return get_bn(pkey, type == KeyType::kRsa ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY, &bn);
}

// Checks a private RSA key's parts belong together: one RS256 signature over a fixed message must verify
// under the public half. Costs one private operation, paid only when a key is imported.
Status rsa_pairwise_check(EVP_PKEY* pkey) {
  static constexpr std::string_view kMsg = "avow rsa pairwise check";
  detail::UniqueMdCtx ctx(EVP_MD_CTX_new());
  std::string sig(static_cast<std::size_t>(EVP_PKEY_get_size(pkey)), '\0');
  std::size_t sig_len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, detail::md_sha256(), nullptr, pkey) != 1 ||
      EVP_DigestSign(ctx.get(), u8(sig), &sig_len, u8(kMsg), kMsg.size()) != 1)
    return openssl_fail(ErrorCode::kInvalidArgument, "jwk: RSA private key cannot sign");
  detail::UniqueMdCtx vctx(EVP_MD_CTX_new());
  if (!vctx || EVP_DigestVerifyInit(vctx.get(), nullptr, detail::md_sha256(), nullptr, pkey) != 1 ||
      EVP_DigestVerify(vctx.get(), u8(sig), sig_len, u8(kMsg), kMsg.size()) != 1)
    return openssl_fail(ErrorCode::kInvalidArgument, "jwk: RSA private key does not match its public key");
  return ok();
}

Status ec_checks(EVP_PKEY* pkey, bool is_private) {
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx) return openssl_fail(ErrorCode::kInternal, "jwk: EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(ctx.get()) != 1)
    return openssl_fail(ErrorCode::kInvalidArgument, "jwk: EC point is not a valid P-256 public key");
  if (is_private && (EVP_PKEY_private_check(ctx.get()) != 1 || EVP_PKEY_pairwise_check(ctx.get()) != 1))
    return openssl_fail(ErrorCode::kInvalidArgument, "jwk: EC private key does not match its public key");
  return ok();
}

Result<UniquePkey> from_params(const char* type, OSSL_PARAM_BLD* bld, int selection) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, selection, params.get()) != 1)
    return openssl_fail(ErrorCode::kInvalidArgument, std::string("jwk: OpenSSL rejected the ") + type + " key");
  return UniquePkey(pkey);
}

Result<UniquePkey> rsa_from_json(const json& j, bool* is_private) {
  auto n = b64_member(j, "n", kMaxRsaBits / 8);
  if (!n) return tl::unexpected(n.error());
  if ((*n)[0] == '\0') return fail(ErrorCode::kInvalidArgument, "jwk: \"n\" has a leading zero octet");
  const int bits = bit_length(*n);
  if (bits < kMinRsaBits)
    return fail(ErrorCode::kInvalidArgument,
                "jwk: RSA modulus is " + std::to_string(bits) + " bits; at least 2048 are required");
  if ((static_cast<unsigned char>(n->back()) & 1) == 0) return fail(ErrorCode::kInvalidArgument, "jwk: even modulus");
  auto e = b64_member(j, "e", 8);
  if (!e) return tl::unexpected(e.error());
  if ((*e)[0] == '\0') return fail(ErrorCode::kInvalidArgument, "jwk: \"e\" has a leading zero octet");
  if ((static_cast<unsigned char>(e->back()) & 1) == 0 || (e->size() == 1 && static_cast<unsigned char>((*e)[0]) < 3))
    return fail(ErrorCode::kInvalidArgument, "jwk: RSA public exponent must be odd and at least 3");

  bool has_d = false;
  SecretBytes d;
  {
    auto v = b64_member(j, "d", kMaxRsaBits / 8, &has_d);
    if (!v) return tl::unexpected(v.error());
    d.bytes = std::move(*v);
  }
  if (j.contains("oth"))
    return fail(ErrorCode::kInvalidArgument, "jwk: multi-prime RSA keys (\"oth\") are not supported");
  static constexpr const char* kCrt[] = {"p", "q", "dp", "dq", "qi"};
  static constexpr const char* kCrtParams[] = {OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
                                               OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
                                               OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
  int crt_present = 0;
  for (const char* m : kCrt) crt_present += j.contains(m) ? 1 : 0;
  if (!has_d && crt_present > 0) return fail(ErrorCode::kInvalidArgument, "jwk: RSA CRT members without \"d\"");
  if (crt_present != 0 && crt_present != 5)
    return fail(ErrorCode::kInvalidArgument, "jwk: RSA private key needs all of p, q, dp, dq, qi or none");

  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  UniqueBn bn_n = bn_from(*n), bn_e = bn_from(*e);
  SecretBn bn_d;
  SecretBn crt[5];
  if (!bld || !bn_n || !bn_e || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return openssl_fail(ErrorCode::kInternal, "jwk: building RSA parameters");
  if (has_d) {
    if (d.bytes.size() > n->size()) return fail(ErrorCode::kInvalidArgument, "jwk: \"d\" is longer than the modulus");
    bn_d = secret_bn_from(d.bytes);
    if (!bn_d || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_D, bn_d.get()) != 1)
      return openssl_fail(ErrorCode::kInternal, "jwk: building RSA parameters");
    if (crt_present == 5) {
      for (int i = 0; i < 5; ++i) {
        auto v = b64_member(j, kCrt[i], kMaxRsaBits / 8);
        if (!v) return tl::unexpected(v.error());
        SecretBytes part{std::move(*v)};
        crt[i] = secret_bn_from(part.bytes);
        if (!crt[i] || OSSL_PARAM_BLD_push_BN(bld.get(), kCrtParams[i], crt[i].get()) != 1)
          return openssl_fail(ErrorCode::kInternal, "jwk: building RSA parameters");
      }
      // n = p·q, so a key whose factors were swapped for another key's is refused outright.
      std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> bctx(BN_CTX_new(), &BN_CTX_free);
      UniqueBn pq(BN_new());
      if (!bctx || !pq || BN_mul(pq.get(), crt[0].get(), crt[1].get(), bctx.get()) != 1)
        return openssl_fail(ErrorCode::kInternal, "jwk: BN_mul");
      if (BN_cmp(pq.get(), bn_n.get()) != 0)
        return fail(ErrorCode::kInvalidArgument, "jwk: RSA factors p·q do not equal n");
    }
  }
  auto pkey = from_params("RSA", bld.get(), has_d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
  if (!pkey) return pkey;
  if (has_d) AVOW_TRY(rsa_pairwise_check(pkey->get()));
  *is_private = has_d;
  return pkey;
}

Result<UniquePkey> ec_from_json(const json& j, bool* is_private) {
  auto crv = optional_string(j, "crv");
  if (!crv) return tl::unexpected(crv.error());
  if (crv->empty()) return fail(ErrorCode::kInvalidArgument, "jwk: missing \"crv\"");
  if (*crv != "P-256") return fail(ErrorCode::kInvalidArgument, "jwk: unsupported crv \"" + crv->substr(0, 32) + "\"");
  auto x = b64_member(j, "x", kP256FieldBytes);
  if (!x) return tl::unexpected(x.error());
  auto y = b64_member(j, "y", kP256FieldBytes);
  if (!y) return tl::unexpected(y.error());
  if (x->size() != kP256FieldBytes || y->size() != kP256FieldBytes)
    return fail(ErrorCode::kInvalidArgument, "jwk: P-256 coordinates must be 32 octets each");
  bool has_d = false;
  SecretBytes d;
  {
    auto v = b64_member(j, "d", kP256FieldBytes, &has_d);
    if (!v) return tl::unexpected(v.error());
    d.bytes = std::move(*v);
  }
  if (has_d && d.bytes.size() != kP256FieldBytes)
    return fail(ErrorCode::kInvalidArgument, "jwk: P-256 \"d\" must be 32 octets");

  std::string point;
  point.reserve(1 + 2 * kP256FieldBytes);
  point.push_back('\x04');  // uncompressed
  point += *x;
  point += *y;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    return openssl_fail(ErrorCode::kInternal, "jwk: building EC parameters");
  SecretBn bn_d;
  if (has_d) {
    bn_d = secret_bn_from(d.bytes);
    if (!bn_d || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, bn_d.get()) != 1)
      return openssl_fail(ErrorCode::kInternal, "jwk: building EC parameters");
  }
  auto pkey = from_params("EC", bld.get(), has_d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
  if (!pkey) return fail(ErrorCode::kInvalidArgument, "jwk: EC point is not on P-256");
  AVOW_TRY(ec_checks(pkey->get(), has_d));
  *is_private = has_d;
  return pkey;
}

Result<std::string> encode_pkey(EVP_PKEY* pkey, int selection, const char* format, const char* structure) {
  std::unique_ptr<OSSL_ENCODER_CTX, EncoderCtxFree> ctx(
      OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, format, structure, nullptr));
  unsigned char* data = nullptr;
  std::size_t len = 0;
  if (!ctx || OSSL_ENCODER_CTX_get_num_encoders(ctx.get()) == 0 || OSSL_ENCODER_to_data(ctx.get(), &data, &len) != 1)
    return openssl_fail(ErrorCode::kInternal, std::string("jwk: encoding key as ") + format);
  std::string out(reinterpret_cast<const char*>(data), len);
  OPENSSL_clear_free(data, len);
  return out;
}

int refuse_passphrase(char*, size_t, size_t*, const OSSL_PARAM[], void*) { return 0; }

Result<Jwk> decode_key(std::string_view input, const char* format) {
  if (input.empty() || input.size() > kMaxJwkTextSize)
    return fail(ErrorCode::kInvalidArgument, std::string("key: ") + format + " input is empty or too large");
  EVP_PKEY* pkey = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, DecoderCtxFree> ctx(
      OSSL_DECODER_CTX_new_for_pkey(&pkey, format, nullptr, nullptr, 0, nullptr, nullptr));
  if (!ctx) return openssl_fail(ErrorCode::kInternal, "key: OSSL_DECODER_CTX_new_for_pkey");
  // Encrypted keys are refused rather than prompting on a terminal.
  OSSL_DECODER_CTX_set_passphrase_cb(ctx.get(), refuse_passphrase, nullptr);
  const unsigned char* data = u8(input);
  std::size_t len = input.size();
  if (OSSL_DECODER_from_data(ctx.get(), &data, &len) != 1 || pkey == nullptr)
    return openssl_fail(ErrorCode::kInvalidArgument, std::string("key: not a supported ") + format + " key");
  UniquePkey owned(pkey);
  if (std::string_view(format) == "DER" && len != 0)
    return fail(ErrorCode::kInvalidArgument, "key: trailing bytes after the DER key");
  return Jwk::from_evp_pkey(owned.get());
}

}  // namespace

// ---- Jwk ----------------------------------------------------------------------------------------------

Result<Jwk> Jwk::adopt(std::shared_ptr<EVP_PKEY> pkey, bool is_private, std::string kid) {
  Jwk k;
  EVP_PKEY* p = pkey.get();
  if (EVP_PKEY_is_a(p, "RSA")) {
    k.type_ = KeyType::kRsa;
    const int bits = EVP_PKEY_get_bits(p);
    if (bits < kMinRsaBits || bits > kMaxRsaBits)
      return fail(ErrorCode::kInvalidArgument,
                  "key: RSA modulus is " + std::to_string(bits) + " bits; 2048 to 8192 are supported");
    UniqueBn n, e;
    if (!get_bn(p, OSSL_PKEY_PARAM_RSA_N, &n) || !get_bn(p, OSSL_PKEY_PARAM_RSA_E, &e))
      return fail(ErrorCode::kInternal, "key: cannot read the RSA public key");
    k.pub1_ = base64url_encode(detail::bn_to_bytes(n.get()));
    k.pub2_ = base64url_encode(detail::bn_to_bytes(e.get()));
    k.thumbprint_ = base64url_encode(sha256(R"({"e":")" + k.pub2_ + R"(","kty":"RSA","n":")" + k.pub1_ + R"("})"));
  } else if (EVP_PKEY_is_a(p, "EC")) {
    k.type_ = KeyType::kEcP256;
    char group[64] = {0};
    std::size_t glen = 0;
    if (EVP_PKEY_get_group_name(p, group, sizeof group, &glen) != 1 ||
        (std::string_view(group) != "prime256v1" && std::string_view(group) != "P-256")) {
      ERR_clear_error();
      return fail(ErrorCode::kInvalidArgument, "key: only the P-256 curve is supported");
    }
    UniqueBn x, y;
    if (!get_bn(p, OSSL_PKEY_PARAM_EC_PUB_X, &x) || !get_bn(p, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
      return fail(ErrorCode::kInternal, "key: cannot read the EC public key");
    k.pub1_ = base64url_encode(detail::bn_to_bytes(x.get(), kP256FieldBytes));
    k.pub2_ = base64url_encode(detail::bn_to_bytes(y.get(), kP256FieldBytes));
    k.thumbprint_ =
        base64url_encode(sha256(R"({"crv":"P-256","kty":"EC","x":")" + k.pub1_ + R"(","y":")" + k.pub2_ + R"("})"));
  } else {
    return fail(ErrorCode::kInvalidArgument, "key: only RSA and EC P-256 keys are supported");
  }
  k.pkey_ = std::move(pkey);
  k.private_ = is_private;
  k.kid_ = kid.empty() ? k.thumbprint_ : std::move(kid);
  return k;
}

Result<Jwk> Jwk::parse(const json& j) {
  if (!j.is_object()) return fail(ErrorCode::kInvalidArgument, "jwk: not a JSON object");
  auto kty = optional_string(j, "kty");
  if (!kty) return tl::unexpected(kty.error());
  if (kty->empty()) return fail(ErrorCode::kInvalidArgument, "jwk: missing \"kty\"");
  if (*kty != "RSA" && *kty != "EC")
    return fail(ErrorCode::kInvalidArgument, "jwk: unsupported kty \"" + kty->substr(0, 32) + "\"");
  const std::string_view expected_alg = *kty == "RSA" ? "RS256" : "ES256";
  auto alg = optional_string(j, "alg");
  if (!alg) return tl::unexpected(alg.error());
  if (j.contains("alg") && *alg != expected_alg)
    return fail(ErrorCode::kInvalidArgument,
                "jwk: alg \"" + alg->substr(0, 32) + "\" does not match the key (" + std::string(expected_alg) + ")");
  auto use = optional_string(j, "use");
  if (!use) return tl::unexpected(use.error());
  if (j.contains("use") && *use != "sig") return fail(ErrorCode::kInvalidArgument, "jwk: \"use\" is not \"sig\"");
  auto kid = optional_string(j, "kid");
  if (!kid) return tl::unexpected(kid.error());
  if (j.contains("kid") && (kid->empty() || kid->size() > kMaxKidSize))
    return fail(ErrorCode::kInvalidArgument, "jwk: \"kid\" is empty or too long");

  bool is_private = false;
  auto pkey = *kty == "RSA" ? rsa_from_json(j, &is_private) : ec_from_json(j, &is_private);
  if (!pkey) return tl::unexpected(pkey.error());
  return adopt(detail::share(std::move(*pkey)), is_private, std::move(*kid));
}

Result<Jwk> Jwk::parse(std::string_view text) {
  if (text.size() > kMaxJwkTextSize) return fail(ErrorCode::kInvalidArgument, "jwk: larger than 16 KiB");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(ErrorCode::kInvalidArgument, "jwk: not valid JSON");
  return parse(j);
}

Result<Jwk> Jwk::generate_rsa(int bits) {
  if (bits < kMinRsaBits || bits > kMaxRsaBits || bits % 8 != 0)
    return fail(ErrorCode::kInvalidArgument, "jwk: RSA key size must be 2048..8192 bits, a multiple of 8");
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits));
  if (p == nullptr) return openssl_fail(ErrorCode::kInternal, "jwk: RSA key generation failed");
  return adopt(detail::share(UniquePkey(p)), true, "");
}

Result<Jwk> Jwk::generate_ec_p256() {
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (p == nullptr) return openssl_fail(ErrorCode::kInternal, "jwk: EC key generation failed");
  return adopt(detail::share(UniquePkey(p)), true, "");
}

Result<Jwk> Jwk::from_pem(std::string_view pem) { return decode_key(pem, "PEM"); }
Result<Jwk> Jwk::from_der(std::string_view der) { return decode_key(der, "DER"); }

Result<Jwk> Jwk::from_evp_pkey(EVP_PKEY* pkey) {
  if (pkey == nullptr) return fail(ErrorCode::kInvalidArgument, "key: null");
  if (EVP_PKEY_up_ref(pkey) != 1) return openssl_fail(ErrorCode::kInternal, "key: EVP_PKEY_up_ref");
  auto shared = detail::share(UniquePkey(pkey));
  const bool is_rsa = EVP_PKEY_is_a(pkey, "RSA");
  const bool is_private =
      (is_rsa || EVP_PKEY_is_a(pkey, "EC")) && has_private_part(pkey, is_rsa ? KeyType::kRsa : KeyType::kEcP256);
  auto k = adopt(std::move(shared), is_private, "");
  if (!k) return k;
  if (k->type_ == KeyType::kEcP256) {
    AVOW_TRY(ec_checks(pkey, is_private));
  } else if (is_private) {
    AVOW_TRY(rsa_pairwise_check(pkey));
  }
  return k;
}

int Jwk::bits() const { return EVP_PKEY_get_bits(pkey_.get()); }

Jwk Jwk::with_kid(std::string kid) const {
  Jwk k = *this;
  k.kid_ = kid.empty() ? thumbprint_ : std::move(kid);
  return k;
}

Jwk Jwk::public_key() const {
  if (!private_) return *this;
  // Re-export the public half so a copy never carries the private exponent.
  auto der = public_der();
  if (der) {
    const unsigned char* p = u8(*der);
    EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size()));
    if (pub != nullptr) {
      Jwk k = *this;
      k.pkey_ = detail::share(UniquePkey(pub));
      k.private_ = false;
      return k;
    }
  }
  ERR_clear_error();
  // Unreachable for keys built by this class; keep the shared key but mark it public.
  Jwk k = *this;
  k.private_ = false;
  return k;
}

json Jwk::to_public_json(const PublicJwkOptions& options) const {
  json j = json::object();
  j["kty"] = kty();
  if (options.use_sig) j["use"] = "sig";
  if (options.alg) j["alg"] = alg();
  j["kid"] = kid_;
  if (type_ == KeyType::kRsa) {
    j["n"] = pub1_;
    j["e"] = pub2_;
  } else {
    j["crv"] = "P-256";
    j["x"] = pub1_;
    j["y"] = pub2_;
  }
  if (!options.x5c.empty()) j["x5c"] = options.x5c;
  if (!options.x5t.empty()) j["x5t"] = options.x5t;
  return j;
}

Result<json> Jwk::to_private_json() const {
  if (!private_) return fail(ErrorCode::kInvalidArgument, "jwk: not a private key");
  json j = to_public_json();
  UniqueBn bn;
  if (type_ == KeyType::kEcP256) {
    if (!get_bn(pkey_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &bn))
      return fail(ErrorCode::kInternal, "jwk: cannot read the EC private key");
    SecretBytes d{detail::bn_to_bytes(bn.get(), kP256FieldBytes)};
    j["d"] = base64url_encode(d.bytes);
    return j;
  }
  static constexpr std::pair<const char*, const char*> kMembers[] = {
      {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
      {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
  for (const auto& [name, param] : kMembers) {
    if (!get_bn(pkey_.get(), param, &bn)) {
      if (std::string_view(name) == "d") return fail(ErrorCode::kInternal, "jwk: cannot read the RSA private key");
      break;  // a key imported without CRT members has none of them
    }
    SecretBytes v{detail::bn_to_bytes(bn.get())};
    j[name] = base64url_encode(v.bytes);
  }
  return j;
}

Result<std::string> Jwk::private_pem() const {
  if (!private_) return fail(ErrorCode::kInvalidArgument, "key: not a private key");
  return encode_pkey(pkey_.get(), EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo");
}
Result<std::string> Jwk::private_der() const {
  if (!private_) return fail(ErrorCode::kInvalidArgument, "key: not a private key");
  return encode_pkey(pkey_.get(), EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo");
}
Result<std::string> Jwk::public_pem() const {
  return encode_pkey(pkey_.get(), EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo");
}
Result<std::string> Jwk::public_der() const {
  return encode_pkey(pkey_.get(), EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo");
}

bool Jwk::same_public_key(const Jwk& other) const {
  return type_ == other.type_ && pub1_ == other.pub1_ && pub2_ == other.pub2_;
}

// ---- Jwks ---------------------------------------------------------------------------------------------

Jwks::Jwks(std::vector<Jwk> keys) {
  for (auto& k : keys) {
    if (!add(std::move(k))) ++skipped_;
  }
}

Result<Jwks> Jwks::parse(const json& j) {
  if (!j.is_object()) return fail(ErrorCode::kInvalidArgument, "jwks: not a JSON object");
  auto it = j.find("keys");
  if (it == j.end() || !it->is_array()) return fail(ErrorCode::kInvalidArgument, "jwks: \"keys\" is not an array");
  if (it->size() > kMaxJwksKeys) return fail(ErrorCode::kInvalidArgument, "jwks: more than 64 keys");
  Jwks set;
  for (const auto& element : *it) {
    auto k = Jwk::parse(element);
    if (!k || !set.add(std::move(*k))) ++set.skipped_;
  }
  return set;
}

Result<Jwks> Jwks::parse(std::string_view text) {
  if (text.size() > kMaxJwksTextSize) return fail(ErrorCode::kInvalidArgument, "jwks: larger than 256 KiB");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(ErrorCode::kInvalidArgument, "jwks: not valid JSON");
  return parse(j);
}

const Jwk* Jwks::find(std::string_view kid) const {
  for (const auto& k : keys_) {
    if (k.kid() == kid) return &k;
  }
  return nullptr;
}

Status Jwks::add(Jwk key) {
  if (find(key.kid()) != nullptr) return fail(ErrorCode::kAlreadyExists, "jwks: duplicate kid \"" + key.kid() + "\"");
  keys_.push_back(std::move(key));
  return ok();
}

json Jwks::to_json(const PublicJwkOptions& options) const {
  json keys = json::array();
  for (const auto& k : keys_) keys.push_back(k.to_public_json(options));
  return json{{"keys", std::move(keys)}};
}

}  // namespace avow::crypto
