"""Choosing the runtime: Docker when an engine answers, native otherwise."""

from __future__ import annotations

from pathlib import Path

from emulator.config import Settings, settings
from emulator.errors import UsageError
from emulator.runtime.base import Runtime
from emulator.runtime.docker_engine import docker_engine_answers

RUNTIMES = ("docker", "native")


def _marker() -> Path:
    return settings().state_root / "runtime"


def remembered() -> str | None:
    """The runtime the last `up` used, so that down/status/logs talk to the same one."""
    try:
        value = _marker().read_text().strip()
    except FileNotFoundError:
        return None
    return value if value in RUNTIMES else None


def remember(name: str) -> None:
    _marker().parent.mkdir(parents=True, exist_ok=True)
    _marker().write_text(name + "\n")


def choose(requested: str) -> tuple[str, str]:
    """(runtime name, why) for `up --runtime requested`."""
    if requested in RUNTIMES:
        return requested, f"RUNTIME={requested} was asked for"
    if requested not in ("auto", ""):
        raise UsageError(f"runtime must be auto, docker or native (got {requested!r})")
    if docker_engine_answers():
        return "docker", "a Docker engine answers"
    return "native", "no Docker engine answers"


def get(name: str, config: Settings | None = None) -> Runtime:
    if name == "docker":
        from emulator.runtime.docker import DockerRuntime

        return DockerRuntime(config)
    from emulator.runtime.native import NativeRuntime

    return NativeRuntime(config)


def current(config: Settings | None = None) -> Runtime:
    """The runtime that is (or was last) running the environment."""
    name = remembered()
    if name is None:
        name = "docker" if docker_engine_answers() else "native"
    return get(name, config)
