"""Scratch databases on the environment's PostgreSQL server: where an older schema is brought
up to this Airflow's, and where a pg_dump file is restored to be read. Each is made for one
command and dropped after it; the environment's own database is never touched by them.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import secrets
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

from emulator.environment import database
from emulator.errors import HistoryError

LOG = logging.getLogger(__name__)
# Runs one of PostgreSQL's client programs (pg_dump, pg_restore, psql: argv[0]) against the
# environment's server, as its runtime reaches it; stdin and stdout are binary files.
PgTool = Callable[[list[str], IO[bytes] | None, IO[bytes] | None], None]
PREFIX = "mwaa_local_scratch_"


def with_database(url: str, name: str) -> str:
    """`url` (libpq or SQLAlchemy form) naming database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def sqlalchemy_url(url: str) -> str:
    parts = urlsplit(database.libpq_url(url))
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def redacted(url: str) -> str:
    """An address as a person may see it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc))


@contextlib.contextmanager
def scratch_database(db_url: str) -> Iterator[tuple[str, str]]:
    """A new, empty database on `db_url`'s server; (its libpq URL, its name), dropped after."""
    name = PREFIX + secrets.token_hex(6)
    admin = with_database(database.libpq_url(db_url), "postgres")
    _admin(admin, sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield with_database(database.libpq_url(db_url), name), name
    finally:
        try:
            _admin(
                admin,
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)),
            )
        except psycopg2.Error:
            LOG.warning("could not drop the scratch database %s", name, exc_info=True)


def _admin(url: str, statement: sql.Composed) -> None:
    conn = database.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


# -- pg_dump files -------------------------------------------------------------------------
def dump_kind(path: Path) -> str:
    """custom (pg_dump -Fc), plain (SQL), or gzip (plain SQL, gzip-compressed)."""
    with open(path, "rb") as f:
        head = f.read(5)
    if head == b"PGDMP":
        return "custom"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if tarfile.is_tarfile(path):
        raise HistoryError(
            f"{path} is a tar-format dump: make a custom-format one (pg_dump -Fc) or a plain "
            "SQL one (pg_dump, optionally gzip-compressed) of the Airflow database"
        )
    return "plain"


# What a plain dump says about owners and privileges names roles of the old server, which
# this one does not have; the data does not depend on them.
_ROLE_STATEMENTS = ("GRANT ", "REVOKE ", "ALTER DEFAULT PRIVILEGES")


def _without_roles(source: IO[bytes], out: IO[bytes]) -> None:
    in_copy = False
    for line in source:
        if in_copy:
            in_copy = line.rstrip(b"\r\n") != b"\\."
        elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
            in_copy = True
        elif line.startswith(tuple(s.encode() for s in _ROLE_STATEMENTS)) or (
            line.startswith(b"ALTER ") and b" OWNER TO " in line
        ):
            continue
        out.write(line)


def restore_dump(path: Path, dbname: str, pg_tool: PgTool) -> None:
    """Restore a pg_dump file of an Airflow database into the (empty) database `dbname`."""
    kind = dump_kind(path)
    if kind == "custom":
        with open(path, "rb") as dump:
            pg_tool(
                [
                    "pg_restore",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    "--dbname",
                    dbname,
                ],
                dump,
                None,
            )
        return
    opener: Any = gzip.open if kind == "gzip" else open
    with tempfile.TemporaryFile() as filtered:
        try:
            with opener(path, "rb") as dump:
                _without_roles(dump, filtered)
        except (OSError, EOFError) as exc:
            raise HistoryError(f"{path} cannot be read: {exc}") from None
        filtered.seek(0)
        pg_tool(
            [
                "psql",
                "--no-psqlrc",
                "--quiet",
                "--set",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "--dbname",
                dbname,
                "--file",
                "-",
            ],
            filtered,
            None,
        )
