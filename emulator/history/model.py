"""A history between its reading and its writing: one JSON-lines file per table in a working
folder, what the manifest says about it, and its secrets in memory (never on disk in clear).

A row's secret column holds `{"$secret": i}` (the i-th value of `secrets`), or
`{"$secret": null}` when the value was left out (`--no-secrets`); JSON null is no value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "mwaa-local history archive"
FORMAT_VERSION = 1
SECRET = "$secret"


@dataclass
class TableData:
    name: str
    columns: list[str]
    path: Path  # one JSON object per line, in key order
    rows: int
    sha256: str


@dataclass
class History:
    folder: Path
    environment: str | None  # the MWAA environment it came from; None for a stock Airflow
    airflow_version: str | None
    revision: str  # alembic's version_num of the schema its rows have
    source: str  # "environment", or where a stock database was read from (no password)
    tables: dict[str, TableData] = field(default_factory=dict)
    # None: left out (every secret reads {"$secret": null}); else the values by index.
    secrets: list[str] | None = field(default_factory=list)

    @property
    def secrets_omitted(self) -> bool:
        return self.secrets is None

    def counts(self) -> dict[str, int]:
        return {name: t.rows for name, t in self.tables.items()}


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dumps(row: dict[str, Any]) -> str:
    """A row as PostgreSQL's row_to_json writes it (compact, UTF-8), for rows made in Python."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def is_secret_ref(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SECRET}
