# Two commands: `make run` (install, init, serve) and `make test` (install, lint, type-check, test).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: run test install lint typecheck bench fuzz-api clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/mlgate init
	$(BIN)/mlgate serve

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: install
	$(BIN)/mypy src

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/registry.py

fuzz-api: install  # schemathesis against a demo server, in its own venv (tools/fuzz_api.sh)
	bash tools/fuzz_api.sh

clean:
	rm -rf $(VENV) .venv-fuzz var .mypy_cache .ruff_cache .pytest_cache
