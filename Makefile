# tfgenre: `make demo` runs the main job end to end; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# The published musicnn weights (tfgenre/backbones, tests/test_musicnn_parity.py).
# Installed without its declared dependencies, which pin an old numpy; a requirements
# file cannot say --no-deps for one line, hence its own pin here.
MUSICNN := musicnn==0.1.0

# Test processes (pytest-xdist): each test file runs whole, in order, on one of them
# (--dist loadfile); `make test TEST_WORKERS=0` runs everything in one process.
TEST_WORKERS ?= 2

.PHONY: venv demo test test-all lint bench clean

$(STAMP): pyproject.toml requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps $(MUSICNN)
	$(PIP) install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m tfgenre.run pipelines/demo.yaml

test: $(STAMP)
	$(PY) -m pytest -q --durations=25 -n $(TEST_WORKERS) --dist loadfile

test-all: $(STAMP)
	$(PY) -m pytest -q -m "" -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check tfgenre tests benchmarks

bench: $(STAMP)
	$(PY) -m benchmarks.run --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_out
