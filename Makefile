# postel: `make run` starts a local instance, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit fuzz bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Runtime dependencies only (make run); the test tools on top (make test).
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.runtime
	$(BIN)/postel localserve --dir local

system-deps:
	sh scripts/install-system-deps

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.installed
	$(BIN)/mypy --strict src/postel

test: system-deps $(VENV)/.installed lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

unit: $(VENV)/.installed
	$(BIN)/pytest -q -m "not integration"

# Long fuzzing: hypothesis "fuzz" profile, then atheris (when installed) per target.
FUZZ_SECONDS ?= 60
fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests -k fuzz
	@if $(BIN)/python -c "import atheris" 2>/dev/null; then \
	  for t in smtp tlsrpt dmarc mtasts records message imap; do \
	    $(BIN)/python bench/fuzz_atheris.py $$t -max_total_time=$(FUZZ_SECONDS) \
	      -artifact_prefix=/tmp/postel-fuzz-crash- || exit 1; \
	  done; \
	else echo "atheris not installed (pip install atheris): coverage-guided fuzzing skipped"; fi

# BENCHMARKS.md: postel and a private Postfix measured side by side (~10 min).
bench: system-deps $(VENV)/.installed
	$(BIN)/python bench/run-all

clean:
	rm -rf $(VENV) build *.egg-info
