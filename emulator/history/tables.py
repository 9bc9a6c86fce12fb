"""What an archive holds: the metadata tables that make an environment's history, how each one
is keyed, which of its columns are secrets, and how an import merges it. Pure data, no I/O.

Left out on purpose, because the destination makes them itself: serialized DAGs, DAG code and
tags (Airflow 1.10.12's scheduler writes them from the DAG files, and deletes the serialized DAG
of a file that is not there), import errors, jobs (the processes of the old machine), users and
roles (MWAA's come from IAM sign-in), Celery's results, and the legacy UI's charts and known
events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How rows meet the rows the destination has already:
#   keyed:     a row whose key is there already is left as it is (history is never rewritten)
#   counted:   rows without a natural key (a serial id only): a row is added unless the
#              destination holds as many identical rows already (importing twice adds nothing)
#   upsert:    settings: the archive's value wins (variables, pools, DAG pause states)
#   by_group:  connections: Airflow 1.10 allows several per conn_id; the archive's set for a
#              conn_id replaces the destination's when they differ
Merge = Literal["keyed", "counted", "upsert", "by_group"]


@dataclass(frozen=True)
class Secret:
    """A column whose values are secrets: decrypted on export, sealed under the archive's
    passphrase, encrypted under the destination's Fernet key where Airflow encrypts it."""

    column: str
    flag: str | None = None  # the column saying whether the database holds it encrypted
    events: tuple[str, ...] = ()  # the event log: only in the entries of these events


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]  # the order rows are written in, and what identifies one
    merge: Merge
    # Columns never exported: serial ids (the destination numbers its own rows) and the flags
    # saying whether a value is Fernet-encrypted (the destination encrypts under its own key).
    dropped: tuple[str, ...] = ()
    # Exported columns, when not all of the others.
    only: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    # SQL condition on the rows exported (see SERVICE_EVENTS).
    where: str = ""
    # Columns a row inserted by an import gets when the archive does not carry them.
    defaults: tuple[tuple[str, str], ...] = ()


# The event log's entries for the environment's own processes starting (Airflow logs one per
# `airflow scheduler`, `webserver`, ... start): they belong to the machine they ran on, and every
# environment writes its own. What people and tasks did (UI actions, CLI commands, task runs)
# is history and travels.
SERVICE_EVENTS = (
    "cli_scheduler",
    "cli_webserver",
    "cli_worker",
    "cli_flower",
    "cli_serve_logs",
    "cli_kerberos",
    "cli_upgradedb",
    "cli_initdb",
    "cli_resetdb",
    "cli_checkdb",
    "cli_sync_perm",
)

# Airflow logs each CLI command with its whole command line, and these two carry variable
# values and connection passwords on it (`variables -s KEY VALUE`, `connections --add
# --conn_uri ...`): their entries' details are sealed like the secrets they hold.
SECRET_COMMANDS = ("cli_variables", "cli_connections")

# In import order: a pool before the task instances that name it, task instances before the
# reschedules that reference them.
TABLES: tuple[Table, ...] = (
    Table("slot_pool", ("pool",), "upsert", dropped=("id",)),
    Table(
        "variable",
        ("key",),
        "upsert",
        dropped=("id", "is_encrypted"),
        secrets=(Secret("val", "is_encrypted"),),
    ),
    Table(
        "connection",
        ("conn_id",),
        "by_group",
        dropped=("id", "is_encrypted", "is_extra_encrypted"),
        secrets=(Secret("password", "is_encrypted"), Secret("extra", "is_extra_encrypted")),
    ),
    Table(
        "dag",
        ("dag_id",),
        "upsert",
        only=("dag_id", "is_paused"),
        # Until the scheduler parses its file here, the DAG is known but not active.
        defaults=(("is_subdag", "false"), ("is_active", "false")),
    ),
    Table("dag_run", ("dag_id", "execution_date"), "keyed", dropped=("id",)),
    Table("task_instance", ("dag_id", "task_id", "execution_date"), "keyed"),
    Table("task_fail", ("dag_id", "task_id", "execution_date", "start_date"), "counted", ("id",)),
    Table(
        "task_reschedule",
        ("dag_id", "task_id", "execution_date", "try_number", "start_date"),
        "counted",
        ("id",),
    ),
    Table("xcom", ("dag_id", "task_id", "execution_date", "key"), "counted", ("id",)),
    Table("rendered_task_instance_fields", ("dag_id", "task_id", "execution_date"), "keyed"),
    Table("sla_miss", ("dag_id", "task_id", "execution_date"), "keyed"),
    Table(
        "log",
        ("dttm", "event", "dag_id", "task_id", "execution_date"),
        "counted",
        ("id",),
        where="event is null or event not in ({})".format(
            ", ".join(f"'{e}'" for e in SERVICE_EVENTS)
        ),
        secrets=(Secret("extra", events=SECRET_COMMANDS),),
    ),
)

BY_NAME = {t.name: t for t in TABLES}
# For a person reading the manifest and the import's report.
DESCRIPTIONS = {
    "slot_pool": "pools",
    "variable": "variables",
    "connection": "connections",
    "dag": "DAG pause states",
    "dag_run": "DAG runs",
    "task_instance": "task instances",
    "task_fail": "task failures",
    "task_reschedule": "task reschedules",
    "xcom": "XComs",
    "rendered_task_instance_fields": "rendered templates",
    "sla_miss": "SLA misses",
    "log": "event log entries",
}


def exported_columns(table: Table, present: list[str]) -> list[str]:
    """The columns of `table` an archive carries, in the database's order, given the columns
    the database has (an older 1.10.x schema has fewer)."""
    if table.only:
        return [c for c in present if c in table.only]
    return [c for c in present if c not in table.dropped]


def order_columns(table: Table, columns: list[str]) -> list[str]:
    """What rows are sorted by: the key, then (for rows without one) every other column, so
    that equal histories give equal files."""
    key = [c for c in table.key if c in columns]
    if table.merge != "counted":
        return key
    return key + [c for c in columns if c not in key]
