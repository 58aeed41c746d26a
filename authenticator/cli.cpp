#include "authenticator/cli.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <istream>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "authenticator/device.h"
#include "authenticator/qr.h"
#include "authenticator/totp_cli.h"

#ifndef AVOW_VERSION
#define AVOW_VERSION "0.0.0"
#endif

namespace avow::device::cli {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxShownSize = 200;  // one context value on screen

// Server-sent text for a terminal: C0/C1 control characters and DEL become '?', so a crafted user agent
// cannot move the cursor, rewrite earlier lines or retitle the window; long values are cut.
std::string safe(std::string_view s, std::size_t max = kMaxShownSize) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += '?';  // U+0080–U+009F, the C1 controls (CSI among them)
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() >= max && max < s.size()) out += "…";
  return out;
}

int exit_code(FailureKind kind) {
  switch (kind) {
    case FailureKind::kLocal:
      return kExitUsage;
    case FailureKind::kNetwork:
      return kExitNetwork;
    case FailureKind::kServer:
      return kExitRefused;
    case FailureKind::kCancelled:
      return kExitInterrupted;
  }
  return kExitUsage;
}

int report(const Io& io, const DeviceError& e) {
  if (e.kind == FailureKind::kCancelled) {
    io.err << "avow: interrupted\n";
    return kExitInterrupted;
  }
  io.err << "avow: " << safe(e.message, 600);
  if (!e.server_error.empty()) io.err << " [" << safe(e.server_error) << "]";
  io.err << "\n";
  return exit_code(e.kind);
}

int report_local(const Io& io, const Error& e) {
  io.err << "avow: " << e.message << "\n";
  return kExitUsage;
}

bool interrupted(const Io& io) { return io.interrupted != nullptr && io.interrupted->load(); }

// Sleeps up to `seconds`, waking early on SIGINT.
void nap(const Io& io, int seconds) {
  for (int i = 0; i < seconds * 10 && !interrupted(io); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<int> parse_number(std::string_view s) {
  int n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < 0) return std::nullopt;
  return n;
}

std::string choices_text(const std::vector<int>& choices) {
  std::string s;
  for (int n : choices) s += (s.empty() ? "" : "   ") + std::to_string(n);
  return s;
}

void show_challenge(const Io& io, const Challenge& c) {
  const ChallengeContext& x = c.shown;
  if (c.kind == "admin_signin") {
    // Someone signs in to the dashboard as the admin this device belongs to (or re-confirms a dangerous step).
    io.out << "Avow dashboard sign-in for " << safe(x.user) << " (request " << safe(c.id) << ")\n";
    io.out << "  Organisation: " << safe(x.org) << "\n";
  } else {
    io.out << "Sign-in request " << safe(c.id) << (c.kind.empty() ? "" : " (" + safe(c.kind) + ")") << "\n";
    io.out << "  Integration:  " << safe(x.integration) << "\n";
    io.out << "  Organisation: " << safe(x.org) << "\n";
    io.out << "  User:         " << safe(x.user) << "\n";
  }
  io.out << "  IP address:   " << safe(x.ip) << "\n";
  io.out << "  Browser:      " << safe(x.user_agent) << "\n";
  io.out << "  Time:         " << safe(x.created_at) << "\n";
  if (!c.expires_at.empty()) io.out << "  Expires:      " << safe(c.expires_at) << "\n";
  io.out << "  Numbers:      " << choices_text(c.choices) << "\n";
  if (!c.server_context_hash.empty() && c.server_context_hash != c.context_hash)
    io.err << "avow: warning: the server's context hash for " << safe(c.id)
           << " differs from this device's; an answer may be refused\n";
}

json challenges_json(const std::vector<Challenge>& list) {
  json arr = json::array();
  for (const auto& c : list) arr.push_back(c.raw);
  return json{{"challenges", std::move(arr)}};
}

json account_json(const Account& a) {
  return json{{"user", a.user}, {"org", a.org}, {"integration", a.integration}, {"bound_at", a.bound_at}};
}

void print_answer(const Io& io, const AnswerResult& r) {
  if (r.state == "approved") {
    io.out << "Approved.\n";
  } else if (r.state == "denied") {
    if (r.reason == "wrong_number")
      io.out << "Denied: that was not the number the sign-in page showed.\n";
    else if (r.reason == "fraud")
      io.out << "Denied and reported as not you.\n";
    else
      io.out << "Denied.\n";
  } else {
    io.out << "Answer recorded: " << safe(r.state) << "\n";
  }
}

struct Globals {
  std::string home;
  std::string ca_file;
  bool allow_http = false;
};

}  // namespace

