#!/usr/bin/env bash
# Sets up (packages, npm ci) and runs every test: a Release build with all tests (unit, interoperability with
# the npm `jose` package, server tests against a real avowd, Entra end-to-end conformance, real-browser
# sign-ins in headless Chromium), then an ASan+UBSan build running the unit and
# server tests again. Between the two it checks the README's run command. Safe to run again; the builds are
# reused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_ensure "${AVOW_BUILD_PACKAGES[@]}" "${AVOW_TEST_PACKAGES[@]}"
npm_ensure

jobs="$(nproc)"

say "Release build"
build "$ROOT_DIR/build/release" Release -DAVOW_BUILD_TESTS=ON -DAVOW_BUILD_BENCH=ON
say "Release: all tests"
# The browser tests must run here, never skip for want of Chromium (installed above); nor the PostgreSQL cases
# of the store tests for want of PostgreSQL (postgresql-15, installed above).
AVOW_REQUIRE_BROWSER=1 AVOWTEST_REQUIRE_POSTGRES=1 ctest --test-dir "$ROOT_DIR/build/release" --output-on-failure -j "$jobs" --timeout 600

say "The README's run command: starts, answers /readyz, stops"
smoke_dir="$(mktemp -d)"
trap 'rm -rf "$smoke_dir"' EXIT
AVOW_DATA_DIR="$smoke_dir/data" "$ROOT_DIR/scripts/run.sh" --listen 127.0.0.1:0 >"$smoke_dir/out" 2>"$smoke_dir/err" &
smoke_pid=$!
url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's/^avowd listening on //p' "$smoke_dir/out")"
  [ -n "$url" ] && break
  kill -0 "$smoke_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$url" ]; then
  cat "$smoke_dir/err" >&2
  say "run command did not start"
  exit 1
fi
node -e 'fetch(process.argv[1] + "/readyz").then(async r => { console.log(r.status, await r.text()); process.exit(r.ok ? 0 : 1); }, e => { console.error(e); process.exit(1); })' "$url"
kill -TERM "$smoke_pid"
wait "$smoke_pid"
say "run command: ok ($url)"

say "Sanitizer build (ASan + UBSan)"
build "$ROOT_DIR/build/asan" RelWithDebInfo -DAVOW_SANITIZE=ON -DAVOW_BUILD_BENCH=OFF
say "Sanitizers: unit and server tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 AVOWTEST_REQUIRE_POSTGRES=1 \
  ctest --test-dir "$ROOT_DIR/build/asan" --output-on-failure -j "$jobs" --timeout 900 -L 'unit|server'

