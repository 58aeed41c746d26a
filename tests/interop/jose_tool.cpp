// jose_tool — a command-line face on avow_crypto for the interoperability tests against `jose` (npm).
//
//   jose_tool sign --alg RS256|ES256 --payload JSON [--key FILE]
//       → {"token": "...", "jwks": {"keys": [public key]}}    (fresh key unless --key: a JWK or PEM file)
//   jose_tool verify --jwks FILE --token TOKEN
//       → exit 0 and the payload on stdout; exit 1 and "error: <code>: <message>" otherwise
//   jose_tool keyring-jwks --dir D [--rotate]
//       → {"jwks": {...}, "token": "...", "active_kid": "..."} from a KeyRing persisted in D
//         (D/master.key and D/keys.json are created on first use)
//
// Not shipped: a test tool, so it reads files whole and keeps error handling plain.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "common/base64url.h"
#include "common/clock.h"
#include "common/logging.h"
#include "crypto/jwk.h"
#include "crypto/jws.h"
#include "crypto/keyring.h"
#include "crypto/sealed.h"

namespace {

using namespace avow;
using namespace avow::crypto;
using json = nlohmann::json;
namespace fs = std::filesystem;

int usage() {
  std::cerr << "usage: jose_tool sign --alg RS256|ES256 --payload JSON [--key FILE]\n"
               "       jose_tool verify --jwks FILE --token TOKEN\n"
               "       jose_tool keyring-jwks --dir DIR [--rotate]\n";
  return 2;
}

int report(const Error& e) {
  const std::string line = "error: " + std::string(to_string(e.code)) + ": " + e.message;
  std::cout << line << "\n";
  std::cerr << line << "\n";
  return 1;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records as one JSON file, rewritten whole (write + rename) on each save. Good enough for a test tool.
class FileSigningKeyStore final : public SigningKeyStore {
 public:
  explicit FileSigningKeyStore(fs::path file) : file_(std::move(file)) {}

  Result<std::vector<SigningKeyRecord>> load_all() override {
    std::vector<SigningKeyRecord> out;
    auto text = read_file(file_.string());
    if (!text) return out;
    json j = json::parse(*text, nullptr, false);
    if (!j.is_array()) return fail(ErrorCode::kInvalidArgument, "keys.json is not a JSON array");
    for (const auto& r : j) {
      SigningKeyRecord rec;
      rec.kid = r.value("kid", "");
      rec.state = r.value("state", "");
      rec.created_at = r.value("created_at", std::int64_t{0});
      rec.activated_at = r.value("activated_at", std::int64_t{0});
      rec.retired_at = r.value("retired_at", std::int64_t{0});
      auto sealed = base64url_decode(r.value("private_key_sealed", ""));
      auto cert = base64url_decode(r.value("certificate_der", ""));
      if (!sealed || !cert) return fail(ErrorCode::kInvalidArgument, "keys.json: bad base64url");
      rec.private_key_sealed = *sealed;
      rec.certificate_der = *cert;
      out.push_back(std::move(rec));
    }
    return out;
  }

  Status save(const SigningKeyRecord& record) override {
    auto all = load_all();
    if (!all) return tl::unexpected(all.error());
    std::map<std::string, SigningKeyRecord> by_kid;
    for (auto& r : *all) by_kid[r.kid] = std::move(r);
    by_kid[record.kid] = record;
    json j = json::array();
    for (const auto& [kid, r] : by_kid) {
      j.push_back({{"kid", r.kid},
                   {"state", r.state},
                   {"created_at", r.created_at},
                   {"activated_at", r.activated_at},
                   {"retired_at", r.retired_at},
                   {"private_key_sealed", base64url_encode(r.private_key_sealed)},
                   {"certificate_der", base64url_encode(r.certificate_der)}});
    }
    const fs::path tmp = file_.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << j.dump(2);
      if (!out) return fail(ErrorCode::kUnavailable, "cannot write " + tmp.string());
    }
    std::error_code ec;
    fs::rename(tmp, file_, ec);
    if (ec) return fail(ErrorCode::kUnavailable, "cannot rename to " + file_.string());
    return ok();
  }

 private:
  fs::path file_;
};

std::map<std::string, std::string> parse_flags(int argc, char** argv, int from) {
  std::map<std::string, std::string> flags;
  for (int i = from; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      flags[a] = argv[++i];
    } else {
      flags[a] = "";
    }
  }
  return flags;
}

