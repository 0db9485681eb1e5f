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

RELAY_TESTS := $(addprefix tests/integration/, test_relay.py test_relay_fuzz.py \
	test_relay_redis.py test_relay_standalone.py test_relay_text.py \
	test_relay_limits.py test_relay_class.py \
	test_relay_demo_peers.py)

# The relay tests run twice: on the relay's lean transport (the default) and on stock
# python-socketio (--relay-transport stock).
test: install
	$(PY) -m ruff check ecc_widgets relay tests bench
	$(PY) -m pytest
	$(PY) -m pytest --relay-transport stock $(RELAY_TESTS)

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
