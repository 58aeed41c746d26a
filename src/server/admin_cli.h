// avow/server/admin_cli.h — `avowd admin …`: orgs, Entra integrations and users from the command line.
//
//   avowd admin org create --name NAME [--json]
//   avowd admin org list [--json]
//   avowd admin integration create --org ORG --name NAME --directory-id GUID --app-id GUID
//                                  [--cloud global|usgov|china] [--guests any|members|list]
//                                  [--guest-tenant GUID]... [--json]
//   avowd admin integration list [--org ORG] [--json]
//   avowd admin integration show ID_OR_CLIENT_ID [--json]      (the values to enter in Entra)
//   avowd admin integration disable ID_OR_CLIENT_ID | enable ID_OR_CLIENT_ID
//   avowd admin user allow-device USER_ID                      (one more device may bind by ScanCode)
//   avowd admin user unlock-codes USER_ID [--json]             (fallback codes locked by failures)
//   avowd admin export [--out FILE]                            (every table, JSON lines, with checksums)
//   avowd admin import [--in FILE]                             (into an empty database only)
//
// ORG is an org id or an org's exact name. Every subcommand also takes --config, --data-dir and --database; it works on
// the database an `avowd serve` with the same settings uses (which must already exist).
// Exit status: 0 done (enable/disable of something already in that state included), 1 not found or a
// failure (database), 2 bad input (the message names the field).
//
// Wiring (cli.cpp):
//   AdminCli admin;
//   admin.attach(app, [&](CLI::App* cmd) { add_common(cmd, common); });
//   … app.parse(…); load the config …
//   if (admin.parsed()) return admin.run(*config, std::cout, std::cerr);
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "server/config.h"
#include "store/database.h"
#include "store/records.h"

namespace CLI {
class App;
}

namespace avow::server {

// The integration as `integration show --json` prints it: its settings, its provider URLs under
// `public_url`, the four values of Entra's External Authentication Method form (`eam`) and the JSON to
// paste as a Conditional Access custom control (`custom_control`). Members in a reading order.
nlohmann::ordered_json integration_settings_json(const store::IntegrationRecord& integration,
                                                 std::string_view public_url);

// The custom-control JSON: entra::custom_control_json (entra/provider.h).

// The `admin` command tree. Holds the parsed option values, so it must stay where it is once attached.
class AdminCli {
 public:
  AdminCli() = default;
  AdminCli(const AdminCli&) = delete;
  AdminCli& operator=(const AdminCli&) = delete;

  // Adds `admin` and its subcommands to `app`. `add_common` is called on every leaf subcommand to add the
  // flags all avowd subcommands share (--config, --data-dir).
  void attach(CLI::App& app, const std::function<void(CLI::App*)>& add_common);

  // True when the command line named one of the admin subcommands.
  bool parsed() const;

  // Opens `config`'s database (refusing a missing one: exit 1), migrates it, and runs the parsed command.
  // The public URL printed by `show` is config.public_url, or the one derived from `listen`.
  int run(const Config& config, std::ostream& out, std::ostream& err) const;

  // Runs the parsed command on an open, migrated database.
  int run(store::Database& database, const Clock& clock, std::string_view public_url, std::ostream& out,
          std::ostream& err) const;

 private:
  CLI::App* admin_ = nullptr;
  CLI::App* org_create_ = nullptr;
  CLI::App* org_list_ = nullptr;
  CLI::App* int_create_ = nullptr;
  CLI::App* int_list_ = nullptr;
  CLI::App* int_show_ = nullptr;
  CLI::App* int_disable_ = nullptr;
  CLI::App* int_enable_ = nullptr;
  CLI::App* user_allow_device_ = nullptr;

  bool json_ = false;
  std::string name_;
  std::string org_;
  std::string directory_id_;
  std::string app_id_;
  std::string cloud_ = "global";
  std::string guests_ = "any";
  std::vector<std::string> guest_tenants_;
  std::string target_;  // ID_OR_CLIENT_ID / USER_ID
};

}  // namespace avow::server
