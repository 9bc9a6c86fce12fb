"""Keeps the environment's Status real: AVAILABLE while its components are healthy."""

from __future__ import annotations

import threading
import time

from flask import Flask

from emulator.services import health

INTERVAL_S = 5
# Statuses an operation owns; the monitor leaves them alone.
BUSY = {"UPDATING", "DELETING", "DELETED", "CREATE_FAILED"}


def components_healthy() -> bool:
    return all(health.check(name)[0] for name in ("webserver", "scheduler", "redis", "s3"))


def start_monitor(app: Flask) -> threading.Thread:
    store = app.config["STORE"]
    name = app.config["CONTEXT"].spec.name

    def loop() -> None:
        while True:
            try:
                record = store.get(name)
                if record and record.status not in BUSY:
                    wanted = (
                        "AVAILABLE"
                        if components_healthy()
                        else ("CREATING" if record.status == "CREATING" else "UNAVAILABLE")
                    )
                    if wanted != record.status:
                        store.update(name, status=wanted)
            except Exception:  # noqa: BLE001 - the database may be restarting; try again
                app.logger.warning("status monitor: check failed", exc_info=True)
            time.sleep(INTERVAL_S)

    thread = threading.Thread(target=loop, name="status-monitor", daemon=True)
    thread.start()
    return thread
