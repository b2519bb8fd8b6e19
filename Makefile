# budget-warehouse: set-up and everyday commands. Each target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
OUT ?= output
SOURCES ?=

BIN := $(VENV)/bin

.PHONY: install system-deps build test lint ui clean benchmark

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## Install, then build the warehouse (downloads the sources unless SOURCES=DIR is given).
build: install
	$(BIN)/budget-warehouse build --out $(OUT) $(if $(SOURCES),--sources $(SOURCES))

## System packages the tests need: Debian's chromium (the page test drives it headless). Run as root.
system-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

## Install, then run the tests (they read the real files in ../shared/data).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The Dagster UI on the warehouse built in $(OUT).
ui: install
	DAGSTER_HOME=$(abspath $(OUT))/dagster BUDGET_OUT_DIR=$(abspath $(OUT)) \
	$(if $(SOURCES),BUDGET_SOURCES_DIR=$(abspath $(SOURCES))) \
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache

## Wall time and peak memory of a full build from the real files.
benchmark: install
	$(BIN)/python benchmarks/build_benchmark.py $(if $(SOURCES),$(SOURCES))
