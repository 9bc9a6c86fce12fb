"""Runs one Airflow process and restarts it when the environment's definition changes.

UpdateEnvironment stores a new definition with a higher generation; each service's
`mwaa-local run` notices it, restarts its Airflow process with the new configuration, and
reports the generation it runs. This works the same in Docker and natively: nobody outside
needs to know where the processes are.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

from emulator.api.store import Store
from emulator.environment import spec as spec_module
from emulator.services.context import ServiceContext

POLL_S = 2.0
# A Celery worker finishes its running tasks on SIGTERM; a worker the autoscaler retires gets
# MWAA_LOCAL_SCALE_IN_GRACE_S (120 s, as on MWAA) to do so.
STOP_GRACE_S = max(120.0, float(os.environ.get("MWAA_LOCAL_SCALE_IN_GRACE_S", 120)))


def component_id(service: str) -> str:
    return os.environ.get("MWAA_LOCAL_WORKER_ID") or f"{service}@{socket.gethostname()}"


def current(ctx: ServiceContext, store: Store) -> tuple[int, ServiceContext]:
    """The stored definition (and its generation) wins over the file once it exists."""
    record = store.get(ctx.spec.name)
    if record is None:
        return 0, ctx
    return record.generation, dataclasses.replace(ctx, spec=spec_module.validate(record.spec))


def supervise(
    ctx: ServiceContext, service: str, command: Callable[[ServiceContext], list[str]]
) -> int:
    store = Store(ctx.infra.db_url)
    me = component_id(service)
    stopping = threading.Event()
    child: subprocess.Popen | None = None

    def _forward(signum: int, _frame: object) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    while not stopping.is_set():
        generation, live = current(ctx, store)
        child = subprocess.Popen(command(live), env=live.airflow_env(service))
        store.report_component(me, ctx.spec.name, generation)
        changed = False
        while child.poll() is None and not stopping.wait(POLL_S):
            try:
                latest = store.generation(ctx.spec.name)
                store.report_component(me, ctx.spec.name, generation)
            except Exception:  # noqa: BLE001 - the database may be restarting; keep running
                continue
            if latest is not None and latest != generation:
                print(
                    f"mwaa-local: definition changed (generation {generation} -> {latest}); "
                    f"restarting {service}",
                    file=sys.stderr,
                    flush=True,
                )
                changed = True
                child.terminate()
                try:
                    child.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    child.kill()
                break
        if not changed:
            break
    if child is not None:
        if child.poll() is None:
            try:
                child.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
        return child.wait()
    return 0
