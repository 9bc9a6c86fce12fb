# Two commands are all a newcomer needs: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SERVERS_VENV := .venv-servers
MWAA := $(VENV)/bin/mwaa-local
RUNTIME ?= auto

.PHONY: up down status logs clean test lint venv bench deploy test-requirements check-dags dist

venv: $(VENV)/.installed $(SERVERS_VENV)/.installed

# emulator/venvs.py makes both, as the installed tool makes its own: `python -m venv`, then the
# pins with uv (its pinned version bootstrapped into .uv/ by the venv's pip), all with --no-deps
# (Airflow 1.10.12's metadata cannot be met on Python 3.11; the lock files are complete).
# The servers' Python runs as root, which writes __pycache__ as it imports: no byte-compiling
# of all of moto, botocore and the AWS CLI up front (about half of that venv's time).
$(VENV)/.installed: requirements/platform.lock requirements/dev.lock pyproject.toml emulator/venvs.py
	@echo "mwaa-local: installing Airflow 1.10.12 and the emulator into $(VENV) (first run only)"
	@$(PYTHON) -m emulator.venvs $(VENV) --python $(PYTHON) --lock requirements/platform.lock \
		--lock requirements/dev.lock --editable .

$(SERVERS_VENV)/.installed: requirements/servers.lock emulator/venvs.py
	@echo "mwaa-local: installing embedded PostgreSQL, Redis and S3 into $(SERVERS_VENV) (first run only)"
	@$(PYTHON) -m emulator.venvs $(SERVERS_VENV) --python $(PYTHON) --lock requirements/servers.lock \
		--no-compile

up: venv
	@$(MWAA) up --runtime $(RUNTIME)

down: venv
	@$(MWAA) down

status: venv
	@$(MWAA) status

logs: venv
	@$(MWAA) logs $(COMPONENT)

clean: venv
	@$(MWAA) clean

LINTED := emulator tests bench plugins dags $(filter-out %.py,$(wildcard bench/*))

lint: venv
	@$(VENV)/bin/ruff check $(LINTED)
	@$(VENV)/bin/mypy

# The unit tests in random order (pytest-randomly; its seed is in the header to repeat one),
# then the integration tests in file order (they share environments), the Docker files beside
# the native ones (tests/lanes.py; LANES=serial for one after the other).
LANES ?= parallel
test: lint
	@$(VENV)/bin/python -m pytest tests/unit -p randomly $(PYTEST_ARGS)
	@$(VENV)/bin/python -m tests.lanes $(LANES) $(PYTEST_ARGS)

# Upload dags/, plugins/ and requirements/requirements.txt, then update the environment.
deploy: venv
	@$(MWAA) deploy $(DEPLOY_ARGS)

# Parse dags/ as the environment would (its Airflow, plugins and requirements); no environment.
check-dags: venv
	@$(MWAA) check-dags $(CHECK_ARGS)

# The wheel a user's project installs mwaa-local from (`pip install dist/mwaa_local-*.whl`):
# the code and the files it runs with; its platform comes on first use (emulator/tool/).
dist: venv
	@rm -rf build dist
	@$(VENV)/bin/python -m pip wheel --no-deps --no-build-isolation --quiet --wheel-dir dist .
	@rm -rf build
	@ls dist/*.whl

# Install requirements/requirements.txt as MWAA would, into a throwaway folder.
test-requirements: venv
	@$(MWAA) test-requirements

# Each script prints its figures and exits non-zero when one misses its target (MISSED):
# `make bench` stops there, `make bench KEEP_GOING=1` runs them all and fails at the end.
bench: venv
	@failed=""; for b in $(filter-out %.py,$(wildcard bench/*)); do \
		echo "== $$b"; $(VENV)/bin/python $$b || { failed="$$failed $$b"; \
		[ -n "$(KEEP_GOING)" ] || { echo "make bench: $$b MISSED a target"; exit 1; }; }; \
	done; [ -z "$$failed" ] || { echo "make bench: MISSED in$$failed"; exit 1; }
