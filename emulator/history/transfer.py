"""The flows behind `mwaa-local db export` and `db import`: every source becomes a History
(this environment's database, an archive, a stock Airflow's database or a pg_dump of one), an
older schema is brought up to this environment's first, and the history is merged in.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from cryptography.fernet import Fernet

from emulator.environment import database
from emulator.errors import HistoryError
from emulator.history import archive, reader, schema, writer
from emulator.history.model import History
from emulator.history.scratch import (
    PgTool,
    redacted,
    restore_dump,
    scratch_database,
    sqlalchemy_url,
)
from emulator.history.tables import DESCRIPTIONS

LOG = logging.getLogger(__name__)
# Stands for a left-out secret while a history passes through a scratch database.
OMITTED_MARKER = "mwaa-local: secret left out of this history"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Environment:
    """The environment a history comes out of or goes into, as its runtime reaches it."""

    name: str
    airflow_version: str
    db_url: str  # its metadata database, reachable from this process
    fernet_key: str
    pg_tool: PgTool


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    # Owner-only (mkdtemp): the rows of a history are the environment's data.
    with tempfile.TemporaryDirectory(prefix="mwaa-local-history-") as folder:
        yield Path(folder)


def _connect(url: str, what: str) -> Any:
    try:
        return database.connect(url, timeout_s=10)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HistoryError(f"cannot reach {what} ({redacted(url)}): {reason}") from None


def _own_database(env: Environment) -> Any:
    return _connect(
        env.db_url, f"the metadata database of environment {env.name}; is it up? (`make up`)"
    )


def summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {DESCRIPTIONS[t]}" for t, n in counts.items())


# -- export --------------------------------------------------------------------------------
def export_environment(
    env: Environment, path: Path, passphrase: bytes | None, say: Say
) -> dict[str, Any]:
    """This environment's history into the archive `path`; its manifest."""
    conn = _own_database(env)
    try:
        with _folder() as folder:
            history = reader.read_database(
                conn,
                folder,
                fernet_keys=env.fernet_key,
                omit_secrets=passphrase is None,
                environment=env.name,
                airflow_version=env.airflow_version,
                source="environment",
                say=say,
            )
            return archive.write(history, path, passphrase)
    finally:
        conn.close()


def export_database(
    url: str, fernet_keys: str | None, path: Path, passphrase: bytes | None, say: Say
) -> dict[str, Any]:
    """A stock Airflow 1.10.x database's history, at its own schema, into an archive."""
    conn = _connect(url, "the source database")
    try:
        with _folder() as folder:
            history = _read_stock(conn, url, folder, fernet_keys, passphrase is None, say)
            return archive.write(history, path, passphrase)
    finally:
        conn.close()


def _read_stock(
    conn: Any, source: str, folder: Path, keys: str | None, omit: bool, say: Say
) -> History:
    return reader.read_database(
        conn,
        folder,
        fernet_keys=keys,
        omit_secrets=omit,
        environment=None,
        airflow_version=None,
        source=redacted(source),
        say=say,
    )


# -- import --------------------------------------------------------------------------------
def import_archive(
    env: Environment, path: Path, passphrase: bytes | None, no_secrets: bool, say: Say
) -> dict[str, writer.TableReport]:
    with _folder() as folder:
        history, record = archive.read(path, folder, passphrase, no_secrets)
        origin = record.get("environment") or record.get("source")
        say(
            f"archive of {origin} made {record.get('created_at')} (Airflow "
            f"{record.get('airflow_version') or '?'}, schema {history.revision}): "
            f"{summary(history.counts())}"
        )
        return _into(env, history, say)


def import_database(
    env: Environment, url: str, fernet_keys: str | None, no_secrets: bool, say: Say
) -> dict[str, writer.TableReport]:
    """From a stock Airflow 1.10.x's metadata database, which is only read."""
    conn = _connect(url, "the source database")
    try:
        with _folder() as folder:
            say(f"reading {redacted(url)}")
            history = _read_stock(conn, url, folder, fernet_keys, no_secrets, say)
            conn.close()
            return _into(env, history, say)
    finally:
        conn.close()


def import_dump(
    env: Environment, dump: Path, fernet_keys: str | None, no_secrets: bool, say: Say
) -> dict[str, writer.TableReport]:
    """From a pg_dump file of a stock Airflow 1.10.x database, restored into a scratch
    database first."""
    with scratch_database(env.db_url) as (url, name), _folder() as folder:
        say(f"restoring {dump} into a scratch database")
        restore_dump(dump, name, env.pg_tool)
        conn = _connect(url, "the scratch database")
        try:
            history = _read_stock(
                conn, f"pg_dump file {dump.name}", folder, fernet_keys, no_secrets, say
            )
        finally:
            conn.close()
        return _into(env, history, say)


def _into(env: Environment, history: History, say: Say) -> dict[str, writer.TableReport]:
    conn = _own_database(env)
    try:
        here = reader.revision(conn)
        conn.rollback()
        age = schema.age(history.revision, here)
        if age == "newer":
            raise schema.refuse_newer(history.revision, here, "this history", env.airflow_version)
        if age == "older":
            say(f"schema revision {history.revision} is older than this environment's ({here}):")
            with _folder() as folder:
                migrated = _migrated(env, history, folder, say)
                return _write(conn, env, migrated, say)
        return _write(conn, env, history, say)
    finally:
        conn.close()


def _write(
    conn: Any, env: Environment, history: History, say: Say
) -> dict[str, writer.TableReport]:
    say(f"importing into environment {env.name}, in one transaction")
    return writer.write_history(conn, history, fernet_key=env.fernet_key, say=say)


def _migrated(env: Environment, history: History, folder: Path, say: Say) -> History:
    """`history` brought up to this Airflow's schema by Airflow's own migrations, in a scratch
    database (under a throwaway Fernet key)."""
    key = Fernet.generate_key().decode()
    quiet: Say = LOG.info
    with scratch_database(env.db_url) as (url, _name):
        say(f"  creating a scratch database at revision {history.revision}")
        schema.migrate(sqlalchemy_url(url), history.revision)
        conn = _connect(url, "the scratch database")
        try:
            writer.write_history(
                conn, history, fernet_key=key, say=quiet, secret_marker=OMITTED_MARKER
            )
            say("  running Airflow's migrations on it")
            schema.migrate(sqlalchemy_url(url), "heads")
            return reader.read_database(
                conn,
                folder,
                fernet_keys=key,
                omit_secrets=history.secrets_omitted,
                environment=history.environment,
                airflow_version=history.airflow_version,
                source=history.source,
                say=quiet,
                secret_marker=OMITTED_MARKER,
            )
        finally:
            conn.close()
