#!/usr/bin/env bash
# Sets up (installs what is missing, builds in Release) and runs avowd on an embedded SQLite database.
# Safe to run again: it reuses the build and the data directory (default ./data, or AVOW_DATA_DIR).
# Extra arguments go to `avowd serve`, e.g. scripts/run.sh --listen 127.0.0.1:9000 --dev
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_ensure "${AVOW_BUILD_PACKAGES[@]}"
build "$ROOT_DIR/build/release" Release -DAVOW_BUILD_TESTS=OFF -DAVOW_BUILD_BENCH=OFF -- avowd avow avow-entra-sim
say "starting avowd"
exec "$ROOT_DIR/build/release/src/server/avowd" serve --data-dir "${AVOW_DATA_DIR:-$ROOT_DIR/data}" "$@"
