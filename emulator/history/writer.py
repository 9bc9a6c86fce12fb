"""Writing a history into a metadata database: one transaction, so that an import that fails
leaves the database exactly as it was, and merging by key, so that importing twice adds
nothing the second time (tables.py says how each table merges).

Rows reach PostgreSQL as they are in the archive (COPY into a temporary table), and
`json_populate_record` turns each back into a row of its table: no value passes through
Python but the secrets, which are encrypted under the destination's Fernet key here.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2 import sql

from emulator.errors import HistoryError
from emulator.history import reader, sealing
from emulator.history.model import SECRET, History, TableData, dumps
from emulator.history.tables import DESCRIPTIONS, TABLES, Table, exported_columns

LOG = logging.getLogger(__name__)
# One import at a time per database (pg_advisory_xact_lock's key).
IMPORT_LOCK = 7243
_OMITTED = object()

Say = Callable[[str], None]


@dataclass
class TableReport:
    added: int = 0
    updated: int = 0
    kept: int = 0  # already there (or, for settings, already the same)

    def describe(self) -> str:
        parts = [f"{self.added} added"]
        if self.updated:
            parts.append(f"{self.updated} updated")
        parts.append(f"{self.kept} already there")
        return ", ".join(parts)


def check_compatible(conn: Any, history: History) -> None:
    """The destination is at the history's schema revision, with the same columns."""
    here = reader.revision(conn)
    if here != history.revision:
        raise HistoryError(
            f"the history is at schema revision {history.revision} and this database at "
            f"{here}: it must be migrated first (`mwaa-local db import` does that)"
        )
    present = reader.columns(conn)
    for name, data in history.tables.items():
        table = next(t for t in TABLES if t.name == name)
        have = exported_columns(table, [c for c, _ in present.get(name, [])])
        if have != data.columns:
            raise HistoryError(
                f"{name}: the archive's columns ({', '.join(data.columns)}) are not this "
                f"database's ({', '.join(have)}) although both are at revision {here}"
            )
    conn.rollback()


