"""Request body limits, applied before anything is buffered: from `Content-Length` at once, and
while the body streams in (a chunked body has no length), on every path of the API.

Each part of the API has its limit (`LIMITS`, by blueprint). A body that declares more is
refused before a byte of it is read; one that grows past it while being read (a chunked body,
or one forwarded to Airflow as it arrives) stops with the same answer, 413 in MWAA's error
shape. Memory stays flat: nothing here holds more than one read of the body at a time.

A refused body is still arriving: the server reads and throws away a bounded part of it after
answering (`DRAIN_BYTES`, `DRAIN_S`), so that a client that reads while it sends sees the
answer, then closes the connection (server.py does both).
"""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from flask import Flask, request

from emulator.api.errors import ValidationException

KIB, MIB = 1024, 1024 * 1024
# Per blueprint of the app (app.py); the proxy's is for Airflow's own forms and uploads.
LIMITS = {
    "cli_endpoint": 16 * KIB,
    "login": 16 * KIB,
    "control_plane": 1 * MIB,
    "proxy": 16 * MIB,
}
# Requests that match no blueprint's rule: nothing of them is wanted.
DEFAULT_LIMIT = 16 * KIB
DRAIN_BYTES = 8 * MIB
DRAIN_S = 2.0
_CHUNK = 64 * KIB
INPUT_KEY = "mwaa_local.body"


class BodyTooLarge(ValidationException):
    status = 413


def limit_for(blueprint: str | None) -> int:
    return LIMITS.get(blueprint or "", DEFAULT_LIMIT)


def too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"The request body is larger than {limit} bytes, the limit for this path; "
        "nothing of it was kept. Send less (a CLI command is one line)."
    )


class BoundedInput:
    """The WSGI input, read through a counter that refuses the byte past `limit`."""

    def __init__(self, raw: BinaryIO, limit: int, declared: int | None):
        self.raw = raw
        self.limit = limit
        self.declared = declared  # Content-Length, or None for a chunked body
        self.read_bytes = 0
        self.ended = declared == 0

    def _count(self, data: bytes, asked: int | None) -> bytes:
        if not data and asked != 0:
            self.ended = True
        self.read_bytes += len(data)
        if self.declared is not None and self.read_bytes >= self.declared:
            self.ended = True
        if self.read_bytes > self.limit:
            raise too_large(self.limit)
        return data

    def read(self, size: int | None = -1) -> bytes:
        # Never more than one byte past the limit in one read, however much is asked for.
        room = self.limit + 1 - self.read_bytes
        asked = room if size is None or size < 0 else min(size, room)
        return self._count(self.raw.read(max(asked, 0)), asked)

    def readline(self, size: int | None = -1) -> bytes:
        room = self.limit + 1 - self.read_bytes
        asked = room if size is None or size < 0 else min(size, room)
        return self._count(self.raw.readline(max(asked, 0)), asked)

    def __iter__(self) -> Any:
        while True:
            line = self.readline(_CHUNK)
            if not line:
                return
            yield line

    @property
    def unfinished(self) -> bool:
        """Part of the body was never read (the answer came first)."""
        return not self.ended

    @property
    def unread(self) -> int | None:
        """Bytes of the body still on the wire, None when unknown (chunked)."""
        if self.declared is None:
            return None if not self.ended else 0
        return max(self.declared - self.read_bytes, 0)

    def drain(self, max_bytes: int = DRAIN_BYTES, max_s: float = DRAIN_S) -> None:
        """Read and throw away what is left of the body, within bounds."""
        deadline = time.monotonic() + max_s
        left = max_bytes
        try:
            while not self.ended and left > 0 and time.monotonic() < deadline:
                data = self.raw.read(min(_CHUNK, left))
                if not data:
                    self.ended = True
                    break
                self.read_bytes += len(data)
                left -= len(data)
                if self.declared is not None and self.read_bytes >= self.declared:
                    self.ended = True
        except (OSError, ValueError):  # the client went away, or sent a broken chunk
            return


def bounded(environ: dict[str, Any]) -> BoundedInput | None:
    """The request's BoundedInput, once install() wrapped it."""
    found = environ.get(INPUT_KEY)
    return found if isinstance(found, BoundedInput) else None


def install(app: Flask) -> None:
    """Refuse or bound every request's body by the limit of the blueprint it is routed to."""

    @app.before_request
    def _limit_body() -> None:
        limit = limit_for(request.blueprint)
        declared = request.content_length
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        body = BoundedInput(
            request.environ["wsgi.input"], limit, None if chunked else (declared or 0)
        )
        request.environ[INPUT_KEY] = body
        if declared is not None and declared > limit and not chunked:
            raise too_large(limit)
        request.environ["wsgi.input"] = body
        # Reading to the end is safe now: the counter stops it at the limit.
        request.environ["wsgi.input_terminated"] = True
