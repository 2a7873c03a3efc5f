# Entry points for people and CI. Everything runs from the project virtualenv (.venv), which
# `make install` (and every target that needs it) creates from pyproject.toml files.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  ?= dev
ARGS   ?=
# pytest-xdist workers for `make test` (tests bind port 0 and own their processes, so they run side by side).
TEST_WORKERS ?= 2

PROJECT_FILES := pyproject.toml chat_prompt/pyproject.toml picker/pyproject.toml sim/pyproject.toml bench/pyproject.toml

.PHONY: install test test-all test-unit plan local lint clean

$(VENV)/.installed: $(PROJECT_FILES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./chat_prompt -e ./picker -e ./sim -e ./bench -e ".[dev]"
	touch $@

install: $(VENV)/.installed

## The README's test command: unit + integration tiers (slow excluded).
test: install
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) $(ARGS)

test-unit: install
	$(PY) -m pytest -m "not slow and not integration" $(ARGS)

test-all: install
	$(PY) -m pytest $(ARGS)

## Offline plan: what `pulumi up` would create for STACK, under Pulumi mocks.
plan: install
	$(PY) -m infgw plan --stack $(STACK) $(ARGS)

## Local gateway: Envoy + picker + simulated replicas from STACK's config.
local: install
	$(PY) -m infgw local --stack $(STACK) $(ARGS)

## ruff, and mypy (strict on picker/, chat_prompt/ and components/; configured in pyproject.toml).
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) $(INFERENCE_PERF_VENV) .pytest_cache

## Benchmarks: routing quality and overhead vs baselines and peer routers (see docs/benchmarks.md).
## `make bench ARGS=--quick` is the CI-sized form; results land in docs/benchmarks/.
.PHONY: bench bench-inference-perf
bench: install
	$(PY) -m bench $(ARGS)

## kubernetes-sigs inference-perf and the bench's driver through the local gateway's picker and Envoy
## round-robin (docs/benchmarks.md). inference-perf gets its own venv; every release declares Python >= 3.12
## and it runs on 3.11, hence --ignore-requires-python. Not part of `make test` (the install needs PyPI).
INFERENCE_PERF_VENV := .venv-inference-perf
$(INFERENCE_PERF_VENV)/bin/inference-perf:
	python3 -m venv $(INFERENCE_PERF_VENV)
	$(INFERENCE_PERF_VENV)/bin/pip install --quiet --ignore-requires-python --only-binary=:all: "inference-perf>=0.7,<0.8"

bench-inference-perf: install $(INFERENCE_PERF_VENV)/bin/inference-perf
	$(PY) -m bench inference-perf --venv $(INFERENCE_PERF_VENV) $(ARGS)
