# make demo / make test on a fresh machine with only Python >= 3.11: venv, pinned install, run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: install demo test bench clean

install: $(VENV)/.installed

# GPU users: install a CUDA build of $(TORCH) into .venv before `make` (README, "GPU"); pip keeps it.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hgrec needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

demo: install
	$(BIN)/hgrec demo

test: install
	$(BIN)/python -m pytest -q tests

bench: install
	$(BIN)/python benchmarks/data_pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
