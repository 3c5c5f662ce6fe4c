# Two entry points: `make demo` (train on the built-in synthetic data and
# print the results table) and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.reidkit-installed
DEMO_CONFIG ?= configs/cluster_contrast/cc_r18_synthetic.py
PYTEST_ARGS ?=

.PHONY: install demo test bench docs clean

install: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/tests.txt requirements/optional.txt setup.cfg setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements/runtime.txt -r requirements/tests.txt \
		-r requirements/optional.txt
	$(PY) -m pip install --no-build-isolation --no-deps -e .
	touch $(STAMP)

demo: install
	$(PY) tools/demo.py $(DEMO_CONFIG) --work-dir work_dirs/demo

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

docs: install
	$(VENV)/bin/mkdocs build --strict --site-dir work_dirs/site

bench: install
	$(PY) benchmarks/bench_eval.py

clean:
	rm -rf work_dirs .pytest_cache
