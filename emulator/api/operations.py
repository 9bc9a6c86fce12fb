"""The control plane's long operations, finished in the background as MWAA's are.

An update stages what the new definition needs, stores it, waits until every running service
has restarted on it and is healthy, then AVAILABLE; otherwise UPDATE_FAILED with the previous
definition (and its plugins and requirements) back. A create stages, then lets the services
restart onto the new definition (the health monitor turns it AVAILABLE).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from emulator import waiting
from emulator.api import status as rules
from emulator.environment.store import Store
from emulator.errors import StagingError

LOG = logging.getLogger(__name__)
APPLY_TIMEOUT_S = 600


def last_update(status: str, started: float, error: dict[str, str] | None = None) -> dict:
    update: dict[str, Any] = {"Status": status, "CreatedAt": started, "Source": "SERVICE"}
    if error:
        update["Error"] = error
    return update


def failed_update(exc: StagingError, started: float | None = None) -> dict:
    """LastUpdate of an operation whose plugins or requirements could not be staged."""
    error = {"ErrorCode": exc.code, "ErrorMessage": str(exc)}
    return last_update("FAILED", started or time.time(), error)


def _background(name: str, work: Callable[[], None]) -> None:
    def run() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - logged; the record keeps its last status
            LOG.exception("%s failed", name)

    threading.Thread(target=run, name=name, daemon=True).start()


def start_update(
    store: Store,
    name: str,
    new_spec: dict[str, Any],
    healthy: Callable[[], bool],
    on_applied: Callable[[dict[str, Any]], None],
    prepare: Callable[[], None] | None = None,
    timeout_s: float = APPLY_TIMEOUT_S,
) -> None:
    """Record the update (UPDATING) and finish it in the background.

    `prepare` stages what the new definition needs (plugins, requirements) while the services
    keep running on the old one; if it fails the update ends UPDATE_FAILED and nothing
    restarts.
    """
    record = store.get(name)
    assert record is not None
    started = time.time()
    old_spec, generation = record.spec, record.generation + 1
    store.update(name, status="UPDATING", last_update=last_update("PENDING", started))

    def finish() -> None:
        if prepare is not None:
            try:
                prepare()
            except StagingError as exc:
                store.update(name, status="UPDATE_FAILED", last_update=failed_update(exc, started))
                return
        store.update(name, spec=new_spec, generation=generation)

        def done() -> bool:
            return rules.applied(store.live_components(name), generation, healthy())

        try:
            waiting.until(done, timeout_s, f"{name} on generation {generation}", interval=2)
        except waiting.WaitTimeout:
            # Put the previous definition back: the services restart on it again.
            store.update(
                name,
                spec=old_spec,
                generation=generation + 1,
                status="UPDATE_FAILED",
                last_update=last_update(
                    "FAILED",
                    started,
                    {
                        "ErrorCode": "UPDATE_TIMEOUT",
                        "ErrorMessage": "Services did not become healthy on the new "
                        f"configuration within {timeout_s:.0f} s; the previous one was restored.",
                    },
                ),
            )
            return
        on_applied(new_spec)
        store.update(name, status="AVAILABLE", last_update=last_update("SUCCESS", started))

    _background(f"update-{name}", finish)


def start_create(store: Store, name: str, running: int, prepare: Callable[[], None] | None) -> None:
    """Stage the new environment's plugins and requirements, then raise its generation above
    the running services' so that they restart onto it (CREATE_FAILED if staging fails)."""

    def stage_then_start() -> None:
        try:
            if prepare is not None:
                prepare()
        except StagingError as exc:
            store.update(name, status="CREATE_FAILED", last_update=failed_update(exc))
            return
        store.update(name, generation=running + 1)

    _background(f"create-{name}", stage_then_start)
