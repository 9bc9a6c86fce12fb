"""`mwaa-local run autoscaler`: watches queued + running tasks and keeps the number of Celery
workers between MinWorkers and MaxWorkers (policy.py), through the runtime's backend.

It reads the live definition each round (UpdateEnvironment's MinWorkers, MaxWorkers and
EnvironmentClass take effect without a restart), logs each decision with its reason, and
records the last one in the state folder (autoscaler.json) for `mwaa-local status`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from emulator.api.store import Store
from emulator.autoscaler.policy import IDLE_WINDOW_S, Observation, decide
from emulator.environment.airflow_config import tasks_per_worker
from emulator.services.context import ServiceContext
from emulator.services.supervise import current

STATE_FILE = "autoscaler.json"
GRACE_S = 120.0
INTERVAL_S = 1.0
BUSY_QUERY = "select count(*) from task_instance where state in ('queued', 'running')"


def idle_window_s() -> float:
    return float(os.environ.get("MWAA_LOCAL_SCALE_IN_IDLE_S", IDLE_WINDOW_S))


def grace_s() -> float:
    return float(os.environ.get("MWAA_LOCAL_SCALE_IN_GRACE_S", GRACE_S))


def _say(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{stamp}] autoscaler: {message}", flush=True)


def read_state(state_dir: Path) -> dict | None:
    """The last decision recorded (None before the autoscaler's first round)."""
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_state(state_dir: Path, record: dict) -> None:
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)


def make_backend(ctx: ServiceContext, log=_say):
    """`process` natively (the native runtime says so), else Docker."""
    kind = os.environ.get("MWAA_LOCAL_AUTOSCALER_BACKEND", "docker")
    if kind == "process":
        from emulator.autoscaler.process_backend import ProcessBackend

        return ProcessBackend(ctx.infra.broker_url, grace_s(), log)
    from emulator.autoscaler.docker_backend import DockerBackend

    return DockerBackend(ctx.infra.broker_url, grace_s(), log)


class Observer:
    """Queued + running task instances (metadata DB) and Celery's queue length (Redis)."""

    def __init__(self, ctx: ServiceContext):
        self.db_url = ctx.infra.db_url.replace("postgresql+psycopg2", "postgresql")
        self.broker_url = ctx.infra.broker_url
        self._conn = None
        self._redis = None

    def busy(self) -> int:
        import psycopg2

        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.db_url, connect_timeout=5)
            self._conn.autocommit = True
        try:
            with self._conn.cursor() as cur:
                cur.execute(BUSY_QUERY)
                return int(cur.fetchone()[0])
        except psycopg2.Error:
            self._conn.close()
            raise

    def queue_depth(self, queue: str) -> int:
        import redis

        if self._redis is None:
            self._redis = redis.Redis.from_url(self.broker_url, socket_timeout=3)
        return int(self._redis.llen(queue))


def run(ctx: ServiceContext) -> int:
    store = Store(ctx.infra.db_url)
    backend = make_backend(ctx)
    observer = Observer(ctx)
    stopping = threading.Event()
    me = f"autoscaler@{socket.gethostname()}"

    def _stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    window, interval = (
        idle_window_s(),
        float(os.environ.get("MWAA_LOCAL_AUTOSCALE_INTERVAL_S", INTERVAL_S)),
    )
    _say(
        f"backend {backend.name}; idle window {window:.0f} s, "
        f"grace for retiring workers {grace_s():.0f} s"
    )
    idle_since: float | None = time.monotonic()
    last_logged = None
    failing = False
    while not stopping.is_set():
        try:
            generation, live = current(ctx, store)
            queue = live.spec.config_options.get("celery.default_queue", "default")
            busy = observer.busy()
            now = time.monotonic()
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            for worker in backend.reap():
                _say(f"{worker} retired")
            workers = tuple(backend.workers())
            decision = decide(
                Observation(
                    busy=busy,
                    tasks_per_worker=tasks_per_worker(live.spec),
                    min_workers=int(live.spec["MinWorkers"]),
                    max_workers=int(live.spec["MaxWorkers"]),
                    workers=workers,
                    idle_for_s=0.0 if idle_since is None else now - idle_since,
                    idle_window_s=window,
                )
            )
            # Log each change, and each new kind of "hold" (not every second of one).
            key = (decision.wanted, len(workers), decision.reason.split(":")[0], busy == 0)
            if decision.changes or key != last_logged:
                _say(decision.reason)
                last_logged = key
            if stopping.is_set():
                break
            if decision.start:
                _say(f"starting {', '.join(backend.start(decision.start)) or 'nothing'}")
            for worker in decision.retire:
                _say(f"retiring {worker}: stops taking tasks, {grace_s():.0f} s to finish")
                backend.retire(worker, queue)
            try:
                depth = observer.queue_depth(queue)
            except Exception:  # noqa: BLE001 - the count is informative only
                depth = None
            _write_state(
                ctx.state_dir,
                {
                    "time": time.time(),
                    "backend": backend.name,
                    "current": len(workers) + decision.start - len(decision.retire),
                    "wanted": decision.wanted,
                    "workers": sorted(backend.workers()),
                    "retiring": backend.retiring(),
                    "busy": busy,
                    "queue_depth": depth,
                    "min_workers": int(live.spec["MinWorkers"]),
                    "max_workers": int(live.spec["MaxWorkers"]),
                    "idle_window_s": window,
                    "reason": decision.reason,
                },
            )
            store.report_component(me, ctx.spec.name, generation)
            if failing:
                _say("recovered")
                failing = False
        except Exception as exc:  # noqa: BLE001 - the database may be restarting; keep going
            if not failing:
                _say(f"round failed: {type(exc).__name__}: {exc}")
                failing = True
        stopping.wait(interval)
    _say("stopping (workers keep running; `mwaa-local down` stops them)")
    return 0
