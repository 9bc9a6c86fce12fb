"""What both runtimes offer the `mwaa-local` command."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from emulator.config import Settings
from emulator.environment.secrets import Secrets
from emulator.errors import HistoryError

Progress = Callable[[str], None]

# How long `up` waits for every component to be healthy before giving up.
UP_TIMEOUT_S = 600
# The environment's own folders a snapshot keeps, besides its database and bucket: its state
# (secrets, staged plugins and requirements, records), the DAGs folder the watcher mirrors the
# bucket into, and Airflow's task logs, which the UI shows with each try.
FILE_PARTS = ("state", "dags", "logs")


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
            "LogsEndpoint": f"http://127.0.0.1:{ports.logs}",
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

    def log_instance(self, component: str) -> str:
        """The instance name a component's log streams carry (`worker-2` -> its host's name
        in Docker)."""

    def log_tail(self, component: str, lines: int = 15) -> list[str]:
        """The last lines of one component's log ([] when it has none)."""

    def read_state(self, name: str) -> dict[str, Any] | None:
        """A JSON record of the environment's state folder (environment/state_files.py), as
        the services wrote it; None when there is none (yet)."""

    def airflow(self, args: list[str], capture: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an Airflow CLI command against the environment (as `airflow ARGS`)."""

    # -- what `db` and `snapshot` reach (emulator/history, emulator/snapshots) ---------------
    def metadata_db_url(self) -> str:
        """The metadata database's libpq URL, reachable from this machine."""

    def environment_secrets(self) -> Secrets:
        """The environment's Fernet key and web secret."""

    def postgres_tool(
        self, argv: list[str], stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
    ) -> None:
        """Run pg_dump, pg_restore or psql (argv[0]) against the environment's PostgreSQL
        server as its owner; raise HistoryError when it fails."""

    def start_infrastructure(self, progress: Progress) -> None:
        """PostgreSQL, Redis and S3 up and healthy; nothing else started."""

    def stop_services(self, progress: Progress) -> None:
        """Stop every Airflow and emulator service, leaving the servers running."""

    def save_files(self, part: str, out: IO[bytes]) -> None:
        """Write one of FILE_PARTS as a tar stream."""

    def restore_files(self, part: str, tar: Path) -> None:
        """Make one of FILE_PARTS exactly the content of a tar that save_files wrote."""


def run_client(
    argv: list[str],
    env: Mapping[str, str] | None,
    stdin: IO[bytes] | None,
    stdout: IO[bytes] | None,
) -> None:
    """Run a PostgreSQL client program; HistoryError with its own words when it fails."""
    result = subprocess.run(
        argv,
        env=dict(env) if env is not None else None,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()[-10:]
        names = [Path(a).name for a in argv]
        program = next((n for n in names if n.startswith(("pg_", "psql"))), names[0])
        raise HistoryError(f"{program} failed: " + "\n".join(said))
