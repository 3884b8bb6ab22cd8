# make demo / make test work on a fresh machine with only python3: each creates .venv,
# installs the project with its dev extras at the versions of requirements.lock (again only
# when pyproject.toml or the lock changed), then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements.lock
SOURCES := src tests bench scripts

.PHONY: help install demo test pytest lint typecheck security build format bench perf-gate lock clean
.DEFAULT_GOAL := help

help:
	@echo "make demo       a tour of every gate, then a minute of the engine (no network, no keys)"
	@echo "make test       every CI check: lint, typecheck, security, the suite with coverage, build"
	@echo "make lint       ruff check, ruff format --check, import contracts"
	@echo "make typecheck  mypy --strict"
	@echo "make security   bandit (no high findings) and pip-audit of requirements.lock"
	@echo "make build      sdist and wheel, installed in a clean venv and smoke-run; Docker image"
	@echo "make format     apply ruff fixes and formatting"
	@echo "make bench      benchmarks (results belong in docs/performance.md)"
	@echo "make perf-gate  quick benchmarks; fails 30% below the figures in docs/performance.md"
	@echo "make lock       re-resolve requirements.lock from pyproject.toml"
	@echo "make clean      remove .venv, build output and generated reports"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cst demo

# Every check CI runs, in its order: lint (incl. the import contracts), types, security, the
# tests with coverage, then the packages built and smoke-tested. .ci/run runs exactly this.
test: lint typecheck security pytest build

security: $(STAMP)
	$(BIN)/bandit -r src -q --severity-level high
	$(BIN)/python scripts/audit_dependencies.py $(LOCK)

# The wheel and sdist, installed into a clean virtualenv that has never seen the source tree,
# then `cst --help` and a short demo from it; the Docker image when a Docker engine answers.
build: $(STAMP)
	rm -rf dist build/smoke
	$(BIN)/python -m build --outdir dist . >/dev/null
	$(PYTHON) -m venv build/smoke
	build/smoke/bin/python -m pip install --quiet -c $(LOCK) dist/*.whl
	build/smoke/bin/cst --help >/dev/null
	CST_HOME=build/smoke/home build/smoke/bin/cst demo --loops 3 --pace 0 --no-api --json \
		>build/smoke/demo.json
	$(BIN)/python -c "import json; d = json.load(open('build/smoke/demo.json')); \
		assert d['engine']['loops'] == 3, d; print('build: wheel installed and ran the demo')"
	@if docker info >/dev/null 2>&1; then docker build -t cryptosmarttrader:dev .; \
	else echo "build: no Docker engine on this machine: image build skipped (CI builds it)"; fi

perf-gate: $(STAMP)
	$(BIN)/python scripts/perf_gate.py

lock:
	rm -rf build/lock
	$(PYTHON) -m venv build/lock
	build/lock/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' $(LOCK); build/lock/bin/python -m pip freeze --exclude-editable; } \
		>build/lock/requirements.lock
	mv build/lock/requirements.lock $(LOCK)

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
	rm -rf $(VENV) reports dist build .pytest_cache .mypy_cache .ruff_cache .coverage \
		.import_linter_cache
