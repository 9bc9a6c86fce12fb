"""The environment's own state: secrets made once, kept with it, never baked into an image."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "environment-state.json"


@dataclass(frozen=True)
class Secrets:
    fernet_key: str
    web_secret: str
    created_at: float


def _new() -> Secrets:
    return Secrets(
        # What Fernet.generate_key() returns, without loading cryptography into every
        # service process that reads these secrets (about 8 MiB each).
        fernet_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        web_secret=secrets.token_hex(32),
        created_at=time.time(),
    )


def load_or_create(folder: Path) -> Secrets:
    """Read the environment's secrets, making them the first time (atomically, owner-only)."""
    path = folder / STATE_FILE
    if path.exists():
        return Secrets(**json.loads(path.read_text()))
    folder.mkdir(parents=True, exist_ok=True)
    fresh = _new()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(fresh), out)
    try:
        # link() fails if another process made the file first: then theirs wins.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return Secrets(**json.loads(path.read_text()))


def load(folder: Path) -> Secrets:
    path = folder / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the environment was never initialised (run `mwaa-local up`)"
        )
    return Secrets(**json.loads(path.read_text()))
