#!/usr/bin/env bash
# A throw-away PostgreSQL 15 server for tests: a fresh cluster in DIR on a free loopback port.
#
#   pg_server.sh start DIR   # initdb (first time) + start; prints the URL and writes it to DIR/url
#   pg_server.sh stop DIR    # fast shutdown (the cluster stays, `start` brings it back on the same port)
#   pg_server.sh destroy DIR # stop and remove DIR
#   pg_server.sh createdb DIR NAME  # a new database (UTF-8) on the running server
#   pg_server.sh fixture-start DIR  # destroy, then start; succeeds without a URL when PostgreSQL is not
#                                   # installed (the tests then skip), unless AVOWTEST_REQUIRE_POSTGRES=1
#
# Exit 3 (and a message) when the PostgreSQL server binaries are not installed, so callers can skip.
# As root, the cluster belongs to and runs as the `postgres` user. fsync is off: test data is disposable.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|destroy|fixture-start DIR | createdb DIR NAME" >&2
  exit 2
fi

bin="${AVOWTEST_PG_BIN:-}"
if [ -z "$bin" ]; then
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      bin="$d"
      break
    fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql-15" >&2
  if [ "$cmd" = fixture-start ] && [ "${AVOWTEST_REQUIRE_POSTGRES:-}" != 1 ]; then
    rm -rf "$dir"
    exit 0
  fi
  exit 3
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_ctl_opts() {
  local port="$1"
  echo "-k $dir -h 127.0.0.1 -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB"
}

free_port() {
  # A random port in 20000–59999 that nothing listens on now (the server start catches the rare race).
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

start() {
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C -N >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  local attempts=0
  while :; do
    local port
    if [ -f "$dir/port" ]; then port="$(cat "$dir/port")"; else port="$(free_port)"; fi
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$(pg_ctl_opts "$port")" start >/dev/null; then
      echo "$port" >"$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"
      local url="postgres://postgres@127.0.0.1:$port/postgres"
      echo "$url" >"$dir/url.tmp" && mv "$dir/url.tmp" "$dir/url"
      echo "$url"
      return 0
    fi
    attempts=$((attempts + 1))
    # Someone took the port meanwhile (or an earlier run's port is busy now): try another.
    if [ "$attempts" -ge 5 ]; then
      tail -20 "$dir/server.log" >&2 || true
      exit 1
    fi
    if [ ! -f "$dir/url" ]; then rm -f "$dir/port"; fi
    sleep 0.2
  done
}

stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  destroy)
    stop
    rm -rf "$dir"
    ;;
  createdb)
    name="${3:?database name}"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$(cat "$dir/port")" -U postgres -E UTF8 -T template0 "$name"
    ;;
  fixture-start)
    stop
    rm -rf "$dir"
    start
    ;;
  *)
    echo "unknown command: $cmd" >&2
    exit 2
    ;;
esac
