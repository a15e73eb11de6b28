# lprnn: two commands do everything on a fresh machine.
#   make reproduce   regenerate every figure and figures/results.csv (built-in dataset, 2 CPU cores;
#                    notebooks 02 and 03 again on the fsdd and fsdd_speakers recipes (FULL=1: 05, 06 too) when the
#                    Free Spoken Digit Dataset is in data/fsdd or ../shared/datasets/fsdd)
#   make test        unit tests + every notebook in smoke mode (nbval)
# Both create .venv from Python 3.10 when it is missing.
#   make reproduce QUICK=1   smoke settings (seconds per notebook)
#   make reproduce FULL=1    paper-size settings (GPU recommended)
#   make reproduce DIGITS_ONLY=1   skip the real-speech runs
#   make reproduce WORKERS=1       one process (default: 2 processes, one core each)
#   make lab                 JupyterLab on the notebooks

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Notebooks in numeric order; 00_results renders the others' numbers, so it runs last.
NOTEBOOKS := $(filter-out notebooks/00_results.ipynb,$(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))) $(wildcard notebooks/00_results.ipynb)
TEST_OUT := build/test

.PHONY: reproduce test lab venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@PY310=$$(bash .ci/find-python310); \
	if [ -z "$$PY310" ]; then \
	  echo "error: Python 3.10 not found (lava-nc 0.10 and lava-dl 0.6 need exactly 3.10)." >&2; \
	  echo "  Install python3.10 (e.g. 'pyenv install 3.10' or your package manager), or use conda:" >&2; \
	  echo "  conda env create -f environment.yml && conda activate lprnn && pip install -e . --no-deps" >&2; \
	  exit 1; fi; \
	echo "Creating $(VENV) with $$PY310"; \
	[ -x $(PY) ] || $$PY310 -m venv $(VENV); \
	$(PY) -m pip install -qq --upgrade pip && \
	$(PY) -m pip install -qq -e ".[lava,datasets,notebooks,bench,dev]" && \
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lprnn)" >/dev/null && \
	rm -f $(VENV)/.installed-* && touch $(STAMP)

reproduce: $(STAMP)
	$(PY) -m lprnn.reproduce $(if $(filter 1,$(QUICK)),--quick) $(if $(filter 1,$(FULL)),--full) $(if $(filter 1,$(DIGITS_ONLY)),--digits-only) $(if $(WORKERS),--workers $(WORKERS)) $(NOTEBOOKS)

test: $(STAMP)
	rm -rf $(TEST_OUT)
	LPRNN_QUICK=1 LPRNN_FIGURES_DIR=$(TEST_OUT)/figures $(PY) -m pytest -q tests
	LPRNN_QUICK=1 LPRNN_FIGURES_DIR=$(TEST_OUT)/figures $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=900 $(NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf build
