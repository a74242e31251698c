# Everything a fresh machine needs: `make run` and `make test` create the virtualenv and install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint fuzz bench install clean

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

# The unit tests alone (no database, socket, process or browser): seconds, for the edit-test loop (the
# fuzz properties with 25 cases each: Hypothesis profile "quick").
test-fast: $(STAMP)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-quick} $(BIN)/python -m pytest -q -m unit

# The decoders' fuzz properties for minutes: Hypothesis profile "fuzz", 5,000 fresh random cases a property
# (`make test` runs the same properties with profile "ci": 200 cases each, the same every run). A failing
# case is kept in .hypothesis/ and tried first next time. Prints the cases run and cases/s per property.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q --timeout=3600 tests/test_fuzz_*.py

bench: $(STAMP)
	$(BIN)/python bench/replay_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
