# Sluice — the two commands: `make up` runs it, `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.PHONY: help install up down test test-fast demo lint format lock bench-ingest bench-training bench-flights bench-scoring bench-monitoring bench-view bench-estimate bench-backfill stack-local stack-local-down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps -e .
	@touch $@

install: $(STAMP)  ## create .venv and install the pinned dependencies and Sluice itself

up: install  ## initialise Airflow, the warehouse and MLflow, start them in the background
	@scripts/up.sh

down:  ## stop what `make up` started
	@scripts/down.sh

test: install  ## run the whole test suite (needs PostgreSQL on 127.0.0.1:5432); TEST_WORKERS=2 processes
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

bench-ingest: install  ## one day of N rows as a CSV file: land, validate, publish, featurise on PostgreSQL, per step (BENCH_ARGS=--rows 1000000)
	$(VENV)/bin/python bench/ingest.py $(BENCH_ARGS)

bench-backfill: install  ## the first hour's backfill under make up, per-task seconds (BENCH_ARGS=--days 20)
	$(VENV)/bin/python bench/backfill.py $(BENCH_ARGS)

stack-local: install  ## the production topology as processes here (Celery workers, MLflow server), from docker-compose.yaml and .env
	@test -f .env || { echo "no .env: cp .env.example .env and fill it in"; exit 1; }
	$(VENV)/bin/python scripts/stack_local.py start $(STACK_ARGS)

stack-local-down:  ## stop what make stack-local started
	$(VENV)/bin/python scripts/stack_local.py stop $(STACK_ARGS)

DOMAIN ?= water
demo: install  ## the closed loop through the real DAGs, beside never-retrain and retrain-daily (DOMAIN=water: 60 simulated days; DOMAIN=flights: 2013's departures, DEMO_ARGS=--days 365 for the year)
	$(VENV)/bin/python scripts/demo.py --domain $(DOMAIN) $(DEMO_ARGS)

test-fast: install  ## unit tests only
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests/unit $(PYTEST_ARGS)

lint: install  ## ruff: style, import rules, heavy imports banned in dags/, Airflow's own rules (AIR)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff check --preview --select AIR dags plugins include
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lock:  ## regenerate constraints.txt from a fresh install of requirements-dev.txt
	rm -rf build/lock && $(PYTHON) -m venv build/lock
	build/lock/bin/pip install --disable-pip-version-check -q -r requirements-dev.txt
	{ echo "# Complete lock of a working install on Python 3.11 (pip freeze), used as pip constraints."; \
	  echo "# Regenerate with \`make lock\` after changing requirements*.txt."; \
	  build/lock/bin/pip freeze --exclude-editable; } > constraints.txt

bench-training: install  ## a training with the defaults on the default scenario: hold-out metrics, time per family
	$(VENV)/bin/python bench/training.py $(BENCH_ARGS)

bench-flights: install  ## flights: every family's hold-out ROC AUC beside the carrier/route/origin late-share baselines
	$(VENV)/bin/python bench/flights.py $(BENCH_ARGS)

bench-estimate: install  ## flights: the monitor's label-free estimate against the labels, per month of 2013 (BENCH_ARGS=--refresh 30)
	$(VENV)/bin/python bench/estimate.py $(BENCH_ARGS)

bench-scoring: install  ## batch scoring at 1M/10M rows: streamed path vs naive pandas path, PostgreSQL and SQLite
	$(VENV)/bin/python bench/scoring.py $(BENCH_ARGS)

bench-monitoring: install  ## monitoring of a 1M-row PostgreSQL day: bounded samples (and --full: all rows)
	$(VENV)/bin/python bench/monitoring.py $(BENCH_ARGS)

bench-view: install  ## the Sluice view's pages and API with 365 days of history (target < 300 ms)
	$(VENV)/bin/python bench/view.py $(BENCH_ARGS)

clean: down  ## stop and delete all local state (.sluice/)
	rm -rf .sluice
