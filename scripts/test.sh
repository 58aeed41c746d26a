#!/usr/bin/env bash
# Sets up (packages, npm ci) and runs every test: a Release build with all tests (unit, interoperability with
# the npm `jose` package, server tests against a real avowd), then an ASan+UBSan build running the unit and
# server tests again. Safe to run again; the builds are reused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_ensure "${AVOW_BUILD_PACKAGES[@]}" "${AVOW_TEST_PACKAGES[@]}"
npm_ensure

jobs="$(nproc)"

say "Release build"
build "$AVOW_ROOT/build/release" Release
say "Release: all tests"
ctest --test-dir "$AVOW_ROOT/build/release" --output-on-failure -j "$jobs" --timeout 600

say "Sanitizer build (ASan + UBSan)"
build "$AVOW_ROOT/build/asan" RelWithDebInfo -DAVOW_SANITIZE=ON -DAVOW_BUILD_BENCH=OFF
say "Sanitizers: unit and server tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$AVOW_ROOT/build/asan" --output-on-failure -j "$jobs" --timeout 900 -L 'unit|server'
