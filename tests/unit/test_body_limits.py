"""Request bodies are bounded while they are read (emulator/api/body_limits.py): never more
than one byte past the limit is taken, however a reader asks for it."""

from __future__ import annotations

import io

import pytest

from emulator.api.body_limits import LIMITS, BodyTooLarge, BoundedInput, limit_for


class Endless(io.RawIOBase):
    """A body that never ends, counting what was taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - io's signature
        buffer[:] = b"x" * len(buffer)
        self.taken += len(buffer)
        return len(buffer)


@pytest.mark.parametrize("how", ["read_all", "read_big", "readline", "iterate"])
def test_reading_stops_one_byte_past_the_limit(how: str) -> None:
    raw = Endless()
    body = BoundedInput(io.BufferedReader(raw, buffer_size=1), 1000, None)
    with pytest.raises(BodyTooLarge) as caught:
        if how == "read_all":
            body.read()
        elif how == "read_big":
            while body.read(1 << 30):
                pass
        elif how == "readline":
            body.readline()
        else:
            list(body)
    assert caught.value.status == 413 and "1000 bytes" in caught.value.message
    assert body.read_bytes == 1001 and raw.taken <= 1001 + 8


def test_a_body_within_the_limit_reads_whole_and_ends() -> None:
    body = BoundedInput(io.BytesIO(b"version"), 16, 7)
    assert body.read() == b"version" and not body.unfinished and body.unread == 0


def test_an_unread_body_is_drained_within_bounds() -> None:
    raw = Endless()
    body = BoundedInput(io.BufferedReader(raw, buffer_size=1), 10, None)
    assert body.unfinished and body.unread is None
    body.drain(max_bytes=100_000, max_s=5)
    assert 100_000 <= raw.taken <= 100_000 + 65536


def test_each_part_of_the_api_has_its_limit() -> None:
    assert limit_for("cli_endpoint") == 16 * 1024 == limit_for("login")
    assert limit_for("control_plane") == 1024 * 1024
    assert limit_for("proxy") == LIMITS["proxy"] and limit_for(None) < limit_for("proxy")
