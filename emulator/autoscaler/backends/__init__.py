"""What the autoscaler needs of a runtime: which workers run, and starting and retiring them.
`process` natively (through supervisord), `docker` in Docker (through the Docker socket)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from emulator.config import Settings


class Backend(Protocol):
    name: str

    def workers(self) -> list[str]:
        """Live workers that take tasks (`worker-N`), retiring ones left out."""

    def retiring(self) -> list[str]:
        """Workers told to stop that are still finishing their tasks."""

    def start(self, count: int) -> list[str]:
        """Start `count` more workers; their names."""

    def retire(self, worker: str, queue: str) -> None:
        """Stop `worker` taking tasks, then stop it once its tasks end (or the grace does)."""

    def reap(self) -> list[str]:
        """Retired workers that have now stopped (each reported once)."""


def make_backend(config: Settings, log: Callable[[str], None]) -> Backend:
    """The backend the runtime asked for (MWAA_LOCAL_AUTOSCALER_BACKEND)."""
    config.require("broker_url")
    broker = str(config.broker_url)
    if config.autoscaler_backend == "process":
        from emulator.autoscaler.backends.process import ProcessBackend

        return ProcessBackend(config, broker, config.scale_in_grace_s, log)
    from emulator.autoscaler.backends.docker import DockerBackend

    return DockerBackend(config, broker, config.scale_in_grace_s, log)
