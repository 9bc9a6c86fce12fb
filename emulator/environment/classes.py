"""MWAA environment classes and what they size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentClass:
    name: str
    dag_capacity: int
    tasks_per_worker: int


CLASSES = {
    c.name: c
    for c in (
        EnvironmentClass("mw1.small", 50, 5),
        EnvironmentClass("mw1.medium", 200, 10),
        EnvironmentClass("mw1.large", 1000, 20),
    )
}

MAX_WORKERS_QUOTA = 25
