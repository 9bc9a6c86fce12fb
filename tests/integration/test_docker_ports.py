"""`mwaa-local up` on Docker when one of its ports is taken: it stops with the port, the setting
that chose it (MWAA_LOCAL_S3_PORT) and who holds it, a container or another program, and says
what to do. A project and ports of its own; the stand-in images are the other Docker files'."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from emulator import config
from emulator.runtime import images, select
from emulator.runtime.docker import DockerRuntime
from tests.conftest import PORT_OFFSET, Env, make_state_dir, ports, unavailable

pytestmark = pytest.mark.docker

PORTS = ports(
    web=16080, https=16443, airflow=16081, s3=16900, postgres=16433, redis=16380, logs=16910
)
COMPOSE_PROJECT = f"mwaa-local-dockerports{PORT_OFFSET or ''}"
HOG = f"mwaa-local-porthog{PORT_OFFSET or ''}"
UP_TIMEOUT_S = 300


def _say(message: str) -> None:
    print(f"ports: {message}", flush=True)


@pytest.fixture(scope="module")
def ports_env() -> Iterator[tuple[Env, DockerRuntime]]:
    if not select.docker_engine_answers():
        unavailable("no Docker engine answers (start dockerd, or set DOCKER_HOST)")
    home = make_state_dir("mwaa-local-dockerports-")
    settings = {
        "MWAA_LOCAL_HOME": str(home),
        "COMPOSE_PROJECT_NAME": COMPOSE_PROJECT,
        **{f"MWAA_LOCAL_{name.upper()}_PORT": str(port) for name, port in PORTS.items()},
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in settings.items():
                patch.setenv(name, value)
            images.build_offline(_say)
            config.settings.cache_clear()  # read once per process: read the patched ones
            runtime = DockerRuntime(config.load())
            runtime.clean(_say)
            try:
                yield Env(home, PORTS), runtime
            finally:
                runtime.clean(_say)
                config.settings.cache_clear()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _up_fails(env: Env, runtime: DockerRuntime) -> str:
    try:
        up = env.run("up", "--runtime", "docker", "--timeout", str(UP_TIMEOUT_S), timeout=600)
        assert up.returncode != 0, f"up succeeded on a taken port:\n{up.stdout}"
        return up.stdout + up.stderr
    finally:
        runtime.clean(_say)  # the containers that did start


def test_a_container_publishing_the_s3_port_is_named(ports_env) -> None:
    env, runtime = ports_env
    hog = subprocess.run(
        ["docker", "run", "--detach", "--rm", "--name", HOG,
         "--publish", f"127.0.0.1:{PORTS['s3']}:80", images.BASE_IMAGE, "sleep", "600"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert hog.returncode == 0, hog.stderr
    try:
        said = _up_fails(env, runtime)
    finally:
        subprocess.run(["docker", "rm", "--force", HOG], capture_output=True)
    expected = (
        f"port 127.0.0.1:{PORTS['s3']} (MWAA_LOCAL_S3_PORT) is taken: container {HOG} "
        "publishes it: stop it"
    )
    assert expected in said, said
    assert "asking again" not in said, "a port a container holds was waited for"


def test_a_program_listening_on_the_s3_port_is_told_apart(ports_env) -> None:
    env, runtime = ports_env
    with socket.create_server(("127.0.0.1", PORTS["s3"])):
        said = _up_fails(env, runtime)
    expected = (
        f"port 127.0.0.1:{PORTS['s3']} (MWAA_LOCAL_S3_PORT) is taken: another program listens "
        "on it"
    )
    assert expected in said, said
