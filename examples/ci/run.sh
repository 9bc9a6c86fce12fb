#!/usr/bin/env bash
# A CI job for a project that runs on Amazon MWAA (Airflow 1.10.12), on a plain machine with
# Python 3.11 and nothing else: install mwaa-local, check the DAGs, start a local environment,
# run the project's tests against it through mwaa-local's pytest plugin, stop it.
#
# Run it from the project's folder (environment.json, dags/, plugins/, requirements.txt,
# tests/); extra arguments go to pytest. The job fails at the first step that fails.
#
#   INSTALL_FROM  what pip installs mwaa-local from (required), e.g.
#                 "mwaa-local[pytest] @ git+https://github.com/<you>/mwaa-local"   the repository
#                 "./mwaa_local-0.1.0-py3-none-any.whl[pytest]"                  a `make dist` wheel
#                 ([pytest] brings pytest and boto3 for the fixtures)
#   CI_VENV       the virtual environment for the job's tools (default: .ci-venv)
#   RUNTIME       native (default: needs no Docker) or docker
#   UP_TIMEOUT    seconds `mwaa-local up` may take (default: 900)
#   PYTHON        the Python that makes CI_VENV (default: python3)
# mwaa-local installs its own Airflow platform on first use into MWAA_LOCAL_TOOL_HOME
# (default ~/.cache/mwaa-local): keep that folder in the CI cache, or point
# MWAA_LOCAL_WHEELHOUSE at a folder of wheels, and no package index is needed for it. With
# PIP_NO_INDEX=1 PIP_FIND_LINKS=<that folder> as well, the install step needs none either
# (the README's "Use it in your CI" says what the folder must hold). `make test` runs this
# script that way on examples/user-project (tests/integration/test_ci_recipe.py).
set -euo pipefail

: "${INSTALL_FROM:?set INSTALL_FROM to what pip installs mwaa-local from (see the top of $0)}"
CI_VENV=${CI_VENV:-.ci-venv}
RUNTIME=${RUNTIME:-native}
UP_TIMEOUT=${UP_TIMEOUT:-900}
PYTHON=${PYTHON:-python3}

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

step "install mwaa-local and the test tools into $CI_VENV"
"$PYTHON" -m venv "$CI_VENV"
CI_VENV=$(cd "$CI_VENV" && pwd)
"$CI_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$INSTALL_FROM"
export PATH="$CI_VENV/bin:$PATH"

step "check the DAGs as the environment parses them (no environment needed)"
mwaa-local check-dags .

step "start the environment ($RUNTIME runtime)"
trap 'step "stop the environment"; mwaa-local down' EXIT
mwaa-local up --runtime "$RUNTIME" --timeout "$UP_TIMEOUT"

step "run the tests against it"
python -m pytest --mwaa-local-reuse "$@"
