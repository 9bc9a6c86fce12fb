"""`mwaa-local run autoscaler`: watches queued + running tasks and keeps the number of Celery
workers between MinWorkers and MaxWorkers (emulator/autoscaler/policy.py), through the
runtime's backend.

It reads the live definition each round (UpdateEnvironment's MinWorkers, MaxWorkers and
EnvironmentClass take effect without a restart), logs each decision with its reason, and
records the last one in the state folder (autoscaler.json) for `mwaa-local status`.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from typing import Any

from emulator.autoscaler.backends import make_backend
from emulator.autoscaler.observer import Observer
from emulator.autoscaler.policy import Observation, decide
from emulator.config import settings
from emulator.context import ServiceContext
from emulator.environment import state_files
from emulator.environment.airflow_config import tasks_per_worker
from emulator.environment.definition import current
from emulator.environment.store import Store

LOG = logging.getLogger(__name__)


def run(ctx: ServiceContext) -> int:
    config = settings()
    store = Store(ctx.infra.db_url, keep_open=True)
    backend = make_backend(config, LOG.info)
    observer = Observer(ctx.infra.db_url, ctx.infra.broker_url)
    stopping = threading.Event()
    me = f"autoscaler@{socket.gethostname()}"

    def _stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    window, grace = config.scale_in_idle_s, config.scale_in_grace_s
    LOG.info(
        "backend %s; idle window %.0f s, grace for retiring workers %.0f s",
        backend.name,
        window,
        grace,
    )
    idle_since: float | None = time.monotonic()
    last_logged: tuple[Any, ...] | None = None
    failing = False
    while not stopping.is_set():
        try:
            generation, spec = current(store, ctx.spec)
            queue = spec.config_options.get("celery.default_queue", "default")
            busy = observer.busy()
            now = time.monotonic()
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            for worker in backend.reap():
                LOG.info("%s retired", worker)
            workers = tuple(backend.workers())
            decision = decide(
                Observation(
                    busy=busy,
                    tasks_per_worker=tasks_per_worker(spec),
                    min_workers=int(spec["MinWorkers"]),
                    max_workers=int(spec["MaxWorkers"]),
                    workers=workers,
                    idle_for_s=0.0 if idle_since is None else now - idle_since,
                    idle_window_s=window,
                )
            )
            # Log each change, and each new kind of "hold" (not every second of one).
            key = (decision.wanted, len(workers), decision.reason.split(":")[0], busy == 0)
            if decision.changes or key != last_logged:
                LOG.info("%s", decision.reason)
                last_logged = key
            if stopping.is_set():
                break
            if decision.start:
                LOG.info("starting %s", ", ".join(backend.start(decision.start)) or "nothing")
            for worker in decision.retire:
                LOG.info("retiring %s: stops taking tasks, %.0f s to finish", worker, grace)
                backend.retire(worker, queue)
            try:
                depth: int | None = observer.queue_depth(queue)
            except Exception:  # noqa: BLE001 - the count is informative only
                depth = None
            state_files.write(
                ctx.state_dir,
                state_files.AUTOSCALER,
                {
                    "time": time.time(),
                    "backend": backend.name,
                    "current": len(workers) + decision.start - len(decision.retire),
                    "wanted": decision.wanted,
                    # Asked again only when this round changed them (each ask is a call to
                    # supervisord or Docker).
                    "workers": sorted(backend.workers() if decision.changes else workers),
                    "retiring": backend.retiring(),
                    "busy": busy,
                    "queue_depth": depth,
                    "min_workers": int(spec["MinWorkers"]),
                    "max_workers": int(spec["MaxWorkers"]),
                    "idle_window_s": window,
                    "reason": decision.reason,
                },
            )
            store.report_component(me, ctx.spec.name, generation)
            if failing:
                LOG.info("recovered")
                failing = False
        except Exception as exc:  # noqa: BLE001 - the database may be restarting; keep going
            if not failing:
                LOG.warning("round failed: %s: %s", type(exc).__name__, exc)
                failing = True
        stopping.wait(config.autoscale_interval_s)
    LOG.info("stopping (workers keep running; `mwaa-local down` stops them)")
    return 0
