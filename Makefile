# symviz: two commands for users (see README.md)
#   make lab    create .venv on first use, then open the tutorials in JupyterLab
#   make test   create .venv on first use, then run lint + unit tests + notebooks + browser tests + wheel check
# Other targets: make venv, make benchmarks, make docs (ONLY=01_group_actions for one tutorial), make clean-venv.
#
# Variables (override on the command line, e.g. `make test PYTHON=python3.12`):
#   PYTHON      interpreter used to create the venv (default python3, needs >= 3.10)
#   VENV        venv directory (default .venv)
#   TORCH_SPEC  torch requirement installed BEFORE the package (default torch==2.13.0), so pip never
#               resolves the project's `torch>=2.2` range on its own.
#   TORCH_INDEX_URL  package index for that torch install (default empty: pip's configured index). On Linux
#               x86_64 the public index's default torch wheel pulls the multi-GB CUDA packages even when
#               pinned; point this at PyTorch's CPU-only wheel index (its URL is in PyTorch's install
#               guide) to get the CPU build: make test TORCH_INDEX_URL=<cpu wheel index URL>
#   Changing TORCH_SPEC or TORCH_INDEX_URL reinstalls torch and the package on the next make.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.torch-$(shell printf '%s|%s' '$(TORCH_SPEC)' '$(TORCH_INDEX_URL)' | cksum | cut -d' ' -f1)

# Several kernels / pytest workers may share few cores: idle OpenMP threads must not spin.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: help venv lab test benchmarks docs clean-venv

help:
	@echo "make lab         open the tutorials in JupyterLab (creates $(VENV) on first use)"
	@echo "make test        lint + unit tests + notebooks (nbval) + browser tests (creates $(VENV) on first use)"
	@echo "make benchmarks  run every benchmarks/*.py with the venv python"
	@echo "make docs        execute the tutorials into a static HTML gallery, build/docs/index.html (ONLY=01_group_actions)"
	@echo "make clean-venv  delete $(VENV)"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "could not create $(VENV) with $(PYTHON) (on Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }

# Re-run the install whenever pyproject.toml changes; CPU torch first, then the package (editable) with everything a
# learner needs ([lab]: JupyterLab + widgets, [molecules]: RDKit + py3Dmol) and the test tools ([test], [browser]).
# The torch stamp's name encodes TORCH_SPEC and TORCH_INDEX_URL, so changing either reinstalls.
$(TORCH_STAMP): | $(VENV)/bin/python
	rm -f $(VENV)/.torch-*
	$(VENV)/bin/python -m pip install $(if $(TORCH_INDEX_URL),--index-url "$(TORCH_INDEX_URL)") "$(TORCH_SPEC)"
	touch $@

$(STAMP): pyproject.toml $(TORCH_STAMP) | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -e ".[lab,molecules,test,browser]"
	touch $(STAMP)

venv: $(STAMP)

# --allow-root only when run as root (containers); Jupyter refuses to start as root otherwise.
# JupyterLab takes the project's setting defaults from lab/settings/overrides.json (no news pop-up); the user's
# own JupyterLab settings still win and are not touched. In a git checkout of symviz, the local git filter
# symviz-notebook (lab/clean_notebook.py, named in .gitattributes) lets git read tutorials/*.ipynb without their
# outputs: `git diff` shows only the learner's edits and commits stay clean (README.md, section Tutorials).
lab: $(STAMP)
	@if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$$(pwd -P)" ] && \
	  [ "$$(git config --get filter.symviz-notebook.clean)" != "$(PYTHON) lab/clean_notebook.py" ]; then \
	  git config filter.symviz-notebook.clean "$(PYTHON) lab/clean_notebook.py" && \
	  echo "git: tutorials/*.ipynb are now read without outputs (filter symviz-notebook in .git/config;" \
	    "undo: git config --unset filter.symviz-notebook.clean)"; \
	fi
	$(VENV)/bin/jupyter lab --LabApp.app_settings_dir="$(CURDIR)/lab/settings" \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) tutorials/

test: $(STAMP)
	VENV=$(VENV) TORCH_SPEC="$(TORCH_SPEC)" TORCH_INDEX_URL="$(TORCH_INDEX_URL)" bash scripts/test.sh

benchmarks: $(STAMP)
	@shopt -s nullglob; files=(benchmarks/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks/*.py found"; exit 0; fi; \
	for f in "$${files[@]}"; do \
	  echo "=== $$f ==="; \
	  PYTHONHASHSEED=0 $(VENV)/bin/python "$$f"; \
	done

# Not part of `make test`: executes every tutorial (minutes). ONLY=<stem or number prefix ...> builds some pages.
docs: $(STAMP)
	PYTHONHASHSEED=0 $(VENV)/bin/python scripts/build_docs.py $(if $(ONLY),--only $(ONLY))

clean-venv:
	rm -rf $(VENV)
