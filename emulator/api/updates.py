"""Carrying out UpdateEnvironment: stage what the new definition needs, store it, wait until
every running service has restarted on it and is healthy, then AVAILABLE; otherwise
UPDATE_FAILED with the previous definition (and its plugins and requirements) kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from emulator.api.monitor import applied
from emulator.api.store import Store
from emulator.watcher.artifacts import StagingError

APPLY_TIMEOUT_S = 600


def _last_update(status: str, started: float, error: dict[str, str] | None = None) -> dict:
    update: dict[str, Any] = {"Status": status, "CreatedAt": started, "Source": "SERVICE"}
    if error:
        update["Error"] = error
    return update


def failed_update(exc: StagingError, started: float | None = None) -> dict:
    """LastUpdate of an operation whose plugins or requirements could not be staged."""
    error = {"ErrorCode": exc.code, "ErrorMessage": str(exc)}
    return _last_update("FAILED", started or time.time(), error)


def start_update(
    store: Store,
    name: str,
    new_spec: dict[str, Any],
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
    store.update(name, status="UPDATING", last_update=_last_update("PENDING", started))

    def finish() -> None:
        if prepare is not None:
            try:
                prepare()
            except StagingError as exc:
                store.update(name, status="UPDATE_FAILED", last_update=failed_update(exc, started))
                return
        store.update(name, spec=new_spec, generation=generation)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if applied(store, name, generation):
                on_applied(new_spec)
                store.update(name, status="AVAILABLE", last_update=_last_update("SUCCESS", started))
                return
            time.sleep(2)
        # Put the previous definition back: the services restart on it again.
        store.update(
            name,
            spec=old_spec,
            generation=generation + 1,
            status="UPDATE_FAILED",
            last_update=_last_update(
                "FAILED",
                started,
                {
                    "ErrorCode": "UPDATE_TIMEOUT",
                    "ErrorMessage": f"Services did not become healthy on the new configuration "
                    f"within {timeout_s:.0f} s; the previous one was restored.",
                },
            ),
        )

    threading.Thread(target=finish, name=f"update-{name}", daemon=True).start()
