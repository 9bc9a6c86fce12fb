"""Autoscaling on the native runtime, for real: mw1.small (5 tasks per worker), MinWorkers 1,
MaxWorkers 3, a short idle window. A burst of 30 parallel tasks brings up 3 workers and every
task succeeds, and once idle the environment is back to 1 worker; lowering MaxWorkers live
makes the autoscaler retire a busy worker, whose task still succeeds."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from emulator.environment import state_files
from tests.conftest import (
    Env,
    make_state_dir,
    mwaa_client,
    ports,
    wait_for_update,
    wait_until,
)

pytestmark = pytest.mark.native

# Ports of its own (not the native tier's, the Docker tier's nor the benches').
PORTS = ports(
    web=21080, https=21443, airflow=21081, s3=21900, postgres=21433, redis=21380, logs=21910
)
IDLE_WINDOW_S = 20
BURST = "autoscale_burst"
LONG = "autoscale_long"
LONG_TASK_S = 45

DAGS = f'''
from datetime import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperator

ARGS = {{"owner": "test", "start_date": datetime(2020, 1, 1), "retries": 0}}

with DAG("{BURST}", default_args=ARGS, schedule_interval=None, concurrency=32) as burst:
    for i in range(30):
        BashOperator(task_id=f"sleep_{{i:02d}}", bash_command="sleep 5")

with DAG("{LONG}", default_args=ARGS, schedule_interval=None) as long_dag:
    BashOperator(task_id="long", bash_command="sleep {LONG_TASK_S}")
'''

SPEC = {
    "Name": "mwaa-local",
    "AirflowVersion": "1.10.12",
    "EnvironmentClass": "mw1.small",
    "MinWorkers": 1,
    "MaxWorkers": 3,
    "SourceBucketArn": "arn:aws:s3:::airflow-mwaa-local",
    "DagS3Path": "dags",
    "AirflowConfigurationOptions": {
        "core.parallelism": "32",
        "core.dag_concurrency": "32",
    },
}


@pytest.fixture(scope="module")
def scaling_env():
    home = make_state_dir("mwaa-local-autoscale-")
    dags = home / "test-dags"
    dags.mkdir()
    (dags / "autoscale_dags.py").write_text(DAGS)
    spec = home / "environment.json"
    spec.write_text(json.dumps(SPEC))
    env = Env(
        home,
        PORTS,
        {
            "MWAA_LOCAL_ENVIRONMENT_FILE": str(spec),
            "MWAA_LOCAL_DAGS_FOLDER": str(dags),
            "MWAA_LOCAL_SCALE_IN_IDLE_S": str(IDLE_WINDOW_S),
        },
    )
    up = env.run("up", "--runtime", "native")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env
    finally:
        env.run("down")
        shutil.rmtree(home, ignore_errors=True)


def _db(env: Env):
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1",
        port=env.ports["postgres"],
        user="airflow",
        password="airflow",
        dbname="airflow",
    )
    conn.autocommit = True
    return conn


def _states(env: Env, dag_id: str) -> dict[str, int]:
    with _db(env) as conn, conn.cursor() as cur:
        cur.execute(
            "select coalesce(state, 'none'), count(*) from task_instance where dag_id = %s "
            "group by 1",
            (dag_id,),
        )
        return dict(cur.fetchall())


def _live_workers(env: Env) -> list[str]:
    """Worker processes of this environment that run, as `mwaa-local status` shows them."""
    return sorted(
        (
            c["name"]
            for c in env.status()["Components"]
            if c["name"].startswith("worker-") and c["state"] == "running"
        ),
        key=lambda w: int(w.split("-")[1]),
    )


def _decision(env: Env) -> dict:
    return state_files.read(env.home / "environment", state_files.AUTOSCALER) or {}


def _trigger(env: Env, dag_id: str) -> None:
    # The scheduler needs a moment to find the new DAG file: unpause fails until it has.
    wait_until(
        lambda: env.run("airflow", "unpause", dag_id, timeout=120).returncode == 0,
        120,
        f"{dag_id} to be known",
        interval=2,
    )
    env.airflow("trigger_dag", dag_id)


def node_running(redis_port: int, dag_id: str) -> str | None:
    """The Celery node (celery@worker-N natively) that runs a task of `dag_id` right now."""
    from celery import Celery

    app = Celery(broker=f"redis://127.0.0.1:{redis_port}/0")
    active = app.control.inspect(timeout=2.0).active() or {}
    for node, tasks in active.items():
        if any(dag_id in json.dumps(task, default=str) for task in tasks):
            return node.split("@", 1)[1]
    return None


def test_burst_scales_out_tasks_succeed_and_idle_scales_in(scaling_env: Env) -> None:
    env = scaling_env
    assert _live_workers(env) == ["worker-1"]
    status = env.status()
    assert status["Status"] == "AVAILABLE"
    assert status["Workers"]["wanted"] == 1
    assert "autoscaler" in {c["name"] for c in status["Components"]}

    # 30 parallel tasks on mw1.small (5 per worker): ceil(30 / 5) = 6, clamped to MaxWorkers 3.
    _trigger(env, BURST)
    most = wait_until(
        lambda: len(_live_workers(env)) >= 3 and _live_workers(env),
        180,
        "3 workers",
        interval=0.5,
    )
    assert most == ["worker-1", "worker-2", "worker-3"]
    status = env.status()
    names = {c["name"] for c in status["Components"]}
    assert {"worker-1", "worker-2", "worker-3"} <= names
    assert status["Workers"]["wanted"] == 3
    wait_until(
        lambda: _states(env, BURST).get("success") == 30 or _failed(env, BURST),
        300,
        "all 30 tasks of the burst to finish",
        interval=2,
    )
    assert _states(env, BURST) == {"success": 30}
    assert len(_live_workers(env)) == 3, "scaled in before the idle window"

    # Idle for the window: back to MinWorkers.
    remaining = wait_until(
        lambda: len(_live_workers(env)) == 1 and _live_workers(env),
        IDLE_WINDOW_S + 150,
        "scale-in to 1 worker",
        interval=1,
    )
    assert len(remaining) == 1
    decision = wait_until(
        lambda: (d := _decision(env)).get("current") == 1 and not d["retiring"] and d,
        30,
        "the autoscaler to record 1 worker",
    )
    assert decision["wanted"] == 1
    log = (env.home / "logs" / "autoscaler.log").read_text()
    assert "scale out 1 -> 3" in log
    assert "scale in 3 -> 1" in log or "scale in 2 -> 1" in log
    assert f"idle window {IDLE_WINDOW_S} s" in log
    text = env.run("status").stdout
    assert "workers: 1 running, 1 wanted" in text


def _consume(env: Env, worker: str, on: bool) -> None:
    """Make `worker` stop (or start again) taking tasks from the queue, so that a task goes
    to another worker: the test's way of choosing where the long task runs."""
    from celery import Celery

    control = Celery(broker=f"redis://127.0.0.1:{env.ports['redis']}/0").control
    node = [f"celery@{worker}"]
    if on:
        control.add_consumer("default", destination=node, reply=True, timeout=5)
    else:
        control.cancel_consumer("default", destination=node, reply=True, timeout=5)


