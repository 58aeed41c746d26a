#include "server/dev_tls.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/random.h"
#include "crypto/jwk.h"
#include "crypto/x509.h"

namespace avow::server {
namespace {

// Writes `data` to `path` with `mode` atomically: a fresh temporary file in the same directory, fsync,
// rename over the target. Readers never see a partial file; the key is never briefly world-readable.
Status write_file_atomic(const std::filesystem::path& path, const std::string& data, mode_t mode) {
  const std::filesystem::path tmp = path.string() + ".tmp-" + random_token(6);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail(ErrorCode::kUnavailable, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(ErrorCode::kUnavailable, "cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return fail(ErrorCode::kUnavailable, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(ErrorCode::kUnavailable, "cannot rename into " + path.string() + ": " + std::strerror(err));
  }
  return ok();
}

}  // namespace

Result<DevTls> ensure_dev_tls(const std::filesystem::path& dir, const ListenAddress& listen) {
  DevTls out{(dir / "cert.pem").string(), (dir / "key.pem").string(), false};
  std::error_code ec;
  if (std::filesystem::exists(out.cert_file, ec) && std::filesystem::exists(out.key_file, ec)) return out;

  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kUnavailable, "dev-tls: cannot create " + dir.string() + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);

  Result<crypto::Jwk> key = crypto::Jwk::generate_ec_p256();
  if (!key) return fail(ErrorCode::kInternal, "dev-tls: key generation failed: " + key.error().message);
  crypto::CertificateRequest req;
  req.common_name = "localhost";
  req.dns_sans = {"localhost"};
  req.ip_sans = {"127.0.0.1", "::1"};
  if (listen.host != "localhost" && !listen.is_wildcard() && listen.host != "127.0.0.1" && listen.host != "::1")
    req.ip_sans.push_back(listen.host);
  req.validity = std::chrono::hours(24 * 365);
  req.server_auth = true;
  Result<crypto::Certificate> cert = crypto::make_self_signed(*key, req);
  if (!cert) return fail(ErrorCode::kInternal, "dev-tls: certificate generation failed: " + cert.error().message);
  Result<std::string> key_pem = key->private_pem();
  if (!key_pem) return fail(ErrorCode::kInternal, "dev-tls: key export failed: " + key_pem.error().message);

  // Key first: the pair counts as present only once the certificate exists too.
  if (Status s = write_file_atomic(out.key_file, *key_pem, 0600); !s) return tl::unexpected(s.error());
  if (Status s = write_file_atomic(out.cert_file, cert->pem(), 0644); !s) return tl::unexpected(s.error());
  out.created = true;
  return out;
}

}  // namespace avow::server
