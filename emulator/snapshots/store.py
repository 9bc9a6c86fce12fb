"""Where snapshots are kept: `snapshots/NAME/` in the state folder, owner-only (a snapshot
holds the environment's Fernet key, as its state does). `make clean` leaves them, so an
environment made anew can return to one.

    snapshot.json     what it is: name, time, environment, runtime, schema, counts
    database.dump     the metadata database (pg_dump's custom format)
    bucket.json       every object version and delete marker, in order
    blobs/SHA256      the versions' contents, once each
    files/PART.tar    the environment's folders (runtime.base.FILE_PARTS)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emulator.errors import SnapshotError

RECORD = "snapshot.json"
DATABASE = "database.dump"
FILES = "files"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def root(state_root: Path) -> Path:
    return state_root / "snapshots"


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise SnapshotError(
            f"{name!r} cannot name a snapshot: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def folder(state_root: Path, name: str) -> Path:
    check_name(name)
    return root(state_root) / name


def load(state_root: Path, name: str) -> dict[str, Any]:
    path = folder(state_root, name) / RECORD
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(r["name"] for r in records(state_root)) or "none yet"
        raise SnapshotError(
            f"no snapshot named {name} (known: {known}; `mwaa-local snapshot list`)"
        ) from None
    except ValueError:
        raise SnapshotError(f"snapshot {name} is damaged ({path} is not JSON)") from None


def records(state_root: Path) -> list[dict[str, Any]]:
    """The complete snapshots, oldest first."""
    found = []
    base = root(state_root)
    if base.is_dir():
        for entry in base.iterdir():
            try:
                found.append(json.loads((entry / RECORD).read_text()))
            except (OSError, ValueError):
                continue  # one being written, or not a snapshot
    return sorted(found, key=lambda r: (r.get("created_at", ""), r.get("name", "")))


def delete(state_root: Path, name: str) -> None:
    path = folder(state_root, name)
    if not (path / RECORD).exists():
        load(state_root, name)  # raises, naming the known ones
    shutil.rmtree(path)


@contextlib.contextmanager
def new(state_root: Path, name: str) -> Iterator[Path]:
    """A folder to fill; it becomes snapshot `name` only when the block ends without error."""
    final = folder(state_root, name)
    if final.exists():
        raise SnapshotError(
            f"a snapshot named {name} exists already: delete it first "
            f"(`mwaa-local snapshot delete {name}`) or choose another name"
        )
    base = root(state_root)
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    partial = base / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    (partial / FILES).mkdir()
    try:
        yield partial
        os.replace(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
