// `avow totp …` — the TOTP vault's commands (see totp_cli.h).
#include "authenticator/totp_cli.h"

#include <fcntl.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "authenticator/otpauth.h"
#include "authenticator/qr.h"
#include "authenticator/vault.h"
#include "common/random.h"
#include "crypto/otp.h"

namespace avow::device::cli {
namespace {

constexpr const char* kPassphraseVariable = "AVOW_VAULT_PASSPHRASE";

// A passphrase, wiped when it goes.
struct Passphrase {
  std::string value;
  Passphrase() = default;
  Passphrase(const Passphrase&) = delete;
  Passphrase& operator=(const Passphrase&) = delete;
  Passphrase(Passphrase&& o) noexcept : value(std::move(o.value)) { o.wipe(); }
  Passphrase& operator=(Passphrase&& o) noexcept {
    wipe();
    value = std::move(o.value);
    o.wipe();
    return *this;
  }
  ~Passphrase() { wipe(); }
  void wipe() {
    if (!value.empty()) sodium_memzero(value.data(), value.size());
    value.clear();
  }
};

// Vault text for a terminal. Labels are checked when accounts are added, but the vault is a file.
std::string shown(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    out += (c < 0x20 || c == 0x7f) ? '?' : ch;
  }
  return out;
}

int report(const Io& io, const Error& e) {
  io.err << "avow: " << shown(e.message) << "\n";
  return e.code == ErrorCode::kUnauthenticated ? kExitRefused : kExitUsage;
}

// One line from the terminal with echo off. nullopt when there is no terminal to ask.
std::optional<Result<Passphrase>> read_from_terminal(const std::string& prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct termios saved {};
  const bool has_termios = ::tcgetattr(fd, &saved) == 0;
  if (has_termios) {
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  Passphrase p;
  Status status = ok();
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) {
      status = fail(ErrorCode::kInvalidArgument, "interrupted");  // Ctrl-C: main's handler does not restart reads
      break;
    }
    if (n <= 0 || c == '\n') break;
    if (p.value.size() > kMaxPassphraseSize) continue;  // keep reading to the end of the line; refused below
    p.value += c;
  }
  if (has_termios) ::tcsetattr(fd, TCSAFLUSH, &saved);
  ::close(fd);
  if (!status) return Result<Passphrase>(tl::unexpected(status.error()));
  return Result<Passphrase>(std::move(p));
}

Result<Passphrase> ask(const Io& io, const std::string& prompt) {
  Passphrase p;
  if (&io.in == &std::cin && ::isatty(STDIN_FILENO) == 1) {
    auto typed = read_from_terminal(prompt);
    if (typed) {
      if (!*typed) return tl::unexpected(typed->error());
      p = std::move(**typed);
    }
  } else {
    io.err << prompt << std::flush;
    if (!std::getline(io.in, p.value))
      return fail(ErrorCode::kInvalidArgument,
                  "no passphrase given (end of input); or set " + std::string(kPassphraseVariable));
    io.err << "\n";
  }
  if (!p.value.empty() && p.value.back() == '\r') p.value.pop_back();
  if (p.value.empty()) return fail(ErrorCode::kInvalidArgument, "an empty passphrase is not accepted");
  if (p.value.size() > kMaxPassphraseSize)
    return fail(ErrorCode::kInvalidArgument,
                "the passphrase is longer than " + std::to_string(kMaxPassphraseSize) + " bytes");
  return p;
}

// The vault passphrase: $AVOW_VAULT_PASSPHRASE, else asked for (twice when the vault is being created).
Result<Passphrase> passphrase(const Io& io, bool creating) {
  if (const char* from_env = std::getenv(kPassphraseVariable); from_env != nullptr) {
    Passphrase p;
    p.value = from_env;
    if (p.value.empty())
      return fail(ErrorCode::kInvalidArgument, std::string(kPassphraseVariable) + " is set but empty");
    if (p.value.size() > kMaxPassphraseSize)
      return fail(ErrorCode::kInvalidArgument, std::string(kPassphraseVariable) + " is longer than " +
                                                   std::to_string(kMaxPassphraseSize) + " bytes");
    return p;
  }
  auto first = ask(io, creating ? "New vault passphrase: " : "Vault passphrase: ");
  if (!first || !creating) return first;
  auto again = ask(io, "Repeat the passphrase: ");
  if (!again) return tl::unexpected(again.error());
  if (!constant_time_equal(first->value, again->value))
    return fail(ErrorCode::kInvalidArgument, "the passphrases do not match; the vault was not created");
  return first;
}

