// The device identity file: `<home>/device.json`, 0600, written atomically, read with suspicion.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "authenticator/device.h"

namespace avow::device {
namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "avow-device";
constexpr int kVersion = 1;

std::string errno_text(int err) { return std::strerror(err); }

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<std::string> required_string(const json& doc, const char* member, const std::string& file) {
  auto it = doc.find(member);
  if (it == doc.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return fail(ErrorCode::kInvalidArgument,
                file + " is corrupt: \"" + member + "\" is missing or not a non-empty string");
  return it->get<std::string>();
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Result<DeviceIdentity> parse_document(const json& doc, const std::string& what) {
  if (!doc.is_object()) return fail(ErrorCode::kInvalidArgument, what + " is corrupt: not a JSON object");
  auto format = doc.find("format");
  if (format == doc.end() || *format != kFormat)
    return fail(ErrorCode::kInvalidArgument,
                what + " is not an Avow device identity (\"format\" is not \"avow-device\")");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer())
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"version\" is missing");
  if (*version != kVersion)
    return fail(ErrorCode::kInvalidArgument,
                what + " has version " + version->dump() + "; this avow reads version " + std::to_string(kVersion));
  auto server = required_string(doc, "server", what);
  if (!server) return tl::unexpected(server.error());
  auto normal = normalize_server_url(*server, /*allow_insecure_http=*/true);
  if (!normal || *normal != *server)
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"server\" is not a normalised server URL");
  auto device_id = required_string(doc, "device_id", what);
  if (!device_id) return tl::unexpected(device_id.error());
  if (device_id->size() > kMaxIdSize)
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"device_id\" is too long");
  auto name = required_string(doc, "name", what);
  if (!name) return tl::unexpected(name.error());
  auto key_json = doc.find("key");
  if (key_json == doc.end() || !key_json->is_object())
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: \"key\" is missing");
  auto key = crypto::Jwk::parse(*key_json);
  if (!key)
    return fail(ErrorCode::kInvalidArgument,
                what + " is corrupt: the key does not parse (" + key.error().message + ")");
  if (!key->is_private() || key->type() != crypto::KeyType::kEcP256)
    return fail(ErrorCode::kInvalidArgument, what + " is corrupt: the key is not a private EC P-256 key");
  return DeviceIdentity{std::move(*server), std::move(*device_id), std::move(*name), std::move(*key)};
}

Status fsync_directory(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0)
    return fail(ErrorCode::kUnavailable, "cannot sync the directory " + dir.string() + ": " + errno_text(errno));
  return ok();
}

