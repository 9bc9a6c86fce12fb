"""The small JSON files in an environment's state folder, written by one service and read by
others (`mwaa-local status`, health checks): replaced atomically, so a reader sees the old
record or the new one, and read leniently (a missing or half-made file is no record)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

WATCHER = "watcher.json"  # the bucket watcher's last round
AUTOSCALER = "autoscaler.json"  # the autoscaler's last decision
# environment.json as `init` last registered it: the stored definition wins until it changes.
REGISTERED = "registered-environment.json"


def read(state_dir: Path, name: str) -> dict[str, Any] | None:
    try:
        record = json.loads((state_dir / name).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write(state_dir: Path, name: str, record: dict[str, Any]) -> None:
    path = state_dir / name
    tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
