"""Where the native runtime keeps an environment, all under one state folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def run(self) -> Path:
        """supervisord's configuration, socket and pid, and the process-event record."""
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def environment(self) -> Path:
        """The environment's state folder (MWAA_LOCAL_STATE_DIR of its services)."""
        return self.root / "environment"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def process_events(self) -> Path:
        return self.run / "process-events.json"

    def data(self, server: str) -> Path:
        """An embedded server's data (the CloudWatch Logs server's beside the process logs)."""
        return self.root / ("cloudwatch" if server == "logs" else server)
