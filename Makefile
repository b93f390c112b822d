# Quick start: `make demo`, `make test` and `make lint`. All bootstrap .venv on first use with only python3 ≥ 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench venv clean chromium fuzz

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/spendwatch demo

# Byte-compile spendwatch's own packages first: where PYTHONDONTWRITEBYTECODE is set (this build box sets
# it), Python never caches them itself, and every subprocess a test starts (CLI runs, each daemon job)
# would compile them again: about 0.15 s a process, twice the suite's daemon tests' time on a fresh clone.
test: $(STAMP) chromium
	$(BIN)/python -m compileall -q spendwatch collector detectors sinks
	$(BIN)/python -m pytest -q -n 2 tests

# The web dashboard's browser tests drive Debian's chromium (never a browser of Playwright's own); they
# skip with the reason if it cannot be installed here (not root, no package registry).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null) || echo "make: chromium could not be installed; browser tests will skip"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) spendwatch-demo .pytest_cache

# The import fuzz suite alone and deeper: 3,000 mutated files per format, about 10 min on 2 cores (make test
# runs the first 1,000 of the same seeded sequence each; SPENDWATCH_FUZZ_CASES=10000 goes further).
fuzz: $(STAMP)
	SPENDWATCH_FUZZ_CASES=3000 $(BIN)/python -m pytest -q -n 2 tests/importers/test_fuzz_imports.py
