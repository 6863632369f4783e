# micro-infra: two commands to start with — `make plan` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: plan test lint typecheck schema bench engine clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

## plan: set up .venv and plan every stack offline (no cloud account, no pulumi CLI)
plan: $(STAMP)
	$(BIN)/infra plan --no-tree

## test: set up .venv and run the whole test suite
test: $(STAMP)
	$(BIN)/ruff check infra components tests policy scripts
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 -m "not engine"
	$(BIN)/pytest -q -m engine

lint: $(STAMP)
	$(BIN)/ruff check infra components tests
	$(BIN)/ruff format --check infra components tests

typecheck: $(STAMP)
	$(BIN)/mypy

## schema: regenerate environments/schema.json from the model
schema: $(STAMP)
	$(BIN)/python -m infra.config.schema

## bench: wall time and peak RSS of `infra plan` per stack and per region count
bench: $(STAMP)
	$(BIN)/python scripts/bench

## engine: build (or reuse) the real Pulumi engine from Go modules
engine:
	scripts/ensure-pulumi

clean:
	rm -rf $(VENV) .pulumi-state .pytest_cache .mypy_cache .ruff_cache
