"""Every `mwaa-local run NAME` entrypoint, which docker-compose.yml and the native runtime
both start, and the health checks both use."""

from __future__ import annotations

import importlib
from collections.abc import Callable

# NAME -> (module, function): a service is imported only when it is the one being run.
ENTRYPOINTS = {
    "init": ("emulator.services.init", "run"),
    "api": ("emulator.services.api", "run"),
    "webserver": ("emulator.services.airflow", "webserver"),
    "scheduler": ("emulator.services.airflow", "scheduler"),
    "worker": ("emulator.services.airflow", "worker"),
    "watcher": ("emulator.services.watcher", "run"),
    "autoscaler": ("emulator.services.autoscaler", "run"),
}


def entrypoint(name: str) -> Callable[..., int] | None:
    found = ENTRYPOINTS.get(name)
    if found is None:
        return None
    module, function = found
    return getattr(importlib.import_module(module), function)
