# Everything a fresh machine needs: `make run` and `make test` create the virtualenv and install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench install clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ais-watch serve

lint: $(STAMP)
	$(BIN)/ruff check ais_watch migrations tests bench scripts setup.py
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -ra

# The unit tests alone (no database, socket, process or browser): seconds, for the edit-test loop.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m unit

bench: $(STAMP)
	$(BIN)/python bench/replay_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
