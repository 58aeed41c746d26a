// avow/authenticator/private_file.h — writing the files only their owner may read: the device identity, the
// accounts book (fallback-code secrets) and the TOTP vault.
//
//   AVOW_TRY(write_private_file(home / "device.json", text, {.overwrite = false,
//                                                            .exists_message = "exists: this device is enrolled"}));
//
// A write never leaves half a file: the text goes to a 0600 temporary file in the same directory, which is
// fsynced and then renamed over the target (or, without `overwrite`, linked to it, so an existing file is never
// replaced), and the directory is fsynced. The directory is created 0700 when missing.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace avow::device {

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Creates `dir` with mode 0700 (its missing parents with the default mode) unless it exists as a directory.
// kUnavailable when it cannot be created or exists as something else.
Status ensure_private_dir(const std::filesystem::path& dir);

// Flushes a directory's entries (a rename in it) to disk. kUnavailable on failure.
Status fsync_directory(const std::filesystem::path& dir);

struct PrivateWrite {
  // false: an existing target is kAlreadyExists ("<target> " + exists_message), and is never replaced.
  bool overwrite = true;
  std::string exists_message = "already exists";
  // The temporary file's name prefix in the target's directory (six random characters follow). Empty:
  // "." + the target's file name + ".".
  std::string temp_prefix;
  // A test hook for a crash between the fsync and the rename: called then; returning false stops the write
  // there with kInternal and leaves the temporary file behind, as a crash would.
  std::function<bool()> before_rename;
};

// Writes `text` to `target` as described at the top. kAlreadyExists as above; kUnavailable for an I/O error
// (the message names the file and the system's reason); the temporary file is removed on every failure but the
// before_rename stop.
Status write_private_file(const std::filesystem::path& target, std::string_view text, const PrivateWrite& how = {});

}  // namespace avow::device