int cmd_sign(const std::map<std::string, std::string>& f) {
  if (!f.count("--alg") || !f.count("--payload")) return usage();
  const std::string alg = f.at("--alg");
  Result<Jwk> key = fail(ErrorCode::kInvalidArgument, "no key");
  if (f.count("--key")) {
    auto text = read_file(f.at("--key"));
    if (!text) return report({ErrorCode::kNotFound, "cannot read " + f.at("--key")});
    key = text->find("-----BEGIN") != std::string::npos ? Jwk::from_pem(*text) : Jwk::parse(*text);
  } else if (alg == "RS256") {
    key = Jwk::generate_rsa();
  } else if (alg == "ES256") {
    key = Jwk::generate_ec_p256();
  } else {
    return report({ErrorCode::kInvalidArgument, "unsupported --alg " + alg});
  }
  if (!key) return report(key.error());
  if (key->alg() != alg) return report({ErrorCode::kInvalidArgument, "the key is " + std::string(key->alg())});
  json payload = json::parse(f.at("--payload"), nullptr, false);
  if (payload.is_discarded()) return report({ErrorCode::kInvalidArgument, "--payload is not JSON"});
  auto token = jws::sign(*key, {{"typ", "JWT"}}, payload.dump());
  if (!token) return report(token.error());
  Jwks set;
  (void)set.add(key->public_key());
  PublicJwkOptions options;
  options.use_sig = true;
  options.alg = true;
  std::cout << json{{"token", *token}, {"jwks", set.to_json(options)}}.dump() << "\n";
  return 0;
}

int cmd_verify(const std::map<std::string, std::string>& f) {
  if (!f.count("--jwks") || !f.count("--token")) return usage();
  auto text = read_file(f.at("--jwks"));
  if (!text) return report({ErrorCode::kNotFound, "cannot read " + f.at("--jwks")});
  auto set = Jwks::parse(*text);
  if (!set) return report(set.error());
  auto v = jws::verify(f.at("--token"), *set);
  if (!v) return report(v.error());
  std::cout << v->payload << "\n";
  return 0;
}

int cmd_keyring(const std::map<std::string, std::string>& f) {
  if (!f.count("--dir")) return usage();
  const fs::path dir = f.at("--dir");
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto master = MasterKey::load_or_create_file(dir / "master.key");
  if (!master) return report(master.error());
  FileSigningKeyStore store(dir / "keys.json");
  auto ring = KeyRing::open(store, *master, SystemClock::instance());
  if (!ring) return report(ring.error());
  if (f.count("--rotate")) {
    auto r = (*ring)->rotate();
    if (!r) return report(r.error());
  }
  const std::int64_t now = SystemClock::instance().unix_now();
  auto token = (*ring)->sign_jwt({{"typ", "JWT"}},
                                 {{"iss", "https://avow.test"}, {"sub", "keyring"}, {"iat", now}, {"exp", now + 600}});
  if (!token) return report(token.error());
  std::cout << json{{"jwks", json::parse(*(*ring)->jwks_text())},
                    {"token", *token},
                    {"active_kid", (*ring)->active()->kid}}
                   .dump()
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  avow::log::init(avow::log::Level::kWarn);
  if (argc < 2) return usage();
  const std::string cmd = argv[1];
  const auto flags = parse_flags(argc, argv, 2);
  if (cmd == "sign") return cmd_sign(flags);
  if (cmd == "verify") return cmd_verify(flags);
  if (cmd == "keyring-jwks") return cmd_keyring(flags);
  return usage();
}
