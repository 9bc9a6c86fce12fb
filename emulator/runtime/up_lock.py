"""One `mwaa-local up` at a time per state folder, and a way for `wait` to know one is busy.

A lock file held (flock) for as long as `up` runs: the kernel lets it go when `up` ends in
any way, so a crashed `up` never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from emulator.errors import UsageError

LOCK = "up.lock"


@contextlib.contextmanager
def held(state_root: Path) -> Iterator[None]:
    """Hold the lock while `up` runs; refuse when another `up` holds it."""
    state_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise UsageError(
                f"another `mwaa-local up` (pid {owner}) is starting this environment; "
                "`mwaa-local wait` waits for it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing lets the lock go


def busy(state_root: Path) -> bool:
    """Whether an `up` is running for this state folder now."""
    try:
        fd = os.open(state_root / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        return False
    finally:
        os.close(fd)
