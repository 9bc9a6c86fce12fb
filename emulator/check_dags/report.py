"""What `mwaa-local check-dags` found, decided from the parser's answer: pure, no I/O.

The parser (emulator/airflow_side/dag_parser.py) says, file by file, which DAGs Airflow found
and what it failed on. The rules here turn that into problems: import errors (file and line),
DAG ids defined twice, cycles, tasks with no owner, DAGs the scheduler could not serialize,
and a requirements.txt that does not install.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

# The parser's error kinds, as the report names them.
ERROR_KINDS = {
    "import": "import_error",
    "cycle": "cycle",
    "serialize": "serialization",
    "cron": "invalid_cron",
    "policy": "cluster_policy",
}
# How the text report names each kind.
TITLES = {
    "import_error": "import error",
    "duplicate_dag_id": "duplicate DAG id",
    "cycle": "cycle",
    "task_without_owner": "no owner",
    "serialization": "not serializable",
    "invalid_cron": "invalid schedule",
    "cluster_policy": "cluster policy",
    "requirements": "requirements",
    "web_server_import": "web server",
}
TRACEBACK_LINES = 12


@dataclass(frozen=True)
class Problem:
    kind: str  # a key of TITLES
    path: str | None  # as the user reads it: dags/broken.py
    line: int | None
    message: str
    dag_id: str | None = None
    task_ids: list[str] = field(default_factory=list)
    other_paths: list[str] = field(default_factory=list)  # a duplicate's other definitions
    detail: str = ""  # a traceback, or pip's last lines


@dataclass
class FileResult:
    path: str
    dag_ids: list[str]
    seconds: float


@dataclass
class Report:
    project: str
    dags_folder: str
    airflow_version: str
    safe_mode: bool
    plugins: str  # "plugins/ (3 files)" or "none"
    requirements: str  # pip's summary, or "none"
    files: list[FileResult] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # by .airflowignore
    skipped: list[str] = field(default_factory=list)  # by safe mode
    problems: list[Problem] = field(default_factory=list)
    # Worth knowing, but the environment runs them: they do not fail the check.
    warnings: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def dag_ids(self) -> list[str]:
        return sorted({d for f in self.files for d in f.dag_ids})

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["dag_ids"] = self.dag_ids
        return data


def find_cycle(edges: dict[str, list[str]]) -> list[str]:
    """One cycle of the graph `edges` (task -> downstream tasks), as a path that ends where it
    starts (["a", "b", "a"]); [] when there is none."""
    done: set[str] = set()
    for start in sorted(edges):
        if start in done:
            continue
        path: list[str] = []
        on_path: dict[str, int] = {}
        stack: list[tuple[str, list[str]]] = [(start, sorted(edges.get(start, [])))]
        path.append(start)
        on_path[start] = 0
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                done.add(node)
                on_path.pop(path.pop())
                continue
            nxt = pending.pop(0)
            if nxt in on_path:
                return [*path[on_path[nxt] :], nxt]
            if nxt in done:
                continue
            on_path[nxt] = len(path)
            path.append(nxt)
            stack.append((nxt, sorted(edges.get(nxt, []))))
    return []


def _tail(text: str, lines: int = TRACEBACK_LINES) -> str:
    kept = text.rstrip().splitlines()
    if len(kept) > lines:
        kept = ["...", *kept[-lines:]]
    return "\n".join(kept)


def _error_problem(error: dict[str, Any], show: Callable[[str], str]) -> Problem:
    kind = ERROR_KINDS.get(error.get("kind", "import"), "import_error")
    message = error.get("message") or "unknown error"
    if kind == "cycle" and error.get("edges"):
        cycle = find_cycle(error["edges"])
        if cycle:
            message = f"DAG '{error.get('dag_id')}' has a cycle: {' -> '.join(cycle)}"
    elif kind == "serialization":
        message = (
            f"DAG '{error.get('dag_id')}' cannot be serialized ({message}): with "
            "store_serialized_dags, MWAA's setting, it never shows in the UI"
        )
    return Problem(
        kind=kind,
        path=show(error["path"]) if error.get("path") else None,
        line=error.get("line"),
        message=message,
        dag_id=error.get("dag_id"),
        detail=_shown_frames(_tail(error.get("traceback", "")), show),
    )


def _shown_frames(traceback: str, show: Callable[[str], str]) -> str:
    """A traceback's `File "..."` paths as the rest of the report shows paths."""
    return re.sub(r'File "([^"]+)"', lambda m: f'File "{show(m.group(1))}"', traceback)


def _owner_problems(
    parsed: dict[str, Any], show: Callable[[str], str], placeholder: str
) -> list[Problem]:
    problems = []
    for file in parsed["files"]:
        for dag in file["dags"]:
            missing = [
                t["task_id"]
                for t in dag["tasks"]
                if not (t.get("owner") or "").strip()
                or t["owner"].strip().lower() == placeholder.lower()
            ]
            if missing:
                problems.append(
                    Problem(
                        kind="task_without_owner",
                        path=show(file["path"]),
                        line=None,
                        message=(
                            f"DAG '{dag['dag_id']}': task"
                            f"{'s' if len(missing) != 1 else ''} "
                            f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''} "
                            f"{'have' if len(missing) != 1 else 'has'} no owner but Airflow's "
                            f"placeholder '{placeholder}' (operators.default_owner): set "
                            "'owner' in the DAG's default_args or on the task"
                        ),
                        dag_id=dag["dag_id"],
                        task_ids=missing,
                    )
                )
    return problems


