#include "crypto/x509.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "common/base64url.h"
#include "common/random.h"
#include "crypto/detail/openssl_util.h"
#include "crypto/hash.h"

namespace avow::crypto {
namespace {

using detail::openssl_fail;
using detail::u8;
using detail::UniqueX509;

constexpr std::size_t kMaxCertificateSize = 64 * 1024;

struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*';
    if (!ok) return false;
  }
  return true;
}

Status add_conf_extension(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
  std::unique_ptr<X509_EXTENSION, ExtensionFree> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(x, ext.get(), -1) != 1) return openssl_fail(ErrorCode::kInternal, "x509: adding extension");
  return ok();
}

Status add_sans(X509* x, const CertificateRequest& req) {
  if (req.dns_sans.empty() && req.ip_sans.empty()) return ok();
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(sk_GENERAL_NAME_new_null());
  if (!names) return openssl_fail(ErrorCode::kInternal, "x509: allocating SANs");
  for (const auto& dns : req.dns_sans) {
    if (!valid_dns_name(dns))
      return fail(ErrorCode::kInvalidArgument, "x509: invalid DNS SAN \"" + dns.substr(0, 64) + "\"");
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (ia5 == nullptr || gn == nullptr || ASN1_STRING_set(ia5, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(ia5);
      GENERAL_NAME_free(gn);
      return openssl_fail(ErrorCode::kInternal, "x509: building DNS SAN");
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    if (sk_GENERAL_NAME_push(names.get(), gn) == 0) {
      GENERAL_NAME_free(gn);
      return openssl_fail(ErrorCode::kInternal, "x509: building SANs");
    }
  }
  for (const auto& ip : req.ip_sans) {
    ASN1_OCTET_STRING* addr = a2i_IPADDRESS(ip.c_str());
    if (addr == nullptr) {
      ERR_clear_error();
      return fail(ErrorCode::kInvalidArgument, "x509: invalid IP SAN \"" + ip.substr(0, 64) + "\"");
    }
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (gn == nullptr) {
      ASN1_OCTET_STRING_free(addr);
      return openssl_fail(ErrorCode::kInternal, "x509: building IP SAN");
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, addr);
    if (sk_GENERAL_NAME_push(names.get(), gn) == 0) {
      GENERAL_NAME_free(gn);
      return openssl_fail(ErrorCode::kInternal, "x509: building SANs");
    }
  }
  if (X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1)
    return openssl_fail(ErrorCode::kInternal, "x509: adding SANs");
  return ok();
}

std::int64_t asn1_time_to_unix(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

Result<UniqueX509> parse_der(std::string_view der) {
  if (der.empty() || der.size() > kMaxCertificateSize)
    return fail(ErrorCode::kInvalidArgument, "x509: certificate is empty or larger than 64 KiB");
  const unsigned char* p = u8(der);
  UniqueX509 x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x) return openssl_fail(ErrorCode::kInvalidArgument, "x509: not a DER certificate");
  if (p != u8(der) + der.size()) return fail(ErrorCode::kInvalidArgument, "x509: trailing bytes after the certificate");
  return x;
}

}  // namespace

Result<Certificate> Certificate::from_der(std::string_view der) {
  auto x = parse_der(der);
  if (!x) return tl::unexpected(x.error());
  Certificate c;
  c.der_ = std::string(der);
  c.not_before_ = asn1_time_to_unix(X509_get0_notBefore(x->get()));
  c.not_after_ = asn1_time_to_unix(X509_get0_notAfter(x->get()));
  return c;
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  if (pem.empty() || pem.size() > 2 * kMaxCertificateSize)
    return fail(ErrorCode::kInvalidArgument, "x509: PEM is empty or too large");
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_fail(ErrorCode::kInternal, "x509: BIO_new_mem_buf");
  UniqueX509 x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x) return openssl_fail(ErrorCode::kInvalidArgument, "x509: no CERTIFICATE block in the PEM");
  unsigned char* der = nullptr;
  const int len = i2d_X509(x.get(), &der);
  if (len <= 0) return openssl_fail(ErrorCode::kInternal, "x509: i2d_X509");
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return from_der(bytes);
}

