# Everything runs through .venv/bin/; `make test` on a fresh clone creates the venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := rnn tests benchmarks docs

export NO_MKDOCS_2_WARNING := 1

.DEFAULT_GOAL := test
.PHONY: $(VENV) test lint types pytest docs-build docs bench fixtures clean

# `make .venv`: create the venv if missing; (re)install when pyproject.toml changes.
$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[test,docs,bench]'
	touch $@

# Order: lint, types, tests, docs.
test: lint types pytest docs-build

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

types: $(STAMP)
	$(BIN)/mypy --strict rnn

pytest: $(STAMP)
	$(BIN)/pytest tests rnn

docs-build: $(STAMP)
	$(BIN)/mkdocs build --strict

docs: $(STAMP)
	$(BIN)/mkdocs serve -a 127.0.0.1:8000

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

fixtures: $(STAMP)
	$(BIN)/python tests/fixtures/make_fixtures.py

clean:
	rm -rf site build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
