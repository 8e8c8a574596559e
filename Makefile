# Everything runs through .venv/bin/; `make test` on a fresh clone creates the venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := rnn tests benchmarks docs conftest.py
SITE := site

# The math font of the site (STIX Two Math, SIL OFL), from npm into an ignored folder.
FONT_PACKAGE := @fontsource/stix-two-math@5.3.0
FONT_DIR := .cache/fonts
MATH_FONT := $(FONT_DIR)/stix-two-math.woff2

export NO_MKDOCS_2_WARNING := 1

.DEFAULT_GOAL := test
.PHONY: $(VENV) test lint types pytest docs-build docs fonts dist bench fixtures clean

# `make .venv`: create the venv if missing; (re)install when pyproject.toml changes.
$(VENV): $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[test,docs,bench]'
	touch $@

fonts: $(MATH_FONT)

$(MATH_FONT):
	rm -rf $(FONT_DIR)/npm && mkdir -p $(FONT_DIR)/npm
	cd $(FONT_DIR)/npm && npm pack --silent $(FONT_PACKAGE) > /dev/null
	tar -xzf $(FONT_DIR)/npm/*.tgz -C $(FONT_DIR)/npm
	cp $(FONT_DIR)/npm/package/LICENSE $(FONT_DIR)/LICENSE
	cp $(FONT_DIR)/npm/package/files/stix-two-math-latin-400-normal.woff2 $@

# Order: lint, types, the site built once (strict), then the tests, which read that site
# (tests/test_copypaste.py runs its code from the HTML, tests/test_site.py opens it).
test: lint types docs-build pytest

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

types: $(STAMP)
	$(BIN)/mypy --strict rnn

pytest: $(STAMP) docs-build
	RNN_SITE_DIR=$(CURDIR)/$(SITE) $(BIN)/pytest tests rnn

# Skipped, with a message, where an optional framework the pages run is not installed.
docs-build: $(STAMP) $(MATH_FONT)
	rm -rf $(SITE)
	$(BIN)/python tests/docs_site.py build $(SITE)

docs: $(STAMP) $(MATH_FONT)
	$(BIN)/mkdocs serve -a 127.0.0.1:8000

# The wheel and the source archive, in dist/.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

fixtures: $(STAMP)
	$(BIN)/python tests/fixtures/make_fixtures.py

clean:
	rm -rf site dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
