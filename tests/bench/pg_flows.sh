#!/usr/bin/env bash
# A tiny multi-node run of avow-bench (not a measurement): 2 avowd nodes on the store suite's throw-away
# PostgreSQL (the ctest fixture avow_pg: $AVOWTEST_PG_DIR/url), a fresh database per run, each request to the
# next node. Fails unless every flow completes, both nodes answered requests and the report has its fields.
#
#   pg_flows.sh PG_SERVER_SCRIPT AVOW_BENCH AVOWD
# Exit 77 (skipped) when the fixture found no PostgreSQL.
set -euo pipefail
pg="$1" bench="$2" avowd="$3"
dir="${AVOWTEST_PG_DIR:?AVOWTEST_PG_DIR is set by the avow_pg fixture}"
if [ ! -f "$dir/url" ]; then
  echo "PostgreSQL is not installed: skipped"
  exit 77
fi
url="$(cat "$dir/url")"
db="bench_$(date +%s)_$$_${RANDOM}"
"$pg" createdb "$dir" "$db"
out="$("$bench" flows --nodes 2 --count 5 --concurrency 2 --floor-seconds 0.02 --database "${url%/*}/$db" \
  --avowd "$avowd")"
echo "$out"
expect=(
  "2 nodes on PostgreSQL"
  "flows: 5 of 5 completed .*\\(errors 0\\)"
  "approve → page finished"
  "server \\(2 nodes, postgres\\): .* per flow = [0-9.]+ flows per server CPU-second; peak RSS [0-9.]+ / [0-9.]+ MiB"
  "requests answered per node: [1-9][0-9]* / [1-9][0-9]*$"
  "PostgreSQL server \\(postmaster pid [0-9]+ and its processes, not in the server figures\\): [0-9.]+ s CPU"
  "ratio: [0-9]+\\.[0-9][0-9]"
)
for re in "${expect[@]}"; do
  if ! grep -qE "$re" <<<"$out"; then
    echo "output lacks /$re/" >&2
    exit 1
  fi
done
