# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: install run test lint bench
install: $(BIN)/.installed

run: install
	$(BIN)/alertreflex serve --config examples/alertreflex.yml

lint: install
	$(BIN)/ruff check src tests docs/_hooks deploy/kubernetes $(wildcard bench)
	$(BIN)/ruff format --check src tests docs/_hooks deploy/kubernetes $(wildcard bench)
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/ingest.py
