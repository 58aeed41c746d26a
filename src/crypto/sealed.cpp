#include "crypto/sealed.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/base64url.h"
#include "common/random.h"
#include "crypto/detail/openssl_util.h"
#include "crypto/hash.h"

namespace avow::crypto {
namespace {

using detail::u8;

constexpr std::size_t kMaxKeyFileSize = 4096;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "avow: %s failed inside OpenSSL; refusing to continue\n", what);
  std::abort();
}

const EVP_CIPHER* aes_256_gcm() {
  static const EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (c == nullptr) die("fetching AES-256-GCM");
    return c;
  }();
  return cipher;
}

std::string errno_text(int err) { return std::strerror(err); }

// Closes the descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kUnavailable, "write: " + errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok();
}

Result<MasterKey> load_from_fd(int fd, const std::string& shown) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fail(ErrorCode::kUnavailable, "master key file " + shown + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode))
    return fail(ErrorCode::kPermissionDenied, "master key file " + shown + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(ErrorCode::kPermissionDenied, "master key file " + shown + " has mode " + mode +
                                                  " and is accessible by group or others; run: chmod 600 " + shown);
  }
  if (st.st_size > static_cast<off_t>(kMaxKeyFileSize))
    return fail(ErrorCode::kInvalidArgument, "master key file " + shown + " is malformed (too large)");
  std::string text(kMaxKeyFileSize + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kUnavailable, "master key file " + shown + ": " + errno_text(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  auto key = MasterKey::from_base64url(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key)
    return fail(ErrorCode::kInvalidArgument,
                "master key file " + shown + " is malformed: expected 43 base64url characters (32 bytes)");
  return key;
}

Result<MasterKey> load_path(const std::filesystem::path& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return fail(ErrorCode::kUnavailable, "master key file " + path.string() + ": " + errno_text(errno));
  return load_from_fd(f.fd, path.string());
}

Status fsync_dir(const std::filesystem::path& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || ::fsync(d.fd) != 0)
    return fail(ErrorCode::kUnavailable, "fsync of " + dir.string() + ": " + errno_text(errno));
  return ok();
}

}  // namespace

MasterKey::~MasterKey() { OPENSSL_cleanse(key_.data(), key_.size()); }

MasterKey MasterKey::generate() {
  MasterKey k;
  std::string bytes = random_bytes(kSize);
  std::memcpy(k.key_.data(), bytes.data(), kSize);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return k;
}

Result<MasterKey> MasterKey::from_bytes(std::string_view bytes) {
  if (bytes.size() != kSize) return fail(ErrorCode::kInvalidArgument, "master key: must be exactly 32 bytes");
  MasterKey k;
  std::memcpy(k.key_.data(), bytes.data(), kSize);
  return k;
}

Result<MasterKey> MasterKey::from_base64url(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (text.size() != 43) return fail(ErrorCode::kInvalidArgument, "master key: expected 43 base64url characters");
  auto bytes = base64url_decode(text);
  if (!bytes) return fail(ErrorCode::kInvalidArgument, "master key: not base64url");
  auto k = from_bytes(*bytes);
  OPENSSL_cleanse(bytes->data(), bytes->size());
  return k;
}

std::string MasterKey::to_base64url() const { return base64url_encode(std::span<const std::uint8_t>(key_)); }