def test_lowering_max_workers_retires_a_busy_worker_after_its_task(scaling_env: Env) -> None:
    """UpdateEnvironment lowers MaxWorkers while a long task runs on a worker above it: the
    autoscaler retires that worker, which finishes the task first (the grace period)."""
    env = scaling_env
    mwaa = mwaa_client(PORTS)
    wait_until(lambda: _live_workers(env) == ["worker-1"], IDLE_WINDOW_S + 150, "1 worker")
    mwaa.update_environment(Name="mwaa-local", MinWorkers=2)
    assert wait_for_update(mwaa, "mwaa-local")["Status"] == "AVAILABLE"
    wait_until(lambda: _live_workers(env) == ["worker-1", "worker-2"], 120, "2 workers")
    wait_until(lambda: env.component("worker-2")["healthy"], 60, "worker-2 to answer")
    done_before = _states(env, LONG).get("success", 0)
    _consume(env, "worker-1", on=False)
    try:
        _trigger(env, LONG)
        node = wait_until(
            lambda: node_running(env.ports["redis"], LONG), 120, "the long task", interval=1
        )
        assert node == "worker-2"
        mwaa.update_environment(Name="mwaa-local", MinWorkers=1, MaxWorkers=1)
        retired_at = time.monotonic()
        assert wait_for_update(mwaa, "mwaa-local")["Status"] == "AVAILABLE"
        wait_until(
            lambda: "worker-2" in (_decision(env).get("retiring") or []),
            60,
            "the autoscaler to retire worker-2",
        )
    finally:
        _consume(env, "worker-1", on=True)
    _wait_long_task(env, done_before)
    assert _states(env, LONG) == {"success": done_before + 1}, "the retired worker's task failed"
    assert time.monotonic() - retired_at > 5, "the task was over before its worker was retired"
    wait_until(lambda: _live_workers(env) == ["worker-1"], 60, "worker-2 to exit after its task")
    log = (env.home / "logs" / "autoscaler.log").read_text()
    assert "scale in 2 -> 1: above MaxWorkers 1" in log, log[-2000:]
    mwaa.update_environment(Name="mwaa-local", MaxWorkers=3)  # as the other tests expect it
    assert wait_for_update(mwaa, "mwaa-local")["Status"] == "AVAILABLE"


def _wait_long_task(env: Env, done_before: int) -> None:
    """Until one more run of the long task has ended (successfully or not)."""
    wait_until(
        lambda: _states(env, LONG).get("success") == done_before + 1 or _failed(env, LONG),
        LONG_TASK_S + 180,
        "the long task to finish",
        interval=1,
    )


def _failed(env: Env, dag_id: str) -> bool:
    states = _states(env, dag_id)
    return bool(states.get("failed") or states.get("upstream_failed"))


def test_live_update_of_min_workers_keeps_running_tasks(scaling_env: Env) -> None:
    """UpdateEnvironment of MinWorkers applies without a restart of the environment by hand,
    and a task running meanwhile is not killed (its worker finishes it first)."""
    from tests.conftest import mwaa_client, wait_for_update

    env = scaling_env
    # Back to MinWorkers (which one remains depends on which the first test retired).
    wait_until(lambda: len(_live_workers(env)) == 1, IDLE_WINDOW_S + 150, "1 worker")
    mwaa = mwaa_client(PORTS)
    done_before = _states(env, LONG).get("success", 0)
    _trigger(env, LONG)
    wait_until(
        lambda: node_running(env.ports["redis"], LONG), 120, "the long task to run", interval=1
    )
    mwaa.update_environment(Name="mwaa-local", MinWorkers=2)
    environment = wait_for_update(mwaa, "mwaa-local")
    assert environment["Status"] == "AVAILABLE", environment.get("LastUpdate")
    assert environment["MinWorkers"] == 2
    wait_until(lambda: len(_live_workers(env)) == 2, 120, "MinWorkers 2 workers", interval=1)
    _wait_long_task(env, done_before)
    assert _states(env, LONG) == {"success": done_before + 1}, "the update killed a running task"
    assert _decision(env)["wanted"] == 2
