#!/usr/bin/env bash
# Runs every benchmark of bench/ against its baseline; the figures go to docs/benchmarks.md.
# Usage: bench/run.sh [BUILD_DIR]   (default build/dev; `make bench` builds it first)
# Needs ../shared/data for the Synthea and HL7 v2 inputs; Node.js and npm for the FHIRPath
# baseline (installed by scripts/setup.sh; the npm package is installed here on first run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/dev}
shared=$root/../shared/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
medlake=$build/src/cli/medlake

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(date -u +%F)"

echo "== ingest: FHIR R4 (Synthea 100 bundles, then 10 copies with fresh ids) vs plain simdjson parse"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  "$build/bench/ingest/medlake_bench_ingest" --copies 10 "$shared/synthea-r4-dev-100"
fi

echo "== ingest into a lake with a key (pseudonymized at ingest): Synthea 100 bundles, then 10 copies"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  "$build/bench/ingest/medlake_bench_ingest" --copies 10 --keyed "$shared/synthea-r4-dev-100"
fi

echo "== ingest of one large Bundle file (Synthea's entries merged; then 10 copies): an entry at a time vs parsed whole"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  "$build/bench/ingest/medlake_bench_ingest" --copies 10 --runs 1 --one-bundle "$shared/synthea-r4-dev-100"
fi

echo "== the same large Bundle into a lake with a key: an entry at a time, in ranges published in order, vs parsed whole"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  "$build/bench/ingest/medlake_bench_ingest" --copies 10 --runs 1 --one-bundle --keyed "$shared/synthea-r4-dev-100"
fi

echo "== ingest's parts: StringHash vs std::hash on fullUrls, the segments' zstd parameters vs level 1"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  "$build/bench/ingest/medlake_bench_parts" "$shared/synthea-r4-dev-100"
fi

echo "== the de-identifying rewrite of a keyed lake vs a plain re-serialization (Node::ToJson)"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  "$build/bench/ingest/medlake_bench_deid" "$shared/synthea-r4-dev-100"
fi

echo "== pseudonyms: Pseudonymizer vs libsodium's one-shot HMAC of the same message"
"$build/bench/store/medlake_bench_pseudonym"

echo "== identity vault: 8 commits of 40,000 records, in written order vs keyed by lookup (the layout before)"
"$build/bench/store/medlake_bench_vault" 8 40000

echo "== encryption at rest: segments written and scanned plain vs encrypted (Synthea lake)"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  "$build/bench/store/medlake_bench_segment_crypto" "$shared/synthea-r4-dev-100" 7
fi

echo "== synth: patients/s at two sizes"
"$build/bench/synth/medlake_bench_synth" "$work/synth" 2000 20000

echo "== ingest: synthetic NDJSON (medlake synth, 20,000 patients)"
"$medlake" synth --patients 20000 --seed 1 --out "$work/pop" --formats fhir > /dev/null
"$build/bench/ingest/medlake_bench_ingest" --copies 1 "$work/pop/fhir"

echo "== ingest: inputs heavy in identifiers (400,000 Practitioners, 200,000 Patients, 14 Bundles of 30,000), plain and keyed"
python3 "$root/bench/ingest/identifier_inputs.py" "$work/ids"
for input in practitioners patients bundles; do
  "$build/bench/ingest/medlake_bench_ingest" --copies 1 --runs 1 "$work/ids/$input"
  "$build/bench/ingest/medlake_bench_ingest" --copies 1 --runs 1 --keyed "$work/ids/$input"
done
rm -rf "$work/ids"

echo "== FHIRPath and views vs fhirpath.js (npm), same resources"
if [[ -d $shared/synthea-r4-dev-100 ]]; then
  if command -v npm > /dev/null && [[ ! -d $root/bench/fhirpath/node_modules/fhirpath ]]; then
    (cd "$root/bench/fhirpath" && npm install --no-audit --no-fund --silent)
  fi
  "$medlake" ingest --lake "$work/lake" "$shared/synthea-r4-dev-100" > /dev/null
  "$medlake" export --lake "$work/lake" --out "$work/export" > /dev/null
  "$build/bench/fhirpath/medlake_bench_fhirpath" "$root/bench/fhirpath/expressions.txt" \
    "$root/bench/fhirpath/observation_view.json" "$work/export/Observation.ndjson" \
    "$work/export/Patient.ndjson" "$work/export/Encounter.ndjson" "$work/export/Condition.ndjson"
fi

echo "== HL7 v2 parse and map vs a naive parser"
if [[ -d $shared/hl7v2-samples ]]; then
  "$build/bench/hl7v2/medlake_hl7v2_bench" "$shared/hl7v2-samples" 32
fi

echo "== NEWS2 batch vs a naive scorer"
"$build/bench/scores/medlake_news2_bench" 10 100000

echo "== MLLP intake with durable commits: 1 client (one sync per message) vs 32 clients (group commit)"
"$build/bench/server/medlake_bench_mllp" 32 500

echo "== live NEWS2 (medlake watch) through a real mosquitto broker vs the broker's own publish -> subscribe echo"
"$build/bench/watch/medlake_bench_watch" 100000 1000 10000

echo "== cohorts: five cohorts vs the same SQL over flat DuckDB tables (${COHORT_PATIENTS:=100000} patients)"
"$medlake" synth --patients "$COHORT_PATIENTS" --seed 7 --out "$work/cohort-pop" --formats fhir > /dev/null
"$medlake" ingest --lake "$work/cohort-lake" "$work/cohort-pop/fhir" > /dev/null
rm -rf "$work/cohort-pop"
"$build/bench/cohort/medlake_bench_cohort" "$work/cohort-lake" 5
