#include "crypto/jws.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>

#include "common/base64url.h"
#include "crypto/detail/openssl_util.h"

namespace avow::crypto::jws {
namespace {

using detail::u8;
using json = nlohmann::json;

constexpr std::size_t kEs256SignatureSize = 64;
constexpr std::size_t kP256ScalarSize = 32;

struct Segments {
  std::string_view header, payload, signature;
  std::string_view signing_input;  // header '.' payload, the bytes the signature covers
};

Result<Segments> split(std::string_view token) {
  if (token.size() > kMaxTokenSize) return fail(ErrorCode::kInvalidArgument, "jws: token larger than 16 KiB");
  const std::size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail(ErrorCode::kInvalidArgument, "jws: not three segments");
  const std::size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail(ErrorCode::kInvalidArgument, "jws: not three segments");
  Segments s;
  s.header = token.substr(0, dot1);
  s.payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  s.signature = token.substr(dot2 + 1);
  s.signing_input = token.substr(0, dot2);
  if (s.header.empty() || s.payload.empty() || s.signature.empty())
    return fail(ErrorCode::kInvalidArgument, "jws: empty segment");
  return s;
}

Result<json> parse_header(std::string_view segment) {
  auto bytes = base64url_decode(segment);
  if (!bytes) return fail(ErrorCode::kInvalidArgument, "jws: header is not base64url");
  json header = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return fail(ErrorCode::kInvalidArgument, "jws: header is not a JSON object");
  return header;
}

Result<std::string> decode_payload(std::string_view segment) {
  auto bytes = base64url_decode(segment);
  if (!bytes) return fail(ErrorCode::kInvalidArgument, "jws: payload is not base64url");
  return bytes;
}

// The header checks that do not depend on a key. Returns the "alg" value.
Result<std::string_view> check_header(const json& header) {
  auto alg = header.find("alg");
  if (alg == header.end()) return fail(ErrorCode::kInvalidArgument, "jws: header has no \"alg\"");
  if (!alg->is_string()) return fail(ErrorCode::kInvalidArgument, "jws: \"alg\" is not a string");
  // We implement no JWS extension, so every "crit" list names something we do not understand (RFC 7515 §4.1.11).
  if (header.contains("crit")) return fail(ErrorCode::kInvalidArgument, "jws: \"crit\" header is not supported");
  return std::string_view(alg->get_ref<const std::string&>());
}

// DER INTEGER for a 32-byte big-endian unsigned value: minimal length, a zero byte before a set top bit.
std::size_t der_integer(const unsigned char* v, unsigned char* out) {
  std::size_t i = 0;
  while (i < kP256ScalarSize - 1 && v[i] == 0) ++i;
  const std::size_t len = kP256ScalarSize - i;
  const bool pad = (v[i] & 0x80) != 0;
  std::size_t o = 0;
  out[o++] = 0x02;
  out[o++] = static_cast<unsigned char>(len + (pad ? 1 : 0));
  if (pad) out[o++] = 0;
  for (std::size_t k = i; k < kP256ScalarSize; ++k) out[o++] = v[k];
  return o;
}

// R‖S (64 bytes) → DER ECDSA-Sig-Value, written to `out` (≤ 72 bytes). No allocation: verify is hot.
std::size_t es256_raw_to_der(const unsigned char* raw, unsigned char* out) {
  unsigned char r[35], s[35];
  const std::size_t rl = der_integer(raw, r);
  const std::size_t sl = der_integer(raw + kP256ScalarSize, s);
  std::size_t o = 0;
  out[o++] = 0x30;
  out[o++] = static_cast<unsigned char>(rl + sl);  // ≤ 70, short form
  for (std::size_t k = 0; k < rl; ++k) out[o++] = r[k];
  for (std::size_t k = 0; k < sl; ++k) out[o++] = s[k];
  return o;
}

Result<std::string> es256_der_to_raw(const unsigned char* der, std::size_t len) {
  const unsigned char* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  if (sig == nullptr)
    return detail::openssl_fail(ErrorCode::kInternal, "jws: OpenSSL produced an unreadable ECDSA signature");
  std::string raw(kEs256SignatureSize, '\0');
  const BIGNUM* r = ECDSA_SIG_get0_r(sig);
  const BIGNUM* s = ECDSA_SIG_get0_s(sig);
  const bool ok_r = BN_bn2binpad(r, u8(raw), kP256ScalarSize) == static_cast<int>(kP256ScalarSize);
  const bool ok_s = BN_bn2binpad(s, u8(raw) + kP256ScalarSize, kP256ScalarSize) == static_cast<int>(kP256ScalarSize);
  ECDSA_SIG_free(sig);
  if (!ok_r || !ok_s) return fail(ErrorCode::kInternal, "jws: ECDSA signature component too large");
  return raw;
}

// One reusable digest context per thread: verifying and signing allocate no context of their own, and no
// context is ever shared between threads.
EVP_MD_CTX* thread_md_ctx() {
  thread_local detail::UniqueMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return nullptr;
  EVP_MD_CTX_reset(ctx.get());
  return ctx.get();
}

// Checks alg and signature over the already split and parsed token. `alg` views into `header`, which is
// moved into the result only after its last use.
Result<VerifiedJws> verify_with_key(const Segments& seg, json&& header, std::string_view alg, const Jwk& key) {
  if (alg == "none") return fail(ErrorCode::kUnauthenticated, "jws: unsigned tokens (alg \"none\") are refused");
  if (alg != key.alg())
    return fail(ErrorCode::kUnauthenticated, "jws: alg \"" + std::string(alg.substr(0, 16)) + "\" does not match the " +
                                                 std::string(key.alg()) + " key");

  // Decode the signature into a fixed buffer: at most 8192-bit RSA = 1024 bytes.
  std::array<unsigned char, kMaxRsaBits / 8 + 3> sig{};
  const std::size_t expected =
      key.type() == KeyType::kRsa ? static_cast<std::size_t>(EVP_PKEY_get_size(key.evp_pkey())) : kEs256SignatureSize;
  // A base64url text of `expected` bytes has exactly this many characters; check before decoding.
  if (seg.signature.size() != (expected * 4 + 2) / 3)
    return fail(ErrorCode::kUnauthenticated, "jws: signature has the wrong length for " + std::string(key.alg()));
  auto sig_bytes = base64url_decode(seg.signature);
  if (!sig_bytes) return fail(ErrorCode::kInvalidArgument, "jws: signature is not base64url");
  if (sig_bytes->size() != expected)
    return fail(ErrorCode::kUnauthenticated, "jws: signature has the wrong length for " + std::string(key.alg()));

  const unsigned char* sig_ptr = u8(*sig_bytes);
  std::size_t sig_len = sig_bytes->size();
  if (key.type() == KeyType::kEcP256) {
    sig_len = es256_raw_to_der(sig_ptr, sig.data());
    sig_ptr = sig.data();
  }

  EVP_MD_CTX* ctx = thread_md_ctx();
  if (ctx == nullptr) return fail(ErrorCode::kInternal, "jws: out of memory");
  if (EVP_DigestVerifyInit(ctx, nullptr, detail::md_sha256(), nullptr, key.evp_pkey()) != 1)
    return detail::openssl_fail(ErrorCode::kInternal, "jws: EVP_DigestVerifyInit");
  const int rc = EVP_DigestVerify(ctx, sig_ptr, sig_len, u8(seg.signing_input), seg.signing_input.size());
  EVP_MD_CTX_reset(ctx);  // drop the key reference now rather than at this thread's next call
  if (rc != 1) {
    ERR_clear_error();
    return fail(ErrorCode::kUnauthenticated, "jws: signature does not verify");
  }

  auto payload = decode_payload(seg.payload);
  if (!payload) return tl::unexpected(payload.error());
  return VerifiedJws{std::move(header), std::move(*payload)};
}

}  // namespace

Result<std::string> sign(const Jwk& key, const json& header_extra, std::string_view payload) {
  if (!key.is_private()) return fail(ErrorCode::kInvalidArgument, "jws: signing needs a private key");
  if (!header_extra.is_null() && !header_extra.is_object())
    return fail(ErrorCode::kInvalidArgument, "jws: header_extra is not a JSON object");
  json header = header_extra.is_null() ? json::object() : header_extra;
  if (auto it = header.find("alg"); it != header.end() && *it != key.alg())
    return fail(ErrorCode::kInvalidArgument, "jws: header_extra sets an alg other than the key's");
  if (auto it = header.find("kid"); it != header.end() && *it != key.kid())
    return fail(ErrorCode::kInvalidArgument, "jws: header_extra sets a kid other than the key's");
  if (header.contains("crit")) return fail(ErrorCode::kInvalidArgument, "jws: \"crit\" is not supported");
  header["alg"] = key.alg();
  header["kid"] = key.kid();

  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const json::exception&) {  // a string that is not valid UTF-8
    return fail(ErrorCode::kInvalidArgument, "jws: header_extra holds a string that is not UTF-8");
  }
  const std::size_t max_sig = static_cast<std::size_t>(EVP_PKEY_get_size(key.evp_pkey()));
  std::string token;
  token.reserve((header_text.size() + 2) / 3 * 4 + (payload.size() + 2) / 3 * 4 + (max_sig + 2) / 3 * 4 + 3);
  token += base64url_encode(header_text);
  token += '.';
  token += base64url_encode(payload);
  const std::size_t signing_input_size = token.size();

