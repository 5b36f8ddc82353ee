# Two entry points for a fresh machine: `make run` and `make test`.
# Both create .venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= examples/technical-services.yaml
INSTALLED := $(VENV)/.installed

.PHONY: run test lint typecheck unit install clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/opsdesk migrate
	$(BIN)/opsdesk serve --config $(WORKSPACE)

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
