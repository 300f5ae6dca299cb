# bitscale: every target sets up its own virtual environment on first use.
#   make study   -- the main job: sweep, fit, plan, theory, HTML report (default preset)
#   make test    -- the test suite
#   make bench   -- the benchmarks (each prints a table of ratios against a baseline)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.bitscale-installed
PRESET ?= default
OUT    ?= study

.PHONY: install test test-fast study bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/pytest -q

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

study: $(STAMP)
	$(VENV)/bin/bitscale study --preset $(PRESET) --out $(OUT)

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist src/*.egg-info
