"""Records into PutLogEvents calls within CloudWatch Logs' limits. Pure.

PutLogEvents takes one stream, at most 10,000 events and 1,048,576 bytes (each event counts its
UTF-8 message plus 26 bytes), in chronological order, spanning at most 24 hours; an event is
at most 256 KiB with those 26 bytes. Longer messages are cut with a note; empty ones are dropped
(CloudWatch refuses them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from emulator.cloudwatch.spool import Record

MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
MAX_SPAN_MS = 24 * 3600 * 1000
CUT_NOTE = " [... cut: CloudWatch Logs takes at most 256 KiB per event]"


@dataclass
class Batch:
    group: str
    stream: str
    events: list[dict[str, object]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)  # what sending it settles
    size: int = 0


def fit(message: str) -> str:
    """`message` cut to CloudWatch's event size, on a character boundary."""
    data = message.encode("utf-8")
    if len(data) <= MAX_EVENT_BYTES:
        return message
    room = MAX_EVENT_BYTES - len(CUT_NOTE.encode())
    return data[:room].decode("utf-8", "ignore") + CUT_NOTE


def plan(records: Iterable[Record]) -> tuple[list[Batch], list[Record]]:
    """(the PutLogEvents calls to make, in order; the records that need none: empty or
    unreadable ones, settled as they are)."""
    by_stream: dict[tuple[str, str], list[Record]] = {}
    nothing: list[Record] = []
    for record in records:
        if not record.group or not record.stream or not record.message.strip():
            nothing.append(record)
            continue
        by_stream.setdefault((record.group, record.stream), []).append(record)
    batches: list[Batch] = []
    for (group, stream), items in by_stream.items():
        current = Batch(group, stream)
        for record in sorted(items, key=lambda r: r.timestamp):
            message = fit(record.message)
            size = len(message.encode("utf-8")) + EVENT_OVERHEAD
            if current.events and (
                len(current.events) >= MAX_EVENTS
                or current.size + size > MAX_BATCH_BYTES
                or record.timestamp - int(current.events[0]["timestamp"]) > MAX_SPAN_MS  # type: ignore[call-overload]
            ):
                batches.append(current)
                current = Batch(group, stream)
            current.events.append({"timestamp": record.timestamp, "message": message})
            current.records.append(record)
            current.size += size
        if current.events:
            batches.append(current)
    return batches, nothing
