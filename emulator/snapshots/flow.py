"""`snapshot save` and `snapshot restore`, carried out against either runtime.

Save reads a running environment: its database (pg_dump, one consistent moment), then the
bucket, then its folders. Restore stops Airflow, restores the database into a database of its
own first (so that a dump that fails to restore changes nothing), brings the bucket and the
folders back, swaps the database in, and starts the environment until it is AVAILABLE.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

from emulator import client
from emulator.artifacts import staging
from emulator.config import Settings
from emulator.environment import database, state_files
from emulator.environment import spec as spec_module
from emulator.errors import HistoryError, SnapshotError
from emulator.history.scratch import with_database
from emulator.runtime.base import FILE_PARTS, Runtime
from emulator.snapshots import bucket, store

LOG = logging.getLogger(__name__)
Say = Callable[[str], None]
# Statuses of an operation that a restore cuts short: its thread did not survive.
INTERRUPTED = ("UPDATING",)


def _connect(url: str) -> Any:
    try:
        return database.connect(url, timeout_s=10)
    except psycopg2.OperationalError as exc:
        raise SnapshotError(
            f"the environment's database does not answer ({str(exc).strip()}); "
            "start the environment with `make up` first"
        ) from None


def _counts(db_url: str) -> dict[str, Any]:
    conn = _connect(db_url)
    try:
        with conn.cursor() as cur:
            counts: dict[str, Any] = {}
            for table in ("dag", "dag_run", "task_instance", "variable", "connection"):
                cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table)))
                counts[table] = cur.fetchone()[0]
            cur.execute("select version_num from alembic_version")
            counts["alembic_revision"] = cur.fetchone()[0]
        return counts
    finally:
        conn.close()


def save(runtime: Runtime, config: Settings, name: str, say: Say) -> dict[str, Any]:
    spec = spec_module.load(config.environment_path)
    db_url = runtime.metadata_db_url()
    counts = _counts(db_url)
    s3 = client.s3(config)
    started = time.monotonic()
    with store.new(config.state_root, name) as folder:
        say("the metadata database (pg_dump)")
        dbname = urlsplit(db_url).path.lstrip("/")
        with open(folder / store.DATABASE, "wb") as out:
            runtime.postgres_tool(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--dbname={dbname}",
                ],
                None,
                out,
            )
        kept = bucket.save(s3, spec.bucket, folder, say)
        parts = {}
        for part in FILE_PARTS:
            path = folder / store.FILES / f"{part}.tar"
            with open(path, "wb") as out:
                runtime.save_files(part, out)
            parts[part] = path.stat().st_size
            say(f"the {part} folder ({parts[part]} bytes)")
        record = {
            "name": name,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "environment": spec.name,
            "airflow_version": spec["AirflowVersion"],
            "runtime": runtime.name,
            "counts": counts,
            "bucket": {"name": spec.bucket, **kept},
            "files": parts,
        }
        (folder / store.RECORD).write_text(json.dumps(record, indent=2) + "\n")
    record["bytes"] = store.size(store.folder(config.state_root, name))
    say(f"saved in {time.monotonic() - started:.1f} s")
    return record


def restore(runtime: Runtime, config: Settings, name: str, say: Say) -> dict[str, Any]:
    record = store.load(config.state_root, name)
    folder = store.folder(config.state_root, name)
    spec = spec_module.load(config.environment_path)
    if record["environment"] != spec.name:
        raise SnapshotError(
            f"snapshot {name} is of environment {record['environment']}; this installation "
            f"runs {spec.name} (environment.json)"
        )
    if record["runtime"] != runtime.name:
        raise SnapshotError(
            f"snapshot {name} was saved on the {record['runtime']} runtime and this "
            f"environment runs on {runtime.name}: restore it there (`make down`, then "
            f"`make up RUNTIME={record['runtime']}`), or move the history with "
            "`mwaa-local db export` and `db import`"
        )
    started = time.monotonic()
    say("stopping Airflow and the emulator's services")
    runtime.stop_services(say)
    runtime.start_infrastructure(say)
    db_url = runtime.metadata_db_url()
    staged = _restore_database_beside(runtime, db_url, folder, say)
    try:
        renamed = bucket.restore(client.s3(config), record["bucket"]["name"], folder, say)
        with tempfile.TemporaryDirectory(prefix="mwaa-local-restore-") as scratch:
            state = Path(scratch) / "state.tar"
            _state_for_now(folder / store.FILES / "state.tar", state, spec, renamed)
            for part in FILE_PARTS:
                tar = state if part == "state" else folder / store.FILES / f"{part}.tar"
                runtime.restore_files(part, tar)
                say(f"the {part} folder")
    except BaseException:
        _drop(db_url, staged)
        raise
    _swap_in(db_url, staged)
    _after_restore(db_url, renamed)
    _flush_queue(config)
    say("the metadata database; starting the environment")
    runtime.up(say)
    return {**record, "seconds": time.monotonic() - started, "renamed_versions": renamed}


def _admin_url(db_url: str) -> str:
    return with_database(db_url, "postgres")


def _execute(url: str, statement: sql.Composable, args: tuple = ()) -> None:
    conn = _connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement, args)
    finally:
        conn.close()


def _restore_database_beside(runtime: Runtime, db_url: str, folder: Path, say: Say) -> str:
    """The snapshot's database restored under a name of its own; that name."""
    staged = f"mwaa_local_restoring_{secrets.token_hex(4)}"
    _execute(_admin_url(db_url), sql.SQL("create database {}").format(sql.Identifier(staged)))
    say("the metadata database (pg_restore into a database beside the current one)")
    try:
        with open(folder / store.DATABASE, "rb") as dump:
            runtime.postgres_tool(
                [
                    "pg_restore",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    f"--dbname={staged}",
                ],
                dump,
                None,
            )
    except HistoryError as exc:
        _drop(db_url, staged)
        raise SnapshotError(
            f"the snapshot's database could not be restored ({exc}); the environment's own "
            "database was not changed: `make up` starts it as it was"
        ) from None
    return staged


