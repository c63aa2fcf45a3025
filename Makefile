# Two commands for a new user: `make demo` and `make test`. Both bootstrap themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/include:$(CURDIR)/plugins:$(CURDIR)

.PHONY: demo test lint plan constraints system-packages clean help

help:
	@echo "make demo   - run the project's main job against the simulated pair"
	@echo "make test   - lint and run every test"
	@echo "make plan   - print the dry-run plan of config/demo-plan.yaml"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

system-packages:
	bash scripts/setup-system.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) lint
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests - that is a failure"; exit 1; fi; \
	exit $$rc

plan: $(STAMP)
	$(PY) -m ibmi_resync plan config/demo-plan.yaml

# Until the resync DAG exists (issue 4), the demo shows the dry-run plan of the demo pair.
demo: plan

constraints: $(STAMP)
	( echo "# Full resolved set for requirements.txt + requirements-dev.txt on Python 3.11 (make constraints)."; \
	  $(PY) -m pip freeze --all | grep -v -E '^(pip|setuptools|wheel)==' ) > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
