// avow/server/app.h — what the avowd subcommands do, given a loaded Config.
//
//   avowd serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT] [--public-url URL] [--dev]
//   avowd keys list [--json]  |  avowd keys rotate [--json]      (same --config / --data-dir)
//   avowd version
//
//   return avowd_main(argc, argv, environ);   // main.cpp
//
// Exit status: 0 success (including a signal-initiated shutdown), 1 a start-up or runtime failure
// (database, port in use, key ring), 2 a configuration or usage error (the message names the key).
#pragma once

#include <iosfwd>

#include "server/config.h"

namespace avow::server {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The avowd version ("0.1.0"), from the CMake project version.
const char* version();

// Creates the data directory, opens the master key, the database (migrated) and the key ring, starts the
// HTTP server and runs it until SIGTERM/SIGINT; then closes the database. Prints the served URLs to `out`.
int serve(const Config& config, std::ostream& out);

// Prints every signing key (kid, state, created, activated, retired, published) as a table or JSON.
int keys_list(const Config& config, bool json, std::ostream& out);

// Rotates the key ring (active → retired, next → active, new next) and prints the new state. A running
// server picks the new state up on restart.
int keys_rotate(const Config& config, bool json, std::ostream& out);

// Parses the command line and runs a subcommand. `envp` supplies the AVOW_* variables.
int avowd_main(int argc, char** argv, char** envp);

}  // namespace avow::server
