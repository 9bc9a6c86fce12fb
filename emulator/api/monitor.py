"""Keeps the environment's Status real: AVAILABLE while its components are healthy, and back
to AVAILABLE once a component that was down is healthy again (status.py has the rules)."""

from __future__ import annotations

import logging
import threading

from emulator import health
from emulator.api import status as rules
from emulator.environment.store import Store

LOG = logging.getLogger(__name__)
INTERVAL_S = 5


def components_healthy() -> bool:
    return all(health.check(name)[0] for name in rules.ESSENTIAL)


def start_monitor(store: Store, name: str, stopping: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not stopping.is_set():
            try:
                record = store.get(name)
                if record is not None:
                    healthy = components_healthy()
                    applied = rules.applied(store.live_components(name), record.generation, healthy)
                    wanted = rules.next_status(record.status, healthy, applied)
                    if wanted != record.status:
                        LOG.info("environment %s: %s -> %s", name, record.status, wanted)
                        store.update(name, status=wanted)
            except Exception:  # noqa: BLE001 - the database may be restarting; try again
                LOG.warning("status monitor: check failed", exc_info=True)
            stopping.wait(INTERVAL_S)

    thread = threading.Thread(target=loop, name="status-monitor", daemon=True)
    thread.start()
    return thread
