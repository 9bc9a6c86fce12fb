"""The spool: log records on local disk, between the process that logs them and the shipper
that sends them to CloudWatch Logs.

A process writes its records to a file of its own in the spool folder, one JSON line each,
with one `write` call: writing never waits for the network, so a task never slows down or
fails because CloudWatch is away, and a record written is on disk even if the process dies
the next instant. The shipper (shipper.py) reads the files from where it stopped, sends, and
only then moves its offsets on: a line is lost only with the disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)
SUFFIX = ".jsonl"
OFFSETS = ".offsets.json"
# How much one round reads from one file.
READ_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    group: str
    stream: str
    timestamp: int  # milliseconds since the epoch
    message: str
    source: str = ""  # the spool file it came from
    end: int = 0  # the offset just after it in that file


def encode(group: str, stream: str, timestamp: int, message: str) -> bytes:
    line = json.dumps(
        {"g": group, "s": stream, "t": timestamp, "m": message},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return line.encode("utf-8", "backslashreplace") + b"\n"


class SpoolWriter:
    """Appends records to this process's own file in `folder`; a forked child gets its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None
        self.failed = False
        # A fork while another thread held the lock would leave it held in the child.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._fd = None  # the parent's: the child must not write into it
        self._pid = None

    def _open(self) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{os.getpid()}-{time.time_ns()}{SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._pid = os.getpid()
        return self._fd

    def write(self, group: str, stream: str, timestamp: int, message: str) -> None:
        data = encode(group, stream, timestamp, message)
        with self._lock:
            fd = self._fd if self._pid == os.getpid() and self._fd is not None else self._open()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                with contextlib.suppress(OSError):
                    os.close(self._fd)
            self._fd = None


def _writer_alive(path: Path) -> bool:
    try:
        pid = int(path.name.split("-", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SpoolReader:
    """Reads the records the shipper has not sent yet, and remembers what it has."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.offsets_file = folder / OFFSETS
        self.offsets: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            self.offsets = {
                str(k): int(v) for k, v in json.loads(self.offsets_file.read_text()).items()
            }

    def files(self) -> list[Path]:
        try:
            found = [p for p in self.folder.iterdir() if p.suffix == SUFFIX]
        except FileNotFoundError:
            return []
        return sorted(found, key=lambda p: p.name)

    def pending_bytes(self) -> int:
        total = 0
        for path in self.files():
            with contextlib.suppress(OSError):
                total += max(0, path.stat().st_size - self.offsets.get(path.name, 0))
        return total

    def read(self, limit: int = READ_CHUNK) -> list[Record]:
        """Complete records after each file's offset (at most about `limit` bytes per file)."""
        records: list[Record] = []
        for path in self.files():
            records.extend(self._read_file(path, limit))
        return records

    def _read_file(self, path: Path, limit: int) -> Iterator[Record]:
        start = self.offsets.get(path.name, 0)
        try:
            with open(path, "rb") as spool:
                spool.seek(start)
                data = spool.read(limit)
        except FileNotFoundError:
            return
        # Only whole lines: the writer may be in the middle of one.
        data = data[: data.rfind(b"\n") + 1]
        position = start
        for raw in data.splitlines(keepends=True):
            position += len(raw)
            try:
                item = json.loads(raw)
                yield Record(
                    str(item["g"]),
                    str(item["s"]),
                    int(item["t"]),
                    str(item["m"]),
                    path.name,
                    position,
                )
            except (ValueError, KeyError, TypeError):
                LOG.warning("skipping an unreadable spool line in %s at %d", path, position)
                yield Record("", "", 0, "", path.name, position)

    def commit(self, records: list[Record]) -> None:
        """Remember that `records` were sent (each file's last offset among them)."""
        for record in records:
            if record.end > self.offsets.get(record.source, 0):
                self.offsets[record.source] = record.end
        tmp = self.offsets_file.with_name(f".tmp-{OFFSETS.lstrip('.')}")
        tmp.write_text(json.dumps(self.offsets))
        os.replace(tmp, self.offsets_file)

    def tidy(self) -> None:
        """Delete the files that are sent in full and whose writer has ended."""
        present = set()
        for path in self.files():
            present.add(path.name)
            try:
                done = path.stat().st_size <= self.offsets.get(path.name, 0)
            except FileNotFoundError:
                continue
            if done and not _writer_alive(path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                present.discard(path.name)
        gone = set(self.offsets) - present
        if gone:
            for name in gone:
                del self.offsets[name]
            self.commit([])
