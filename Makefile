# Two commands for a new user: `make demo` and `make test`. Both bootstrap themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/include:$(CURDIR)/plugins:$(CURDIR)

.PHONY: demo down status test test-deploy lint plan bench constraints system-packages clean help

help:
	@echo "make demo   - start Airflow (api-server, scheduler, dag-processor, triggerer) and the"
	@echo "              simulated pair, run the resync DAG, print the result (DEMO_CONF='{...}')"
	@echo "make down   - stop everything make demo started (logs stay in .state/)"
	@echo "make test   - lint and run every test"
	@echo "make plan   - print the dry-run plan of config/demo-plan.yaml"
	@echo "make bench  - issue 7 benchmarks at 20 groups (BENCH=scale: 5/50/200 groups)"

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

# The resync on a real Airflow deployment (scripts/deployment.py); state and logs in .state/.
# DEMO_CONF adds to the run's conf, e.g. make demo DEMO_CONF='{"dry_run": true}'.
export DEMO_CONF
# DEMO_DAG picks the DAG: icluster_resync (default), icluster_rehearsal, icluster_network_sync
# (the network sync needs DEMO_CONF='{"groups": ["BILLING"]}').
export DEMO_DAG
demo: $(STAMP)
	$(PY) scripts/demo.py run

# Stops by the pids the demo recorded; needs nothing installed beyond what the demo had.
down:
	@if [ -x $(PY) ]; then $(PY) scripts/demo.py down; else echo "nothing to stop (no $(VENV))"; fi

status: $(STAMP)
	@$(PY) scripts/demo.py status

# Issue 7 benchmarks on a deployment of their own (bench/run.py, docs/benchmarks.md): a table
# on stdout, the figures in .state/bench/. BENCH=scale runs 5/50/200 groups (hours, not part
# of the default); BENCH_ARGS adds options, e.g. BENCH_ARGS='--groups 5 --transfer-mib 256'.
bench: $(STAMP)
	$(PY) bench/run.py $(if $(filter scale,$(BENCH)),--scale) $(BENCH_ARGS)

# Only the deployment tests (real Airflow components against PostgreSQL; a few minutes).
test-deploy: $(STAMP)
	$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

constraints: $(STAMP)
	( echo "# Full resolved set for requirements.txt + requirements-dev.txt on Python 3.11 (make constraints)."; \
	  $(PY) -m pip freeze --all | grep -v -E '^(pip|setuptools|wheel)==' ) > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
