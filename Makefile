# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

# Two stamps: `make run` needs only what serving needs (about 85 MB); the test tools
# (playwright, mypy, mkdocs, ...: about 600 MB in all) come with `make test`. A venv made
# by `make run` gets them at `make test`; a changed pyproject.toml redoes both.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: install install-test run test lint bench
install: $(BIN)/.installed

install-test: $(BIN)/.installed-test

run: install
	$(BIN)/alertreflex serve --config examples/alertreflex.yml

lint: install-test
	$(BIN)/ruff check src tests docs/_hooks deploy/kubernetes $(wildcard bench)
	$(BIN)/ruff format --check src tests docs/_hooks deploy/kubernetes $(wildcard bench)
	$(BIN)/mypy

# Two processes (the suite mostly waits on servers it started), tests grouped so that
# those sharing a resource run in one (tests/conftest.py); then, alone, the tests that
# stop PostgreSQL.
test: lint
	$(BIN)/pytest -q -n 2 -m "not alone"
	$(BIN)/pytest -q -m alone

bench: install
	$(BIN)/python bench/ingest.py
