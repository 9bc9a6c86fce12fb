"""A published port Docker could not bind: read from compose's output (the engine's own words, as
Debian's 20.10 prints them), explained with the setting that chose it, and retried only when the
engine's record is all that holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.config import Settings
from emulator.errors import UpError
from emulator.runtime import docker as docker_runtime
from emulator.runtime import port_conflict
from emulator.runtime.port_conflict import PortConflict

ALLOCATED = (
    "Error response from daemon: driver failed programming external connectivity on endpoint "
    "mwaa-local-s3-1 (115f9eb7d1d9): Bind for 127.0.0.1:19000 failed: port is already allocated"
)
IN_USE = (
    "Error response from daemon: driver failed programming external connectivity on endpoint "
    "porttest (39fca3cd104a): Error starting userland proxy: listen tcp4 127.0.0.1:19555: bind: "
    "address already in use"
)
MINE = {19000: "MWAA_LOCAL_S3_PORT"}
PROJECT = Path(__file__).resolve().parents[2]


def test_both_wordings_are_read_and_other_failures_are_not() -> None:
    assert port_conflict.find(["Container x Starting", ALLOCATED]) == PortConflict(
        "127.0.0.1", 19000, by_engine=True
    )
    assert port_conflict.find([IN_USE]) == PortConflict("127.0.0.1", 19555, by_engine=False)
    assert port_conflict.find(["no space left on device", "exit 1"]) is None


def test_the_explanation_names_the_setting_the_holder_and_what_to_do() -> None:
    conflict = port_conflict.find([ALLOCATED])
    assert conflict is not None
    held = port_conflict.explain(conflict, MINE, ["other-s3-1"])
    assert held.startswith("port 127.0.0.1:19000 (MWAA_LOCAL_S3_PORT) is taken")
    assert "container other-s3-1 publishes it" in held and "docker stop" in held
    assert "give MWAA_LOCAL_S3_PORT another free port" in held
    stale = port_conflict.explain(conflict, MINE, [])
    assert "no container publishes it" in stale and "restart the Docker engine" in stale
    program = port_conflict.explain(PortConflict("127.0.0.1", 19000, False), MINE, [])
    assert "another program listens on it" in program and "ss -ltnp" in program


class _Attempts:
    """`compose up` as DockerRuntime.up calls it: fails with the given errors, then succeeds."""

    def __init__(self, failures: list[UpError]):
        self.failures = failures
        self.calls = 0

    def __call__(self, workers: int, progress: object, timeout: float) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def _runtime(monkeypatch: pytest.MonkeyPatch, attempts: _Attempts):
    runtime = docker_runtime.DockerRuntime(Settings(environment_file=PROJECT / "environment.json"))
    monkeypatch.setattr(docker_runtime, "docker_engine_answers", lambda: True)
    monkeypatch.setattr(runtime, "_prepare_images", lambda progress: None)
    monkeypatch.setattr(runtime, "_compose_up", attempts)
    monkeypatch.setattr(docker_runtime, "PORT_RETRY_S", 0.0)
    return runtime


def _taken(by_engine: bool, holders: list[str]) -> UpError:
    conflict = PortConflict("127.0.0.1", 19000, by_engine)
    return docker_runtime._PortTaken(
        port_conflict.explain(conflict, MINE, holders), conflict, holders
    )


def test_a_record_no_container_holds_is_asked_again_and_up_goes_on(monkeypatch) -> None:
    # The engine's stale record cannot be caused on purpose: compose's failure is faked here.
    attempts = _Attempts([_taken(True, []), _taken(True, [])])
    said: list[str] = []
    _runtime(monkeypatch, attempts).up(said.append)
    assert attempts.calls == 3
    assert sum("no container publishes it: asking again" in line for line in said) == 2


@pytest.mark.parametrize(
    ("by_engine", "holders"), [(True, ["other-s3-1"]), (False, [])], ids=["container", "program"]
)
def test_a_port_someone_holds_fails_at_once_naming_them(
    monkeypatch, by_engine: bool, holders: list[str]
) -> None:
    attempts = _Attempts([_taken(by_engine, holders)])
    with pytest.raises(UpError, match=r"\(MWAA_LOCAL_S3_PORT\) is taken"):
        _runtime(monkeypatch, attempts).up(lambda line: None)
    assert attempts.calls == 1


def test_a_record_that_stays_gives_up_after_the_retries(monkeypatch) -> None:
    attempts = _Attempts([_taken(True, []) for _ in range(docker_runtime.PORT_RETRIES + 1)])
    with pytest.raises(UpError, match="restart the Docker engine"):
        _runtime(monkeypatch, attempts).up(lambda line: None)
    assert attempts.calls == docker_runtime.PORT_RETRIES + 1