def write_history(
    conn: Any,
    history: History,
    *,
    fernet_key: str | None,
    say: Say,
    secret_marker: str | None = None,
) -> dict[str, TableReport]:
    """Merge `history` into `conn`'s database in one transaction; what each table got.

    Secrets are encrypted with `fernet_key` (None: stored as they are). A secret the archive
    left out is stored as `secret_marker` where a row is new (None: no value).
    """
    check_compatible(conn, history)
    conn.set_session(isolation_level="READ COMMITTED", readonly=False)
    f = sealing.fernet(fernet_key) if fernet_key else None
    reports: dict[str, TableReport] = {}
    current = ""
    try:
        with conn.cursor() as cur:
            cur.execute("set local time zone 'UTC'")
            cur.execute("select pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
            for table in TABLES:
                data = history.tables.get(table.name)
                if data is None:
                    continue
                current = table.name
                if table.name == "variable":
                    report = _variables(cur, data, history, f, secret_marker)
                elif table.name == "connection":
                    report = _connections(cur, data, history, f, secret_marker)
                else:
                    report = _merge(cur, table, data, history, secret_marker)
                reports[table.name] = report
                say(f"{DESCRIPTIONS[table.name]} ({table.name}): {report.describe()}")
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        detail = (exc.pgerror or str(exc)).strip().splitlines()[0]
        raise HistoryError(
            f"the import stopped at {DESCRIPTIONS.get(current, current)} ({current}): "
            f"{detail}. Nothing was changed: the import is one transaction."
        ) from None
    except BaseException:
        conn.rollback()
        raise
    return reports


# -- rows that PostgreSQL merges ------------------------------------------------------------
class _Lines(io.RawIOBase):
    """Lines made one by one, read as a file (COPY's input): secrets resolved in memory
    reach the database without being written anywhere."""

    def __init__(self, lines: Iterator[bytes]):
        self._lines, self._buffer = lines, b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            line = next(self._lines, None)
            if line is None:
                return 0
            self._buffer = line
        size = min(len(target), len(self._buffer))
        target[:size], self._buffer = self._buffer[:size], self._buffer[size:]
        return size


def _resolved_lines(
    table: Table, data: TableData, history: History, marker: str | None
) -> Iterator[bytes]:
    with open(data.path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            for secret in table.secrets:
                value = _resolve(row.get(secret.column), history)
                row[secret.column] = marker if value is _OMITTED else value
            yield dumps(row).encode() + b"\n"


def _stage(
    cur: Any, table: Table, data: TableData, history: History, marker: str | None
) -> sql.Identifier:
    stage = sql.Identifier(f"mwaa_local_stage_{data.name}")
    cur.execute(
        sql.SQL(
            "create temp table {} (n bigint generated always as identity, doc json) on commit drop"
        ).format(stage)
    )
    copy = sql.SQL("copy {} (doc) from stdin {}").format(stage, sql.SQL(reader.RAW_LINES))
    if table.secrets:
        lines = _Lines(_resolved_lines(table, data, history, marker))
        cur.copy_expert(copy, io.BufferedReader(lines))
    else:
        with open(data.path, "rb") as rows:
            cur.copy_expert(copy, rows)
    return stage


def _merge(
    cur: Any, table: Table, data: TableData, history: History, marker: str | None
) -> TableReport:
    stage = _stage(cur, table, data, history, marker)
    name = sql.Identifier(table.name)
    cols = [sql.Identifier(c) for c in data.columns]
    listed = sql.SQL(", ").join(cols)
    from_r = sql.SQL(
        "from {stage} s cross join lateral json_populate_record(null::{table}, s.doc) r"
    ).format(stage=stage, table=name)
    r_cols = sql.SQL(", ").join(sql.SQL("r.{}").format(c) for c in cols)
    if table.merge == "keyed":
        cur.execute(
            sql.SQL(
                "insert into {table} ({listed}) select {r_cols} {from_r} order by s.n "
                "on conflict do nothing"
            ).format(table=name, listed=listed, r_cols=r_cols, from_r=from_r)
        )
        return TableReport(added=cur.rowcount, kept=data.rows - cur.rowcount)
    if table.merge == "upsert":
        return _upsert(cur, table, data, name, cols, r_cols, from_r)
    # counted: rows with nothing but a serial id to tell them apart. A row is told by all it
    # holds but its secrets, so that an archive without them matches the rows made with them.
    secret = {s.column for s in table.secrets}
    told = [sql.Identifier(c) for c in data.columns if c not in secret]
    row_of = sql.SQL("md5(row({})::text)")
    r_told = sql.SQL(", ").join(sql.SQL("r.{}").format(c) for c in told)
    cur.execute(
        sql.SQL(
            "create temp table mwaa_local_have on commit drop as "
            "select {h} as h, count(*) as n from {table} t group by 1"
        ).format(
            h=row_of.format(sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in told)),
            table=name,
        )
    )
    cur.execute(
        sql.SQL(
            "insert into {table} ({listed}) select {x_cols} from ("
            "  select {r_cols}, s.n as ord, {h} as h,"
            "         row_number() over (partition by {h} order by s.n) as k {from_r}"
            ") x left join mwaa_local_have have using (h) "
            "where x.k > coalesce(have.n, 0) order by x.ord"
        ).format(
            table=name,
            listed=listed,
            x_cols=sql.SQL(", ").join(sql.SQL("x.{}").format(c) for c in cols),
            r_cols=r_cols,
            h=row_of.format(r_told),
            from_r=from_r,
        )
    )
    added = cur.rowcount
    cur.execute("drop table mwaa_local_have")
    return TableReport(added=added, kept=data.rows - added)


def _upsert(
    cur: Any,
    table: Table,
    data: TableData,
    name: sql.Identifier,
    cols: list[sql.Identifier],
    r_cols: sql.Composable,
    from_r: sql.Composable,
) -> TableReport:
    key = [sql.Identifier(c) for c in table.key]
    rest = [sql.Identifier(c) for c in data.columns if c not in table.key]
    defaults = [(sql.Identifier(c), sql.SQL(v)) for c, v in table.defaults]
    insert_cols = sql.SQL(", ").join([*cols, *(c for c, _ in defaults)])
    values = sql.SQL(", ").join([r_cols, *(v for _, v in defaults)]) if defaults else r_cols
    cur.execute(
        sql.SQL(
            "insert into {table} ({insert_cols}) select {values} {from_r} order by s.n "
            "on conflict ({key}) do update set {assign} "
            "where ({current}) is distinct from ({incoming}) returning (xmax = 0)"
        ).format(
            table=name,
            insert_cols=insert_cols,
            values=values,
            from_r=from_r,
            key=sql.SQL(", ").join(key),
            assign=sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=c) for c in rest),
            current=sql.SQL(", ").join(
                [sql.SQL("{}.{}").format(name, c) for c in rest] + [sql.SQL("null")]
            ),
            incoming=sql.SQL(", ").join(
                [sql.SQL("excluded.{}").format(c) for c in rest] + [sql.SQL("null")]
            ),
        )
    )
    inserted = [row[0] for row in cur.fetchall()]
    added = sum(inserted)
    return TableReport(added=added, updated=len(inserted) - added, kept=data.rows - len(inserted))


