#!/usr/bin/env bash
# bench/cluster.sh — issue 7's benchmark in one run: full Entra flows per second and per server CPU-second with
# one avowd node on SQLite, then 1, 2 and 3 nodes on one PostgreSQL (a fresh database each), at the same
# --count and --concurrency, printed as a markdown table. See bench/README.md.
#
#   bench/cluster.sh [--build DIR] [--count N] [--concurrency C] [--logs DIR] [-- more avow-bench flows args]
#
# DIR is a Release build tree with avowd and avow-bench (default build/rel). PostgreSQL is a throw-away server
# (tests/unit/store/pg_server.sh: a fresh cluster on a free loopback port, as the `postgres` user when run as
# root, fsync off), removed at the end. Each `avow-bench flows --json` report is kept in the logs directory
# (default: a temporary one, printed). Exit 1 when a run failed or had errors (the table is printed anyway).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/rel"
count=3000
concurrency=64
logs=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --logs) logs="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

build="$(cd "$build" && pwd)"
bench="$build/bench/avow-bench"
avowd="$build/src/server/avowd"
pg="$root/tests/unit/store/pg_server.sh"
for f in "$bench" "$avowd"; do
  [ -x "$f" ] || { echo "missing $f: cmake --build $build --target avowd avow-bench" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is needed for the table" >&2; exit 2; }

if [ -z "$logs" ]; then logs="$(mktemp -d "${TMPDIR:-/tmp}/avow-cluster-bench-XXXXXX")"; fi
mkdir -p "$logs"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/avow-cluster-bench-pg-XXXXXX")"
cleanup() { "$pg" destroy "$pgdir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
url="$("$pg" start "$pgdir")"
base="${url%/*}"  # postgres://postgres@127.0.0.1:PORT

echo "cluster bench: $(nproc) cores, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F)"
echo "PostgreSQL: $url (throw-away, in $pgdir); reports in $logs"
echo "before: $(uptime)"

setups=("sqlite 1" "postgres 1" "postgres 2" "postgres 3")
status=0
for s in "${setups[@]}"; do
  read -r backend nodes <<<"$s"
  name="${backend}-${nodes}"
  args=(flows --count "$count" --concurrency "$concurrency" --json --avowd "$avowd" "${extra[@]}")
  if [ "$backend" = postgres ]; then
    db="bench_${nodes}n_$$"
    "$pg" createdb "$pgdir" "$db"
    args+=(--nodes "$nodes" --database "$base/$db")
  fi
  echo "running: avow-bench ${args[*]}" >&2
  if ! "$bench" "${args[@]}" >"$logs/$name.json" 2>"$logs/$name.err"; then
    status=1
    echo "  $name: avow-bench exited non-zero (see $logs/$name.err)" >&2
  fi
done
echo "after:  $(uptime)"
echo

echo "| setup | flows/s | server CPU ms per flow | flows per server CPU-second | PostgreSQL CPU ms per flow | approve→finished p50 / p99 ms | peak RSS MiB per node | errors |"
echo "|---|---|---|---|---|---|---|---|"
for s in "${setups[@]}"; do
  read -r backend nodes <<<"$s"
  name="${backend}-${nodes}"
  label="$nodes node$([ "$nodes" = 1 ] || echo s), $([ "$backend" = sqlite ] && echo SQLite || echo PostgreSQL)"
  if ! jq -e . "$logs/$name.json" >/dev/null 2>&1; then
    echo "| $label | failed: $(tail -c 300 "$logs/$name.err" | tr '\n|' '  ') | | | | | | |"
    continue
  fi
  jq -r --arg setup "$label" '
    def f(n): (. * pow(10; n) | round) / pow(10; n);
    "| \($setup) | \(.flows_per_second | f(1)) | \(.server_cpu_us_per_flow / 1000 | f(2)) | " +
    "\(.flows_per_server_cpu_second | f(0)) | " +
    "\(if .postgres_cpu_us_per_flow == null then "—" else (.postgres_cpu_us_per_flow / 1000 | f(2) | tostring) end) | " +
    "\(.steps.approve_to_finished.p50_ms | f(1)) / \(.steps.approve_to_finished.p99_ms | f(1)) | " +
    "\([.node_peak_rss_bytes[] / 1048576 | f(1) | tostring] | join(" / ")) | " +
    "\(.errors)\(if .completed < .count then " (\(.completed) of \(.count) completed)" else "" end) |"
  ' "$logs/$name.json"
done

# Every failure, by kind, with its first message (which request, what status and body).
for s in "${setups[@]}"; do
  read -r backend nodes <<<"$s"
  name="${backend}-${nodes}"
  if jq -e '.errors > 0' "$logs/$name.json" >/dev/null 2>&1; then
    status=1
    echo
    echo "errors in $name:"
    jq -r '.error_kinds | to_entries[] | "- \(.value.count) × \(.key)\n  first: \(.value.first)"' "$logs/$name.json"
  fi
done
exit "$status"
