# micro-infra: two commands to start with — `make plan` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: plan test tools lint typecheck schema bench engine check render clean fuzz deploy-deps

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-compile --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null  # pip compiles on one core, this on all
	@touch $@

## deploy-deps: .venv with the runtime dependencies only, every file checked against its hash; what the CI
## jobs holding cloud credentials install (no dev tools there)
deploy-deps:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-deploy.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .

## plan: set up .venv and plan every stack offline (no cloud account, no pulumi CLI)
plan: $(STAMP)
	$(BIN)/infra plan --no-tree

## test: set up .venv and the tools, then run the whole test suite, offline and on the real engine, in three
## workers (each module runs on one; the engine tests mostly wait on the API server, so two cores fit three)
test: $(STAMP) tools
	$(BIN)/ruff check infra components tests policy benchmarks scripts/bench
	$(BIN)/ruff format --check infra components tests policy benchmarks scripts/bench
	$(BIN)/mypy
	PATH="$$(scripts/ensure-pulumi | tail -1):$$PATH" $(BIN)/pytest -q -n 3 --dist loadfile --no-loadscope-reorder

## tools: the real Pulumi engine and the test control plane (both built from Go modules), the guardrail
## venvs and actionlint, all cached outside the repository in $${MICRO_INFRA_CACHE:-~/.cache/micro-infra}
tools:
	scripts/ensure-pulumi >/dev/null
	scripts/ensure-kube >/dev/null
	scripts/ensure-tool-venvs >/dev/null
	scripts/ensure-actionlint >/dev/null

lint: $(STAMP)
	$(BIN)/ruff check infra components tests policy benchmarks scripts/bench
	$(BIN)/ruff format --check infra components tests policy benchmarks scripts/bench

typecheck: $(STAMP)
	$(BIN)/mypy

## schema: regenerate environments/schema.json from the model
schema: $(STAMP)
	$(BIN)/python -m infra.config.schema

## bench: wall time and peak RSS of `infra plan` per stack and per region count
bench: $(STAMP)
	$(BIN)/python scripts/bench

## fuzz: 20,000 random bad-input cases against the loader and the model, counts by outcome (not part of test)
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzzing --cases $${FUZZ_CASES:-20000}

## engine: build (or reuse) the real Pulumi engine from Go modules
engine:
	scripts/ensure-pulumi

## check: the policy pack over every stack's offline plan
check: $(STAMP)
	$(BIN)/infra check

## render: every stack's Kubernetes objects as YAML under rendered/<stack>
render: $(STAMP)
	for s in local parity staging platform; do $(BIN)/infra render --stack $$s --out rendered/$$s --force; done

clean:
	rm -rf $(VENV) .pulumi-state .pytest_cache .mypy_cache .ruff_cache
