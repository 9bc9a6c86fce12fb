"""Records into PutLogEvents calls within CloudWatch Logs' limits, and which spool offsets a
partly sent round may commit."""

from __future__ import annotations

from emulator.cloudwatch import batches
from emulator.cloudwatch.shipper import settled_offsets
from emulator.cloudwatch.spool import Record


def _record(stream: str, t: int, message: str = "x", source: str = "a", end: int = 0) -> Record:
    return Record("group", stream, t, message, source, end or t)


def test_one_call_per_stream_in_chronological_order() -> None:
    planned, nothing = batches.plan(
        [_record("s1", 3), _record("s2", 1), _record("s1", 1), _record("s1", 2)]
    )
    assert nothing == []
    assert [(b.stream, [e["timestamp"] for e in b.events]) for b in planned] == [
        ("s1", [1, 2, 3]),
        ("s2", [1]),
    ]


def test_limits_split_calls() -> None:
    many = [_record("s", t) for t in range(batches.MAX_EVENTS + 5)]
    assert [len(b.events) for b in batches.plan(many)[0]] == [batches.MAX_EVENTS, 5]
    big = "y" * 200_000
    planned = batches.plan([_record("s", t, big) for t in range(6)])[0]
    assert [len(b.events) for b in planned] == [5, 1]  # 5 x (200,000 + 26) <= 1 MiB
    assert all(b.size <= batches.MAX_BATCH_BYTES for b in planned)
    day = 24 * 3600 * 1000
    planned = batches.plan([_record("s", 0), _record("s", day), _record("s", day + 1)])[0]
    assert [len(b.events) for b in planned] == [2, 1]


def test_an_oversized_message_is_cut_and_an_empty_one_needs_no_call() -> None:
    huge = "é" * 200_000  # 400,000 bytes in UTF-8
    planned, nothing = batches.plan([_record("s", 1, huge), _record("s", 2, "  ")])
    message = str(planned[0].events[0]["message"])
    assert len(message.encode()) <= batches.MAX_EVENT_BYTES
    assert message.endswith(batches.CUT_NOTE)
    assert [r.timestamp for r in nothing] == [2]
    # An unreadable spool line (no group) is settled without a call.
    assert batches.plan([Record("", "", 0, "", "a", 9)])[0] == []


def test_a_file_commits_only_past_lines_that_all_went_out() -> None:
    sent = [_record("s1", 1, source="a", end=10), _record("s1", 3, source="a", end=30)]
    unsent = [_record("s2", 2, source="a", end=20), _record("s3", 1, source="b", end=5)]
    other = [_record("s4", 1, source="c", end=7)]
    kept = settled_offsets(sent + other, unsent)
    assert [(r.source, r.end) for r in kept] == [("a", 10), ("c", 7)]