int run(int argc, const char* const* argv, Io io) {
  CLI::App app{
      "avow — the Avow authenticator: enrol this device, bind it by scanning a ScanCode, and approve "
      "sign-ins with number matching"};
  app.require_subcommand(1);
  app.fallthrough();  // --home and friends also after the command
  app.set_version_flag("--version", std::string("avow ") + AVOW_VERSION);

  Globals g;
  app.add_option("--home", g.home, "directory holding this device's identity (default $AVOW_HOME or ~/.avow)");
  app.add_option("--ca-file", g.ca_file,
                 "PEM file of CAs to trust instead of the system's, e.g. avowd's dev certificate (also AVOW_CA_FILE)");
  app.add_flag("--allow-http", g.allow_http, "allow plain http:// to a server that is not on this machine (testing)");

  std::string server, name, url, image, id, context_hash_opt;
  bool force = false, json_out = false, fraud = false;
  int wait = 0, number = -1;

  CLI::App* enroll_cmd = app.add_subcommand("enroll", "enrol this device with a server (makes its key)");
  enroll_cmd->add_option("--server", server, "the server's public URL, e.g. https://avow.example.com")->required();
  enroll_cmd->add_option("--name", name, "what the server calls this device (default: the host name)");
  enroll_cmd->add_flag("--force", force, "replace an existing identity (its bindings are lost to this device)");

  CLI::App* scan_cmd = app.add_subcommand("scan", "redeem a ScanCode: a URL https://…/s/CODE, a code, or a picture");
  CLI::Option* url_opt = scan_cmd->add_option("url", url, "the ScanCode URL or code");
  CLI::Option* image_opt = scan_cmd->add_option("--image", image, "a PNG picture of the QR code");
  url_opt->excludes(image_opt);
  scan_cmd->add_flag("--json", json_out, "print the server's answer as JSON");

  CLI::App* pending_cmd = app.add_subcommand("pending", "list the sign-in requests waiting for an answer");
  pending_cmd->add_option("--wait", wait, "wait up to this many seconds for one (0-30)")
      ->check(CLI::Range(0, kMaxWaitSeconds));
  pending_cmd->add_flag("--json", json_out, "print JSON");

  CLI::App* approve_cmd = app.add_subcommand("approve", "approve a sign-in request with the number the page shows");
  approve_cmd->add_option("id", id, "the request's id (see `avow pending`)")->required();
  approve_cmd->add_option("--number,-n", number, "the number the sign-in page shows")
      ->required()
      ->check(CLI::NonNegativeNumber);
  approve_cmd->add_option("--context-hash", context_hash_opt, "the context hash (default: fetched with the request)");

  CLI::App* deny_cmd = app.add_subcommand("deny", "deny a sign-in request");
  deny_cmd->add_option("id", id, "the request's id (see `avow pending`)")->required();
  deny_cmd->add_flag("--fraud", fraud, "report it as not you (a sign-in you did not start)");
  deny_cmd->add_option("--context-hash", context_hash_opt, "the context hash (default: fetched with the request)");

  CLI::App* listen_cmd = app.add_subcommand("listen", "wait for sign-in requests and answer them here (Ctrl-C stops)");

  CLI::App* accounts_cmd = app.add_subcommand("accounts", "list the users this device is bound to");
  accounts_cmd->add_flag("--json", json_out, "print JSON");

  // Fallback codes: works offline once the secret is stored (by `scan` or `accounts`).
  std::string code_account;
  CLI::App* code_cmd =
      app.add_subcommand("code", "print the current fallback code for signing in when the phone is offline");
  code_cmd->add_option("account", code_account, "the account: its UPN or a part of it (not needed with one account)");
  code_cmd->add_flag("--json", json_out, "print JSON");

  TotpCommand totp(app);  // `avow totp …`: the TOTP vault (totp_cli.h)

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e, io.out, io.err);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  // Configuration.
  std::filesystem::path home = g.home;
  if (home.empty()) home = env("AVOW_HOME");
  if (home.empty()) {
    const std::string user_home = env("HOME");
    if (user_home.empty()) {
      io.err << "avow: no home directory: pass --home DIR or set AVOW_HOME\n";
      return kExitUsage;
    }
    home = std::filesystem::path(user_home) / ".avow";
  }
  ClientOptions options;
  options.home = home;
  options.ca_file = !g.ca_file.empty() ? g.ca_file : env("AVOW_CA_FILE");
  options.allow_insecure_http = g.allow_http;
  options.cancel = io.interrupted;
  options.user_agent = std::string("avow/") + AVOW_VERSION;

  // The vault needs no identity: it works before (and without) enrolment.
  if (totp.parsed()) return totp.run(home, io, SystemClock::instance());

  Result<DeviceIdentity> loaded = DeviceIdentity::load(home);
  const bool not_enrolled = !loaded && loaded.error().code == ErrorCode::kNotFound;

  // ---- enroll
  if (enroll_cmd->parsed()) {
    auto target = normalize_server_url(server, options.allow_insecure_http);
    if (!target) return report_local(io, target.error());
    std::optional<DeviceIdentity> current;
    if (loaded) {
      if (!force) {
        if (loaded->server == *target) {
          io.out << "Already enrolled with " << loaded->server << " as device " << safe(loaded->device_id) << ".\n";
          return kExitOk;
        }
        io.err << "avow: this device is enrolled with " << loaded->server << "; enrolling with " << *target
               << " would replace that identity. Use --force, or another --home.\n";
        return kExitUsage;
      }
    } else if (!not_enrolled && !force) {
      io.err << "avow: " << loaded.error().message << "\navow: --force replaces it with a new identity\n";
      return kExitUsage;
    }
    DeviceClient client(options, std::nullopt);  // with --force the old identity is replaced, not kept
    auto identity = client.enroll(*target, name, force);
    if (!identity) return report(io, identity.error());
    io.out << "Enrolled with " << identity->server << " as device " << safe(identity->device_id) << " (\""
           << safe(identity->name) << "\").\nIdentity saved in " << DeviceIdentity::file_path(home).string() << ".\n";
    return kExitOk;
  }

  // ---- scan (may enrol first)
  if (scan_cmd->parsed()) {
    if (!loaded && !not_enrolled) return report_local(io, loaded.error());
    if (url.empty() && image.empty()) {
      io.err << "avow: scan needs a URL or code, or --image FILE.png\n";
      return kExitUsage;
    }
    if (!image.empty()) {
      auto text = decode_qr_png(image);
      if (!text) return report_local(io, text.error());
      url = *text;
      if (!json_out) io.out << "QR code: " << safe(url, 600) << "\n";
    }
    DeviceClient client(options, loaded ? std::optional(*loaded) : std::nullopt);
    auto result = client.scan(url);
    if (!result) return report(io, result.error());
    if (json_out) {
      json out = result->raw;
      out["enrolled"] = result->enrolled;
      // The fallback-code secret stays in accounts.json: never on the terminal.
      if (out.contains("account") && out["account"].is_object() && out["account"].contains("code")) {
        out["account"].erase("code");
        out["account"]["code_saved"] = result->code_saved;
      }
      io.out << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
      return kExitOk;
    }
    if (result->enrolled)
      io.out << "Enrolled with " << client.identity()->server << " as device " << safe(client.identity()->device_id)
             << ".\n";
    if (result->result == "bound" && result->account) {
      io.out << "Bound to " << safe(result->account->user) << " (" << safe(result->account->org) << ", "
             << safe(result->account->integration) << ").\n";
    } else if (result->result == "admin_signin") {
      io.out << "Signed in to the Avow dashboard of " << safe(result->org) << " as " << safe(result->admin) << ".\n";
    } else if (result->result == "admin_signup") {
      io.out << "Created " << safe(result->org) << "; you are its owner. This device signs you in to its Avow "
             << "dashboard.\n";
    } else if (result->result == "admin_invite") {
      io.out << "Joined " << safe(result->org) << " as "
             << safe(result->admin_role.empty() ? "admin" : result->admin_role)
             << ". This device signs you in to its Avow dashboard.\n";
    } else {
      io.out << "Done: " << safe(result->result) << ".\n";
    }
    if (!result->challenge_id.empty())
      io.out << "A sign-in request is waiting (" << safe(result->challenge_id)
             << "): answer it with `avow listen`, or see it with `avow pending`.\n";
    return kExitOk;
  }

  // Every other command needs an identity.
  if (!loaded) return report_local(io, loaded.error());
  DeviceClient client(options, *loaded);

  // ---- pending
  if (pending_cmd->parsed()) {
    auto list = client.pending(wait);
    if (!list) return report(io, list.error());
    if (json_out) {
      io.out << challenges_json(*list).dump(2, ' ', false, json::error_handler_t::replace) << "\n";
      return kExitOk;
    }
    if (list->empty()) io.out << "No pending sign-in requests.\n";
    for (const auto& c : *list) {
      show_challenge(io, c);
      io.out << "  Answer: avow approve " << safe(c.id) << " --number N   |   avow deny " << safe(c.id)
             << " [--fraud]\n";
    }
    return kExitOk;
  }

  // ---- approve / deny
  if (approve_cmd->parsed() || deny_cmd->parsed()) {
    std::string hash = context_hash_opt;
    if (hash.empty()) {
      // The device signs the hash of the context it knows; fetch it rather than trust the caller to know it.
      auto list = client.pending(0);
      if (!list) return report(io, list.error());
      auto it = std::find_if(list->begin(), list->end(), [&](const Challenge& c) { return c.id == id; });
      if (it == list->end()) {
        io.err << "avow: no pending sign-in request " << safe(id)
               << " for this device (already answered, expired, or never sent here)\n";
        return kExitRefused;
      }
      hash = it->context_hash;
    }
    const Answer action = approve_cmd->parsed() ? Answer::kApprove : fraud ? Answer::kFraud : Answer::kDeny;
    auto result =
        client.answer(id, action, action == Answer::kApprove ? std::optional<int>(number) : std::nullopt, hash);
    if (!result) return report(io, result.error());
    print_answer(io, *result);
    if (action == Answer::kApprove && result->state != "approved") return kExitRefused;
    return kExitOk;
  }

  // ---- code
  if (code_cmd->parsed()) {
    Result<AccountBook> book = AccountBook::load(home);
    const bool mine = book && book->server == loaded->server && book->device_id == loaded->device_id;
    // Only what is not stored yet is worth a call: an ambiguous name is answered from the file.
    Result<const Account*> stored = mine ? book->find(code_account) : Result<const Account*>(nullptr);
    const bool missing = !mine || (!stored && stored.error().code == ErrorCode::kNotFound);
    if (missing) {
      if (!book && book.error().code != ErrorCode::kNotFound) return report_local(io, book.error());
      // Nothing stored for this account yet: fetch the accounts (and their secrets) once.
      auto fetched = client.accounts();
      if (!fetched) return report(io, fetched.error());
      book = AccountBook::load(home);
      if (!book) return report_local(io, book.error());
    }
    Result<const Account*> account = book->find(code_account);
    if (!account) return report_local(io, account.error());
    Result<CurrentCode> now = current_code(*(*account)->code, SystemClock::instance().unix_now());
    if (!now) return report_local(io, now.error());
    if (json_out) {
      io.out << json{{"account", (*account)->user}, {"code", now->code}, {"seconds_left", now->seconds_left}}.dump(
                    2, ' ', false, json::error_handler_t::replace)
             << "\n";
    } else {
      io.out << now->code << "  " << safe((*account)->user) << "  (" << now->seconds_left << " s left)\n";
    }
    return kExitOk;
  }

  // ---- accounts
  if (accounts_cmd->parsed()) {
    auto list = client.accounts();
    if (!list) return report(io, list.error());
    if (json_out) {
      json arr = json::array();
      for (const auto& a : *list) arr.push_back(account_json(a));
      io.out << json{{"accounts", std::move(arr)}}.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
      return kExitOk;
    }
    if (list->empty()) io.out << "This device is not bound to any user yet: scan a ScanCode to bind it.\n";
    for (const auto& a : *list)
      io.out << safe(a.user) << "  —  " << safe(a.org) << ", " << safe(a.integration)
             << (a.bound_at.empty() ? "" : "  (since " + safe(a.bound_at) + ")") << "\n";
    return kExitOk;
  }

  // ---- listen
  if (listen_cmd->parsed()) {
    io.out << "Listening for sign-in requests for device " << safe(loaded->device_id) << " at " << loaded->server
           << " (Ctrl-C stops).\n"
           << std::flush;
    std::set<std::string> handled;  // answered or skipped: not asked again while the server still lists it
    int backoff = 1;
    while (!interrupted(io)) {
      auto list = client.pending(kMaxWaitSeconds - 5);
      if (!list) {
        if (list.error().kind == FailureKind::kCancelled) break;
        if (list.error().kind != FailureKind::kNetwork) return report(io, list.error());
        io.err << "avow: " << safe(list.error().message, 600) << "; retrying in " << backoff << " s\n";
        nap(io, backoff);
        backoff = std::min(backoff * 2, 60);
        continue;
      }
      backoff = 1;
      bool fresh = false;
      for (const Challenge& c : *list) {
        if (handled.count(c.id) != 0) continue;
        fresh = true;
        handled.insert(c.id);
        io.out << "\n";
        show_challenge(io, c);
        for (;;) {
          io.out << "Which number does the sign-in page show? (number, d = deny, f = not me, Enter = skip): "
                 << std::flush;
          std::string line;
          if (!std::getline(io.in, line)) {
            if (interrupted(io)) break;
            io.out << "\n";
            return kExitOk;  // end of input: nothing more to answer
          }
          const std::string_view input = trim(line);
          std::optional<Answer> action;
          std::optional<int> chosen;
          if (input.empty()) {
            io.out << "Skipped.\n";
            break;
          } else if (input == "d" || input == "D") {
            action = Answer::kDeny;
          } else if (input == "f" || input == "F") {
            action = Answer::kFraud;
          } else if ((chosen = parse_number(input))) {
            if (std::find(c.choices.begin(), c.choices.end(), *chosen) == c.choices.end()) {
              io.out << *chosen << " is not one of " << choices_text(c.choices) << ".\n";
              continue;
            }
            action = Answer::kApprove;
          } else {
            io.out << "Type one of the numbers, d or f.\n";
            continue;
          }
          auto result = client.answer(c.id, *action, chosen, c.context_hash);
          if (!result) {
            if (result.error().kind == FailureKind::kCancelled) break;
            report(io, result.error());
            // Not answered for want of a network: offer it again on the next round.
            if (result.error().kind == FailureKind::kNetwork) handled.erase(c.id);
          } else {
            print_answer(io, *result);
          }
          break;
        }
        if (interrupted(io)) break;
      }
      // The server answers at once while anything is pending; when all of it was skipped, don't spin.
      if (!fresh && !list->empty()) nap(io, 2);
    }
    io.out << "\nStopped.\n";
    return kExitInterrupted;
  }

  return kExitUsage;
}

}  // namespace avow::device::cli