int seconds_left(const OtpAccount& a, std::int64_t now) { return a.period - static_cast<int>(now % a.period); }

}  // namespace

struct TotpCommand::State {
  CLI::App* totp = nullptr;
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* code = nullptr;
  CLI::App* remove = nullptr;
  CLI::App* export_all = nullptr;
  std::string uri, image, category, name;
  bool replace = false;

  int run_add(Vault& vault, const Io& io, const Clock& clock);
  int run_list(Vault& vault, const Io& io, const Clock& clock);
  int run_code(Vault& vault, const Io& io, const Clock& clock);
  int run_remove(Vault& vault, const Io& io);
  int run_export(Vault& vault, const Io& io);
};

TotpCommand::TotpCommand(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.totp = app.add_subcommand("totp", "the TOTP vault: other sites' one-time codes, encrypted with a passphrase");
  s.totp->require_subcommand(1);

  s.add = s.totp->add_subcommand("add", "add an account from an otpauth:// (or otpauth-migration://) URI or a QR code");
  CLI::Option* uri_opt =
      s.add->add_option("uri", s.uri, "otpauth://totp/Issuer:account?secret=… or otpauth-migration://…");
  CLI::Option* image_opt = s.add->add_option("--image", s.image, "a PNG picture of the site's QR code");
  uri_opt->excludes(image_opt);
  s.add->add_option("--category", s.category,
                    "Business, E-commerce, Finance, Productivity, Social, Gaming or Other (default)");
  s.add->add_flag("--replace", s.replace, "replace an account with the same issuer and name");

  s.list = s.totp->add_subcommand("list", "list the accounts with their current codes");
  s.list->add_option("--category", s.category, "only this category");

  s.code = s.totp->add_subcommand("code", "print an account's current code");
  s.code->add_option("name", s.name, "Issuer:account as `list` shows it, or any unambiguous part")->required();

  s.remove = s.totp->add_subcommand("remove", "remove an account from the vault");
  s.remove->add_option("name", s.name, "Issuer:account as `list` shows it, or any unambiguous part")->required();

  s.export_all = s.totp->add_subcommand("export", "print every account as an otpauth:// URI (secrets!)");
}

TotpCommand::~TotpCommand() = default;

bool TotpCommand::parsed() const { return state_->totp->parsed(); }

int TotpCommand::run(const std::filesystem::path& home, const Io& io, const Clock& clock) {
  try {
    Vault vault(home);
    State& s = *state_;
    if (s.add->parsed()) return s.run_add(vault, io, clock);
    if (s.list->parsed()) return s.run_list(vault, io, clock);
    if (s.code->parsed()) return s.run_code(vault, io, clock);
    if (s.remove->parsed()) return s.run_remove(vault, io);
    if (s.export_all->parsed()) return s.run_export(vault, io);
    return kExitUsage;
  } catch (const std::exception& e) {
    io.err << "avow: internal error: " << e.what() << "\n";
    return kExitUsage;
  }
}

int TotpCommand::State::run_add(Vault& vault, const Io& io, const Clock& clock) {
  if (uri.empty() && image.empty()) {
    io.err << "avow: totp add needs an otpauth:// URI, or --image FILE.png\n";
    return kExitUsage;
  }
  Category chosen = Category::kOther;
  if (!category.empty()) {
    auto c = parse_category(category);
    if (!c) return report(io, c.error());
    chosen = *c;
  }
  std::string text = uri;
  if (!image.empty()) {
    auto decoded = decode_qr_png(image);
    if (!decoded) return report(io, decoded.error());
    text = std::move(*decoded);
  }
  auto batch = parse_key_uri(text);
  if (!text.empty()) sodium_memzero(text.data(), text.size());
  if (!batch) return report(io, batch.error());
  for (const auto& why : batch->skipped) io.err << "avow: skipped " << shown(why) << "\n";

  const bool creating = !vault.exists();
  auto pass = passphrase(io, creating);
  if (!pass) return report(io, pass.error());
  const std::int64_t now = clock.unix_now();
  bool created = false;
  Status status = vault.update(
      pass->value,
      [&](std::vector<VaultEntry>& entries) -> Status {
        for (const OtpAccount& a : batch->accounts) AVOW_TRY(add_entry(entries, VaultEntry{a, chosen, now}, replace));
        return ok();
      },
      &created);
  if (!status) return report(io, status.error());
  if (created) io.out << "Created the vault " << vault.file().string() << ".\n";
  for (const OtpAccount& a : batch->accounts)
    io.out << "Added " << shown(a.label()) << " (" << to_string(chosen) << ").\n";
  return kExitOk;
}

