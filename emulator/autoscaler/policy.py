"""How many Celery workers the environment wants, and which to retire: a pure function.

MWAA's rule (../shared/mwaa-behaviour.md, section 5): wanted = ceil((queued + running tasks) /
tasks per worker), clamped to [MinWorkers, MaxWorkers]. Scale-out is immediate; scale-in goes
back to MinWorkers only once that sum has been 0 for the idle window (120 s on MWAA). Workers
above MaxWorkers (after an UpdateEnvironment lowered it) are retired at once. Retiring a worker
is graceful: it is the backend's business (stop consuming, finish running tasks).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

IDLE_WINDOW_S = 120.0


@dataclass(frozen=True)
class Observation:
    busy: int  # queued + running task instances
    tasks_per_worker: int
    min_workers: int
    max_workers: int
    workers: tuple[str, ...]  # live workers that take tasks (not those already retiring)
    idle_for_s: float  # how long `busy` has been 0 (0 when it is not)
    idle_window_s: float = IDLE_WINDOW_S


@dataclass(frozen=True)
class Decision:
    wanted: int
    start: int  # how many workers to add
    retire: tuple[str, ...]  # which workers to retire
    reason: str

    @property
    def changes(self) -> bool:
        return bool(self.start or self.retire)


def _number(worker: str) -> int:
    match = re.search(r"(\d+)$", worker)
    return int(match.group(1)) if match else 0


def retire_order(workers: tuple[str, ...] | list[str]) -> list[str]:
    """Newest (highest-numbered) first: worker-1 .. worker-MinWorkers stay."""
    return sorted(workers, key=lambda w: (_number(w), w), reverse=True)


def demand(busy: int, tasks_per_worker: int, min_workers: int, max_workers: int) -> int:
    """ceil(busy / tasks per worker) clamped to [MinWorkers, MaxWorkers]."""
    need = math.ceil(max(busy, 0) / max(tasks_per_worker, 1))
    return max(min_workers, min(max_workers, need))


def decide(obs: Observation) -> Decision:
    current = len(obs.workers)
    need = math.ceil(max(obs.busy, 0) / max(obs.tasks_per_worker, 1))
    wanted = demand(obs.busy, obs.tasks_per_worker, obs.min_workers, obs.max_workers)
    load = (
        f"{obs.busy} queued+running task(s) / {obs.tasks_per_worker} per worker = {need} "
        f"worker(s), clamped to [{obs.min_workers}, {obs.max_workers}] = {wanted}"
    )
    if current > obs.max_workers:
        extra = tuple(retire_order(obs.workers)[: current - obs.max_workers])
        return Decision(
            obs.max_workers,
            0,
            extra,
            f"scale in {current} -> {obs.max_workers}: above MaxWorkers {obs.max_workers}",
        )
    if wanted > current:
        return Decision(wanted, wanted - current, (), f"scale out {current} -> {wanted}: {load}")
    if obs.busy == 0 and current > obs.min_workers:
        if obs.idle_for_s >= obs.idle_window_s:
            extra = tuple(retire_order(obs.workers)[: current - obs.min_workers])
            return Decision(
                obs.min_workers,
                0,
                extra,
                f"scale in {current} -> {obs.min_workers}: no queued or running task for "
                f"{obs.idle_for_s:.0f} s (idle window {obs.idle_window_s:.0f} s)",
            )
        return Decision(
            current,
            0,
            (),
            f"hold {current}: idle for {obs.idle_for_s:.0f} s of the "
            f"{obs.idle_window_s:.0f} s idle window before scaling in to {obs.min_workers}",
        )
    return Decision(current, 0, (), f"hold {current}: {load}")
