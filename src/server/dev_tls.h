// avow/server/dev_tls.h — the self-signed HTTPS certificate `avowd serve --dev` uses when no TLS files
// are configured.
//
//   Result<DevTls> t = ensure_dev_tls(data_dir / "dev-tls", config.listen);
//   options.tls = http::TlsFiles{t->cert_file, t->key_file};
//
// Made once (EC P-256 key, certificate for CN=localhost with SANs localhost, 127.0.0.1, ::1 and the listen
// address when it is a specific IP, valid one year) and reused on every later start, so a browser exception
// or a pinned test client keeps working. The directory is 0700 and the key file 0600.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"
#include "server/config.h"

namespace avow::server {

struct DevTls {
  std::string cert_file;
  std::string key_file;
  bool created = false;  // false when an existing pair was reused
};

// Returns the pair in `dir`, creating it (and `dir`) when either file is missing. kUnavailable when the
// directory or files cannot be written; kInternal when key or certificate generation fails.
Result<DevTls> ensure_dev_tls(const std::filesystem::path& dir, const ListenAddress& listen);

}  // namespace avow::server
