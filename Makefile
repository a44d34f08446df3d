# stackseal — the two commands of the README quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test install install-test testbed bench clean lint

# A venv with stackseal installed (editable), then the wizard. Cancelling the wizard exits 1
# ("No changes were made."): not a make error.
run: $(STAMP)
	@$(BIN)/stackseal $(ARGS) || test $$? -eq 1

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

install: $(STAMP)

$(TSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install-test: $(TSTAMP)

# Everything the tests need that is not a Python package (Debian packages, Maven jars, local
# container images). Idempotent: it skips what is already there.
testbed: $(TSTAMP)
	bash tests/testbed/install.sh

# The gates first (lint, formatting, types, the import contract), then installs everything,
# starts the test bed (pytest session fixtures start and stop each service on free ports) and
# runs the whole suite.
#
# Two workers (pytest-xdist), whole files per worker so module fixtures start once: most tests
# wait on servers and containers starting, so two files at a time on two cores halve the wall
# time. PYTEST_WORKERS=0 runs everything in one process (for -x, pdb, or reading the output).
PYTEST_WORKERS ?= 2
test: lint testbed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The gates `make test` runs before any test; each fails on the first violation it finds.
# tests/test_gates.py proves they do (a deliberately bad file through the same configuration).
lint: $(TSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(TSTAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
