# budget-warehouse: set-up and everyday commands. Each target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
OUT ?= output
SOURCES ?=
SIZES ?= 100000,1000000,10000000
JSON ?= benchmark.json
UI_PORT ?= 3000

BIN := $(VENV)/bin

.PHONY: install system-deps build test lint ui clean benchmark

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m compileall -q pipelines assets schemas warehouse benchmarks
	touch $@

## Install, then build the warehouse from the repository's snapshot data/sources/ (or SOURCES=DIR).
build: install
	$(BIN)/budget-warehouse build --out $(OUT) $(if $(SOURCES),--sources $(SOURCES))

## System packages the tests need: Debian's chromium (the page test drives it headless) and PostgreSQL's
## server (the Dagster instance test starts one in a temporary folder). Run as root.
system-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends postgresql)

## Install, then run the tests (they read the snapshot data/sources/ and tests/fixtures/).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The Dagster UI on the warehouse built in $(OUT), sources from the snapshot (or SOURCES=DIR).
## `exec` (make sends its SIGTERM to `dagster dev` itself, not to a shell) and SIGINT/SIGTERM reset to their
## defaults (a background job inherits SIGINT ignored, and `dagster dev` maps SIGTERM to SIGINT's handler):
## stopping make (Ctrl-C, SIGTERM) stops `dagster dev` and the processes it started.
ui: install
	mkdir -p $(abspath $(OUT))/dagster
	exec env --default-signal=INT,TERM DAGSTER_HOME=$(abspath $(OUT))/dagster BUDGET_OUT_DIR=$(abspath $(OUT)) \
	BUDGET_SOURCES_DIR=$(abspath $(or $(SOURCES),data/sources)) \
	$(BIN)/dagster dev -w workspace.yaml -p $(UI_PORT)

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache

## The benchmark (README "Benchmark"): ingestion of synthetic LFI 2021 files of SIZES lines against the floor,
## then a full build, a no-op rebuild and a one-file-changed rebuild of SOURCES (default the snapshot); JSON to JSON.
benchmark: install
	$(BIN)/python -m benchmarks --sizes $(SIZES) --json $(JSON) $(if $(SOURCES),--sources $(SOURCES))
