"""Parse a DAGs folder as Airflow 1.10.12's scheduler does, and write what it found as JSON.

Run as ``python -P -m emulator.airflow_side.dag_parser OUTPUT`` (by emulator/check_dags/) in the
environment a component of the environment has: its AIRFLOW__* configuration, the plugins
folder staged from plugins/, requirements.txt's packages on PYTHONPATH. Only this process
imports Airflow; it prints nothing of its own (DAG files may print), the result goes to OUTPUT.

The folder is walked with Airflow's own ``list_py_file_paths`` (``.airflowignore``, and
``core.dag_discovery_safe_mode``) and each file goes through ``DagBag.process_file``, the call
the scheduler's file processors make, one file at a time so that every DAG is known with the
file it came from (DagBag keeps only the last of two DAGs with one id). What DagBag keeps as a
one-line import error is taken with its traceback from DagBag's own log record.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# DagBag's messages for a file it could not import, or a DAG it could not add (a cycle, a bad
# cron expression, a cluster policy violation); the record carries the exception.
_FAILED = ("Failed to import", "Failed to bag_dag")


class _Captured(logging.Handler):
    """Keeps the exceptions of DagBag's failure records."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failures: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and str(record.msg).startswith(_FAILED):
            exc = record.exc_info[1]
            if exc is not None:
                self.failures.append(exc)


def _frames_in(exc: BaseException, path: str) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]


def _where(exc: BaseException, path: str) -> tuple[str, int | None]:
    """The file and line to show for `exc` raised while importing `path`."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    frames = _frames_in(exc, path)
    if frames:
        return path, frames[-1].lineno
    return path, None


def _traceback(exc: BaseException, path: str) -> str:
    """What shows where it went wrong: for a syntax error the line and its caret, else the
    traceback from the DAG file's first frame on (Airflow's import machinery is noise)."""
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(type(exc), exc)[:-1])
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if f.filename == path), None)
    if start is None:  # not from the file's code (a cycle, say): the message says it all
        return ""
    # The exception's own line is the problem's message already.
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames[start:])]
    return "".join(lines)


def _error(exc: BaseException, path: str, kind: str, dag: Any = None) -> dict[str, Any]:
    where, line = _where(exc, path)
    error: dict[str, Any] = {
        "kind": kind,
        "path": where,
        "line": line,
        "type": type(exc).__name__,
        "message": traceback.format_exception_only(type(exc), exc)[-1].strip(),
        "traceback": _traceback(exc, path),
    }
    if dag is not None:
        error["dag_id"] = dag.dag_id
        error["edges"] = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    return error


def _dag(dag: Any) -> dict[str, Any]:
    return {
        "dag_id": dag.dag_id,
        "is_subdag": bool(dag.is_subdag),
        "tasks": [{"task_id": t.task_id, "owner": t.owner} for t in dag.tasks],
    }


def parse(dags_folder: str) -> dict[str, Any]:
    from airflow import settings
    from airflow.configuration import conf
    from airflow.exceptions import AirflowDagCycleException
    from airflow.models import DagBag
    from airflow.utils.dag_processing import list_py_file_paths

    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode")
    every = list_py_file_paths(dags_folder, safe_mode=False, include_examples=False)
    listed = list_py_file_paths(dags_folder, safe_mode=safe_mode, include_examples=False)
    python_files = [
        str(p) for p in sorted(Path(dags_folder).rglob("*.py")) if "__pycache__" not in p.parts
    ]

    captured = _Captured()
    logging.getLogger("airflow.models.dagbag.DagBag").addHandler(captured)
    bag = DagBag(os.devnull, include_examples=False)
    failing: list[Any] = []  # the DAGs whose bagging raised, innermost first
    original = bag.bag_dag

    def bag_dag(dag: Any, parent_dag: Any, root_dag: Any) -> None:
        try:
            original(dag, parent_dag, root_dag)
        except AirflowDagCycleException:
            failing.append(dag)
            raise

    bag.bag_dag = bag_dag  # recursion into subdags goes through it too
    files = []
    for path in listed:
        captured.failures.clear()
        failing.clear()
        started = time.monotonic()
        found = bag.process_file(path, only_if_updated=False, safe_mode=safe_mode)
        seconds = time.monotonic() - started
        unique = list({id(d): d for d in found}.values())  # one DAG bound to two names
        errors = []
        for exc in captured.failures:
            if isinstance(exc, AirflowDagCycleException):
                errors.append(_error(exc, path, "cycle", failing[0] if failing else None))
            elif exc.__class__.__name__ == "AirflowClusterPolicyViolation":
                errors.append(_error(exc, path, "policy"))
            elif "Cron" in exc.__class__.__name__:
                errors.append(_error(exc, path, "cron"))
            else:
                errors.append(_error(exc, path, "import"))
        for dag in unique:
            if not dag.is_subdag:
                problem = _serialization_problem(dag, path)
                if problem is not None:
                    errors.append(problem)
        # A failure DagBag recorded without logging its exception: keep its one line.
        if not errors and path in bag.import_errors:
            message = bag.import_errors[path]
            errors.append({"kind": "import", "path": path, "line": None, "message": message})
        files.append(
            {
                "path": path,
                "seconds": round(seconds, 4),
                "dags": [_dag(d) for d in unique],
                "errors": errors,
            }
        )
    return {
        "airflow_version": _airflow_version(),
        "dags_folder": dags_folder,
        "plugins_folder": settings.PLUGINS_FOLDER,
        "safe_mode": safe_mode,
        "default_owner": conf.get("operators", "default_owner"),
        "import_timeout": conf.getint("core", "dagbag_import_timeout"),
        "files": files,
        "ignored": [p for p in python_files if p not in every],
        "skipped": [p for p in every if p not in listed],
    }


def _serialization_problem(dag: Any, path: str) -> dict[str, Any] | None:
    """With `store_serialized_dags` (MWAA's setting) the scheduler stores every DAG serialized
    and the web server reads it back: a DAG that cannot make the round trip never shows."""
    from airflow.serialization.serialized_objects import SerializedDAG

    try:
        SerializedDAG.from_dict(SerializedDAG.to_dict(dag))
    except Exception as exc:  # noqa: BLE001 - any failure keeps the DAG out of the UI
        error = _error(exc, path, "serialize")
        error["dag_id"] = dag.dag_id
        return error
    return None


def _airflow_version() -> str:
    import airflow

    return str(airflow.__version__)


def _create_tables() -> None:
    """The metadata tables in the throwaway database: DAG files that read a Variable or a
    Connection while they are parsed get Airflow's own answer (a default, or a KeyError)."""
    import airflow.models  # noqa: F401 - every model registers its table
    from airflow import settings
    from airflow.models.base import Base

    Base.metadata.create_all(settings.engine)


def main(argv: list[str]) -> int:
    output = Path(argv[0])
    _create_tables()
    result = parse(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    output.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
