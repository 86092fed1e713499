# Two commands: `make run` (install, init, serve) and `make test` (install, lint, type-check, test).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: run test install lint typecheck bench lock fuzz-api clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# constraints.txt holds the versions the tests passed with, so a fresh clone installs those.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
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

lock: | $(BIN)/python  # take the newest releases pyproject.toml allows; then run make test
	$(BIN)/python -m pip install --quiet --upgrade -e '.[dev]'
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt

fuzz-api: install  # schemathesis against a demo server, in its own venv (tools/fuzz_api.sh)
	bash tools/fuzz_api.sh

clean:
	rm -rf $(VENV) .venv-fuzz var .mypy_cache .ruff_cache .pytest_cache
