"""Running a DAG from a test as one would on MWAA: `unpause` and `trigger_dag` through the CLI
endpoint, then the run's state, its tasks' states and their logs from the Airflow UI.

The UI reads the DAGs the scheduler serialized (MWAA's `store_serialized_dags`), so this also
works for a DAG file that imports requirements.txt's packages, which the web server of MWAA
with Airflow 1.10.12 does not have (CLI commands such as `dag_state` parse the file there).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.testing.web import CliResult, UiSession

FINISHED = ("success", "failed")
POLL_S = 1.0


class DagRunError(AssertionError):
    """The DAG could not be run, or its run did not finish in time; the message says how far
    it got."""


@dataclass
class DagRunResult:
    dag_id: str
    run_id: str
    execution_date: str  # ISO 8601, as the UI and the CLI take it
    state: str  # the run's: success or failed
    tasks: dict[str, str | None] = field(default_factory=dict)  # task id -> state
    logs: dict[str, str] = field(default_factory=dict)  # task id -> its log, every try

    @property
    def ok(self) -> bool:
        return self.state == "success"


def _until(
    deadline: float, what: str, condition: Callable[[], Any], interval: float = POLL_S
) -> Any:
    last: Any = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise DagRunError(f"timed out waiting for {what}")
        time.sleep(interval)


def task_states(ui: UiSession, dag_id: str, execution_date: str) -> dict[str, dict[str, Any]]:
    return ui.get_json("/object/task_instances", dag_id=dag_id, execution_date=execution_date)


def run_state(ui: UiSession, dag_id: str, run_id: str) -> str | None:
    # Flask-AppBuilder's list API of the UI's DAG runs page; filter 3 of a text column is "equal".
    found = ui.get_json("/dagrun/api/read", _flt_3_dag_id=dag_id, _flt_3_run_id=run_id)
    for row in found.get("result", []):
        if row.get("run_id") == run_id and row.get("dag_id") == dag_id:
            return row.get("state")
    return None


def tries(instance: dict[str, Any]) -> int:
    """How many times a task instance ran: Airflow's `try_number` is the next try's number
    unless the task is running."""
    number = int(instance.get("try_number") or 0)
    return number if instance.get("state") == "running" else max(number - 1, 0)


def task_log(ui: UiSession, dag_id: str, task_id: str, execution_date: str, count: int) -> str:
    parts = []
    for number in range(1, count + 1):
        answer = ui.get_json(
            "/get_logs_with_metadata",
            dag_id=dag_id,
            task_id=task_id,
            execution_date=execution_date,
            try_number=number,
            metadata="null",
            format="json",
        )
        message = answer.get("message", "")
        text = "".join(message) if isinstance(message, list) else str(message)
        parts.append(text if count == 1 else f"--- try {number} ---\n{text}")
    return "\n".join(parts)


def run_dag(
    cli: Callable[[list[str]], CliResult],
    ui: UiSession,
    dag_id: str,
    conf: dict[str, Any] | None = None,
    timeout: float = 300,
) -> DagRunResult:
    """Unpause `dag_id`, trigger a run (with `conf`), wait until it finishes; its result."""
    deadline = time.monotonic() + timeout
    said: list[CliResult] = []

    def unpaused() -> bool:
        # The scheduler must know the DAG first (a fresh deploy takes it a few seconds).
        said[:] = [cli(["unpause", dag_id])]
        return "paused: False" in said[0].stdout

    try:
        _until(deadline, f"the environment to know DAG {dag_id} (unpause)", unpaused)
    except DagRunError as exc:
        raise DagRunError(f"{exc}; the last answer:\n{said[0].stderr[-2000:]}") from None

    started = datetime.now(UTC).replace(microsecond=0)
    created: list[tuple[str, str]] = []

    def triggered() -> bool:
        # A run needs an execution date of its own, not in the future (the scheduler would
        # wait for it); trigger_dag keeps whole seconds.
        when = max(started, datetime.now(UTC).replace(microsecond=0))
        if created:
            when = max(when, datetime.fromisoformat(created[-1][1]) + timedelta(seconds=1))
        execution_date = when.isoformat()
        run_id = f"mwaa_local_pytest__{execution_date}"
        argv = ["trigger_dag", dag_id, "--run_id", run_id, "--exec_date", execution_date]
        if conf is not None:
            argv += ["--conf", json.dumps(conf)]
        said[:] = [cli(argv)]
        created.append((run_id, execution_date))
        return "Created <DagRun" in said[0].stdout

    try:
        _until(deadline, f"trigger_dag {dag_id} to succeed", triggered)
    except DagRunError as exc:
        raise DagRunError(f"{exc}; the last answer:\n{said[0].stderr[-2000:]}") from None
    run_id, execution_date = created[-1]

    states: list[str | None] = [None]

    def finished() -> bool:
        states[0] = run_state(ui, dag_id, run_id)
        return states[0] in FINISHED

    try:
        _until(deadline, f"run {run_id} of {dag_id} to finish", finished)
    except DagRunError as exc:
        now = {t: i.get("state") for t, i in task_states(ui, dag_id, execution_date).items()}
        raise DagRunError(f"{exc} (after {timeout:g} s it is {states[0]}; tasks: {now})") from None

    instances = task_states(ui, dag_id, execution_date)
    result = DagRunResult(dag_id, run_id, execution_date, str(states[0]))
    for task_id, instance in sorted(instances.items()):
        result.tasks[task_id] = instance.get("state")
        count = tries(instance)
        if count:
            result.logs[task_id] = task_log(ui, dag_id, task_id, execution_date, count)
    return result
