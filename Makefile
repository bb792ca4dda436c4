# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv, install Picochat into it, and run.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= runs/demo

# Tests and the demo never reach a model hub.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# The CPU build of torch lies here on this machine; pip looks there first.
ifneq ($(wildcard /opt/wheels),)
export PIP_FIND_LINKS ?= /opt/wheels
endif

.PHONY: demo test lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,hf,serve,gguf,tensorboard]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/picochat run tiny --out-dir $(DEMO_DIR)
	@echo "Read the run top to bottom: $(DEMO_DIR)/summary.md (or open $(DEMO_DIR)/report.html)."
	@echo "Next: change one flag (see picochat run tiny --help), rerun into another folder, then picochat compare $(DEMO_DIR) runs/<other>."

# -rs prints why a test was skipped (e.g. the browser tests where Chromium is missing).
test: $(STAMP)
	$(PY) -m pytest -rs
	@command -v chromium >/dev/null || echo "note: Chromium is not installed, so the workbench's browser tests were skipped (apt-get install chromium)."

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
