# Every target first does whatever set-up is missing (scripts/setup.sh is idempotent).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench bench-instructions soak test-debian13

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/empycustom demo

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q -p no:cacheprovider

# The peer the benchmark compares with: modelpipe's in-place hook needs only gi, numpy, pycairo.
MODELPIPE := modelpipe==2.0.0

bench: setup
	@$(PY) -m pip install -q --no-deps $(MODELPIPE) >/dev/null 2>&1 || \
		echo "bench: $(MODELPIPE) could not be installed (pip --no-deps); its rows are left out"
	$(PY) benchmarks/bench.py
	$(PY) benchmarks/bench_metapublish.py
	$(PY) benchmarks/bench_workers.py

bench-instructions: setup
	$(PY) benchmarks/instructions.py

soak: setup
	$(PY) -m pytest -q -p no:cacheprovider -m slow --run-slow

# The set-up and the suite inside a Debian 13 root (debootstrap, reused; outside the tree).
test-debian13:
	@bash scripts/debian13.sh