  std::array<unsigned char, kMaxRsaBits / 8 + 16> sig{};
  std::size_t sig_len = sig.size();
  EVP_MD_CTX* ctx = thread_md_ctx();
  if (ctx == nullptr) return fail(ErrorCode::kInternal, "jws: out of memory");
  if (EVP_DigestSignInit(ctx, nullptr, detail::md_sha256(), nullptr, key.evp_pkey()) != 1 ||
      EVP_DigestSign(ctx, sig.data(), &sig_len, u8(token), signing_input_size) != 1) {
    EVP_MD_CTX_reset(ctx);
    return detail::openssl_fail(ErrorCode::kInternal, "jws: signing failed");
  }
  EVP_MD_CTX_reset(ctx);

  token += '.';
  if (key.type() == KeyType::kEcP256) {
    auto raw = es256_der_to_raw(sig.data(), sig_len);
    if (!raw) return tl::unexpected(raw.error());
    token += base64url_encode(*raw);
  } else {
    token += base64url_encode(std::span<const std::uint8_t>(sig.data(), sig_len));
  }
  return token;
}

Result<VerifiedJws> verify(std::string_view token, const Jwk& key) {
  auto seg = split(token);
  if (!seg) return tl::unexpected(seg.error());
  auto header = parse_header(seg->header);
  if (!header) return tl::unexpected(header.error());
  auto alg = check_header(*header);
  if (!alg) return tl::unexpected(alg.error());
  return verify_with_key(*seg, std::move(*header), *alg, key);
}

