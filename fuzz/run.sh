#!/usr/bin/env bash
# Runs every libFuzzer target of a clang fuzz build, starting from the committed seed corpus
# (fuzz/corpus/<target dir>, plus the folders fuzz/<target dir>/seeds names), in a scratch copy
# so the repository stays clean.
#
# Usage: fuzz/run.sh BUILD_DIR runs N [SEED]   a fixed number of inputs from a fixed seed: the
#                                              same code gives the same run (make test)
#        fuzz/run.sh BUILD_DIR seconds N       N seconds per target from a random seed (make fuzz)
#
# A failing input is printed in base64 (the log is all a CI run keeps) and saved under
# fuzz/crashes/, so that it can be replayed: BIN FILE, then added to the target's corpus.
set -euo pipefail
build=${1:-build/fuzz}
mode=${2:-runs}
amount=${3:-100000}
seed=${4:-1}
root=$(cd "$(dirname "$0")" && pwd)
case $mode in
  runs) limit=(-runs="$amount" -seed="$seed") what="$amount inputs, seed $seed" ;;
  seconds) limit=(-max_total_time="$amount") what="${amount}s" ;;
  *) echo "fuzz/run.sh: mode must be 'runs' or 'seconds', not '$mode'" >&2; exit 2 ;;
esac
status=0
for bin in "$build"/fuzz/*/medlake_fuzz_*; do
  [[ -x $bin ]] || continue
  dir=$(basename "$(dirname "$bin")")
  name=$(basename "$bin")
  scratch=$(mktemp -d)
  mkdir "$scratch/corpus" "$scratch/artifacts"
  [[ -d $root/corpus/$dir ]] && cp -r "$root/corpus/$dir/." "$scratch/corpus/"
  # fuzz/<dir>/seeds may name more seed folders, relative to the repository root.
  if [[ -f $root/$dir/seeds ]]; then
    while read -r folder; do
      [[ -d $root/../$folder ]] && cp -r "$root/../$folder/." "$scratch/corpus/"
    done < "$root/$dir/seeds"
  fi
  echo "fuzz: $name, $what"
  if ! "$bin" "${limit[@]}" -max_len=8192 -print_final_stats=0 \
      -artifact_prefix="$scratch/artifacts/" "$scratch/corpus" > "$scratch/log" 2>&1; then
    tail -40 "$scratch/log"
    mkdir -p "$root/crashes"
    for artifact in "$scratch"/artifacts/*; do
      [[ -f $artifact ]] || continue
      cp "$artifact" "$root/crashes/$name-$(basename "$artifact")"
      echo "fuzz: failing input, saved as fuzz/crashes/$name-$(basename "$artifact"), base64:"
      base64 -w 100 "$artifact"
    done
    echo "fuzz: $name FAILED (log above)"
    status=1
  else
    grep -E '^Done [0-9]+ runs' "$scratch/log" || true
  fi
  rm -rf "$scratch"
done
exit $status
