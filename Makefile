# The README's contract. On a fresh Debian 12 machine, as root:
#   make demo   installs what medlake needs, builds it, generates a synthetic population,
#               ingests it into an embedded lake and prints what was loaded
#   make test   installs, builds in developer mode and runs every test
# Both are idempotent: a second run reinstalls nothing and rebuilds only what changed.

JOBS ?= $(shell nproc)
DEMO_DIR ?= demo
DEMO_PATIENTS ?= 2000
DEMO_SEED ?= 42
MEDLAKE_RELEASE := build/release/src/cli/medlake

.PHONY: all setup build release dev test demo bench fuzz fuzz-smoke format clean

all: release

setup:
	@bash scripts/setup.sh

build/release/build.ninja: | setup
	cmake --preset release

build/dev/build.ninja: | setup
	cmake --preset dev

release: setup build/release/build.ninja
	cmake --build build/release -j $(JOBS)

dev: setup build/dev/build.ninja
	cmake --build build/dev -j $(JOBS)

test: dev fuzz-smoke
	ctest --test-dir build/dev --output-on-failure -j $(JOBS)

# libFuzzer (clang) over every fuzz target, briefly; `make fuzz FUZZ_SECONDS=600` for real runs.
FUZZ_SECONDS ?= 10
build/fuzz/build.ninja: | setup
	cmake --preset fuzz

fuzz-smoke fuzz: setup build/fuzz/build.ninja
	cmake --build build/fuzz -j $(JOBS) --target medlake_fuzzers
	bash fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

demo: release
	@rm -rf $(DEMO_DIR)/lake
	$(MEDLAKE_RELEASE) synth --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED) --out $(DEMO_DIR)/data
	$(MEDLAKE_RELEASE) ingest --lake $(DEMO_DIR)/lake $(DEMO_DIR)/data/fhir
	$(MEDLAKE_RELEASE) status --lake $(DEMO_DIR)/lake

bench: dev
	bash bench/run.sh

format:
	find src include tests bench fuzz -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf build $(DEMO_DIR)
