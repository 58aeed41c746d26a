#include "authenticator/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace avow::device {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

Status ensure_private_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return ok();
  if (dir.has_parent_path() && !dir.parent_path().empty()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) return fail(ErrorCode::kUnavailable, "cannot create " + dir.parent_path().string() + ": " + ec.message());
  }
  // 0700 from the start: the directory holds private keys and secrets.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(ErrorCode::kUnavailable, "cannot create " + dir.string() + ": " + errno_text(errno));
  if (!std::filesystem::is_directory(dir, ec))
    return fail(ErrorCode::kUnavailable, dir.string() + " exists and is not a directory");
  return ok();
}

Status fsync_directory(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0)
    return fail(ErrorCode::kUnavailable, "cannot sync the directory " + dir.string() + ": " + errno_text(errno));
  return ok();
}

Status write_private_file(const std::filesystem::path& target, std::string_view text, const PrivateWrite& how) {
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  AVOW_TRY(ensure_private_dir(dir));
  if (!how.overwrite && ::access(target.c_str(), F_OK) == 0)
    return fail(ErrorCode::kAlreadyExists, target.string() + " " + how.exists_message);

  const std::string prefix = how.temp_prefix.empty() ? "." + target.filename().string() + "." : how.temp_prefix;
  std::string tmp = (dir / (prefix + "XXXXXX")).string();
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));  // created 0600
  if (fd.get() < 0)
    return fail(ErrorCode::kUnavailable, "cannot create a file in " + dir.string() + ": " + errno_text(errno));
  auto give_up = [&](const std::string& what) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(ErrorCode::kUnavailable, what + ": " + errno_text(err));
  };
  if (::fchmod(fd.get(), 0600) != 0) return give_up("cannot set the mode of " + tmp);
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return give_up("cannot write " + tmp);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) return give_up("cannot sync " + tmp);
  if (how.before_rename && !how.before_rename())
    return fail(ErrorCode::kInternal, "the write of " + target.string() + " was stopped before the rename");

  if (how.overwrite) {
    if (::rename(tmp.c_str(), target.c_str()) != 0) return give_up("cannot rename " + tmp + " to " + target.string());
  } else {
    // link() fails with EEXIST instead of replacing: no window in which another writer's file is lost.
    if (::link(tmp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      if (err == EEXIST) return fail(ErrorCode::kAlreadyExists, target.string() + " " + how.exists_message);
      return fail(ErrorCode::kUnavailable, "cannot create " + target.string() + ": " + errno_text(err));
    }
    ::unlink(tmp.c_str());
  }
  return fsync_directory(dir);
}

}  // namespace avow::device
