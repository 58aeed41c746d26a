// tools/entra-sim/state.h — what the simulator keeps on disk between runs.
//
// Microsoft's RSA key lives in the state directory, so a restarted simulator publishes the same kid and a
// hint minted by `avow-entra-sim mint` verifies against the keys `avow-entra-sim serve` publishes. With
// --tls-dev the simulator's self-signed localhost certificate lives there too.
//
//   Result<Tenant> entra = load_or_create_tenant("/tmp/sim", Cloud::kGlobal);
//   Result<SimTls> tls = ensure_sim_tls("/tmp/sim");   // tls->cert_file is the CA a client trusts
//
// Layout: <dir>/microsoft-key.pem (PKCS#8, 0600), <dir>/tls/{cert.pem,key.pem} (key 0600). The directory
// is created 0700 when missing.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"
#include "tools/entra-sim/microsoft.h"

namespace avow::entra_sim {

// The tenant whose key is in `state_dir`, generating and saving the key on first use. Two processes
// racing to create it end with the same key (the file is created exclusively; the loser reads the
// winner's). kUnavailable when the directory or file cannot be written or read; kInvalidArgument when
// the file holds no private RSA key.
Result<Tenant> load_or_create_tenant(const std::filesystem::path& state_dir, Cloud cloud = Cloud::kGlobal);

struct SimTls {
  std::string cert_file;  // PEM certificate for localhost, 127.0.0.1 and ::1 (also its own CA)
  std::string key_file;   // PEM private key, 0600
};

// The --tls-dev certificate in `<state_dir>/tls`, made once (EC P-256, one year) and reused.
// kUnavailable when it cannot be written; kInternal when key or certificate generation fails.
Result<SimTls> ensure_sim_tls(const std::filesystem::path& state_dir);

}  // namespace avow::entra_sim
