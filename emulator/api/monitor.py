"""Keeps the environment's Status real: AVAILABLE while its components are healthy."""

from __future__ import annotations

import threading
import time

from flask import Flask

from emulator.api.store import Store
from emulator.services import health

INTERVAL_S = 5
# Statuses an operation owns; the monitor leaves them alone.
# UPDATE_FAILED stays until the next update, as on MWAA (the environment still runs).
BUSY = {"UPDATING", "UPDATE_FAILED", "DELETING", "DELETED", "CREATE_FAILED"}


def components_healthy() -> bool:
    return all(health.check(name)[0] for name in ("webserver", "scheduler", "redis", "s3"))


def applied(store: Store, name: str, generation: int) -> bool:
    """Every service seen lately runs `generation` and the environment is healthy."""
    live = store.live_components(name)
    return bool(live) and all(g >= generation for g in live.values()) and components_healthy()


def start_monitor(app: Flask) -> threading.Thread:
    store = app.config["STORE"]
    name = app.config["CONTEXT"].spec.name

    def loop() -> None:
        while True:
            try:
                record = store.get(name)
                if record and record.status == "CREATING":
                    # Created (again) means running on this definition, not just answering.
                    if applied(store, name, record.generation):
                        store.update(name, status="AVAILABLE")
                elif record and record.status not in BUSY:
                    wanted = "AVAILABLE" if components_healthy() else "UNAVAILABLE"
                    if wanted != record.status:
                        store.update(name, status=wanted)
            except Exception:  # noqa: BLE001 - the database may be restarting; try again
                app.logger.warning("status monitor: check failed", exc_info=True)
            time.sleep(INTERVAL_S)

    thread = threading.Thread(target=loop, name="status-monitor", daemon=True)
    thread.start()
    return thread