def _drop(db_url: str, name: str) -> None:
    try:
        _execute(
            _admin_url(db_url),
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)),
        )
    except (psycopg2.Error, SnapshotError):
        LOG.warning("could not drop database %s", name, exc_info=True)


def _swap_in(db_url: str, staged: str) -> None:
    current = urlsplit(db_url).path.lstrip("/")
    admin = _admin_url(db_url)
    _execute(
        admin, sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(current))
    )
    _execute(
        admin,
        sql.SQL("alter database {} rename to {}").format(
            sql.Identifier(staged), sql.Identifier(current)
        ),
    )


def _after_restore(db_url: str, renamed: dict[str, str]) -> None:
    """What the running environment's world changes in the restored records: an operation
    that was under way is over, components report afresh, and uploaded versions' new ids."""
    conn = _connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select to_regclass('mwaa_local_environment') is not null")
            if not cur.fetchone()[0]:
                return
            cur.execute(
                "update mwaa_local_environment set status = 'AVAILABLE' where status = any(%s)",
                (list(INTERRUPTED),),
            )
            cur.execute("delete from mwaa_local_component")
            if renamed:
                cur.execute("select name, spec from mwaa_local_environment")
                for env_name, spec in cur.fetchall():
                    changed = {
                        field: renamed[spec[field]]
                        for _path, field in staging.FIELDS
                        if spec.get(field) in renamed
                    }
                    if changed:
                        cur.execute(
                            "update mwaa_local_environment set spec = %s where name = %s",
                            (json.dumps({**spec, **changed}), env_name),
                        )
    finally:
        conn.close()


def _state_for_now(
    source: Path, target: Path, spec: spec_module.EnvironmentSpec, renamed: dict[str, str]
) -> None:
    """The snapshot's state folder, with two things of today: environment.json as registered
    now (so that `init` keeps the restored definition instead of re-reading the file), and
    staged plugins and requirements under the new ids of versions uploaded again."""
    moves = {
        f"./{kind}/{staging.folder_name(old)}": f"./{kind}/{staging.folder_name(new)}"
        for old, new in renamed.items()
        for kind in ("plugins", "requirements")
    }
    registered = f"./{state_files.REGISTERED}"
    body = json.dumps(spec.data).encode()
    with (
        tarfile.open(source, "r:") as tin,
        tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tout,
    ):
        owner = None
        for member in tin:
            name = member.name if member.name.startswith(".") else f"./{member.name}"
            if name == registered:
                owner = member
                continue
            for old, new in moves.items():
                if name == old or name.startswith(old + "/"):
                    name = new + name[len(old) :]
            member.name = name
            if owner is None and member.isfile():
                owner = member
            tout.addfile(member, tin.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(registered)
        info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
        if owner is not None:
            info.uid, info.gid, info.uname, info.gname = (
                owner.uid,
                owner.gid,
                owner.uname,
                owner.gname,
            )
        tout.addfile(info, io.BytesIO(body))


def _flush_queue(config: Settings) -> None:
    """Celery's queue belongs to the time after the snapshot: its messages would run tasks
    the restored database knows nothing of."""
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=config.ports.redis, socket_timeout=10).flushdb()
    except redis.RedisError as exc:
        LOG.warning("could not empty the Celery queue: %s", exc)
