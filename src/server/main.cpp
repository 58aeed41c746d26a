// avowd — the Avow server. See server/app.h for the subcommands and docs/operations.md for running it.
#include "server/app.h"

extern char** environ;

int main(int argc, char** argv) { return avow::server::avowd_main(argc, argv, environ); }
