"""Reading a log group back, as `aws logs tail` does: FilterLogEvents, newest last, and with
`follow` polling from the last event seen (each event once, by its id)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

FOLLOW_POLL_S = 1.0


def _pages(logs: Any, **query: Any) -> Iterator[dict[str, Any]]:
    while True:
        answer = logs.filter_log_events(**query)
        yield from answer.get("events", [])
        token = answer.get("nextToken")
        if not token:
            return
        query["nextToken"] = token


def events(
    logs: Any,
    group: str,
    stream_prefix: str | None = None,
    last: int = 200,
    follow: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """The group's last `last` events, then (with `follow`) each new one as it arrives."""
    query: dict[str, Any] = {"logGroupName": group}
    if stream_prefix:
        query["logStreamNamePrefix"] = stream_prefix
    found = list(_pages(logs, **query))
    found.sort(key=lambda e: (e["timestamp"], e.get("eventId", "")))
    yield from found[-last:] if last else found
    if not follow:
        return
    newest = found[-1]["timestamp"] if found else int(time.time() * 1000)
    seen = {e["eventId"] for e in found if e["timestamp"] == newest}
    while not stop():
        time.sleep(FOLLOW_POLL_S)
        fresh = [
            e
            for e in _pages(logs, **query, startTime=newest)
            if not (e["timestamp"] == newest and e["eventId"] in seen)
        ]
        fresh.sort(key=lambda e: (e["timestamp"], e.get("eventId", "")))
        for event in fresh:
            if event["timestamp"] > newest:
                newest, seen = event["timestamp"], set()
            seen.add(event["eventId"])
            yield event


def format_event(event: dict[str, Any]) -> str:
    """One line as `aws logs tail` prints it: time, stream, message."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event["timestamp"] / 1000))
    millis = event["timestamp"] % 1000
    return f"{stamp}.{millis:03d}+00:00 {event.get('logStreamName', '')} {event['message']}"
