"""MWAA environment classes and what they size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentClass:
    name: str
    tasks_per_worker: int  # Celery concurrency of one worker (MWAA's default)


CLASSES = {
    c.name: c
    for c in (
        EnvironmentClass("mw1.small", 5),
        EnvironmentClass("mw1.medium", 10),
        EnvironmentClass("mw1.large", 20),
    )
}

MAX_WORKERS_QUOTA = 25
