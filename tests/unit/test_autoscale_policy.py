"""The autoscaler's policy, without any process: MWAA's rule from mwaa-behaviour.md section 5."""

from __future__ import annotations

import pytest

from emulator.autoscaler.policy import Observation, decide, demand, retire_order
from emulator.environment.airflow_config import tasks_per_worker
from emulator.environment.spec import validate

SPEC = {
    "Name": "mwaa-local",
    "AirflowVersion": "1.10.12",
    "EnvironmentClass": "mw1.small",
    "MinWorkers": 1,
    "MaxWorkers": 3,
    "SourceBucketArn": "arn:aws:s3:::airflow-mwaa-local",
    "DagS3Path": "dags",
}


def _obs(busy: int, workers: int, idle: float = 0.0, **kw) -> Observation:
    base = dict(
        busy=busy,
        tasks_per_worker=5,
        min_workers=1,
        max_workers=3,
        workers=tuple(f"worker-{i}" for i in range(1, workers + 1)),
        idle_for_s=idle,
        idle_window_s=120.0,
    )
    base.update(kw)
    return Observation(**base)


@pytest.mark.parametrize(
    ("busy", "expected"),
    [(0, 1), (1, 1), (5, 1), (6, 2), (10, 2), (11, 3), (30, 3), (1000, 3)],
)
def test_demand_is_ceil_of_busy_over_tasks_per_worker_clamped(busy: int, expected: int) -> None:
    assert demand(busy, 5, 1, 3) == expected


def test_tasks_per_worker_comes_from_the_class_or_worker_autoscale() -> None:
    assert tasks_per_worker(validate(SPEC)) == 5
    assert tasks_per_worker(validate({**SPEC, "EnvironmentClass": "mw1.large"})) == 20
    tuned = {**SPEC, "AirflowConfigurationOptions": {"celery.worker_autoscale": "3,1"}}
    assert tasks_per_worker(validate(tuned)) == 3
    assert demand(7, tasks_per_worker(validate(tuned)), 1, 3) == 3


def test_backlog_scales_out_at_once() -> None:
    decision = decide(_obs(busy=30, workers=1))
    assert (decision.wanted, decision.start, decision.retire) == (3, 2, ())
    assert decision.reason.startswith("scale out 1 -> 3")
    assert "30 queued+running" in decision.reason


def test_scale_out_stops_at_max_workers() -> None:
    decision = decide(_obs(busy=30, workers=3))
    assert (decision.wanted, decision.start, decision.retire) == (3, 0, ())
    assert not decision.changes


def test_some_work_left_holds_the_workers() -> None:
    decision = decide(_obs(busy=1, workers=3))
    assert (decision.wanted, decision.start, decision.retire) == (3, 0, ())
    assert decision.reason.startswith("hold 3")


def test_idle_below_the_window_holds() -> None:
    decision = decide(_obs(busy=0, workers=3, idle=119))
    assert not decision.changes
    assert "idle window" in decision.reason


def test_idle_for_the_window_scales_in_to_min_workers_newest_first() -> None:
    decision = decide(_obs(busy=0, workers=3, idle=120))
    assert decision.wanted == 1
    assert decision.start == 0
    assert decision.retire == ("worker-3", "worker-2")
    assert decision.reason.startswith("scale in 3 -> 1")


def test_idle_window_is_configurable() -> None:
    assert decide(_obs(busy=0, workers=2, idle=20, idle_window_s=20)).retire == ("worker-2",)
    assert not decide(_obs(busy=0, workers=2, idle=19, idle_window_s=20)).changes


def test_idle_at_min_workers_does_nothing() -> None:
    decision = decide(_obs(busy=0, workers=1, idle=10_000))
    assert not decision.changes
    assert decision.wanted == 1


def test_below_min_workers_starts_the_missing_ones() -> None:
    decision = decide(_obs(busy=0, workers=0, min_workers=2))
    assert (decision.wanted, decision.start) == (2, 2)


def test_lowered_max_workers_retires_the_extra_at_once_even_while_busy() -> None:
    decision = decide(_obs(busy=50, workers=3, max_workers=2))
    assert decision.wanted == 2
    assert decision.retire == ("worker-3",)
    assert "MaxWorkers" in decision.reason


def test_raised_min_workers_starts_workers() -> None:
    decision = decide(_obs(busy=0, workers=1, min_workers=3, max_workers=5, idle=500))
    assert (decision.wanted, decision.start, decision.retire) == (3, 2, ())


def test_retire_order_is_by_number_not_by_text() -> None:
    assert retire_order(["worker-2", "worker-10", "worker-1"]) == [
        "worker-10",
        "worker-2",
        "worker-1",
    ]
