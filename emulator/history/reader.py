"""Reading a history out of an Airflow 1.10.x metadata database (this environment's, or a
stock Airflow's), in one consistent snapshot of it.

PostgreSQL itself turns the rows into JSON (`row_to_json`, in UTC, sorted with the "C"
collation so that every server sorts alike) and streams them out with COPY: 100,000 task
instances take a second or two. Only the tables with secrets pass through Python, to decrypt
them with the database's Fernet key and seal them (tables.py says which).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg2 import sql

from emulator.errors import HistoryError
from emulator.history import sealing
from emulator.history.model import SECRET, History, TableData, digest, dumps
from emulator.history.tables import TABLES, Table, exported_columns, order_columns

LOG = logging.getLogger(__name__)
# COPY's CSV format with a quote and a delimiter that JSON never has unescaped: each line
# arrives exactly as row_to_json made it, with no COPY escaping to undo.
RAW_LINES = "(format csv, quote e'\\x01', delimiter e'\\x02')"
TEXT_TYPES = ("character varying", "text", "character")

Say = Callable[[str], None]


def begin_snapshot(conn: Any) -> None:
    """Everything read next sees one moment of the database."""
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    with conn.cursor() as cur:
        cur.execute("set time zone 'UTC'")


def revision(conn: Any) -> str:
    with conn.cursor() as cur:
        cur.execute("select to_regclass('alembic_version') is not null")
        if not cur.fetchone()[0]:
            raise HistoryError(
                "this database has no alembic_version table: it is not an Airflow metadata "
                "database (or `airflow initdb` never ran on it)"
            )
        cur.execute("select version_num from alembic_version")
        rows = [r[0] for r in cur.fetchall()]
    if len(rows) != 1:
        raise HistoryError(f"this database is at {len(rows)} alembic revisions: {rows}")
    return rows[0]


def columns(conn: Any) -> dict[str, list[tuple[str, str]]]:
    """Every table of the current schema: [(column, data type)] in the table's order."""
    with conn.cursor() as cur:
        cur.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = current_schema() order by table_name, ordinal_position"
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in cur.fetchall():
            found.setdefault(table, []).append((column, kind))
    return found


def select_rows(table: Table, present: list[tuple[str, str]], extra: list[str]) -> sql.Composed:
    """SELECT row_to_json of the exported columns (plus `extra` ones) in key order."""
    names = [c for c, _ in present]
    kinds = dict(present)
    exported = exported_columns(table, names)
    chosen = exported + [c for c in extra if c not in exported]
    order = [
        sql.SQL('{} collate "C"').format(sql.Identifier(c))
        if kinds[c] in TEXT_TYPES
        else sql.Identifier(c)
        for c in order_columns(table, exported)
    ]
    where = sql.SQL(f" where {table.where}") if table.where else sql.SQL("")
    return sql.SQL(
        "select row_to_json(r) from (select {cols} from {table}{where} order by {order}) r"
    ).format(
        cols=sql.SQL(", ").join(map(sql.Identifier, chosen)),
        table=sql.Identifier(table.name),
        where=where,
        order=sql.SQL(", ").join(order),
    )


def read_database(
    conn: Any,
    folder: Path,
    *,
    fernet_keys: str | None,
    omit_secrets: bool,
    environment: str | None,
    airflow_version: str | None,
    source: str,
    say: Say,
    secret_marker: str | None = None,
) -> History:
    """The history in `conn`'s database, one JSON-lines file per table in `folder`.

    `fernet_keys` decrypt the values Airflow encrypted (None: the database has none, or they
    are left out). `secret_marker` is a value that stands for a left-out secret (a scratch
    database's, see writer.py).
    """
    begin_snapshot(conn)
    history = History(
        folder=folder,
        environment=environment,
        airflow_version=airflow_version,
        revision=revision(conn),
        source=source,
        secrets=None if omit_secrets else [],
    )
    present = columns(conn)
    f = sealing.fernet(fernet_keys) if fernet_keys else None
    for table in TABLES:
        if table.name not in present:
            continue  # an older 1.10.x schema
        names = [c for c, _ in present[table.name]]
        flags = [x.flag for x in table.secrets if x.flag]
        query = select_rows(table, present[table.name], flags)
        path = folder / f"{table.name}.jsonl"
        rows = 0
        with open(path, "wb") as out:
            if table.secrets:
                # A server-side cursor: the event log can be long.
                with conn.cursor(name=f"mwaa_local_{table.name}") as cur:
                    cur.itersize = 5000
                    cur.execute(query)
                    for (row,) in cur:
                        sealed = _seal_row(table, row, history, f, secret_marker)
                        out.write(dumps(sealed).encode() + b"\n")
                        rows += 1
            else:
                with conn.cursor() as cur:
                    copy = sql.SQL("copy ({}) to stdout {}").format(query, sql.SQL(RAW_LINES))
                    cur.copy_expert(copy, out)
                rows = -1
        if rows < 0:
            with open(path, "rb") as lines:
                rows = sum(1 for _ in lines)
        columns_out = exported_columns(table, names)
        history.tables[table.name] = TableData(table.name, columns_out, path, rows, digest(path))
        say(f"{table.name}: {rows} {'row' if rows == 1 else 'rows'}")
    conn.rollback()  # read-only: nothing to keep
    return history


def _seal_row(
    table: Table,
    row: dict[str, Any],
    history: History,
    f: Any,
    marker: str | None,
) -> dict[str, Any]:
    """A row with its secrets decrypted into history.secrets and replaced by references."""
    key = ", ".join(str(row.get(c)) for c in table.key)
    for secret in table.secrets:
        value = row.get(secret.column)
        encrypted = bool(row.pop(secret.flag, False)) if secret.flag else False
        if value is None or (secret.events and row.get("event") not in secret.events):
            continue
        if history.secrets is None or value == marker:
            row[secret.column] = {SECRET: None}
            continue
        if encrypted:
            if f is None:
                raise HistoryError(
                    f"{table.name} {key}: its {secret.column} is encrypted, and no Fernet key "
                    "was given to decrypt it (--fernet-key-file: the source Airflow's [core] "
                    "fernet_key), or leave secrets out (--no-secrets)"
                )
            value = sealing.decrypt(f, value, f"{table.name} {key}'s {secret.column}")
        row[secret.column] = {SECRET: len(history.secrets)}
        history.secrets.append(value)
    return row
