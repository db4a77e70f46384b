# Two commands: `make run` (the demo) and `make test` (every check).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install migrate screenshots clean matrix matrix-install bench bench-report docs docs-build

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[api,postgres,redis,server,test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py rundemo --host $(HOST) --port $(PORT)

# Biome (the console scripts' linter) from the npm registry, at the version package-lock.json pins.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm (Node.js) is required by make lint's Biome"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The pre-commit hooks on every file (ruff, ruff format, django-upgrade, djLint, Biome: see
# .pre-commit-config.yaml; they run the tools of .venv and node_modules, nothing is downloaded),
# then the migrations and the system checks.
lint: install $(NODE_STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pre-commit run --all-files --show-diff-on-failure
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check --fail-level WARNING
	$(MKDOCS_BUILD)

# The documentation site (mkdocs.yml, docs/). --strict: a broken link or anchor, a page
# missing from the nav or a DEFAULTS key without its comment fails the build.
# NO_MKDOCS_2_WARNING: Material prints a banner about its successor on every run.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs
MKDOCS_BUILD = $(MKDOCS) build --strict --quiet --site-dir site
DOCS_PORT ?= 8001

docs-build: install
	$(MKDOCS_BUILD)

# Serves the docs on http://127.0.0.1:$(DOCS_PORT)/, rebuilt on every change (`make run`'s
# demo receiver also listens on 8001: `make docs DOCS_PORT=8002` beside it).
docs: docs-build
	$(MKDOCS) serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

# Bounds of the generated-input tests, per database: Schemathesis with every check
# (tests/test_schema.py: examples per operation and mode, seconds per operation) and
# the property tests of every writable field and query parameter (tests/test_api_properties.py).
SCHEMATHESIS_MAX_EXAMPLES ?= 25
SCHEMATHESIS_MAX_SECONDS ?= 30
PROPERTY_MAX_EXAMPLES ?= 25
export SCHEMATHESIS_MAX_EXAMPLES SCHEMATHESIS_MAX_SECONDS PROPERTY_MAX_EXAMPLES

PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/postgres
PG_UP := $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)"

# Every check: lint, migrations, system checks, the docs, the suite on SQLite (with the
# browser tests), then the suite again on PostgreSQL. Outside CI an unreachable
# PostgreSQL skips that run with a message; under CI (CI=true) it fails.
test: lint
	$(BIN)/pytest --cov --cov-branch --cov-report=term:skip-covered $(PYTEST_ARGS)
	@if [ -n "$$CI" ] || $(PG_UP) 2>/dev/null; then \
	  echo "== the suite on PostgreSQL =="; \
	  TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -m "not browser" $(PYTEST_ARGS); \
	else echo "PostgreSQL is unreachable: skipped the PostgreSQL run (CI requires it)"; fi

# The performance benchmark (issues 8 and 19): prints tables and issue 19's targets,
# asserts nothing. It sets up its own database, Redis db 13, receiver and clusters; the
# receiver's ceiling is measured with wrk (Debian's package, installed here when missing
# and this is root), else with tests/bench/loadgen.py's Python generator (the output says
# which). BENCH_ARGS=--quick for a short run; BENCH_JSON=results.json also writes the
# results, and `make bench-report BENCH_JSON=results.json` regenerates
# docs/performance-figures.md from them (docs/performance.md includes it).
BENCH_JSON ?=
bench: install
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing wrk (Debian's package) to measure the receiver's ceiling"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
	    || echo "could not install wrk: the Python load generator measures the receiver's ceiling"; \
	  else echo "wrk is not installed: the Python load generator measures the receiver's ceiling"; fi; }
	$(PY) -m tests.bench.webhooks_bench $(if $(BENCH_JSON),--json $(BENCH_JSON)) $(BENCH_ARGS)

bench-report: install
	@test -n "$(BENCH_JSON)" || { echo "usage: make bench-report BENCH_JSON=results.json"; exit 1; }
	$(PY) -m tests.bench.report $(BENCH_JSON) > docs/performance-figures.md

# The version matrix (noxfile.py): Python 3.11, 3.12, 3.13 with Django 5.2, and
# Django 6.0 on 3.12+; each session installs the project with that Django and runs the
# fast part of the suite and the install test. `.venv/bin/nox -l` lists the sessions;
# one of them: .venv/bin/nox -s "tests(python='3.12', django='6.0')"
matrix: install
	$(BIN)/nox $(NOX_ARGS)

# Only the install test, on every combination of the matrix (CI runs it after `make test`).
matrix-install: install
	$(BIN)/nox -s install $(NOX_ARGS)

screenshots: install
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -m browser -p no:cacheprovider

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .coverage .nox site
