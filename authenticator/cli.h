// avow/authenticator/cli.h — the `avow` command line, as a function so tests can run it in-process.
//
//   std::istringstream in("42\n"); std::ostringstream out, err;
//   int rc = cli::run(argc, argv, {in, out, err});
//
// Commands: enroll, scan, pending, approve, deny, listen, accounts, code (the fallback code of a bound account),
// totp … (the TOTP vault, totp_cli.h) (see `avow --help`). Exit codes below.
// The home directory is --home, else $AVOW_HOME, else ~/.avow; the CA file is --ca-file, else $AVOW_CA_FILE.
// Everything the server sends is stripped of control characters before it reaches the terminal: a
// browser's user agent is chosen by whoever started the sign-in.
// `totp add|list|code|remove|export` is the TOTP vault (totp_cli.h): it needs no identity, and exits 1 for a
// wrong vault passphrase, 2 for any other error.
#pragma once

#include <atomic>
#include <iosfwd>

namespace avow::device::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;        // the server said no: denied, invalid code, expired, revoked…
inline constexpr int kExitUsage = 2;          // bad arguments, no or unusable identity, bad configuration
inline constexpr int kExitNetwork = 3;        // the server could not be reached (or TLS failed)
inline constexpr int kExitInterrupted = 130;  // SIGINT (128 + 2), as shells report it

struct Io {
  std::istream& in;   // `listen` reads answers here
  std::ostream& out;  // results
  std::ostream& err;  // errors and warnings
  // Set by the caller's SIGINT handler: aborts a call in flight and ends `listen` (kExitInterrupted).
  const std::atomic<bool>* interrupted = nullptr;
};

// Runs `avow` with `argv` (argv[0] is the program name) and returns the exit code. Never throws.
int run(int argc, const char* const* argv, Io io);

}  // namespace avow::device::cli
