"""Connections to the metadata database, for the emulator's own use (Airflow has its own).

The environment names it as SQLAlchemy does (`postgresql+psycopg2://...`, Airflow's
`sql_alchemy_conn`); psycopg2 wants the plain libpq URL.
"""

from __future__ import annotations

from typing import Any

import psycopg2


def libpq_url(db_url: str) -> str:
    """`postgresql+psycopg2://...` as libpq spells it: `postgresql://...`."""
    return db_url.replace("postgresql+psycopg2://", "postgresql://", 1)


def connect(db_url: str, timeout_s: float = 5) -> Any:
    """A psycopg2 connection; raises psycopg2.OperationalError when the server is away."""
    return psycopg2.connect(libpq_url(db_url), connect_timeout=max(1, int(timeout_s)))
