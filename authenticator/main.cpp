// avow — the Avow authenticator. All behaviour lives in cli.cpp; this file only wires the process to it.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <iostream>

#include "authenticator/cli.h"

namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler needs a lock-free flag");

void on_sigint(int) { g_interrupted.store(true); }

}  // namespace

int main(int argc, char** argv) {
  // No SA_RESTART: a blocked read of stdin (avow listen) returns at once, and libcurl's progress callback
  // sees the flag within a second, so Ctrl-C ends any command promptly and cleanly.
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  return avow::device::cli::run(argc, argv, {std::cin, std::cout, std::cerr, &g_interrupted});
}
