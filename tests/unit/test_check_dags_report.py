"""check-dags' rules, without Airflow: the parser's answer in, problems and the report out."""

from __future__ import annotations

from typing import Any

from emulator.check_dags.report import build, find_cycle, render


def test_find_cycle_returns_a_closed_path_or_nothing() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) == []
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    # A diamond is no cycle; the cycle behind it is found from any start.
    edges = {"s": ["l", "r"], "l": ["j"], "r": ["j"], "j": ["x"], "x": ["y"], "y": ["x"]}
    assert find_cycle(edges) == ["x", "y", "x"]


def _file(path: str, *dags: dict[str, Any], errors: list | None = None) -> dict[str, Any]:
    return {"path": path, "seconds": 0.01, "dags": list(dags), "errors": errors or []}


def _dag(dag_id: str, **owners: str) -> dict[str, Any]:
    return {
        "dag_id": dag_id,
        "is_subdag": False,
        "tasks": [{"task_id": t, "owner": o} for t, o in owners.items()],
    }


def _parsed(*files: dict[str, Any], default_owner: str = "airflow") -> dict[str, Any]:
    return {
        "airflow_version": "1.10.12",
        "dags_folder": "/p/dags",
        "safe_mode": True,
        "default_owner": default_owner,
        "files": list(files),
        "ignored": [],
        "skipped": [],
    }


def _build(parsed: dict[str, Any], **kwargs: Any):
    return build(
        parsed,
        project=".",
        show=lambda p: p.removeprefix("/p/"),
        plugins="none",
        requirements="none",
        **kwargs,
    )


def test_a_dag_id_in_two_files_is_a_duplicate() -> None:
    report = _build(
        _parsed(
            _file("/p/dags/a.py", _dag("shared", t="me")),
            _file("/p/dags/b.py", _dag("shared", t="me"), _dag("own", t="me")),
        )
    )
    [problem] = report.problems
    assert problem.kind == "duplicate_dag_id"
    assert problem.dag_id == "shared"
    assert (problem.path, problem.other_paths) == ("dags/a.py", ["dags/b.py"])
    assert not report.ok


def test_owners_left_at_the_placeholder_are_reported_per_dag() -> None:
    report = _build(
        _parsed(
            _file("/p/dags/a.py", _dag("d", set="ops", unset="airflow", blank=" ", up="Airflow"))
        )
    )
    [problem] = report.problems
    assert problem.kind == "task_without_owner"
    assert problem.task_ids == ["unset", "blank", "up"]
    # An environment whose operators.default_owner is another name: that one is the placeholder.
    report = _build(_parsed(_file("/p/dags/a.py", _dag("d", t="airflow")), default_owner="nobody"))
    assert report.ok


def test_a_cycle_is_shown_as_its_path() -> None:
    error = {
        "kind": "cycle",
        "path": "/p/dags/c.py",
        "line": None,
        "message": "AirflowDagCycleException: Cycle detected in DAG. Faulty task: c to a",
        "dag_id": "c",
        "edges": {"a": ["b"], "b": ["c"], "c": ["a"]},
        "traceback": "",
    }
    report = _build(_parsed(_file("/p/dags/c.py", errors=[error])))
    assert [p.message for p in report.problems] == ["DAG 'c' has a cycle: a -> b -> c -> a"]
    assert "dags/c.py: cycle: DAG 'c' has a cycle: a -> b -> c -> a" in render(report)


def test_a_file_that_imports_only_with_requirements_is_a_warning() -> None:
    missing = {
        "kind": "import",
        "path": "/p/dags/u.py",
        "line": 3,
        "message": "ModuleNotFoundError: No module named 'probe'",
    }
    with_packages = _parsed(_file("/p/dags/u.py", _dag("u", t="me")))
    without = _parsed(_file("/p/dags/u.py", errors=[missing]))
    report = _build(with_packages, without_requirements=without)
    assert report.ok
    [warning] = report.warnings
    assert (warning.kind, warning.path, warning.line) == ("web_server_import", "dags/u.py", 3)
    text = render(report)
    assert "dags/u.py:3: warning: web server:" in text
    assert text.endswith("OK: no problems (1 warning); 1 DAG in 0.0 s")


def test_the_text_report_lists_problems_by_file_and_line_and_says_what_next() -> None:
    errors = [
        {"kind": "import", "path": "/p/dags/z.py", "line": 9, "message": "NameError: x"},
        {"kind": "import", "path": "/p/dags/a.py", "line": 2, "message": "ImportError: y"},
    ]
    report = _build(
        _parsed(_file("/p/dags/z.py", errors=errors[:1]), _file("/p/dags/a.py", errors=errors[1:]))
    )
    lines = render(report).splitlines()
    assert lines[-3:] == [
        "dags/z.py:9: import error: NameError: x",
        "",
        "FAILED: 2 problems; 0 DAGs in 0.0 s. Fix them, then run `mwaa-local check-dags` again.",
    ]
    assert lines[-4] == "dags/a.py:2: import error: ImportError: y"
    assert report.as_json()["ok"] is False


def test_a_traceback_shows_the_dag_files_paths_as_the_report_does() -> None:
    error = {
        "kind": "import",
        "path": "/p/dags/a.py",
        "line": 3,
        "message": "ImportError: y",
        "traceback": "Traceback (most recent call last):\n"
        '  File "/p/dags/a.py", line 3, in <module>\n'
        '  File "/p/plugins/helpers.py", line 1, in <module>\n',
    }
    text = render(_build(_parsed(_file("/p/dags/a.py", errors=[error]))))
    assert '  File "dags/a.py", line 3, in <module>' in text
    assert '  File "plugins/helpers.py", line 1, in <module>' in text
    assert "/p/" not in text