int TotpCommand::State::run_list(Vault& vault, const Io& io, const Clock& clock) {
  std::optional<Category> only;
  if (!category.empty()) {
    auto c = parse_category(category);
    if (!c) return report(io, c.error());
    only = *c;
  }
  if (!vault.exists()) {
    io.out << "The vault is empty: add an account with `avow totp add otpauth://…`.\n";
    return kExitOk;
  }
  auto pass = passphrase(io, false);
  if (!pass) return report(io, pass.error());
  auto entries = vault.load(pass->value);
  if (!entries) return report(io, entries.error());
  std::size_t width = 0;
  for (const auto& e : *entries)
    if (!only || e.category == *only) width = std::max(width, shown(e.label()).size());
  const std::int64_t now = clock.unix_now();
  std::size_t count = 0;
  for (const auto& e : *entries) {
    if (only && e.category != *only) continue;
    ++count;
    const std::string label = shown(e.label());
    auto code = crypto::totp_at(e.account.secret, now, e.account.period, e.account.digits, e.account.algorithm);
    io.out << label << std::string(width - label.size() + 2, ' ') << to_string(e.category)
           << std::string(14 - to_string(e.category).size(), ' ') << (code ? *code : std::string("error")) << "  "
           << seconds_left(e.account, now) << " s left\n";
  }
  if (count == 0)
    io.out << (only ? "No accounts in the category " + std::string(to_string(*only)) + ".\n"
                    : std::string("The vault is empty.\n"));
  return kExitOk;
}

int TotpCommand::State::run_code(Vault& vault, const Io& io, const Clock& clock) {
  auto pass = passphrase(io, false);
  if (!pass) return report(io, pass.error());
  auto entries = vault.load(pass->value);
  if (!entries) return report(io, entries.error());
  auto index = find_entry(*entries, name);
  if (!index) return report(io, index.error());
  const OtpAccount& a = (*entries)[*index].account;
  const std::int64_t now = clock.unix_now();
  auto code = crypto::totp_at(a.secret, now, a.period, a.digits, a.algorithm);
  if (!code) return report(io, code.error());
  io.out << *code << "\n";
  io.err << shown(a.label()) << ": valid for " << seconds_left(a, now) << " more seconds\n";
  return kExitOk;
}

int TotpCommand::State::run_remove(Vault& vault, const Io& io) {
  if (!vault.exists()) return report(io, Error{ErrorCode::kNotFound, "there is no vault yet: nothing to remove"});
  auto pass = passphrase(io, false);
  if (!pass) return report(io, pass.error());
  std::string removed;
  Status status = vault.update(pass->value, [&](std::vector<VaultEntry>& entries) -> Status {
    auto index = find_entry(entries, name);
    if (!index) return tl::unexpected(index.error());
    removed = entries[*index].label();
    entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(*index));
    return ok();
  });
  if (!status) return report(io, status.error());
  io.out << "Removed " << shown(removed) << ".\n";
  return kExitOk;
}

int TotpCommand::State::run_export(Vault& vault, const Io& io) {
  auto pass = passphrase(io, false);
  if (!pass) return report(io, pass.error());
  auto entries = vault.load(pass->value);
  if (!entries) return report(io, entries.error());
  io.err << "avow: warning: these URIs hold the accounts' secrets: anyone who sees them can make the codes\n";
  for (const auto& e : *entries) {
    std::string line = format_otpauth_uri(e.account);
    io.out << line << "\n";
    sodium_memzero(line.data(), line.size());
  }
  return kExitOk;
}

}  // namespace avow::device::cli
