// avow/authenticator/totp_cli.h — `avow totp …`: the TOTP vault on the command line (vault.h).
//
//   TotpCommand totp(app);                  // before app.parse: adds `totp add|list|code|remove|export`
//   app.parse(argc, argv);
//   if (totp.parsed()) return totp.run(home, io, SystemClock::instance());
//
//   avow totp add URI [--category C] [--replace]     URI: otpauth://totp/… or otpauth-migration://offline?data=…
//   avow totp add --image FILE.png [--category C] [--replace]
//   avow totp list [--category C]                    Issuer:account, category, current code, seconds left
//   avow totp code NAME                              the code alone on stdout (seconds left on stderr)
//   avow totp remove NAME
//   avow totp export                                 otpauth URIs, one a line (a warning on stderr)
//
// NAME is a label as `list` shows it or any unambiguous part of one, in any case. The passphrase comes from
// $AVOW_VAULT_PASSPHRASE, else is asked for: on the terminal without echo when stdin is a terminal, else read
// as a line from Io::in (prompts go to Io::err). Creating the vault asks twice. Exit codes (cli.h): 0 ok,
// 1 wrong passphrase, 2 anything else (bad URI, no such account, damaged vault, …).
#pragma once

#include <filesystem>
#include <memory>

#include "authenticator/cli.h"
#include "common/clock.h"

namespace CLI {
class App;
}

namespace avow::device::cli {

class TotpCommand {
 public:
  // Adds the `totp` subcommand to `app`, which must outlive this object.
  explicit TotpCommand(CLI::App& app);
  ~TotpCommand();
  TotpCommand(const TotpCommand&) = delete;
  TotpCommand& operator=(const TotpCommand&) = delete;

  // True when the command line chose `totp` (valid after app.parse).
  bool parsed() const;

  // Runs the chosen `totp` command on the vault in `home`; returns the exit code. Never throws.
  int run(const std::filesystem::path& home, const Io& io, const Clock& clock);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace avow::device::cli
