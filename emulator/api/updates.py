"""Carrying out UpdateEnvironment: store the new definition, wait until every running service
has restarted on it and is healthy, then AVAILABLE; otherwise roll back, UPDATE_FAILED."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from emulator.api.monitor import components_healthy
from emulator.api.store import Store

APPLY_TIMEOUT_S = 600


def _last_update(status: str, started: float, error: dict[str, str] | None = None) -> dict:
    update: dict[str, Any] = {"Status": status, "CreatedAt": started, "Source": "SERVICE"}
    if error:
        update["Error"] = error
    return update


def applied(store: Store, name: str, generation: int) -> bool:
    """Every service seen lately runs `generation` and the environment is healthy."""
    live = store.live_components(name)
    return bool(live) and all(g >= generation for g in live.values()) and components_healthy()


def start_update(
    store: Store,
    name: str,
    new_spec: dict[str, Any],
    on_applied: Callable[[dict[str, Any]], None],
    timeout_s: float = APPLY_TIMEOUT_S,
) -> None:
    """Record the update (UPDATING) and finish it in the background."""
    record = store.get(name)
    assert record is not None
    started = time.time()
    old_spec, generation = record.spec, record.generation + 1
    store.update(
        name,
        spec=new_spec,
        status="UPDATING",
        generation=generation,
        last_update=_last_update("PENDING", started),
    )

    def finish() -> None:
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
