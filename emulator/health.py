"""One health check per component, used by docker-compose.yml's healthchecks (through
`mwaa-local health NAME`) and by the native runtime alike. Addresses come from the settings
the runtime gave the process."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from emulator.config import Settings, settings
from emulator.environment import database, state_files

HEARTBEAT_LIMIT_S = 30


def _need(config: Settings, field: str) -> str:
    config.require(field)
    return str(getattr(config, field))


def postgres(config: Settings) -> str:
    with database.connect(_need(config, "db_url"), 3) as conn, conn.cursor() as cur:
        cur.execute("select 1")
    return "accepting connections"


def redis(config: Settings) -> str:
    import redis as redis_client

    redis_client.Redis.from_url(_need(config, "broker_url"), socket_timeout=3).ping()
    return "PONG"


def s3(config: Settings) -> str:
    with urllib.request.urlopen(_need(config, "s3_endpoint"), timeout=3):
        pass
    return "answering"


def logs(config: Settings) -> str:
    """The CloudWatch Logs server answers (it opens its port only once its state is back)."""
    with urllib.request.urlopen(
        _need(config, "logs_endpoint").rstrip("/") + "/_mwaa_local/health", timeout=3
    ) as answer:
        body = json.load(answer)
    return f"answering, {body['log_groups']} log groups"


def webserver(config: Settings) -> str:
    with urllib.request.urlopen(config.web_health_url, timeout=5) as answer:
        body = json.load(answer)
    status = body["metadatabase"]["status"]
    if status != "healthy":
        raise RuntimeError(f"metadatabase {status}")
    return "healthy"


def api(config: Settings) -> str:
    with urllib.request.urlopen(config.api_health_url, timeout=5):
        pass
    return "answering"


def scheduler(config: Settings) -> str:
    query = (
        "select extract(epoch from now() - max(latest_heartbeat)) from job "
        "where job_type = 'SchedulerJob' and state = 'running'"
    )
    with database.connect(_need(config, "db_url"), 3) as conn, conn.cursor() as cur:
        cur.execute(query)
        (age,) = cur.fetchone()
    if age is None:
        raise RuntimeError("no running scheduler has a heartbeat yet")
    if age > HEARTBEAT_LIMIT_S:
        raise RuntimeError(f"last heartbeat {age:.0f} s ago")
    return f"heartbeat {age:.0f} s ago"


def worker_node_name(worker_id: str | None = None) -> str:
    """Celery node name of a worker: its id natively, the container's hostname in Docker."""
    return f"celery@{worker_id or settings().worker_id or socket.gethostname()}"


def worker(config: Settings, worker_id: str | None = None) -> str:
    """Ask this worker (this process's, or `worker_id`) for a pong over the broker."""
    from celery import Celery

    app = Celery(broker=_need(config, "broker_url"))
    node = worker_node_name(worker_id or config.worker_id)
    if not app.control.ping(destination=[node], timeout=1.0):
        raise RuntimeError(f"{node} did not answer ping")
    return "answered ping"


def autoscaler(config: Settings) -> str:
    """The autoscaler recorded a decision lately (it does so every round)."""
    record = state_files.read(Path(_need(config, "state_dir")), state_files.AUTOSCALER)
    if record is None:
        raise RuntimeError("no decision recorded yet")
    age = time.time() - record["time"]
    if age > HEARTBEAT_LIMIT_S:
        raise RuntimeError(f"last decision {age:.0f} s ago")
    return (
        f"workers {record['current']} (wanted {record['wanted']}), "
        f"{record['busy']} queued+running, queue depth {record['queue_depth']}"
    )


def watcher(config: Settings) -> str:
    """The last round listed the bucket lately (an unreachable S3 makes it unhealthy)."""
    record = state_files.read(Path(_need(config, "state_dir")), state_files.WATCHER)
    if record is None or record.get("last_ok") is None or record.get("last_error"):
        # The last round failed: say why (the local files are kept meanwhile).
        raise RuntimeError((record or {}).get("last_error") or "no sync yet")
    age = time.time() - record["last_ok"]
    if age > max(HEARTBEAT_LIMIT_S, 3 * record["interval_s"]):
        raise RuntimeError(f"last good sync {age:.0f} s ago: {record.get('last_error')}")
    return f"{record['source']} synced {age:.0f} s ago"


CHECKS: dict[str, Callable[[Settings], str]] = {
    "postgres": postgres,
    "redis": redis,
    "s3": s3,
    "logs": logs,
    "webserver": webserver,
    "api": api,
    "scheduler": scheduler,
    "worker": worker,
    "autoscaler": autoscaler,
    "watcher": watcher,
}


def check(component: str, config: Settings | None = None) -> tuple[bool, str]:
    """(healthy, detail) of a component, with this process's settings or `config`; never
    raises."""
    try:
        return True, CHECKS[component](config or settings())
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; say why
        return False, f"{type(exc).__name__}: {exc}".strip()
