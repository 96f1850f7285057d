# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_REDIS_PORT ?= 6479
TEST_REDIS_PORT ?= 6480
PYTEST_ARGS ?=
PG_URL ?= postgres://memory:memory@127.0.0.1:5432/memory
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

# With REDIS_URL set, `make run` uses that Redis; otherwise it starts the embedded one.
ifeq ($(origin REDIS_URL), environment)
RUN_WITH_REDIS :=
else
RUN_WITH_REDIS := $(BIN)/python -m memoryproject.localredis exec --port $(RUN_REDIS_PORT) --
endif
# Tests flush Redis, so they always get their own embedded one on its own port.
TEST_WITH_REDIS := env -u REDIS_URL $(BIN)/python -m memoryproject.localredis exec --port $(TEST_REDIS_PORT) --

.PHONY: install run test test-browser browser-deps test-postgres postgres lint format clean reliability fuzz bench bench-admin-home test-import

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar off -q -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(RUN_WITH_REDIS) bin/serve

# Lint: ruff (style and bugs), ruff format, the import contracts and the types (mypy), all
# configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install
	$(TEST_WITH_REDIS) $(BIN)/pytest $(PYTEST_ARGS)

# The fault scenarios (tests/reliability: worker and Redis kills, index loss, provider and DB
# outage, soak), each printing its figures; RELIABILITY.md has the latest ones.
reliability: install
	RELIABILITY_POSTGRES=required $(TEST_WITH_REDIS) $(BIN)/pytest -m reliability -s tests/reliability $(PYTEST_ARGS)

# Schemathesis over every operation of the served schema, with a fixed seed and bounded
# examples (FUZZ_SEED, FUZZ_MAX_EXAMPLES), then the Hypothesis properties of the parsers.
fuzz: install
	$(TEST_WITH_REDIS) $(BIN)/pytest -m fuzz -s tests/reliability $(PYTEST_ARGS)

# `manage.py import_ams` on data the real reference (agent-memory-server 0.15.2, installed
# as `make bench` installs it) writes through its own API (tests/imports); a reference
# that is missing, or could not be installed, fails these tests rather than skipping them.
test-import: install
	benchmarks/install_reference.sh
	$(TEST_WITH_REDIS) $(BIN)/pytest -m reference tests/imports $(PYTEST_ARGS)

# This server beside the reference (agent-memory-server 0.15.2, installed into
# var/reference-venv on first use) on the same load; prints a table, writes var/bench/bench.json.
BENCH_ARGS ?=
bench: install
	benchmarks/install_reference.sh
	cd benchmarks && ../$(BIN)/python bench.py $(BENCH_ARGS)

# The admin home page on a scratch database of a million records (issue 23): latency by
# role, SQL queries per page and each query's plan; writes var/bench/admin_home.json.
# ADMIN_HOME_ARGS: --records N, --repeat N, --database-url URL (e.g. $(PG_URL)_admin_home).
ADMIN_HOME_ARGS ?=
ADMIN_HOME_REDIS_PORT ?= 6494
bench-admin-home: install
	env -u REDIS_URL $(BIN)/python -m memoryproject.localredis exec --port $(ADMIN_HOME_REDIS_PORT) -- \
	  $(BIN)/python benchmarks/admin_home.py $(ADMIN_HOME_ARGS)

# Debian's Chromium and ChromeDriver for the browser tests (tests/browser); needs root.
# `make test` skips those tests, saying so, while either binary is missing.
browser-deps:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make browser-deps: installing Debian's chromium and chromium-driver needs root: sudo make browser-deps" >&2; \
	  exit 1; \
	fi; \
	echo "Installing Debian's chromium and chromium-driver for the browser tests..."; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  chromium chromium-driver fonts-liberation >/dev/null

# Only the browser tests, requiring Chromium (a missing one fails instead of skipping).
test-browser: install browser-deps
	BROWSER_TESTS=required $(TEST_WITH_REDIS) $(BIN)/pytest -m browser $(PYTEST_ARGS)

postgres:
	bash .ci/postgres.sh

test-postgres: install postgres
	DATABASE_URL=$(PG_URL) $(TEST_WITH_REDIS) $(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf var .pytest_cache
