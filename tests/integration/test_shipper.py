"""The shipper, against the real CloudWatch Logs server: lines written while the server is away
wait on disk and arrive once it is back; a restarted shipper sends nothing twice; a group
deleted meanwhile is made again; a component's own output reaches its group at its level,
with secrets masked."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.cloudwatch.component import ComponentOutput, tee
from emulator.cloudwatch.log_types import Setting
from emulator.cloudwatch.redact import Redactor
from emulator.cloudwatch.shipper import Shipper
from emulator.cloudwatch.spool import SpoolWriter
from emulator.cloudwatch.wire import client as cloudwatch
from tests.conftest import LOGS_SERVER_PORT, LogsServer, logs_client, wait_until

pytestmark = pytest.mark.native

GROUP = "airflow-ship-Task"
ENDPOINT = f"http://127.0.0.1:{LOGS_SERVER_PORT}"


def _shipper(spool: Path) -> Shipper:
    return Shipper(spool, lambda: cloudwatch(ENDPOINT, "us-east-1", timeout_s=2), poll_s=0.05)


def _messages(stream: str | None = None) -> list[str]:
    query = {"logGroupName": GROUP}
    if stream:
        query["logStreamNames"] = [stream]
    logs = logs_client(LOGS_SERVER_PORT)
    found, token = [], None
    while True:
        try:
            page = logs.filter_log_events(**query, **({"nextToken": token} if token else {}))
        except logs.exceptions.ResourceNotFoundException:
            return []  # not made yet
        found += page["events"]
        token = page.get("nextToken")
        if not token:
            return [e["message"] for e in found]


def test_lines_written_while_the_server_is_away_arrive_once_it_is_back(
    start_server: Callable[[], LogsServer], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    shipper = _shipper(spool).start()
    try:
        writer = SpoolWriter(spool)
        # Nothing answers: writing must neither fail nor wait for the network.
        started = time.monotonic()
        for i in range(500):
            writer.write(GROUP, "task/try/1.log", int(time.time() * 1000), f"line {i}")
        assert time.monotonic() - started < 5, "writing waited for the absent server"
        wait_until(lambda: shipper.away_since is not None, 30, "the shipper to notice")
        start_server()
        wait_until(lambda: len(_messages()) >= 500, 60, "the waiting lines to arrive", interval=0.5)
        assert _messages() == [f"line {i}" for i in range(500)]  # in order, each once
    finally:
        assert shipper.stop(5) == 0


def test_a_restarted_shipper_sends_nothing_twice(
    start_server: Callable[[], LogsServer], tmp_path: Path
) -> None:
    start_server()
    spool = tmp_path / "spool"
    writer = SpoolWriter(spool)
    for i in range(10):
        writer.write(GROUP, "s", int(time.time() * 1000), f"first {i}")
    first = _shipper(spool).start()
    wait_until(lambda: len(_messages()) == 10, 30, "the first lines")
    first.stop(5)
    for i in range(10):
        writer.write(GROUP, "s", int(time.time() * 1000), f"second {i}")
    second = _shipper(spool).start()
    try:
        wait_until(lambda: len(_messages()) >= 20, 30, "the second lines")
        time.sleep(0.5)  # a duplicate, if one were coming, has had rounds to arrive
        assert sorted(_messages()) == sorted(
            [f"first {i}" for i in range(10)] + [f"second {i}" for i in range(10)]
        )
    finally:
        second.stop(5)


def test_a_group_deleted_meanwhile_is_made_again(
    start_server: Callable[[], LogsServer], tmp_path: Path
) -> None:
    start_server()
    spool = tmp_path / "spool"
    writer = SpoolWriter(spool)
    shipper = _shipper(spool).start()
    try:
        shipper.want_groups([GROUP, "airflow-ship-Worker"])
        groups = lambda: {  # noqa: E731
            g["logGroupName"]
            for g in logs_client(LOGS_SERVER_PORT).describe_log_groups()["logGroups"]
        }
        wait_until(lambda: groups() == {GROUP, "airflow-ship-Worker"}, 30, "the wanted groups")
        writer.write(GROUP, "s", int(time.time() * 1000), "before")
        wait_until(lambda: _messages() == ["before"], 30, "the first line")
        logs_client(LOGS_SERVER_PORT).delete_log_group(logGroupName=GROUP)
        writer.write(GROUP, "s", int(time.time() * 1000), "after")
        wait_until(lambda: _messages() == ["after"], 30, "the line after the delete")
    finally:
        shipper.stop(5)


def test_a_components_output_reaches_its_group_at_its_level_masked(
    start_server: Callable[[], LogsServer], tmp_path: Path
) -> None:
    start_server()
    spool = tmp_path / "spool"
    output = ComponentOutput(
        group=GROUP,
        stream="scheduler_host_1.000.log",
        setting=Setting(True, "WARNING"),
        redact=Redactor(["the-fernet-key="]),
        spool=SpoolWriter(spool),
    )
    printed = [
        b"[2026-01-01 10:00:00,000] {x.py:1} INFO - starting\n",
        b"[2026-01-01 10:00:01,000] {x.py:2} WARNING - key is the-fernet-key=\n",
        b"[2026-01-01 10:00:02,000] {x.py:3} ERROR - it broke\n",
        b"Traceback (most recent call last):\n",
        b'  File "x.py", line 3\n',
        b"[2026-01-01 10:00:03,000] {x.py:4} INFO - carrying on\n",
    ]
    read, write = os.pipe()
    copied = tmp_path / "copy"
    with open(copied, "wb") as out, os.fdopen(read, "rb") as source:
        thread = tee(source, out, output)
        with os.fdopen(write, "wb") as sink:
            for line in printed:
                sink.write(line)
        thread.join(10)
    # The component's own output is every line, unchanged.
    assert copied.read_bytes() == b"".join(printed)
    shipper = _shipper(spool).start()
    try:
        wait_until(lambda: len(_messages()) >= 4, 30, "the component's lines")
        assert _messages() == [
            "[2026-01-01 10:00:01,000] {x.py:2} WARNING - key is ***",
            "[2026-01-01 10:00:02,000] {x.py:3} ERROR - it broke",
            "Traceback (most recent call last):",
            '  File "x.py", line 3',
        ]
    finally:
        shipper.stop(5)


def test_stopping_while_the_server_is_away_keeps_the_lines(
    start_server: Callable[[], LogsServer], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    SpoolWriter(spool).write(GROUP, "s", int(time.time() * 1000), "kept for later")
    stopper = _shipper(spool).start()
    left = stopper.stop(1)
    assert left > 0
    start_server()
    later = _shipper(spool).start()
    try:
        wait_until(lambda: _messages() == ["kept for later"], 30, "the kept line")
    finally:
        later.stop(5)
    assert not any(t.name == "cloudwatch-shipper" and t.is_alive() for t in threading.enumerate())
