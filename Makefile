# make demo / make test work on a fresh machine with only python3: each creates .venv,
# installs the project with its dev extras (again only when pyproject.toml changed), then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SOURCES := src tests bench scripts

.PHONY: help install demo test pytest lint typecheck format bench clean
.DEFAULT_GOAL := help

help:
	@echo "make demo       a tour of every gate, then a minute of the engine (no network, no keys)"
	@echo "make test       lint + typecheck + the whole test suite with coverage"
	@echo "make lint       ruff check, ruff format --check, import contracts"
	@echo "make typecheck  mypy --strict"
	@echo "make format     apply ruff fixes and formatting"
	@echo "make bench      benchmarks (results belong in docs/performance.md)"
	@echo "make clean      remove .venv and generated reports"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cst demo

# The whole suite: lint (incl. the import contracts), types, then the tests with coverage.
test: lint typecheck pytest

pytest: $(STAMP)
	mkdir -p reports
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=xml:reports/coverage.xml \
		--junitxml=reports/junit.xml

lint: $(STAMP)
	mkdir -p reports
	$(BIN)/ruff check $(SOURCES) --exit-zero --output-format json --output-file reports/ruff.json
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	mkdir -p reports
	$(BIN)/mypy --junit-xml reports/mypy.xml

format: $(STAMP)
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

bench: $(STAMP)
	$(BIN)/python bench/bench_gates.py
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_data.py
	$(BIN)/python bench/bench_backtest.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_dashboard.py

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache .coverage .import_linter_cache
