# postel: `make run` starts a local instance, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit fuzz system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/postel localserve --dir local

system-deps:
	sh scripts/install-system-deps

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests

typecheck: $(VENV)/.installed
	$(BIN)/mypy --strict src/postel

test: system-deps $(VENV)/.installed lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

unit: $(VENV)/.installed
	$(BIN)/pytest -q -m "not integration"

fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests -k fuzz

clean:
	rm -rf $(VENV) build *.egg-info