std::string Certificate::pem() const {
  const std::string b64 = base64_encode(der_);
  std::string out = "-----BEGIN CERTIFICATE-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out.push_back('\n');
  }
  out += "-----END CERTIFICATE-----\n";
  return out;
}

std::string Certificate::x5c() const { return base64_encode(der_); }
std::string Certificate::x5t() const { return base64url_encode(sha1(der_)); }
std::string Certificate::x5t_s256() const { return base64url_encode(sha256(der_)); }

Result<Jwk> Certificate::public_key() const {
  auto x = parse_der(der_);
  if (!x) return tl::unexpected(x.error());
  EVP_PKEY* pkey = X509_get0_pubkey(x->get());
  if (pkey == nullptr) return openssl_fail(ErrorCode::kInvalidArgument, "x509: unreadable public key");
  return Jwk::from_evp_pkey(pkey);
}

Result<Certificate> make_self_signed(const Jwk& key, const CertificateRequest& req) {
  if (!key.is_private())
    return fail(ErrorCode::kInvalidArgument, "x509: a self-signed certificate needs the private key");
  if (req.common_name.empty() || req.common_name.size() > 64)
    return fail(ErrorCode::kInvalidArgument, "x509: common name must be 1..64 characters");
  if (req.validity.count() <= 0) return fail(ErrorCode::kInvalidArgument, "x509: validity must be positive");

  UniqueX509 x(X509_new());
  if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1) return openssl_fail(ErrorCode::kInternal, "x509: X509_new");

  // Random positive 128-bit serial (RFC 5280 allows up to 20 octets).
  std::string serial = random_bytes(16);
  serial[0] = static_cast<char>((serial[0] & 0x7f) | 0x01);
  detail::UniqueBn bn(BN_bin2bn(u8(serial), static_cast<int>(serial.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) == nullptr)
    return openssl_fail(ErrorCode::kInternal, "x509: serial");

  const std::int64_t not_before =
      req.not_before_unix ? *req.not_before_unix : static_cast<std::int64_t>(std::time(nullptr)) - 300;
  const std::int64_t not_after = not_before + req.validity.count();
  if (ASN1_TIME_set(X509_getm_notBefore(x.get()), static_cast<time_t>(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x.get()), static_cast<time_t>(not_after)) == nullptr)
    return openssl_fail(ErrorCode::kInvalidArgument, "x509: validity out of range");

  X509_NAME* name = X509_get_subject_name(x.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, u8(req.common_name),
                                 static_cast<int>(req.common_name.size()), -1, 0) != 1 ||
      X509_set_issuer_name(x.get(), name) != 1)
    return openssl_fail(ErrorCode::kInvalidArgument, "x509: common name");
  if (X509_set_pubkey(x.get(), key.evp_pkey()) != 1) return openssl_fail(ErrorCode::kInternal, "x509: X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  AVOW_TRY(add_conf_extension(x.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  const bool rsa_tls = req.server_auth && key.type() == KeyType::kRsa;
  AVOW_TRY(add_conf_extension(x.get(), &ctx, NID_key_usage,
                              rsa_tls ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"));
  if (req.server_auth) AVOW_TRY(add_conf_extension(x.get(), &ctx, NID_ext_key_usage, "serverAuth"));
  AVOW_TRY(add_conf_extension(x.get(), &ctx, NID_subject_key_identifier, "hash"));
  AVOW_TRY(add_sans(x.get(), req));

  if (X509_sign(x.get(), key.evp_pkey(), detail::md_sha256()) <= 0)
    return openssl_fail(ErrorCode::kInternal, "x509: signing the certificate");

  unsigned char* der = nullptr;
  const int len = i2d_X509(x.get(), &der);
  if (len <= 0) return openssl_fail(ErrorCode::kInternal, "x509: i2d_X509");
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return Certificate::from_der(bytes);
}

Result<Certificate> make_self_signed(const Jwk& key, std::string_view common_name, std::vector<std::string> dns_sans,
                                     std::chrono::seconds validity) {
  CertificateRequest req;
  req.common_name = std::string(common_name);
  req.dns_sans = std::move(dns_sans);
  req.validity = validity;
  return make_self_signed(key, req);
}

}  // namespace avow::crypto
