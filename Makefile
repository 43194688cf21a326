# mmfuse: `make demo` runs the pipeline on a generated sample set; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing mmfuse and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install --upgrade pip > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@# torch first, pinned: a bare torch requirement would pull a multi-GB CUDA build
	@$(PY) -m pip install "torch==2.13.0" >> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(PY) -m pip install -e ".[dev,cnn,text,pretrained,gcp,dask]" >> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@touch $(STAMP)

demo: install
	$(PY) -m mmfuse.pipelines.demo --output out/demo $(ARGS)

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/decode.py

clean:
	rm -rf out .pytest_cache
