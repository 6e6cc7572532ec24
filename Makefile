# The two commands of the README: `make drill` and `make test`. Everything they need is
# installed from here, so a fresh Debian 12 machine (as root) needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DR := $(VENV)/bin/dr
STATE := $(CURDIR)/.state
LOCAL_TARGET := $(STATE)/local-target

.PHONY: drill test lint bench system-packages python-packages clean

system-packages:
	@bash scripts/install-system-packages.sh

$(VENV)/.installed: pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

python-packages: $(VENV)/.installed

# Rehearse the sample runbook over a real local sshd; prints the run id and the RTO.
drill: system-packages python-packages
	@$(PY) -m orchestrator.lab.local_target up $(LOCAL_TARGET) >/dev/null
	@status=0; DR_LANG=$${DR_LANG:-en} $(DR) drill report-service-restart \
	    -i $(LOCAL_TARGET)/inventory.yaml --auto-confirm \
	    -p service_dir=$(LOCAL_TARGET)/service \
	    -p message_dir=$(LOCAL_TARGET)/service/messages \
	    -p port=$${DR_DRILL_PORT:-18080} || status=$$?; \
	  $(PY) -m orchestrator.lab.local_target down $(LOCAL_TARGET); exit $$status

lint: python-packages
	$(VENV)/bin/ruff check orchestrator runbooks backups tests bench
	$(VENV)/bin/ruff format --check orchestrator runbooks backups tests bench

test: system-packages python-packages lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: system-packages python-packages
	$(PY) bench/engine_overhead.py

clean:
	-$(PY) -m orchestrator.lab.local_target down $(LOCAL_TARGET) 2>/dev/null
	rm -rf $(VENV) $(STATE) *.egg-info
