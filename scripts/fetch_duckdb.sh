#!/usr/bin/env bash
# DuckDB (embedded SQL, Parquet) is not packaged in Debian 12. This takes the official
# prebuilt libduckdb.so and its matching duckdb.h from the npm registry (packages
# @duckdb/node-bindings-linux-x64 and duckdb, same DuckDB version) into third_party/duckdb.
# CMake finds it there through DUCKDB_ROOT; point DUCKDB_ROOT elsewhere to use another copy.
# Idempotent: does nothing when the files of this version are present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${DUCKDB_ROOT:-$root/third_party/duckdb}
HEADER_PKG=duckdb@1.4.4
LIB_PKG=@duckdb/node-bindings-linux-x64@1.4.4-r.4

# The version fetched is recorded: a new one above is fetched again in an existing checkout.
if [[ -f $dest/include/duckdb.h && -f $dest/lib/libduckdb.so &&
      "$(cat "$dest/VERSION" 2>/dev/null)" == "$HEADER_PKG $LIB_PKG" ]]; then exit 0; fi
echo "fetch_duckdb: $HEADER_PKG header and $LIB_PKG library from the npm registry"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$HEADER_PKG" "$LIB_PKG" > /dev/null)
mkdir -p "$work/h" "$work/l" "$dest/include" "$dest/lib"
tar -xzf "$work"/duckdb-1.*.tgz -C "$work/h" package/src/duckdb/src/include/duckdb.h
tar -xzf "$work"/duckdb-node-bindings-linux-x64-*.tgz -C "$work/l" package/libduckdb.so
cp "$work/h/package/src/duckdb/src/include/duckdb.h" "$dest/include/duckdb.h"
cp "$work/l/package/libduckdb.so" "$dest/lib/libduckdb.so"
echo "$HEADER_PKG $LIB_PKG" > "$dest/VERSION"
echo "fetch_duckdb: installed into $dest"
