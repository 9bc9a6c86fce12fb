"""The CloudWatch Logs server both runtimes use (images/logs/serve.py): a real CloudWatch Logs
API for boto3 and the AWS CLI, which keeps every group, stream and event across a restart and
loses no acknowledged line in a crash."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import LOGS_SERVER_PORT as PORT
from tests.conftest import LogsServer as Server
from tests.conftest import aws, logs_client, wait_until

pytestmark = pytest.mark.native

ENDPOINT = f"http://127.0.0.1:{PORT}"
GROUP = "airflow-srv-Task"


def _now() -> int:
    return int(time.time() * 1000)


def _put(logs: Any, stream: str, *messages: str) -> None:
    now = _now()
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    )


def _everything(logs: Any) -> dict[str, Any]:
    """What a restart must not change: groups, streams, events with their ids and times."""
    out: dict[str, Any] = {}
    for group in logs.describe_log_groups()["logGroups"]:
        name = group["logGroupName"]
        streams = logs.describe_log_streams(logGroupName=name)["logStreams"]
        events = logs.filter_log_events(logGroupName=name)["events"]
        out[name] = {
            "group": {k: group.get(k) for k in ("arn", "creationTime", "retentionInDays")},
            "tags": logs.list_tags_log_group(logGroupName=name).get("tags", {}),
            "streams": sorted((s["logStreamName"], s["creationTime"]) for s in streams),
            "events": [
                (e["logStreamName"], e["eventId"], e["timestamp"], e["ingestionTime"], e["message"])
                for e in events
            ],
        }
    return out


def test_the_aws_cli_and_boto3_see_mwaas_groups(start_server: Callable[[], Server]) -> None:
    start_server()
    logs = logs_client(PORT)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_group(logGroupName="other-group")
    for stream in ("dag_a/task/2026-01-01T00_00_00+00_00/1.log", "dag_b/task/x/1.log"):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        _put(logs, stream, f"line of {stream.split('/')[0]}")

    listed = aws(
        "logs", "describe-log-groups", "--log-group-name-prefix", "airflow-", endpoint=ENDPOINT
    )
    assert listed.returncode == 0, listed.stderr
    groups = json.loads(listed.stdout)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]
    # The environment's account, as GetEnvironment's CloudWatchLogGroupArn carries it.
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:*"

    # A stream name prefix selects streams, as CloudWatch's does (moto alone ignores it).
    found = aws(
        "logs", "filter-log-events", "--log-group-name", GROUP,
        "--log-stream-name-prefix", "dag_a/", endpoint=ENDPOINT,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert [e["message"] for e in json.loads(found.stdout)["events"]] == ["line of dag_a"]
    none = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="nothing/")
    assert none["events"] == []
    page = logs.get_log_events(
        logGroupName=GROUP, logStreamName="dag_b/task/x/1.log", startFromHead=True
    )
    assert [e["message"] for e in page["events"]] == ["line of dag_b"]
    with pytest.raises(ClientError) as refused:
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName="missing",
            logEvents=[{"timestamp": _now(), "message": "x"}],
        )
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_restart_keeps_every_group_stream_and_event(start_server: Callable[[], Server]) -> None:
    server = start_server()
    logs = logs_client(PORT)
    logs.create_log_group(logGroupName=GROUP, tags={"env": "srv"})
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=7)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="kept")
    logs.create_log_stream(logGroupName=GROUP, logStreamName="deleted")
    _put(logs, "kept", "one", "two", "ünïcode ✓")
    _put(logs, "deleted", "gone")
    logs.delete_log_stream(logGroupName=GROUP, logStreamName="deleted")
    logs.create_log_group(logGroupName="deleted-group")
    logs.delete_log_group(logGroupName="deleted-group")
    before = _everything(logs)
    assert before[GROUP]["group"]["retentionInDays"] == 7

    assert server.stop() == 0
    start_server()
    logs = logs_client(PORT)
    assert _everything(logs) == before
    # Events put after the restart get ids of their own: `aws logs tail` tells events apart
    # by id.
    _put(logs, "kept", "three")
    ids = [e["eventId"] for e in logs.filter_log_events(logGroupName=GROUP)["events"]]
    assert len(ids) == len(set(ids)) == 4


def test_a_crash_loses_no_acknowledged_line(start_server: Callable[[], Server]) -> None:
    """Writers keep putting lines while the server is killed (SIGKILL: no chance to save):
    every line it answered 200 for is there after the restart, once."""
    server = start_server()
    logs = logs_client(PORT)
    logs.create_log_group(logGroupName=GROUP)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(number: int) -> None:
        client = logs_client(PORT)
        stream = f"writer-{number}"
        client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        sent = 0
        while not stop.is_set():
            message = f"w{number}-{sent}"
            try:
                _put(client, stream, message)
            except (BotoCoreError, ClientError):
                return  # the server is gone: this line was never acknowledged
            with lock:
                acknowledged.append(message)
            sent += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 60, 60, "writers to get going")
    server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(30)

    start_server()
    events = logs_client(PORT).filter_log_events(logGroupName=GROUP)["events"]
    messages = [e["message"] for e in events]
    missing = set(acknowledged) - set(messages)
    assert not missing, f"{len(missing)} acknowledged lines lost, e.g. {sorted(missing)[:5]}"
    assert len(messages) == len(set(messages)), "a line came back twice"


def test_a_torn_journal_entry_is_skipped(start_server: Callable[[], Server], tmp_path) -> None:
    server = start_server()
    logs = logs_client(PORT)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    _put(logs, "s", "before the crash")
    server.stop(signal.SIGKILL)
    journal = max((tmp_path / "data").glob("journal-*.jsonl"))
    with open(journal, "ab") as out:
        out.write(b'{"op": "events", "a": "000000000000", "r": "us-ea')  # cut mid-write
    start_server()
    events = logs_client(PORT).filter_log_events(logGroupName=GROUP)["events"]
    assert [e["message"] for e in events] == ["before the crash"]


def test_the_health_check(start_server: Callable[[], Server]) -> None:
    from emulator.runtime import servers

    python = str(servers.servers_venv() / "bin" / "python")
    script = str(servers.logs_server_script())
    down = subprocess.run([python, script, "--check", ENDPOINT], capture_output=True, text=True)
    assert down.returncode == 1 and "not answering" in down.stderr
    start_server()
    up = subprocess.run([python, script, "--check", ENDPOINT], capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["status"] == "ok"
