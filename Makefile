# Every target installs what it needs into .venv first (torch's CPU build, then the package).
VENV ?= .venv
PY := $(VENV)/bin/python
UNMARK := $(VENV)/bin/unmark
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0
MANIFEST ?= manifests/demo.yaml
# Extra options for run and status: make run MANIFEST=m.yaml ARGS="--workers 2 --retry-failed"
ARGS ?=

.PHONY: install demo test bench run status validate lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e '.[dev,dask]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(UNMARK) run manifests/demo.yaml

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.run

run: $(STAMP)
	$(UNMARK) run $(MANIFEST) $(ARGS)

status: $(STAMP)
	$(UNMARK) status $(MANIFEST) $(ARGS)

validate: $(STAMP)
	$(UNMARK) validate $(MANIFEST)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf out .pytest_cache .ruff_cache
