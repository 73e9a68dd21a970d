# The README's contract. On a fresh Debian 12 machine, as root:
#   make demo   installs what medlake needs, builds it, generates a synthetic population,
#               ingests it into an embedded lake and prints what was loaded
#   make test   installs, builds in developer mode and runs every test (then fuzzes each
#               fuzz target briefly)
# Both are idempotent: a second run reinstalls nothing and rebuilds only what changed.

JOBS ?= $(shell nproc)
DEMO_DIR ?= demo
DEMO_PATIENTS ?= 2000
DEMO_SEED ?= 42
MEDLAKE_RELEASE := build/release/src/cli/medlake

.PHONY: all setup release dev test demo bench fuzzers fuzz fuzz-smoke format clean

all: release

setup:
	@bash scripts/setup.sh

# A tree configured before DuckDB was fetched would leave `sql` and its tests out: the trees are
# configured again when it arrives (scripts/fetch_duckdb.sh, run by setup).
DUCKDB_LIB := third_party/duckdb/lib/libduckdb.so
$(DUCKDB_LIB): | setup

build/release/build.ninja: $(DUCKDB_LIB) | setup
	cmake --preset release

build/dev/build.ninja: $(DUCKDB_LIB) | setup
	cmake --preset dev

release: setup build/release/build.ninja
	cmake --build build/release -j $(JOBS)

dev: setup build/dev/build.ninja
	cmake --build build/dev -j $(JOBS)

# Every test first; then libFuzzer over each target: FUZZ_RUNS inputs from seed FUZZ_SEED, so
# that the same code always gives the same run (a failure is a finding, never chance).
test: dev
	ctest --test-dir build/dev --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory fuzz-smoke

# libFuzzer (clang) over every fuzz target: `make fuzz-smoke` as in `make test`, `make fuzz`
# for FUZZ_SECONDS a target from a random seed (`make fuzz FUZZ_SECONDS=600` for real runs).
FUZZ_RUNS ?= 100000
FUZZ_SEED ?= 1
FUZZ_SECONDS ?= 60
build/fuzz/build.ninja: | setup
	cmake --preset fuzz

fuzzers: setup build/fuzz/build.ninja
	cmake --build build/fuzz -j $(JOBS) --target medlake_fuzzers

fuzz-smoke: fuzzers
	bash fuzz/run.sh build/fuzz runs $(FUZZ_RUNS) $(FUZZ_SEED)

fuzz: fuzzers
	bash fuzz/run.sh build/fuzz seconds $(FUZZ_SECONDS)

DEMO_AT ?= 2023-07-01T08:00:00Z

demo: release
	@rm -rf $(DEMO_DIR)/lake $(DEMO_DIR)/data
	@echo "== 1. a synthetic population ($(DEMO_PATIENTS) patients, every format)"
	$(MEDLAKE_RELEASE) synth --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED) --out $(DEMO_DIR)/data
	@echo "== 2. ingest its FHIR R4 export into an embedded lake"
	$(MEDLAKE_RELEASE) ingest --lake $(DEMO_DIR)/lake $(DEMO_DIR)/data/fhir
	@echo "== 3. what was loaded"
	$(MEDLAKE_RELEASE) status --lake $(DEMO_DIR)/lake
	@echo "== 4. vital signs through a SQL-on-FHIR view and SQL"
	$(MEDLAKE_RELEASE) sql --lake $(DEMO_DIR)/lake --view vitals=views/vital_signs.json \
	  "SELECT loinc, count(*) AS readings, round(avg(value), 1) AS mean, min(value) AS min, max(value) AS max FROM vitals WHERE value IS NOT NULL GROUP BY loinc ORDER BY readings DESC"
	@echo "== 5. NEWS2 early warning for the inpatients of $(DEMO_AT)"
	$(MEDLAKE_RELEASE) score news2 --lake $(DEMO_DIR)/lake --at $(DEMO_AT)
	@echo "== 6. a trial cohort: eligibility criteria with temporal logic, and its attrition"
	$(MEDLAKE_RELEASE) cohort examples/cohorts/t2dm_trial.json --lake $(DEMO_DIR)/lake

bench: dev
	bash bench/run.sh

format: setup
	find src include tests bench fuzz -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf build $(DEMO_DIR)
