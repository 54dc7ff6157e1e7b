# The two quick-start commands are `make run` and `make test`; everything else here serves them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PASSCOMPASS_HOME ?= $(CURDIR)/.passcompass
# The UCI files, where this checkout sits beside the shared data (else downloaded, or skipped offline).
export PASSCOMPASS_INITIAL_DATA ?= $(wildcard $(CURDIR)/../shared/data/uci)

.PHONY: run test check lint typecheck validate install lock clean

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Run the platform on the embedded default: Dagster UI on :3000, API and web page on :8000. Ctrl-C stops both.
run: install
	$(BIN)/passcompass run

## Run the whole test suite (SQLite always; PostgreSQL too when PASSCOMPASS_TEST_POSTGRES_URL is set) on two
## workers, handed two tests at a time so that neither waits on a queue of slow ones the other could have taken.
test: install lint typecheck
	$(BIN)/pytest -q -n 2 --maxschedchunk 1 --durations=10

## The inner loop while editing: ruff, then the tests that take under a few seconds on SQLite (no process-level,
## PostgreSQL or benchmark tests); `make test` before a commit.
check: install lint
	$(BIN)/pytest -q -m "not slow and not postgres"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

validate: install
	cd $(CURDIR) && PASSCOMPASS_HOME=$$(mktemp -d) $(BIN)/dagster definitions validate -m passcompass_assets.definitions

lock: install
	$(BIN)/pip freeze --exclude-editable | sed '1i # Full pinned dependency set (pip constraints). Regenerate: make lock' > requirements.lock

clean:
	rm -rf $(VENV) .passcompass dbt/target dbt/logs
