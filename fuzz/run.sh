#!/usr/bin/env bash
# Runs every libFuzzer target of a clang fuzz build for a few seconds each, starting from the
# committed seed corpus (fuzz/corpus/<target dir>), in a scratch copy so the repo stays clean.
# Usage: fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
build=${1:-build/fuzz}
seconds=${2:-15}
root=$(cd "$(dirname "$0")" && pwd)
status=0
for bin in "$build"/fuzz/*/medlake_fuzz_*; do
  [[ -x $bin ]] || continue
  dir=$(basename "$(dirname "$bin")")
  scratch=$(mktemp -d)
  [[ -d $root/corpus/$dir ]] && cp -r "$root/corpus/$dir/." "$scratch/"
  # fuzz/<dir>/seeds may name more seed folders, relative to the repository root.
  if [[ -f $root/$dir/seeds ]]; then
    while read -r seed; do [[ -d $root/../$seed ]] && cp -r "$root/../$seed/." "$scratch/"; done < "$root/$dir/seeds"
  fi
  echo "fuzz: $(basename "$bin") for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -max_len=8192 -print_final_stats=0 "$scratch" > "$scratch.log" 2>&1; then
    tail -40 "$scratch.log"
    echo "fuzz: $(basename "$bin") FAILED (log above)"
    status=1
  else
    grep -E '^Done [0-9]+ runs' "$scratch.log" || true
  fi
  rm -rf "$scratch" "$scratch.log"
done
exit $status
