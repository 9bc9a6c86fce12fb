"""One health check per component, used by docker-compose.yml's healthchecks (through
`mwaa-local health NAME`) and by the native supervisor alike."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Callable
from urllib.parse import urlparse

HEARTBEAT_LIMIT_S = 30


def _db_url() -> str:
    return os.environ["MWAA_LOCAL_DB_URL"].replace("postgresql+psycopg2", "postgresql")


def postgres() -> str:
    import psycopg2

    with psycopg2.connect(_db_url(), connect_timeout=3) as conn, conn.cursor() as cur:
        cur.execute("select 1")
    return "accepting connections"


def redis() -> str:
    import redis as redis_client

    redis_client.Redis.from_url(os.environ["MWAA_LOCAL_BROKER_URL"], socket_timeout=3).ping()
    return "PONG"


def s3() -> str:
    with urllib.request.urlopen(os.environ["MWAA_LOCAL_S3_ENDPOINT"], timeout=3):
        pass
    return "answering"


def webserver() -> str:
    url = os.environ.get("MWAA_LOCAL_WEB_HEALTH_URL", "http://127.0.0.1:8080/health")
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    status = body["metadatabase"]["status"]
    if status != "healthy":
        raise RuntimeError(f"metadatabase {status}")
    return "healthy"


def api() -> str:
    url = os.environ.get(
        "MWAA_LOCAL_API_HEALTH_URL", "http://127.0.0.1:8080/aws_mwaa/aws-console-sso"
    )
    with urllib.request.urlopen(url, timeout=5):
        pass
    return "answering"


def scheduler() -> str:
    import psycopg2

    query = (
        "select extract(epoch from now() - max(latest_heartbeat)) from job "
        "where job_type = 'SchedulerJob' and state = 'running'"
    )
    with psycopg2.connect(_db_url(), connect_timeout=3) as conn, conn.cursor() as cur:
        cur.execute(query)
        (age,) = cur.fetchone()
    if age is None:
        raise RuntimeError("no running scheduler has a heartbeat yet")
    if age > HEARTBEAT_LIMIT_S:
        raise RuntimeError(f"last heartbeat {age:.0f} s ago")
    return f"heartbeat {age:.0f} s ago"


def worker_node_name(worker_id: str | None = None) -> str:
    """Celery node name of a worker: its id natively, the container's hostname in Docker."""
    return f"celery@{worker_id or os.environ.get('MWAA_LOCAL_WORKER_ID') or socket.gethostname()}"


def worker(worker_id: str | None = None) -> str:
    """Ask this worker for a pong over the broker."""
    from celery import Celery

    app = Celery(broker=os.environ["MWAA_LOCAL_BROKER_URL"])
    node = worker_node_name(worker_id)
    if not app.control.ping(destination=[node], timeout=1.0):
        raise RuntimeError(f"{node} did not answer ping")
    return "answered ping"


def autoscaler() -> str:
    """The autoscaler recorded a decision lately (it does so every round)."""
    import time
    from pathlib import Path

    from emulator.autoscaler.service import read_state

    record = read_state(Path(os.environ["MWAA_LOCAL_STATE_DIR"]))
    if record is None:
        raise RuntimeError("no decision recorded yet")
    age = time.time() - record["time"]
    if age > HEARTBEAT_LIMIT_S:
        raise RuntimeError(f"last decision {age:.0f} s ago")
    return (
        f"workers {record['current']} (wanted {record['wanted']}), "
        f"{record['busy']} queued+running, queue depth {record['queue_depth']}"
    )


def watcher() -> str:
    """The last round listed the bucket lately (an unreachable S3 makes it unhealthy)."""
    import time
    from pathlib import Path

    from emulator.watcher.service import read_state

    record = read_state(Path(os.environ["MWAA_LOCAL_STATE_DIR"]))
    if record is None or record.get("last_ok") is None or record.get("last_error"):
        # The last round failed: say why (the local files are kept meanwhile).
        raise RuntimeError((record or {}).get("last_error") or "no sync yet")
    age = time.time() - record["last_ok"]
    if age > max(HEARTBEAT_LIMIT_S, 3 * record["interval_s"]):
        raise RuntimeError(f"last good sync {age:.0f} s ago: {record.get('last_error')}")
    return f"{record['source']} synced {age:.0f} s ago"


def tcp(url: str) -> str:
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=3):
        pass
    return "listening"


CHECKS: dict[str, Callable[[], str]] = {
    "postgres": postgres,
    "redis": redis,
    "s3": s3,
    "webserver": webserver,
    "api": api,
    "scheduler": scheduler,
    "worker": worker,
    "autoscaler": autoscaler,
    "watcher": watcher,
}


def check(component: str) -> tuple[bool, str]:
    """(healthy, detail) of a component; never raises."""
    try:
        return True, CHECKS[component]()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; say why
        return False, f"{type(exc).__name__}: {exc}".strip()