Result<MasterKey> MasterKey::load_or_create_file(const std::filesystem::path& path) {
  {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd >= 0) return load_from_fd(f.fd, path.string());
    if (errno != ENOENT)
      return fail(ErrorCode::kUnavailable, "master key file " + path.string() + ": " + errno_text(errno));
  }

  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // Built with append: GCC 12 warns falsely (-Wrestrict, bug 105329) on a chain of operator+ here.
  std::string tmp_name = ".";
  tmp_name.append(path.filename().string()).append(".tmp-").append(hex_encode(random_bytes(8)));
  const std::filesystem::path tmp = dir / tmp_name;
  MasterKey key = generate();
  std::string text = key.to_base64url() + "\n";
  {
    Fd t{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (t.fd < 0) {
      OPENSSL_cleanse(text.data(), text.size());
      return fail(ErrorCode::kUnavailable,
                  "cannot create master key file in " + dir.string() + ": " + errno_text(errno));
    }
    auto written = write_all(t.fd, text);
    OPENSSL_cleanse(text.data(), text.size());
    if (!written || ::fsync(t.fd) != 0) {
      ::unlink(tmp.c_str());
      return fail(ErrorCode::kUnavailable, "writing master key file " + tmp.string() + " failed");
    }
  }
  // link() never replaces an existing name: if another process created the file meanwhile, we load theirs.
  const int rc = ::link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (link_errno == EEXIST) return load_path(path);
    if (link_errno == EPERM || link_errno == EOPNOTSUPP) {
      // A file system without hard links: create the name itself exclusively (still never overwrites).
      std::string again = key.to_base64url() + "\n";
      Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
      if (f.fd < 0 && errno == EEXIST) return load_path(path);
      auto written = f.fd >= 0 ? write_all(f.fd, again) : Status(fail(ErrorCode::kUnavailable, errno_text(errno)));
      OPENSSL_cleanse(again.data(), again.size());
      if (!written || ::fsync(f.fd) != 0)
        return fail(ErrorCode::kUnavailable, "cannot create master key file " + path.string());
      AVOW_TRY(fsync_dir(dir));
      return key;
    }
    return fail(ErrorCode::kUnavailable,
                "cannot create master key file " + path.string() + ": " + errno_text(link_errno));
  }
  AVOW_TRY(fsync_dir(dir));
  return key;
}

std::string MasterKey::seal(std::string_view plaintext, std::string_view aad) const {
  if (plaintext.size() > kMaxSealSize || aad.size() > kMaxSealSize) die("sealing an oversized value");
  const std::string nonce = random_bytes(kNonceSize);
  std::string out(kSealOverhead + plaintext.size(), '\0');
  out[0] = static_cast<char>(kSealVersion);
  std::memcpy(out.data() + 1, nonce.data(), kNonceSize);
  unsigned char* ct = u8(out) + 1 + kNonceSize;

  detail::UniqueCipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), aes_256_gcm(), key_.data(), u8(nonce), nullptr) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1) ||
      (!plaintext.empty() &&
       EVP_EncryptUpdate(ctx.get(), ct, &len, u8(plaintext), static_cast<int>(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), ct + plaintext.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize), ct + plaintext.size()) != 1)
    die("AES-256-GCM seal");
  return out;
}

Result<std::string> MasterKey::open(std::string_view sealed, std::string_view aad) const {
  if (sealed.size() < kSealOverhead) return fail(ErrorCode::kInvalidArgument, "sealed: too short");
  if (sealed.size() > kSealOverhead + kMaxSealSize || aad.size() > kMaxSealSize)
    return fail(ErrorCode::kInvalidArgument, "sealed: too large");
  if (static_cast<std::uint8_t>(sealed[0]) != kSealVersion)
    return fail(ErrorCode::kInvalidArgument, "sealed: unknown format version");
  const unsigned char* nonce = u8(sealed) + 1;
  const unsigned char* ct = nonce + kNonceSize;
  const std::size_t ct_len = sealed.size() - kSealOverhead;
  std::string tag(reinterpret_cast<const char*>(ct + ct_len), kTagSize);

  std::string out(ct_len, '\0');
  detail::UniqueCipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), aes_256_gcm(), key_.data(), nonce, nullptr) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1) ||
      (ct_len > 0 && EVP_DecryptUpdate(ctx.get(), u8(out), &len, ct, static_cast<int>(ct_len)) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), u8(tag)) != 1)
    return detail::openssl_fail(ErrorCode::kInternal, "sealed: AES-256-GCM");
  if (EVP_DecryptFinal_ex(ctx.get(), u8(out) + ct_len, &len) != 1) {
    ERR_clear_error();
    OPENSSL_cleanse(out.data(), out.size());
    return fail(ErrorCode::kUnauthenticated, "sealed: authentication failed (tampered, wrong key or wrong context)");
  }
  return out;
}

}  // namespace avow::crypto
