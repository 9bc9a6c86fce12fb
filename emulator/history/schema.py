"""Schema revisions: is a history older than this Airflow's, the same, or newer; and Airflow's
own migrations run on a database of ours (emulator/airflow_side/schema.py, in a process that
imports Airflow)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from typing import Literal

from emulator.errors import HistoryError

Age = Literal["same", "older", "newer"]


def _run(args: list[str], db_url: str | None = None, timeout: float = 600) -> str:
    with tempfile.TemporaryDirectory(prefix="mwaa-local-schema-") as home:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            # A throwaway home: Airflow writes an airflow.cfg into it on import.
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
        if db_url:
            # The address (and its password) goes by the environment, never on a command line.
            env["AIRFLOW__CORE__SQL_ALCHEMY_CONN"] = db_url
        result = subprocess.run(
            [sys.executable, "-m", "emulator.airflow_side.schema", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise HistoryError(f"Airflow's schema migration ({' '.join(args)}) failed:\n{tail}")
    return result.stdout


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """This Airflow's revisions, oldest first."""
    order = json.loads(_run(["revisions"]).strip().splitlines()[-1])["order"]
    return tuple(order)


def age(revision: str, here: str) -> Age:
    """How a history at `revision` compares with a database at `here`."""
    if revision == here:
        return "same"
    known = known_revisions()
    if revision in known and here in known and known.index(revision) < known.index(here):
        return "older"
    return "newer"


def refuse_newer(revision: str, here: str, what: str, airflow_version: str) -> HistoryError:
    return HistoryError(
        f"{what} is at schema revision {revision}, newer than this environment's ({here}, "
        f"Airflow {airflow_version}): it comes from a newer Airflow. A schema cannot be "
        "migrated back down; import it into an environment of that Airflow version instead"
    )


def migrate(sqlalchemy_url: str, target: str = "heads") -> None:
    """Run Airflow's migrations on the database up (or down) to `target`."""
    _run(["migrate", target], sqlalchemy_url)