# -- rows with secrets, which Python encrypts ------------------------------------------------
def _rows(data: TableData) -> list[dict[str, Any]]:
    with open(data.path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _resolve(value: Any, history: History) -> Any:
    if isinstance(value, dict) and SECRET in value:
        index = value[SECRET]
        if index is None or history.secrets is None:
            return _OMITTED
        return history.secrets[index]
    return value


def _stored(value: Any, f: Any, marker: str | None) -> tuple[Any, bool]:
    """(what the column holds, its is_encrypted flag) for a value to store."""
    if value is _OMITTED:
        return marker, False
    if value is None or f is None:
        return value, False
    return sealing.encrypt(f, value), True


def _plain(value: Any, encrypted: bool, f: Any) -> Any:
    """A stored value in clear, or a sentinel that equals nothing when it cannot be read."""
    if value is None or not encrypted:
        return value
    if f is None:
        return _OMITTED
    try:
        return sealing.decrypt(f, value, "")
    except HistoryError:
        return _OMITTED


def _variables(
    cur: Any, data: TableData, history: History, f: Any, marker: str | None
) -> TableReport:
    report = TableReport()
    cur.execute("select key, val, is_encrypted from variable")
    existing = {key: _plain(val, bool(enc), f) for key, val, enc in cur.fetchall()}
    for row in _rows(data):
        key, value = row["key"], _resolve(row["val"], history)
        if key in existing and (value is _OMITTED or existing[key] == value):
            report.kept += 1
            continue
        stored, encrypted = _stored(value, f, marker)
        if key in existing:
            cur.execute(
                "update variable set val = %s, is_encrypted = %s where key = %s",
                (stored, encrypted, key),
            )
            report.updated += 1
        else:
            cur.execute(
                "insert into variable (key, val, is_encrypted) values (%s, %s, %s)",
                (key, stored, encrypted),
            )
            report.added += 1
    return report


def _comparable(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=repr) for r in rows)


def _connections(
    cur: Any, data: TableData, history: History, f: Any, marker: str | None
) -> TableReport:
    report = TableReport()
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(data):
        resolved = {c: _resolve(v, history) for c, v in row.items()}
        groups.setdefault(row["conn_id"], []).append(resolved)
    cur.execute("select * from connection")
    names = [d[0] for d in cur.description]
    existing: dict[str, list[dict[str, Any]]] = {}
    for values in cur.fetchall():
        raw = dict(zip(names, values, strict=True))
        plain = {c: raw[c] for c in data.columns}
        plain["password"] = _plain(raw["password"], bool(raw["is_encrypted"]), f)
        plain["extra"] = _plain(raw["extra"], bool(raw["is_extra_encrypted"]), f)
        existing.setdefault(raw["conn_id"], []).append(plain)
    for conn_id, rows in groups.items():
        have = existing.get(conn_id)
        omitted = any(v is _OMITTED for r in rows for v in r.values())
        if have is not None and (omitted or _comparable(have) == _comparable(rows)):
            report.kept += len(rows)
            continue
        if have is not None:
            cur.execute("delete from connection where conn_id = %s", (conn_id,))
        for row in rows:
            password, password_encrypted = _stored(row["password"], f, marker)
            extra, extra_encrypted = _stored(row["extra"], f, marker)
            values = {
                **row,
                "password": password,
                "extra": extra,
                "is_encrypted": password_encrypted,
                "is_extra_encrypted": extra_encrypted,
            }
            cur.execute(
                sql.SQL("insert into connection ({}) values ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, values)),
                    sql.SQL(", ").join(sql.Placeholder() * len(values)),
                ),
                list(values.values()),
            )
        if have is None:
            report.added += len(rows)
        else:
            report.updated += len(rows)
    return report