def _duplicate_problems(parsed: dict[str, Any], show: Callable[[str], str]) -> list[Problem]:
    where: dict[str, list[str]] = {}
    for file in parsed["files"]:
        for dag in file["dags"]:
            where.setdefault(dag["dag_id"], []).append(show(file["path"]))
    problems = []
    for dag_id, paths in sorted(where.items()):
        if len(paths) < 2:
            continue
        problems.append(
            Problem(
                kind="duplicate_dag_id",
                path=paths[0],
                line=None,
                message=(
                    f"DAG id '{dag_id}' is defined {len(paths)} times "
                    f"({', '.join(paths)}): Airflow keeps whichever file it parsed last, so "
                    "the others never run and the UI shows their code at random"
                ),
                dag_id=dag_id,
                other_paths=paths[1:],
            )
        )
    return problems


def _web_server_warnings(
    parsed: dict[str, Any], without_requirements: dict[str, Any], show: Callable[[str], str]
) -> list[Problem]:
    """Files that import only with requirements.txt's packages. On MWAA with Airflow 1.10.12
    they reach the scheduler and the workers, not the web server, where the CLI runs."""
    failed_there = {
        f["path"]: f["errors"][0]
        for f in without_requirements["files"]
        if any(e.get("kind") == "import" for e in f["errors"])
    }
    warnings = []
    for file in parsed["files"]:
        if file["path"] in failed_there and not file["errors"]:
            error = failed_there[file["path"]]
            warnings.append(
                Problem(
                    kind="web_server_import",
                    path=show(file["path"]),
                    line=error.get("line"),
                    message=(
                        f"parses only with requirements.txt's packages ({error['message']}): "
                        "on MWAA with Airflow 1.10.12 the web server has none of them, so the "
                        "CLI commands that parse DAG files there (list_dags, dag_state, "
                        "list_tasks, task_state, test, ...) fail for it; import the package "
                        "inside the task instead"
                    ),
                )
            )
    return warnings


def build(
    parsed: dict[str, Any],
    *,
    project: str,
    show: Callable[[str], str],
    plugins: str,
    requirements: str,
    requirements_problem: Problem | None = None,
    without_requirements: dict[str, Any] | None = None,
    seconds: float = 0.0,
) -> Report:
    """The report for the parser's answer `parsed`; `show` turns a path into the one to print.
    `without_requirements` is the parser's answer for the web server (no requirements)."""
    report = Report(
        project=project,
        dags_folder=show(parsed["dags_folder"]),
        airflow_version=parsed["airflow_version"],
        safe_mode=parsed["safe_mode"],
        plugins=plugins,
        requirements=requirements,
        ignored=[show(p) for p in parsed["ignored"]],
        skipped=[show(p) for p in parsed["skipped"]],
        seconds=seconds,
    )
    if requirements_problem is not None:
        report.problems.append(requirements_problem)
    for file in parsed["files"]:
        report.files.append(
            FileResult(show(file["path"]), [d["dag_id"] for d in file["dags"]], file["seconds"])
        )
        report.problems += [_error_problem(e, show) for e in file["errors"]]
    report.problems += _duplicate_problems(parsed, show)
    report.problems += _owner_problems(parsed, show, parsed.get("default_owner") or "airflow")
    if without_requirements is not None:
        report.warnings += _web_server_warnings(parsed, without_requirements, show)
    report.files.sort(key=lambda f: f.path)
    report.problems.sort(key=lambda p: (p.kind != "requirements", p.path or "", p.line or 0))
    return report


def _location(problem: Problem) -> str:
    if problem.path is None:
        return ""
    return f"{problem.path}:{problem.line}: " if problem.line else f"{problem.path}: "


def render(report: Report) -> str:
    """The report as a person reads it."""
    lines = [
        f"check-dags: {len(report.files)} DAG file{'s' if len(report.files) != 1 else ''} in "
        f"{report.dags_folder} (Airflow {report.airflow_version}, "
        f"safe mode {'on' if report.safe_mode else 'off'})",
        f"  plugins:      {report.plugins}",
        f"  requirements: {report.requirements}",
    ]
    if report.ignored:
        lines.append(f"  ignored by .airflowignore: {', '.join(report.ignored)}")
    if report.skipped:
        lines.append(
            "  skipped by safe mode (no 'airflow' and 'DAG' in the file): "
            + ", ".join(report.skipped)
        )
    if report.problems:
        lines.append("")
    for problem in report.problems:
        lines.append(f"{_location(problem)}{TITLES[problem.kind]}: {problem.message}")
        if problem.detail:
            lines += [f"    {line}" for line in problem.detail.splitlines()]
    if report.warnings:
        lines.append("")
    for warning in report.warnings:
        lines.append(f"{_location(warning)}warning: {TITLES[warning.kind]}: {warning.message}")
    lines.append("")
    dags = len(report.dag_ids)
    summary = f"{dags} DAG{'s' if dags != 1 else ''} in {report.seconds:.1f} s"
    if report.ok:
        warned = len(report.warnings)
        also = f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""
        lines.append(f"OK: no problems{also}; {summary}")
    else:
        count = len(report.problems)
        lines.append(
            f"FAILED: {count} problem{'s' if count != 1 else ''}; {summary}. "
            "Fix them, then run `mwaa-local check-dags` again."
        )
    return "\n".join(lines)
