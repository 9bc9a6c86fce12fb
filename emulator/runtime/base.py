"""What both runtimes offer the `mwaa-local` command."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from emulator.config import Settings

Progress = Callable[[str], None]

# How long `up` waits for every component to be healthy before giving up.
UP_TIMEOUT_S = 600


@dataclass
class ComponentHealth:
    name: str
    state: str  # running, exited, stopped, fatal, restarting, ...
    healthy: bool
    detail: str = ""
    # How often it died and was started again (Docker's RestartCount), and how it last ended.
    restarts: int = 0
    last_exit: str = ""
    # A failing component's last log lines, for `status` to show.
    log_tail: list[str] = field(default_factory=list)
    pid: int | None = None  # natively, the process supervisord runs for it


@dataclass
class EnvironmentStatus:
    name: str
    status: str  # MWAA's: CREATING, AVAILABLE, UNAVAILABLE, ...
    runtime: str
    components: list[ComponentHealth] = field(default_factory=list)
    # The autoscaler's last decision: current, wanted, busy, queue_depth, retiring, reason...
    workers: dict[str, Any] | None = None

    def as_json(self, config: Settings) -> dict[str, Any]:
        ports = config.ports
        return {
            "Name": self.name,
            "Status": self.status,
            "Runtime": self.runtime,
            "WebserverUrl": f"http://127.0.0.1:{ports.web}",
            "ApiEndpoint": f"http://127.0.0.1:{ports.web}",
            "WebServerHostname": f"localhost:{ports.https}",
            "S3Endpoint": f"http://127.0.0.1:{ports.s3}",
            "Components": [asdict(c) for c in self.components],
            "Workers": self.workers,
        }


def overall_status(components: list[ComponentHealth], created: bool) -> str:
    """MWAA's status word for a set of component healths."""
    if not created:
        return "NOT_CREATED"
    if components and all(c.healthy for c in components):
        return "AVAILABLE"
    return "UNAVAILABLE"


class Runtime(Protocol):
    name: str

    def up(self, progress: Progress, timeout: float = UP_TIMEOUT_S) -> None:
        """Start everything; return once the environment is AVAILABLE, else raise UpError
        (at once for a component that keeps crashing, or after `timeout` seconds) naming
        what is not ready, with its last log lines."""

    def down(self, progress: Progress) -> None:
        """Stop everything this runtime started, keeping the state."""

    def clean(self, progress: Progress) -> None:
        """Stop everything and remove the state."""

    def status(self) -> EnvironmentStatus: ...

    def logs(self, component: str | None, follow: bool) -> int: ...

    def log_tail(self, component: str, lines: int = 15) -> list[str]:
        """The last lines of one component's log ([] when it has none)."""

    def read_state(self, name: str) -> dict[str, Any] | None:
        """A JSON record of the environment's state folder (environment/state_files.py), as
        the services wrote it; None when there is none (yet)."""

    def airflow(self, args: list[str], capture: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an Airflow CLI command against the environment (as `airflow ARGS`)."""
