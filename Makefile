# Two commands do everything on a fresh machine:
#   make test   set up .venv, then ruff + pytest
#   make demo   set up .venv, then generate a sample and its validation report
# CUDA users: make test TORCH_SPEC="torch" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.microgen-installed

.PHONY: setup test lint demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if $(PY) -c "import torch" 2>/dev/null; then echo "torch already installed"; \
	else $(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"; fi
	$(PY) -m pip install --quiet -e ".[dev,metrics]"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check microgen tests benchmarks examples

test: lint
	$(VENV)/bin/pytest -q

demo: $(STAMP)
	$(PY) examples/demo.py --out demo-output

bench: $(STAMP)
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache build *.egg-info
