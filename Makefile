# symviz: two commands for users (see README.md)
#   make lab    create .venv on first use, then open the tutorials in JupyterLab
#   make test   create .venv on first use, then run lint + unit tests + notebooks + browser tests
# Other targets: make venv, make benchmarks, make clean-venv.
#
# Variables (override on the command line, e.g. `make test PYTHON=python3.12`):
#   PYTHON      interpreter used to create the venv (default python3, needs >= 3.10)
#   VENV        venv directory (default .venv)
#   TORCH_SPEC  torch requirement installed BEFORE the package (default torch==2.13.0). Installing a
#               pinned CPU torch first stops pip from resolving the project's `torch>=2.2` range to a
#               multi-GB CUDA build. Example: make test TORCH_SPEC="torch==2.5.1"

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

# Several kernels / pytest workers may share few cores: idle OpenMP threads must not spin.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: help venv lab test benchmarks clean-venv

help:
	@echo "make lab         open the tutorials in JupyterLab (creates $(VENV) on first use)"
	@echo "make test        lint + unit tests + notebooks (nbval) + browser tests (creates $(VENV) on first use)"
	@echo "make benchmarks  run every benchmarks/*.py with the venv python"
	@echo "make clean-venv  delete $(VENV)"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "could not create $(VENV) with $(PYTHON) (on Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }

# Re-run the install whenever pyproject.toml changes; CPU torch first, then the package (editable).
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install "$(TORCH_SPEC)"
	$(VENV)/bin/python -m pip install -e ".[test,browser]"
	touch $(STAMP)

venv: $(STAMP)

# --allow-root only when run as root (containers); Jupyter refuses to start as root otherwise.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) tutorials/

test: $(STAMP)
	VENV=$(VENV) bash scripts/test.sh

benchmarks: $(STAMP)
	@shopt -s nullglob; files=(benchmarks/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks/*.py found"; exit 0; fi; \
	for f in "$${files[@]}"; do \
	  echo "=== $$f ==="; \
	  PYTHONHASHSEED=0 $(VENV)/bin/python "$$f"; \
	done

clean-venv:
	rm -rf $(VENV)
