// crypto_bench — Avow's JOSE layer against the same operations done straight on OpenSSL EVP.
//
// Each Avow benchmark has a Raw twin doing only the cryptography on pre-parsed keys and pre-decoded
// inputs, so the ratio Avow/Raw is the cost of the JOSE layer (splitting, base64url, header JSON, alg
// checks, R‖S↔DER). The payload is a realistic EAM id_token (~600 bytes of claims).
//
//   crypto_bench --benchmark_filter=Verify --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <string>

#include "common/base64url.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"

namespace {

using avow::crypto::Jwk;
using avow::crypto::Jwks;
namespace jws = avow::crypto::jws;
using json = nlohmann::json;

std::string id_token_claims() {
  json c = {
      {"iss", "https://avow.example.com"},
      {"aud", "981f26a1-7f43-403b-a875-f8b09b8cd720"},
      {"sub", "mBfcvuhSHkDWVgV72x2ruKYdQnL0NrfRJnpVGCCfyqk"},
      {"iat", 1'700'000'000},
      {"exp", 1'700'000'600},
      {"nbf", 1'700'000'000},
      {"nonce", "AwABAAAAAAACAOz_BAD0_8vU8dH9Bb0ciqF_haudN2OkDdyluIE2zHStmEQdUVbiSUaQi_EdsWfi1_J0iW8nWlVZS7Oe8ygJ2"},
      {"acr", "possessionorinherence"},
      {"amr", {"push"}},
      {"tid", "72f988bf-86f1-41af-91ab-2d7cd011db47"},
      {"oid", "00000000-0000-0000-66f3-3332eca7ea81"},
      {"preferred_username", "adele.vance@contoso.onmicrosoft.com"},
      {"name", "Adele Vance"},
      {"jti", "Jh9xj0QdRE2tZMyk8kv3Hw"},
  };
  return c.dump();
}

struct Fixture {
  Jwk rsa = Jwk::generate_rsa().value();
  Jwk rsa_pub = rsa.public_key();
  Jwk ec = Jwk::generate_ec_p256().value();
  Jwk ec_pub = ec.public_key();
  Jwks set;
  std::string payload = id_token_claims();
  std::string rs_token = jws::sign(rsa, {{"typ", "JWT"}}, payload).value();
  std::string es_token = jws::sign(ec, {{"typ", "JWT"}}, payload).value();

  // Raw inputs: the signing input and the signature bytes OpenSSL wants (DER for ECDSA).
  std::string rs_input, rs_sig, es_input, es_der;
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);

  Fixture() {
    (void)set.add(rsa_pub);
    (void)set.add(ec_pub);
    rs_input = rs_token.substr(0, rs_token.rfind('.'));
    rs_sig = avow::base64url_decode(rs_token.substr(rs_token.rfind('.') + 1)).value();
    es_input = es_token.substr(0, es_token.rfind('.'));
    es_der = raw_sign(ec.evp_pkey(), es_input);
  }

  std::string raw_sign(EVP_PKEY* pkey, const std::string& input) const {
    std::string sig(EVP_PKEY_get_size(pkey), '\0');
    std::size_t len = sig.size();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, sha256, nullptr, pkey);
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return sig;
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

// ---- RS256 sign ---------------------------------------------------------------------------------------

void BM_Avow_RS256_Sign(benchmark::State& state) {
  auto& f = fx();
  const json extra = {{"typ", "JWT"}};
  for (auto _ : state) benchmark::DoNotOptimize(jws::sign(f.rsa, extra, f.payload));
}
BENCHMARK(BM_Avow_RS256_Sign);

void BM_Raw_RS256_Sign(benchmark::State& state) {
  auto& f = fx();
  unsigned char sig[512];
  for (auto _ : state) {
    std::size_t len = sizeof sig;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, f.sha256, nullptr, f.rsa.evp_pkey());
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(f.rs_input.data()), f.rs_input.size());
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_Raw_RS256_Sign);

// ---- RS256 verify -------------------------------------------------------------------------------------

void BM_Avow_RS256_Verify(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
    auto v = jws::verify(f.rs_token, f.rsa_pub);
    if (!v) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_Avow_RS256_Verify);

void BM_Avow_RS256_Verify_Jwks(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
    auto v = jws::verify(f.rs_token, f.set);
    if (!v) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_Avow_RS256_Verify_Jwks);

void BM_Raw_RS256_Verify(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(ctx, nullptr, f.sha256, nullptr, f.rsa_pub.evp_pkey());
    const int rc = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(f.rs_sig.data()), f.rs_sig.size(),
                                    reinterpret_cast<const unsigned char*>(f.rs_input.data()), f.rs_input.size());
    EVP_MD_CTX_free(ctx);
    if (rc != 1) state.SkipWithError("verify failed");
  }
}
BENCHMARK(BM_Raw_RS256_Verify);

// The same with EVP_sha256(): OpenSSL 3 then fetches the digest implementation on every init.
void BM_Raw_RS256_Verify_ImplicitFetch(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, f.rsa_pub.evp_pkey());
    const int rc = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(f.rs_sig.data()), f.rs_sig.size(),
                                    reinterpret_cast<const unsigned char*>(f.rs_input.data()), f.rs_input.size());
    EVP_MD_CTX_free(ctx);
    if (rc != 1) state.SkipWithError("verify failed");
  }
}
BENCHMARK(BM_Raw_RS256_Verify_ImplicitFetch);

// ---- ES256 --------------------------------------------------------------------------------------------

void BM_Avow_ES256_Verify(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
    auto v = jws::verify(f.es_token, f.ec_pub);
    if (!v) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_Avow_ES256_Verify);

void BM_Raw_ES256_Verify(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(ctx, nullptr, f.sha256, nullptr, f.ec_pub.evp_pkey());
    const int rc = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(f.es_der.data()), f.es_der.size(),
                                    reinterpret_cast<const unsigned char*>(f.es_input.data()), f.es_input.size());
    EVP_MD_CTX_free(ctx);
    if (rc != 1) state.SkipWithError("verify failed");
  }
}
BENCHMARK(BM_Raw_ES256_Verify);

void BM_Avow_ES256_Sign(benchmark::State& state) {
  auto& f = fx();
  const json extra = {{"typ", "JWT"}};
  for (auto _ : state) benchmark::DoNotOptimize(jws::sign(f.ec, extra, f.payload));
}
BENCHMARK(BM_Avow_ES256_Sign);

void BM_Raw_ES256_Sign(benchmark::State& state) {
  auto& f = fx();
  unsigned char sig[80];
  for (auto _ : state) {
    std::size_t len = sizeof sig;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, f.sha256, nullptr, f.ec.evp_pkey());
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(f.es_input.data()), f.es_input.size());
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_Raw_ES256_Sign);

// ---- the JOSE layer alone -----------------------------------------------------------------------------

void BM_Avow_DecodeUnverified(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) benchmark::DoNotOptimize(jws::decode_unverified(f.rs_token));
}
BENCHMARK(BM_Avow_DecodeUnverified);

}  // namespace

BENCHMARK_MAIN();
