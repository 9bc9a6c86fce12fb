"""Which DAG files the scheduler parses on this turn of its file processor loop: a pure rule.

Airflow 1.10.12 moves a run's tasks to `scheduled` (the first ones after a trigger, the next
ones after one ends) and ends the run only when it parses the run's file again, and it parses
every file at most once each `min_file_process_interval`. With 0 (a trigger reaches its first
task in about 1 s) an idle environment parses each of its files once a second: a fork and a
new database session each time, a third of a core with four files. With MWAA's 30 a trigger
waits up to 30 s.

The "fast" timing parses a file at once when something is waiting on it, and otherwise once
each `min_file_process_interval`, as Airflow does:
- it is new (never parsed): Airflow's own rule;
- it, or another file in the DAG folder (a module it imports), changed since its last parse:
  an edited DAG reaches the UI as fast as a new one;
- one of its DAGs has a running DagRun: a trigger, a cleared task, the next task of a run;
- one of its DAGs was unpaused since its last parse: its due runs start.
What is not waited on (scheduled runs of an unpaused DAG coming due) waits for the interval,
as on MWAA.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """What the file processor manager knows at the start of one turn (times in seconds since
    the epoch)."""

    now: float
    interval_s: float  # min_file_process_interval: how often a file nothing waits on is parsed
    files: tuple[str, ...]  # the DAG files Airflow lists, in its order
    in_progress: Collection[str]  # files a processor is parsing now
    last_started: Mapping[str, float]  # when each file's last finished parse started
    last_finished: Mapping[str, float]  # and when it finished
    modified: Mapping[str, float]  # when each file was last seen to change
    folder_modified: float  # when another file of the DAG folder was last seen to change
    running: Collection[str]  # files with a running DagRun of one of their DAGs
    unpaused: Mapping[str, float]  # when one of each file's DAGs was last seen unpaused


def reason(turn: Turn, path: str) -> str | None:
    """Why `path` is parsed on this turn, or None when it waits."""
    if path in turn.in_progress:
        return None
    started = turn.last_started.get(path)
    if started is None:
        return "new file"
    if turn.modified.get(path, 0.0) >= started:
        return "file changed"
    if turn.folder_modified >= started:
        return "DAG folder changed"
    if path in turn.running:
        return "running DagRun"
    if turn.unpaused.get(path, 0.0) >= started:
        return "DAG unpaused"
    if turn.now - turn.last_finished.get(path, started) >= turn.interval_s:
        return f"not parsed for {turn.interval_s:g} s"
    return None


def due(turn: Turn) -> list[tuple[str, str]]:
    """The files to parse on this turn, each with its reason, in Airflow's order."""
    chosen = []
    for path in turn.files:
        why = reason(turn, path)
        if why is not None:
            chosen.append((path, why))
    return chosen
