# Every target installs what it needs first; `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export DISTRICT_DATA ?= $(CURDIR)/var
export AIRFLOW_HOME ?= $(CURDIR)/var/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export GX_ANALYTICS_ENABLED ?= False
# Some machines set this globally; without bytecode every process recompiles GX and SciPy (~15 s of CPU).
unexport PYTHONDONTWRITEBYTECODE
INBOX := $(DISTRICT_DATA)/inbox

.PHONY: help install demo test test-fast test-compose lint bench airflow cli lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	# The development lock: the runtime lock's pins (the image installs only those) plus tests and tools.
	$(BIN)/uv pip sync --python $(BIN)/python requirements-dev.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $@

install: $(VENV)/.installed  ## create .venv and install the pinned development lock (requirements-dev.lock)

# One world: the demo's returns go into the inbox `make airflow` reads and its figures into the warehouse
# every command uses; only its Airflow runs are kept apart (var/cli-airflow), out of the UI's grid.
demo: install  ## the 2018–2020 sample years into var/inbox, through the real DAGs into var/warehouse.sqlite
	# 2018 and 2019: 行政应诉 only, for the three-year appearance rate.
	$(BIN)/python -m pipeline sample --years 2018-2020 --inbox $(INBOX) --messy
	$(BIN)/python -m pipeline run --inbox $(INBOX) --years 2018-2020
	@echo; echo "Open problems of the messy month (2020-12):"
	$(BIN)/python -m pipeline problems --period 2020-12
	@echo; echo "Feedback for clerks:"; find $(DISTRICT_DATA)/feedback/2020-12 -type f | sort
	@echo; echo "Next: ./district explain inspection_entities --year 2020   or   make airflow"

cli: install  ## a pipeline command without activating .venv: make cli ARGS="figures --year 2020"
	$(BIN)/python -m pipeline $(ARGS)

lint: install  ## ruff (with Airflow's AIR rules)
	$(BIN)/ruff check .

test: install  ## ruff, then every test tier on SQLite and PostgreSQL
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

test-fast: install  ## the fast unit tier only
	$(BIN)/python -m pytest -q -m unit

test-compose: install  ## docker-compose.yml for real: a private dockerd, stand-in base images, a 2020 backfill (root)
	$(BIN)/python -m pytest -q -s -m compose tests/test_compose.py

bench: install  ## benchmarks (QUICK=1 for a small smoke run)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

airflow: install  ## Airflow standalone UI on the embedded defaults
	$(BIN)/python -m pipeline.orchestration.standalone

lock:  ## regenerate requirements.lock (runtime) and requirements-dev.lock (runtime + dev) from the .in files
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile requirements-dev.in --python-version 3.11 --generate-hashes -o requirements-dev.lock

clean:  ## remove var/ (warehouse, archive, outputs) and the venv
	rm -rf var $(VENV)
