# mmfuse: `make demo` runs the pipeline on a generated sample set; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-all bench clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(PY) -m pipelines.demo --output out/demo

test: install
	$(PY) -m pytest

# Also the tests marked slow (long media, several worker processes).
test-all: install
	$(PY) -m pytest -m ""

bench: install
	$(PY) benchmarks/decode.py

clean:
	rm -rf out .pytest_cache
