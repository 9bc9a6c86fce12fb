"""The Docker tier under Compose v1 (Debian's `docker-compose`), as many hosts still have it:
up to AVAILABLE, a DAG through Celery, `docker-compose ps`, down. The whole tier runs under
Compose v2 in test_docker_tier.py; both spellings of the one compose file must work."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from emulator import config
from emulator.runtime import images, select
from emulator.runtime.base import UP_TIMEOUT_S
from emulator.runtime.docker import DockerRuntime
from tests.conftest import (
    PORT_OFFSET,
    PROJECT,
    Env,
    make_state_dir,
    ports,
    run_dag_to_success,
    unavailable,
)

pytestmark = pytest.mark.docker

PORTS = ports(
    web=17080, https=17443, airflow=17081, s3=17900, postgres=17433, redis=17380, logs=17910
)
COMPOSE_PROJECT = f"mwaa-local-dockerv1{PORT_OFFSET or ''}"


def _say(message: str) -> None:
    print(f"compose v1: {message}", flush=True)


@pytest.fixture(scope="module")
def v1_env():
    if not select.docker_engine_answers():
        unavailable("no Docker engine answers (start dockerd, or set DOCKER_HOST)")
    if shutil.which("docker-compose") is None:
        unavailable("Compose v1 (Debian's docker-compose) is not installed")
    home = make_state_dir("mwaa-local-dockerv1-")
    settings = {
        "MWAA_LOCAL_HOME": str(home),
        "COMPOSE_PROJECT_NAME": COMPOSE_PROJECT,
        "MWAA_LOCAL_COMPOSE": "docker-compose",
        **{f"MWAA_LOCAL_{name.upper()}_PORT": str(port) for name, port in PORTS.items()},
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in settings.items():
                patch.setenv(name, value)
            images.build_offline(_say)
            config.settings.cache_clear()  # read once per process: read the patched ones
            runtime = DockerRuntime(config.load())
            runtime.clean(_say)  # whatever an interrupted run left behind
            env = Env(home, PORTS)
            try:
                up = env.run("up", "--runtime", "docker", timeout=UP_TIMEOUT_S + 300)
                print(up.stdout, up.stderr, sep="\n")
                assert up.returncode == 0, f"mwaa-local up failed:\n{up.stdout}\n{up.stderr}"
                yield env, up.stdout
            finally:
                runtime.clean(_say)
                config.settings.cache_clear()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_up_runs_a_dag_and_ps_shows_it_under_compose_v1(v1_env) -> None:
    env, up = v1_env
    assert "with `docker-compose`" in up, up
    status = json.loads(env.run("status", "--json").stdout)
    assert status["Status"] == "AVAILABLE", status
    run_dag_to_success(env, "example_bash_python")
    ps = subprocess.run(
        ["docker-compose", "ps"], cwd=PROJECT, env=env.env, capture_output=True, text=True
    )
    assert ps.returncode == 0, ps.stderr
    for service in ("scheduler", "webserver", "worker", "api"):
        assert service in ps.stdout, ps.stdout
    down = env.run("down", timeout=300)
    assert down.returncode == 0, down.stderr
    after = json.loads(env.run("status", "--json").stdout)
    assert after["Status"] == "UNAVAILABLE"
    assert not any(c["healthy"] for c in after["Components"])
