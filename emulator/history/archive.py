"""The archive file: one gzip-compressed tar that any tar reads.

    manifest.json            format, time, environment, Airflow version, alembic revision, and
                             per table its columns, row count and SHA-256
    tables/NAME.jsonl        one JSON object per row, in key order
    secrets.sealed           the secrets (emulator/history/sealing.py), unless left out

Members are written with fixed times and owners, so that equal histories give equal members
and only the manifest's `created_at` tells two exports of one history apart. Reading checks
every member against the manifest before anything is imported.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

from emulator.errors import HistoryError
from emulator.history import sealing
from emulator.history.model import FORMAT, FORMAT_VERSION, SECRET, History, TableData, digest
from emulator.history.tables import BY_NAME, DESCRIPTIONS, TABLES

MANIFEST = "manifest.json"
SECRETS = "secrets.sealed"
GZIP_LEVEL = 6


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _digests(history: History) -> list[str]:
    return [history.tables[t.name].sha256 for t in TABLES if t.name in history.tables]


def manifest(history: History, secrets: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": history.environment,
        "airflow_version": history.airflow_version,
        "alembic_revision": history.revision,
        "source": history.source,
        "tables": {
            t.name: {
                "description": DESCRIPTIONS[t.name],
                "columns": history.tables[t.name].columns,
                "rows": history.tables[t.name].rows,
                "sha256": history.tables[t.name].sha256,
            }
            for t in TABLES
            if t.name in history.tables
        },
        "secrets": secrets,
    }


def write(history: History, path: Path, passphrase: bytes | None) -> dict[str, Any]:
    """Write the archive (atomically, readable by its owner only); its manifest."""
    sealed: bytes | None = None
    if history.secrets is None:
        secrets: dict[str, Any] = {"state": "omitted"}
    else:
        if passphrase is None:
            raise HistoryError("secrets need a passphrase (--passphrase-file), or --no-secrets")
        salt = sealing.salt_for(_digests(history))
        sealed = sealing.seal(history.secrets, passphrase, salt)
        secrets = {
            "state": "sealed",
            "values": len(history.secrets),
            "cipher": sealing.CIPHER,
            "kdf": {**sealing.KDF, "salt": salt.hex()},
            "bytes": len(sealed),
        }
    record = manifest(history, secrets)
    body = (json.dumps(record, indent=2) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL
            ) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.addfile(_member(MANIFEST, len(body)), io.BytesIO(body))
            for t in TABLES:
                data = history.tables.get(t.name)
                if data is None:
                    continue
                with open(data.path, "rb") as rows:
                    tar.addfile(_member(f"tables/{t.name}.jsonl", data.path.stat().st_size), rows)
            if sealed is not None:
                tar.addfile(_member(SECRETS, len(sealed)), io.BytesIO(sealed))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return record


def _damaged(path: Path, why: str) -> HistoryError:
    return HistoryError(f"{path} is not a usable mwaa-local history archive: {why}")


def read_manifest(path: Path) -> dict[str, Any]:
    """Only the manifest (for `db import` to say what it is about to do)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise _damaged(path, "it has no manifest")
            return json.loads(member.read())
    except (tarfile.TarError, KeyError, OSError, ValueError, EOFError) as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from None


def read(
    path: Path, folder: Path, passphrase: bytes | None, no_secrets: bool = False
) -> tuple[History, dict[str, Any]]:
    """Unpack and check an archive into `folder`; (the history, its manifest)."""
    wanted = {MANIFEST, SECRETS} | {f"tables/{name}.jsonl" for name in BY_NAME}
    found: dict[str, Path] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.name not in wanted or not member.isfile():
                    raise _damaged(path, f"unexpected member {member.name!r}")
                target = folder / member.name.replace("/", "__")
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                with open(target, "wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                found[member.name] = target
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from None
    if MANIFEST not in found:
        raise _damaged(path, "it has no manifest")
    try:
        record = json.loads(found[MANIFEST].read_text())
    except ValueError as exc:
        raise _damaged(path, f"its manifest is not JSON ({exc})") from None
    if record.get("format") != FORMAT:
        raise _damaged(path, "its manifest is not one of mwaa-local's")
    if record.get("format_version") != FORMAT_VERSION:
        raise HistoryError(
            f"{path} is in archive format {record.get('format_version')}; this mwaa-local "
            f"reads format {FORMAT_VERSION}: import it with the mwaa-local that made it"
        )
    history = History(
        folder=folder,
        environment=record.get("environment"),
        airflow_version=record.get("airflow_version"),
        revision=str(record.get("alembic_revision")),
        source=str(record.get("source")),
    )
    for name, entry in record.get("tables", {}).items():
        entry_name = f"tables/{name}.jsonl"
        if name not in BY_NAME or entry_name not in found:
            raise _damaged(path, f"table {name} is listed but missing")
        file = found[entry_name]
        if digest(file) != entry["sha256"]:
            raise _damaged(path, f"{entry_name} does not match its checksum")
        with open(file, "rb") as f:
            rows = sum(1 for _ in f)
        if rows != entry["rows"]:
            raise _damaged(path, f"{entry_name} has {rows} rows, its manifest says {entry['rows']}")
        history.tables[name] = TableData(name, list(entry["columns"]), file, rows, entry["sha256"])
    history.secrets = _secrets(path, record, found, history, passphrase, no_secrets)
    return history, record


def _secrets(
    path: Path,
    record: dict[str, Any],
    found: dict[str, Path],
    history: History,
    passphrase: bytes | None,
    no_secrets: bool,
) -> list[str] | None:
    info = record.get("secrets") or {}
    if info.get("state") == "omitted" or no_secrets:
        return None
    if info.get("state") != "sealed" or SECRETS not in found:
        raise _damaged(path, "its secrets are missing")
    if passphrase is None:
        raise HistoryError(
            f"{path} holds {info.get('values', '?')} secrets (connection passwords and extras, "
            "variable values) sealed under a passphrase: give it with --passphrase-file FILE, "
            "or import without them with --no-secrets"
        )
    salt = bytes.fromhex(info["kdf"]["salt"])
    if salt != sealing.salt_for(_digests(history)):
        raise _damaged(path, "its secrets do not belong to its tables")
    values = sealing.unseal(found[SECRETS].read_bytes(), passphrase, salt, info["kdf"])
    _check_references(path, history, len(values))
    return values


def _check_references(path: Path, history: History, count: int) -> None:
    for t in TABLES:
        data = history.tables.get(t.name)
        if data is None or not t.secrets:
            continue
        with open(data.path, encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                for secret in t.secrets:
                    value = row.get(secret.column)
                    if isinstance(value, dict):
                        index = value.get(SECRET)
                        if not isinstance(index, int) or not 0 <= index < count:
                            raise _damaged(path, f"{t.name} refers to a secret it does not hold")
