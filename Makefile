# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_REDIS_PORT ?= 6479
TEST_REDIS_PORT ?= 6480
PYTEST_ARGS ?=
PG_URL ?= postgres://memory:memory@127.0.0.1:5432/memory

# With REDIS_URL set, `make run` uses that Redis; otherwise it starts the embedded one.
ifeq ($(origin REDIS_URL), environment)
RUN_WITH_REDIS :=
else
RUN_WITH_REDIS := $(BIN)/python -m memoryproject.localredis exec --port $(RUN_REDIS_PORT) --
endif
# Tests flush Redis, so they always get their own embedded one on its own port.
TEST_WITH_REDIS := env -u REDIS_URL $(BIN)/python -m memoryproject.localredis exec --port $(TEST_REDIS_PORT) --

.PHONY: install run test test-postgres postgres lint format clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar off -q -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(RUN_WITH_REDIS) bin/serve

# Lint: ruff (style and bugs), ruff format, and the import contracts in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install
	$(TEST_WITH_REDIS) $(BIN)/pytest $(PYTEST_ARGS)

postgres:
	bash .ci/postgres.sh

test-postgres: install postgres
	DATABASE_URL=$(PG_URL) $(TEST_WITH_REDIS) $(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf var .pytest_cache