Result<VerifiedJws> verify(std::string_view token, const Jwks& keys) {
  auto seg = split(token);
  if (!seg) return tl::unexpected(seg.error());
  auto header = parse_header(seg->header);
  if (!header) return tl::unexpected(header.error());
  auto alg = check_header(*header);
  if (!alg) return tl::unexpected(alg.error());

  const Jwk* key = nullptr;
  auto kid = header->find("kid");
  if (kid == header->end()) {
    if (keys.keys().size() != 1)
      return fail(ErrorCode::kInvalidArgument, "jws: token has no \"kid\" and the key set has more than one key");
    key = &keys.keys().front();
  } else {
    if (!kid->is_string()) return fail(ErrorCode::kInvalidArgument, "jws: \"kid\" is not a string");
    const auto& kid_text = kid->get_ref<const std::string&>();
    key = keys.find(kid_text);
    if (key == nullptr)
      return fail(ErrorCode::kNotFound, "jws: no key with kid \"" + kid_text.substr(0, kMaxKidSize) + "\"");
  }
  return verify_with_key(*seg, std::move(*header), *alg, *key);
}

Result<UnverifiedJws> decode_unverified(std::string_view token) {
  auto seg = split(token);
  if (!seg) return tl::unexpected(seg.error());
  auto header = parse_header(seg->header);
  if (!header) return tl::unexpected(header.error());
  if (!base64url_decode(seg->signature)) return fail(ErrorCode::kInvalidArgument, "jws: signature is not base64url");
  auto payload = decode_payload(seg->payload);
  if (!payload) return tl::unexpected(payload.error());
  return UnverifiedJws{std::move(*header), std::move(*payload)};
}

}  // namespace avow::crypto::jws
