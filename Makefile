# Two commands for a newcomer: `make demo` runs the app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-unit lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,redis,app]'
	touch $@

test: install
	$(PY) -m ruff check ecc_widgets relay tests bench
	$(PY) -m pytest

# The fast part alone: pure code, no processes (tests/unit).
test-unit: install
	$(PY) -m pytest tests/unit -q

lint: install
	$(PY) -m ruff check ecc_widgets relay tests bench

# Options pass through, e.g. `make demo LAB_ARGS="--host 0.0.0.0"` to reach it from the LAN.
demo: install
	$(VENV)/bin/ecc-lab $(LAB_ARGS)

bench: install
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
