#!/usr/bin/env bash
# Installs every system package medlake needs to build, test and run, on Debian 12.
# Then fetches DuckDB from the npm registry (scripts/fetch_duckdb.sh).
# Idempotent: a second run finds everything present and returns in about a second.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  clang libclang-rt-14-dev clang-format procps time
  libsimdjson-dev libzstd-dev libxxhash-dev zlib1g-dev
  libsqlite3-dev sqlite3 libroaring-dev
  postgresql libpqxx-dev
  libsodium-dev libssl-dev libjemalloc-dev libre2-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libtbb-dev
  libboost-dev libhts-dev libmosquitto-dev mosquitto
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-jsonschema
)

# npm fetches DuckDB (scripts/fetch_duckdb.sh); keep an existing Node.js installation.
if ! command -v npm > /dev/null; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash "$(dirname "$0")/fetch_duckdb.sh"
