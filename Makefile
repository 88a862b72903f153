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

test: lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/ingest.py
