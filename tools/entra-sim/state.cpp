#include "tools/entra-sim/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crypto/x509.h"

namespace avow::entra_sim {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxPemFile = 64 * 1024;

Status ensure_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kUnavailable, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return fail(ErrorCode::kUnavailable, "cannot restrict " + dir.string() + ": " + ec.message());
  return ok();
}

Result<std::string> read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kNotFound, "cannot open " + path.string());
  std::string text;
  text.resize(kMaxPemFile + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxPemFile) return fail(ErrorCode::kInvalidArgument, path.string() + " is too large");
  return text;
}

// Creates `path` with mode 0600 only if it does not exist. kAlreadyExists when another process won.
Status write_new_file(const fs::path& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return fail(ErrorCode::kAlreadyExists, path.string() + " exists");
    return fail(ErrorCode::kUnavailable, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return fail(ErrorCode::kUnavailable, "cannot write " + path.string() + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return fail(ErrorCode::kUnavailable, "cannot write " + path.string() + ": " + std::strerror(errno));
  return ok();
}

// Writes through a temporary name and renames, so a reader never sees half a file.
Status write_file_atomically(const fs::path& path, std::string_view content) {
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  AVOW_TRY(write_new_file(tmp, content));
  fs::rename(tmp, path, ec);
  if (ec) return fail(ErrorCode::kUnavailable, "cannot rename into " + path.string() + ": " + ec.message());
  return ok();
}

Result<Tenant> tenant_from_file(const fs::path& path, Cloud cloud) {
  auto pem = read_small_file(path);
  if (!pem) return fail(ErrorCode::kUnavailable, pem.error().message);
  auto key = crypto::Jwk::from_pem(*pem);
  if (!key) return fail(ErrorCode::kInvalidArgument, path.string() + ": " + key.error().message);
  return Tenant::from_key(std::move(*key), cloud);
}

}  // namespace

Result<Tenant> load_or_create_tenant(const fs::path& state_dir, Cloud cloud) {
  AVOW_TRY(ensure_dir(state_dir));
  const fs::path key_file = state_dir / "microsoft-key.pem";
  if (fs::exists(key_file)) return tenant_from_file(key_file, cloud);
  auto key = crypto::Jwk::generate_rsa(2048);
  if (!key) return tl::unexpected(key.error());
  auto pem = key->private_pem();
  if (!pem) return tl::unexpected(pem.error());
  Status written = write_new_file(key_file, *pem);
  if (!written && written.error().code == ErrorCode::kAlreadyExists) return tenant_from_file(key_file, cloud);
  if (!written) return tl::unexpected(written.error());
  return Tenant::from_key(std::move(*key), cloud);
}

Result<SimTls> ensure_sim_tls(const fs::path& state_dir) {
  const fs::path dir = state_dir / "tls";
  AVOW_TRY(ensure_dir(state_dir));
  AVOW_TRY(ensure_dir(dir));
  SimTls out{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  if (fs::exists(out.cert_file) && fs::exists(out.key_file)) return out;
  auto key = crypto::Jwk::generate_ec_p256();
  if (!key) return tl::unexpected(key.error());
  crypto::CertificateRequest req;
  req.common_name = "localhost";
  req.dns_sans = {"localhost"};
  req.ip_sans = {"127.0.0.1", "::1"};
  req.validity = std::chrono::hours(24 * 365);
  req.server_auth = true;
  auto cert = crypto::make_self_signed(*key, req);
  if (!cert) return tl::unexpected(cert.error());
  auto key_pem = key->private_pem();
  if (!key_pem) return tl::unexpected(key_pem.error());
  AVOW_TRY(write_file_atomically(out.key_file, *key_pem));
  AVOW_TRY(write_file_atomically(out.cert_file, cert->pem()));
  return out;
}

}  // namespace avow::entra_sim
