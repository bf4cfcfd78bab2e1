# `make test` makes (or reuses) .venv, installs what the tests need, and runs pytest.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint format install bench-encode bench-stages bench-queue bench-storage bench-split bench-events chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The linter and the formatter's check first: they take a second.
test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Rewrites the code in the house style (make lint only reports).
format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks print a table; pass flags with ARGS, e.g. make bench-encode ARGS='--count 1000'
bench-encode: $(STAMP)
	$(PY) -m bench.encode $(ARGS)

# Each stage's CPU per frame on one thread: decode ways, range, each encoder
bench-stages: $(STAMP)
	$(PY) -m bench.stages $(ARGS)

bench-queue: $(STAMP)
	$(PY) -m bench.queue $(ARGS)

# One 1080p folder job through the data volume and through SeaweedFS (S3), interleaved rounds
bench-storage: $(STAMP)
	$(PY) -m bench.storage $(ARGS)

# One 1,500-frame 1080p job on pinned workers: whole on one core, split across two (and four on two)
bench-split: $(STAMP)
	$(PY) -m bench.split $(ARGS)

# The status GET beside a bare Flask app, with and without 500 event streams; their fan-out
bench-events: $(STAMP)
	$(PY) -m bench.events $(ARGS)

# Workers killed every 5 s while 50 real-sized jobs run; e.g. make chaos ARGS='--seed 7'
chaos: $(STAMP)
	$(PY) -m bench.chaos $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts bench/.frames*
