# The two commands of the README: `make drill` and `make test`. Everything they need is
# installed from here, so a fresh Debian 12 machine (as root) needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DR := $(VENV)/bin/dr
STATE := $(CURDIR)/.state
LOCAL_TARGET := $(STATE)/local-target
LAB_INVENTORY := $${DR_LAB_DIR:-/var/lib/dr-lab}/inventory.yaml

.PHONY: drill drill-local test lint bench system-packages python-packages clean

system-packages:
	@bash scripts/install-system-packages.sh

# Exactly the versions CI tested (constraints/tested.txt); again whenever they change.
$(VENV)/.installed: pyproject.toml setup.py constraints/tested.txt | system-packages
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints/tested.txt -e '.[lab,test]'
	touch $@

python-packages: $(VENV)/.installed

# The main job: build the drill lab, cut branch-1's primary line, drill the line
# failover (prints the run id and the RTO achieved), heal, fail back, take the lab
# down again (KEEP_LAB=1 leaves it up to explore with `dr lab status`).
drill: system-packages python-packages
	@$(DR) lab up
	@status=0; export DR_LANG=$${DR_LANG:-en}; \
	  $(DR) lab fault line-cut branch-1 primary && \
	  $(DR) drill line-failover -i $(LAB_INVENTORY) --auto-confirm -p branch=branch-1 \
	    || status=$$?; \
	  $(DR) lab heal line-cut branch-1 primary; \
	  if [ $$status -eq 0 ]; then \
	    $(DR) drill line-failback -i $(LAB_INVENTORY) --auto-confirm \
	      -p branch=branch-1 -p stable_for=5 || status=$$?; \
	  fi; \
	  if [ -z "$(KEEP_LAB)" ]; then $(DR) lab down; fi; exit $$status

# The same sample runbook over one real sshd on loopback, without the lab.
drill-local: system-packages python-packages
	@$(PY) -m lab.local_target up $(LOCAL_TARGET) >/dev/null
	@status=0; DR_LANG=$${DR_LANG:-en} $(DR) drill report-service-restart \
	    -i $(LOCAL_TARGET)/inventory.yaml --auto-confirm \
	    -p service_dir=$(LOCAL_TARGET)/service \
	    -p message_dir=$(LOCAL_TARGET)/service/messages \
	    -p port=$${DR_DRILL_PORT:-18080} || status=$$?; \
	  $(PY) -m lab.local_target down $(LOCAL_TARGET); exit $$status

# ansible-lint: production profile, offline (.ansible-lint); shellcheck: every file whose
# first line is a sh/bash/dash shebang (scripts, .ci, the agent's wrapper template).
lint: python-packages
	$(VENV)/bin/ruff check orchestrator runbooks backups lab tests bench
	$(VENV)/bin/ruff format --check orchestrator runbooks backups lab tests bench
	$(VENV)/bin/mypy
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ANSIBLE_CONFIG=ansible/ansible.cfg \
	  $(VENV)/bin/ansible-lint -q ansible/
	shellcheck $$(find . \( -name .venv -o -name .git -o -name .state \) -prune -o \
	  -type f -size -1024k -exec awk 'FNR == 1 && /^#!.*[\/ ](ba|da)?sh( |$$)/ { print FILENAME } { nextfile }' {} +)

test: system-packages python-packages lint
	@bash scripts/run-tests.sh

bench: system-packages python-packages
	$(PY) bench/engine_overhead.py
	$(PY) bench/line_failover.py

clean:
	-$(PY) -m lab.local_target down $(LOCAL_TARGET) 2>/dev/null
	-$(DR) lab down 2>/dev/null
	rm -rf $(VENV) $(STATE) *.egg-info
