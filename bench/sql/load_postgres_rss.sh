#!/usr/bin/env bash
# Peak memory of `medlake load-postgres` for two lakes, the second 10x the first: rows stream
# from the view runner into COPY, so peak RSS should grow little with the lake. Starts a
# throwaway PostgreSQL on loopback (as tests/postgres_server.h does).
# Usage: bench/sql/load_postgres_rss.sh [BUILD_DIR] [PATIENTS]   (default build/dev, 1000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/dev}
small=${2:-1000}
medlake=$build/src/cli/medlake
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d)
port=$((20000 + $$ % 20000))
as=""
if [[ $(id -u) == 0 ]]; then
  chown postgres "$work"
  as="runuser -u postgres --"
fi
cleanup() {
  $as "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
$as "$pgbin/initdb" -D "$work/pg" -A trust -U postgres > /dev/null
$as "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null
url="postgresql://postgres@127.0.0.1:$port/postgres"

printf "%-9s %10s %10s %12s %12s %10s\n" patients resources lake_MB rows view_csv_MB peak_RSS_MB
for n in "$small" $((small * 10)); do
  "$medlake" synth --patients "$n" --seed 1 --out "$work/pop$n" --formats fhir > /dev/null
  "$medlake" ingest --lake "$work/lake$n" "$work/pop$n/fhir" > /dev/null
  resources=$("$medlake" status --lake "$work/lake$n" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["total_resources"])')
  lake_mb=$(du -sm "$work/lake$n" | cut -f1)
  csv_mb=$("$medlake" view "$root/views/labs.json" --lake "$work/lake$n" --format csv |
    wc -c | awk '{printf "%.1f", $1 / 1048576}')
  /usr/bin/time -f "%M" -o "$work/rss" "$medlake" load-postgres --lake "$work/lake$n" \
    --url "$url" --view obs="$root/views/labs.json" > "$work/out"
  rows=$(awk '{print $2}' "$work/out")
  rss=$(awk '{printf "%.1f", $1 / 1024}' "$work/rss")
  printf "%-9s %10s %10s %12s %12s %10s\n" "$n" "$resources" "$lake_mb" "$rows" "$csv_mb" "$rss"
  rm -rf "$work/pop$n"
done
