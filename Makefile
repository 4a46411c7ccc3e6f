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
# (--dist loadfile), the slowest files first (tests/conftest.py SLOWEST_FILES, kept in that
# order by --no-loadscope-reorder); `make test TEST_WORKERS=0` runs everything in one process.
TEST_WORKERS ?= 2

.PHONY: venv browser demo test test-all numba-cache lint bench clean

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

# The browser tests (tests/test_serve_browser.py) drive Debian's chromium through
# Playwright. Installed here when missing and possible (root with apt-get); never fails the
# build: without it those tests skip and say why (-rs prints the reasons).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make browser: no chromium, and no root apt-get to install it: the browser tests will skip"; \
	elif (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	     >/tmp/tfgenre-apt-chromium.log 2>&1; then \
	  echo "make browser: installed chromium"; \
	else \
	  echo "make browser: apt-get could not install chromium (see /tmp/tfgenre-apt-chromium.log): the browser tests will skip"; \
	fi

# librosa compiles its numba functions into its own __pycache__ when first used (some when
# imported); processes doing it at once have left a cache that segfaults every later
# reader (seen in CI on a fresh venv), so one process compiles them before the workers start.
numba-cache: $(STAMP)
	$(PY) -c "import sys; sys.path.insert(0, 'tests'); import builders; builders.compile_librosa_numba()"

test: $(STAMP) browser numba-cache
	$(PY) -m pytest -q -rs --durations=25 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-all: $(STAMP) browser numba-cache
	$(PY) -m pytest -q -rs -m "" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(VENV)/bin/ruff check tfgenre tests benchmarks

bench: $(STAMP)
	$(PY) -m benchmarks.run --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_out
