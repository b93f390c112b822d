# Quick start: `make demo`, `make test` and `make lint`. All bootstrap .venv on first use with only python3 ≥ 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench venv clean fuzz

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/spendwatch demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) spendwatch-demo .pytest_cache

# The import fuzz suite at full strength: 1,000 mutated files per format (make test runs the first 60 each).
fuzz: $(STAMP)
	SPENDWATCH_FUZZ_CASES=1000 $(BIN)/python -m pytest -q -n 2 tests/importers/test_fuzz_imports.py
