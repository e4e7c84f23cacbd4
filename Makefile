# Two commands do all the set-up on a fresh machine (Python 3.11 + pip):
#   make repro   create .venv if missing, install, run the pipeline on the embedded defaults
#   make test    create .venv if missing, install, run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Put the venv first so `dvc repro`'s `python stages/...` commands use it.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv repro test test-fast bench clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

repro: $(STAMP)
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not services and not faults"

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean-venv:
	rm -rf $(VENV)
