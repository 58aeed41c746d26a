# Shared set-up for scripts/run.sh and scripts/test.sh. Sourced, not run.
# Installs what is missing (Debian 12 packages through apt-get, sudo only when not root), builds with CMake+Ninja.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Packages needed to build and run avowd.
AVOW_BUILD_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.74-dev libssl-dev libsqlite3-dev
  libtomlplusplus-dev nlohmann-json3-dev libexpected-dev libfmt-dev libspdlog-dev libcli11-dev
  libcurl4-openssl-dev libqrencode-dev libzbar-dev libpng-dev
  libargon2-dev libsodium-dev libpq-dev libpqxx-dev libkainjow-mustache-dev
)
# Packages needed only by the tests and benchmarks.
AVOW_TEST_PACKAGES=(libgtest-dev libgmock-dev libbenchmark-dev openssl chromium fonts-liberation postgresql-15 sqlite3)

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_ensure PKG…: installs the packages that are not installed yet; does nothing when all are.
apt_ensure() {
  local missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

# Node.js and npm drive the interoperability and server tests. Any Node >= 18 on PATH will do; otherwise Debian's.
node_ensure() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ]; then
    return 0
  fi
  apt_ensure nodejs npm
}

npm_ensure() {
  node_ensure
  local stamp="$ROOT_DIR/node_modules/.avow-lock-stamp"
  if [ -f "$stamp" ] && cmp -s "$ROOT_DIR/package-lock.json" "$stamp"; then return 0; fi
  say "installing test tooling (npm ci)"
  (cd "$ROOT_DIR" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
  cp "$ROOT_DIR/package-lock.json" "$stamp"
}

# build DIR TYPE [cmake args…] -- [targets…]
build() {
  local dir="$1" type="$2"
  shift 2
  local cmake_args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmake_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targets=("$@")
  export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/avow-ccache}"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-2G}"
  # Ninja without an explicit -j uses cores+2; on small machines the heavy Beast units need the memory headroom.
  local jobs
  jobs="$(nproc)"
  cmake -S "$ROOT_DIR" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${cmake_args[@]}" >/dev/null
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
  else
    cmake --build "$dir" -j "$jobs"
  fi
}
