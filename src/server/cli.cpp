#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/logging.h"
#include "server/admin_cli.h"
#include "server/app.h"

namespace avow::server {
namespace {

// Flags every subcommand takes, so one habit works everywhere.
struct CommonFlags {
  std::string config_file;
  std::string data_dir;
  std::string database;
};

void add_common(CLI::App* cmd, CommonFlags& f) {
  cmd->add_option("--config", f.config_file, "TOML configuration file (also AVOW_CONFIG)");
  cmd->add_option("--data-dir", f.data_dir, "data directory (default ./data; also AVOW_DATA_DIR)");
  cmd->add_option("--database", f.database,
                  "postgres://… URL (database.url) or SQLite file (database.path); default <data-dir>/avow.db");
}

}  // namespace

int avowd_main(int argc, char** argv, char** envp) {
  CLI::App app{"avowd — the Avow push-MFA server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("avowd ") + version());

  CommonFlags common;
  std::string listen, public_url;
  bool dev = false;
  bool json = false;

  CLI::App* serve_cmd = app.add_subcommand("serve", "run the HTTP(S) server");
  add_common(serve_cmd, common);
  CLI::Option* listen_opt =
      serve_cmd->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  CLI::Option* public_opt =
      serve_cmd->add_option("--public-url", public_url, "the URL clients use (default: from --listen)");
  CLI::Option* dev_opt =
      serve_cmd->add_flag("--dev", dev, "development mode: self-signed HTTPS when no TLS files are set");

  CLI::App* keys_cmd = app.add_subcommand("keys", "manage the token-signing key ring");
  keys_cmd->require_subcommand(1);
  CLI::App* list_cmd = keys_cmd->add_subcommand("list", "list signing keys");
  add_common(list_cmd, common);
  list_cmd->add_flag("--json", json, "print JSON");
  CLI::App* rotate_cmd = keys_cmd->add_subcommand("rotate", "rotate: active → retired, next → active, new next");
  add_common(rotate_cmd, common);
  rotate_cmd->add_flag("--json", json, "print JSON");

  AdminCli admin;
  admin.attach(app, [&common](CLI::App* cmd) { add_common(cmd, common); });

  CLI::App* version_cmd = app.add_subcommand("version", "print the version");
  add_common(version_cmd, common);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (version_cmd->parsed()) {
    std::cout << "avowd " << version() << "\n";
    return kExitOk;
  }

  ConfigSources sources;
  sources.env = avow_environment(envp);
  if (!common.config_file.empty()) {
    sources.file = common.config_file;
  } else if (auto it = sources.env.find("AVOW_CONFIG"); it != sources.env.end() && !it->second.empty()) {
    sources.file = it->second;
  }
  if (!common.data_dir.empty()) sources.flags["data_dir"] = common.data_dir;
  if (!common.database.empty()) {
    sources.flags[store::is_postgres_url(common.database) ? "database.url" : "database.path"] = common.database;
  }
  if (serve_cmd->parsed()) {
    if (listen_opt->count() > 0) sources.flags["listen"] = listen;
    if (public_opt->count() > 0) sources.flags["public_url"] = public_url;
    if (dev_opt->count() > 0 && dev) sources.flags["dev"] = "true";
  }

  Result<Config> config = load_config(sources);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return config.error().code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  log::init(config->log_level);

  if (serve_cmd->parsed()) return serve(*config, std::cout);
  if (list_cmd->parsed()) return keys_list(*config, json, std::cout);
  if (rotate_cmd->parsed()) return keys_rotate(*config, json, std::cout);
  if (admin.parsed()) return admin.run(*config, std::cout, std::cerr);
  return kExitUsage;
}

}  // namespace avow::server
