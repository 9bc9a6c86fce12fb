"""Which DAG files the fast timing's scheduler parses on a turn (airflow_side/parse_policy.py)."""

from __future__ import annotations

import dataclasses

from emulator.airflow_side.parse_policy import Turn, due

A, B, C = "/dags/a.py", "/dags/b.py", "/dags/c.py"


def idle(**changes: object) -> Turn:
    """Three files, each last parsed from t=98 to t=99; now t=100, interval 10 s."""
    turn = Turn(
        now=100.0,
        interval_s=10.0,
        files=(A, B, C),
        in_progress=(),
        last_started={A: 98.0, B: 98.0, C: 98.0},
        last_finished={A: 99.0, B: 99.0, C: 99.0},
        modified={},
        folder_modified=0.0,
        running=(),
        unpaused={},
    )
    return dataclasses.replace(turn, **changes)


def test_an_idle_folder_is_not_parsed_again_before_the_interval() -> None:
    assert due(idle()) == []


def test_every_file_is_parsed_again_after_the_interval() -> None:
    assert [path for path, _ in due(idle(now=109.5))] == [A, B, C]
    assert due(idle(now=109.5))[0][1] == "not parsed for 10 s"


def test_a_new_file_is_parsed_at_once() -> None:
    turn = idle(files=(A, B, C, "/dags/new.py"))
    assert due(turn) == [("/dags/new.py", "new file")]


def test_a_file_changed_since_its_parse_started_is_parsed_at_once() -> None:
    # Changed while it was being parsed (98.5): that parse may have read the old text.
    assert due(idle(modified={B: 98.5})) == [(B, "file changed")]
    assert due(idle(modified={B: 97.0})) == []


def test_a_change_elsewhere_in_the_folder_parses_every_file() -> None:
    # A module the DAG files import changed: any of them may have a new DAG.
    assert [why for _, why in due(idle(folder_modified=99.5))] == ["DAG folder changed"] * 3


def test_a_file_with_a_running_dag_run_is_parsed_every_turn() -> None:
    assert due(idle(running={C})) == [(C, "running DagRun")]


def test_a_file_being_parsed_is_not_queued_twice() -> None:
    assert due(idle(running={C}, in_progress={C})) == []


def test_a_dag_unpaused_since_its_files_last_parse_is_parsed() -> None:
    assert due(idle(unpaused={A: 99.5})) == [(A, "DAG unpaused")]
    assert due(idle(unpaused={A: 90.0})) == []