Status ensure_home(const std::filesystem::path& home) {
  std::error_code ec;
  if (std::filesystem::is_directory(home, ec)) return ok();
  if (home.has_parent_path() && !home.parent_path().empty()) {
    std::filesystem::create_directories(home.parent_path(), ec);
    if (ec) return fail(ErrorCode::kUnavailable, "cannot create " + home.parent_path().string() + ": " + ec.message());
  }
  // 0700 from the start: the directory holds the private key.
  if (::mkdir(home.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(ErrorCode::kUnavailable, "cannot create " + home.string() + ": " + errno_text(errno));
  if (!std::filesystem::is_directory(home, ec))
    return fail(ErrorCode::kUnavailable, home.string() + " exists and is not a directory");
  return ok();
}

}  // namespace

std::filesystem::path DeviceIdentity::file_path(const std::filesystem::path& home) {
  return home / std::string(kIdentityFileName);
}

Result<json> DeviceIdentity::to_json() const {
  if (server.empty() || device_id.empty() || name.empty())
    return fail(ErrorCode::kInvalidArgument, "identity: server, device_id and name must be set");
  if (!key.is_private() || key.type() != crypto::KeyType::kEcP256)
    return fail(ErrorCode::kInvalidArgument, "identity: the key must be a private EC P-256 key");
  auto key_json = key.to_private_json();
  if (!key_json) return tl::unexpected(key_json.error());
  return json{{"format", kFormat},      {"version", kVersion}, {"server", server},
              {"device_id", device_id}, {"name", name},        {"key", std::move(*key_json)}};
}

Result<DeviceIdentity> DeviceIdentity::from_json(const json& document) {
  return parse_document(document, "the identity document");
}

Result<DeviceIdentity> DeviceIdentity::load(const std::filesystem::path& home) {
  const std::filesystem::path path = file_path(home);
  const std::string file = path.string();
  // O_NOFOLLOW: a symbolic link could point the key read anywhere; refuse it like ssh refuses loose keys.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT)
      return fail(ErrorCode::kNotFound, "this device is not enrolled: " + file +
                                            " does not exist (run `avow enroll --server URL` or `avow scan URL`)");
    if (err == ELOOP) return fail(ErrorCode::kPermissionDenied, file + " is a symbolic link; refusing to use it");
    if (err == EACCES) return fail(ErrorCode::kPermissionDenied, "cannot read " + file + ": " + errno_text(err));
    return fail(ErrorCode::kUnavailable, "cannot open " + file + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail(ErrorCode::kUnavailable, "cannot stat " + file + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidArgument, file + " is not a regular file");
  if (st.st_uid != ::geteuid())
    return fail(ErrorCode::kPermissionDenied, file + " belongs to another user; refusing to use its key");
  if ((st.st_mode & 077) != 0)
    return fail(ErrorCode::kPermissionDenied, file + " has mode " + octal_mode(st.st_mode) +
                                                  ": the device key must be private to you; run `chmod 600 " + file +
                                                  "` if you trust its content, or enroll again");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxIdentityFileSize)
    return fail(ErrorCode::kInvalidArgument,
                file + " is corrupt: larger than " + std::to_string(kMaxIdentityFileSize) + " bytes");

  std::string text;
  text.resize(kMaxIdentityFileSize + 1);
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kUnavailable, "cannot read " + file + ": " + errno_text(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > kMaxIdentityFileSize)
    return fail(ErrorCode::kInvalidArgument,
                file + " is corrupt: larger than " + std::to_string(kMaxIdentityFileSize) + " bytes");
  text.resize(got);
  if (text.empty()) return fail(ErrorCode::kInvalidArgument, file + " is corrupt: it is empty");
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return fail(
        ErrorCode::kInvalidArgument,
        file + " is corrupt: not valid JSON (truncated?). Restore it from a backup or enroll again with --force");
  return parse_document(doc, file);
}

Status DeviceIdentity::save(const std::filesystem::path& home, bool overwrite) const {
  auto doc = to_json();
  if (!doc) return tl::unexpected(doc.error());
  AVOW_TRY(ensure_home(home));
  const std::filesystem::path final_path = file_path(home);
  if (!overwrite && ::access(final_path.c_str(), F_OK) == 0)
    return fail(ErrorCode::kAlreadyExists,
                final_path.string() + " already holds a device identity; refusing to replace it (use --force)");

  std::string tmpl = (home / ".device.json.XXXXXX").string();
  Fd fd(::mkstemp(tmpl.data()));  // mkstemp creates the file 0600
  if (fd.get() < 0)
    return fail(ErrorCode::kUnavailable, "cannot create a file in " + home.string() + ": " + errno_text(errno));
  const std::string tmp = tmpl;
  auto cleanup = [&] { ::unlink(tmp.c_str()); };

  const std::string text = doc->dump(2) + "\n";
  if (::fchmod(fd.get(), 0600) != 0) {
    cleanup();
    return fail(ErrorCode::kUnavailable, "cannot set the mode of " + tmp + ": " + errno_text(errno));
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      cleanup();
      return fail(ErrorCode::kUnavailable, "cannot write " + tmp + ": " + errno_text(err));
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    const int err = errno;
    cleanup();
    return fail(ErrorCode::kUnavailable, "cannot sync " + tmp + ": " + errno_text(err));
  }

  if (overwrite) {
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      const int err = errno;
      cleanup();
      return fail(ErrorCode::kUnavailable,
                  "cannot rename " + tmp + " to " + final_path.string() + ": " + errno_text(err));
    }
  } else {
    // link() fails with EEXIST instead of replacing: no window in which another writer's file is lost.
    if (::link(tmp.c_str(), final_path.c_str()) != 0) {
      const int err = errno;
      cleanup();
      if (err == EEXIST)
        return fail(ErrorCode::kAlreadyExists,
                    final_path.string() + " already holds a device identity; refusing to replace it (use --force)");
      return fail(ErrorCode::kUnavailable, "cannot create " + final_path.string() + ": " + errno_text(err));
    }
    cleanup();
  }
  return fsync_directory(home);
}

}  // namespace avow::device
