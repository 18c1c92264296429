# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The developer targets (migrate, seed, run, worker) name the local settings:
# with nothing set, celery and gunicorn load the production ones.
LOCAL := DJANGO_SETTINGS_MODULE=config.settings.local
BEAT_SCHEDULE ?= var/celerybeat-schedule

.PHONY: install run worker migrate seed test test-postgres test-workers bench lint format clean screenshots test-redis

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(LOCAL) $(BIN)/python manage.py migrate --noinput

seed: migrate
	$(LOCAL) $(BIN)/python manage.py seed_demo --base-url http://$(HOST):$(PORT)

## run: install, migrate, seed the demo data, and serve on 127.0.0.1:8000 with a
## background worker beside the server (Ctrl-C stops both)
run: seed
	@echo "Serving on http://$(HOST):$(PORT)/ with a background worker; Ctrl-C stops both."
	@exec env $(LOCAL) $(BIN)/python -m config.devserver $(HOST):$(PORT) --beat-schedule $(BEAT_SCHEDULE)

## worker: a Celery worker (and the periodic sweeper) on this machine, with the local
## settings, for the configured broker; production runs `celery -A config worker` (docs/production.md)
worker: install
	$(LOCAL) $(BIN)/celery -A config worker --beat --loglevel=INFO --schedule $(BEAT_SCHEDULE)

## test: install and run the whole suite (SQLite unless DATABASE_URL says otherwise)
test: install
	$(BIN)/pytest

## test-postgres: the same suite on PostgreSQL
test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/pytest

## test-workers: the real-worker pipeline tests on the broker CELERY_BROKER_URL names
test-workers: install
	$(BIN)/pytest -m worker

## bench: API and import benchmarks on this machine's PostgreSQL (BENCH_POSTGRES_URL;
## BENCH_DATABASE_PREFIX before each database it creates), import against COPY-only,
## then the fairness scenario and the 1-vs-2 worker run (gunicorn + Celery on Redis,
## BENCH_REDIS_URL), written to bench/results/ and docs/benchmarks.md with the plots; needs wrk
bench: $(VENV)/.installed-bench
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq wrk; } \
		|| { echo "wrk is needed: apt-get install wrk"; exit 1; }
	$(BIN)/python bench/api.py $(BENCH_API_ARGS)
	$(BIN)/python bench/imports.py --million $(BENCH_IMPORT_ARGS)
	$(BIN)/python bench/copy_ratio.py --million $(BENCH_RATIO_ARGS)
	$(BIN)/python bench/fairness.py $(BENCH_FAIRNESS_ARGS)
	$(BIN)/python bench/workers.py $(BENCH_WORKERS_ARGS)
	$(BIN)/python bench/report.py

## screenshots: the pages the README shows, on the demo data, at 1366x768, saved into
## docs/img/ (they need Chromium: apt-get install chromium, or set CHROMIUM_PATH)
screenshots: install
	REQUIRE_BROWSER=1 ADMIN_SCREENSHOTS_DIR=docs/img $(BIN)/pytest tests/e2e/test_screenshots.py

## test-redis: the rate-limit tests that need a Redis server (REDIS_URL, default db 15 on localhost)
test-redis: install
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/15} $(BIN)/pytest -m redis

## fuzz: Schemathesis on every operation of /v1/schema/, against a live server on a
## free port with demo data (SQLite; FUZZ_ARGS="--postgres URL" for PostgreSQL)
.PHONY: fuzz
fuzz: install
	$(BIN)/python -m fuzz.run $(FUZZ_ARGS)

## lint: ruff (lint and format check), and mypy on the files pyproject.toml names
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var/db.sqlite3* var/test-*.sqlite3* var/media var/broker var/celerybeat-schedule* .pytest_cache

# --- Load and fault tests: not part of `make test` (see docs/resilience.md) ---
.PHONY: soak faults

$(VENV)/.installed-bench: pyproject.toml constraints.txt | $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

## soak: a minute of mixed reads and uploads at 80% of the measured capacity
## (gunicorn + Celery on PostgreSQL and Redis); SOAK_ARGS passes options
soak: $(VENV)/.installed-bench
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

## faults: restart PostgreSQL and stop Redis under load, then check that nothing
## was lost; on throw-away servers unless FAULTS_ARGS=--shared-services (needs root)
faults: $(VENV)/.installed-bench
	$(BIN)/python bench/faults.py $(FAULTS_ARGS)
