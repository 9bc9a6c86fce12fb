"""Faults mid-run on the native environment end with nothing lost: a worker's whole process
tree killed mid-task, PostgreSQL and Redis going away and coming back, supervisord itself
killed, and `down` while tasks run. Every DAG run ends as its retries say, the API answers 503
while a server it needs is away and by itself again after, and variables, connections, pools
and finished runs are as they were."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import psutil
import psycopg2
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.runtime.processes import Supervisor
from tests.conftest import NATIVE_PORTS, Env, mwaa_client, s3_client, wait_until

pytestmark = pytest.mark.native

NAME = "mwaa-local"
BUCKET = "airflow-mwaa-local"
WEB = f"http://127.0.0.1:{NATIVE_PORTS['web']}"
# MWAA_LOCAL_TIMING=fast: a task whose worker died is failed or retried within this.
ZOMBIE_DECIDED_S = 60
FAULT_DAGS = """\
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash_operator import BashOperator

# The first try sleeps dag_run.conf["sleep"] seconds (the fault comes meanwhile); a retry
# finishes at once.
SLEEP = "sleep {{ dag_run.conf.get('sleep', 0) if ti.try_number == 1 else 0 }}; echo done"
ARGS = {"retry_delay": timedelta(seconds=1), "owner": "faults"}

with DAG("fault_worker_kill", start_date=datetime(2020, 1, 1), schedule_interval=None,
         default_args=ARGS) as worker_kill:
    BashOperator(task_id="with_retry", retries=1, bash_command=SLEEP)
    BashOperator(task_id="without_retry", retries=0, bash_command=SLEEP)

with DAG("fault_server_restart", start_date=datetime(2020, 1, 1), schedule_interval=None,
         default_args=ARGS) as server_restart:
    first = BashOperator(task_id="first", retries=0, bash_command=SLEEP)
    then = BashOperator(task_id="then", retries=0, bash_command="echo after the fault")
    first >> then
"""


def _db():
    return psycopg2.connect(
        host="127.0.0.1",
        port=NATIVE_PORTS["postgres"],
        user="airflow",
        password="airflow",
        dbname="airflow",
        connect_timeout=3,
    )


def _query(sql: str, *args: object) -> list[tuple]:
    with _db() as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def _snapshot() -> dict[str, list]:
    """What a fault must not change: variables, connections, pools, finished runs."""
    return {
        "variables": _query("select key, val from variable order by key"),
        "connections": _query(
            "select conn_id, conn_type, host, login, password, port, extra from connection "
            "order by conn_id"
        ),
        "pools": _query("select pool, slots, description from slot_pool order by pool"),
        "runs": _query(
            "select dag_id, run_id, state, execution_date from dag_run "
            "where state in ('success', 'failed') order by dag_id, run_id"
        ),
    }


@pytest.fixture(scope="module")
def env(native_env) -> Iterator[Env]:
    environment, _ = native_env
    mwaa = mwaa_client(NATIVE_PORTS)
    wait_until(
        lambda: mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "AVAILABLE",
        180,
        "AVAILABLE",
    )
    s3_client(NATIVE_PORTS).put_object(Bucket=BUCKET, Key="dags/fault_dags.py", Body=FAULT_DAGS)
    environment.airflow("variables", "--set", "fault_probe_variable", "kept")
    environment.airflow("pool", "--set", "fault_probe_pool", "3", "kept across faults")
    environment.airflow(
        "connections", "--add", "--conn_id", "fault_probe_connection", "--conn_uri",
        "postgresql://user:secret@db.example:5432/kept",
    )  # fmt: skip
    for dag in ("fault_worker_kill", "fault_server_restart"):
        wait_until(
            lambda dag=dag: environment.run("airflow", "unpause", dag).returncode == 0,
            180,
            f"the scheduler to know {dag}",
            interval=2,
        )
    before = _snapshot()
    yield environment
    after = _snapshot()
    for kind in before:
        if kind == "runs":  # runs that finished before the faults are as they were
            assert set(before[kind]) <= set(after[kind]), "a finished DAG run changed"
        else:
            assert after[kind] == before[kind], f"{kind} changed across the faults"
    environment.airflow("variables", "--delete", "fault_probe_variable")
    environment.airflow("pool", "--delete", "fault_probe_pool")
    environment.airflow("connections", "--delete", "--conn_id", "fault_probe_connection")


def _trigger(env: Env, dag: str, sleep: int) -> str:
    run_id = f"fault_{time.time_ns()}"
    out = env.run(
        "airflow", "trigger_dag", dag, "--run_id", run_id, "-c", json.dumps({"sleep": sleep})
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return run_id


def _tasks(dag: str, run_id: str) -> dict[str, tuple[str | None, int]]:
    rows = _query(
        "select ti.task_id, ti.state, ti.try_number from task_instance ti join dag_run r "
        "on r.dag_id = ti.dag_id and r.execution_date = ti.execution_date "
        "where r.dag_id = %s and r.run_id = %s",
        dag,
        run_id,
    )
    return {task: (state, tries) for task, state, tries in rows}


def _run_state(dag: str, run_id: str) -> str | None:
    rows = _query("select state from dag_run where dag_id = %s and run_id = %s", dag, run_id)
    return rows[0][0] if rows else None


def _finished(dag: str, run_id: str, timeout: float) -> str:
    def done() -> str | None:
        try:
            state = _run_state(dag, run_id)
        except psycopg2.OperationalError:
            return None
        return state if state in ("success", "failed") else None

    return str(wait_until(done, timeout, f"{dag} run {run_id} to finish", interval=1))


def _running(dag: str, run_id: str, tasks: list[str]) -> None:
    wait_until(
        lambda: all(_tasks(dag, run_id).get(t, (None, 0))[0] == "running" for t in tasks),
        180,
        f"{', '.join(tasks)} of {dag} to be running",
        interval=1,
    )


def _sleeping(env: Env, seconds: int) -> None:
    """Wait until a task's command runs (its `sleep`, under a worker): from then on the task
    needs no database until it ends. A task still starting up reads the database and fails
    its try when it is away, which is Airflow's behaviour, not the fault this measures."""

    def found() -> bool:
        for component in env.status()["Components"]:
            if component["name"].startswith("worker-") and component.get("pid"):
                try:
                    below = psutil.Process(component["pid"]).children(recursive=True)
                    if any(p.cmdline() == ["sleep", str(seconds)] for p in below):
                        return True
                except psutil.Error:
                    continue
        return False

    wait_until(found, 120, f"a task's `sleep {seconds}` to run", interval=0.5)


def _supervisor(env: Env) -> Supervisor:
    return Supervisor(env.home / "run", env.home / "logs")


def _available(env: Env) -> None:
    wait_until(lambda: env.status()["Status"] == "AVAILABLE", 240, "AVAILABLE again", interval=2)


def _no_retry_client():
    """boto3's MWAA client with botocore's retries off: a 503 is seen, not retried."""
    import boto3

    return boto3.client(
        "mwaa",
        endpoint_url=WEB,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1, "mode": "standard"}),
    )


def _error_code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_a_worker_killed_mid_task_has_its_tasks_retried_or_failed(env) -> None:
    run_id = _trigger(env, "fault_worker_kill", sleep=120)
    _running("fault_worker_kill", run_id, ["with_retry", "without_retry"])
    # The whole tree of every worker: mwaa-local run, Celery and its pool, the task runners.
    tree = []
    for component in env.status()["Components"]:
        if component["name"].startswith("worker-") and component.get("pid"):
            leader = psutil.Process(component["pid"])
            tree += [leader, *leader.children(recursive=True)]
    assert any("airflow" in " ".join(p.cmdline()) for p in tree), "no task under the workers"
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):  # a short-lived child may be gone
            proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()

    def decided() -> dict | None:
        tasks = _tasks("fault_worker_kill", run_id)
        state, tries = tasks["with_retry"]
        # Airflow counts a try when it starts: up for retry after try 1, or try 2 under way.
        retried = state == "up_for_retry" or (
            state in ("queued", "running", "success") and tries >= 2
        )
        return tasks if retried and tasks["without_retry"][0] == "failed" else None

    tasks = wait_until(decided, ZOMBIE_DECIDED_S, "the dead worker's tasks to be decided")
    print(f"decided {time.monotonic() - killed:.0f} s after the kill: {tasks}")
    assert _finished("fault_worker_kill", run_id, 240) == "failed"  # without_retry failed
    final = _tasks("fault_worker_kill", run_id)
    assert final["with_retry"][0] == "success", final  # its retry ran on the new worker
    assert final["without_retry"] == ("failed", 1), final
    _available(env)


def test_a_postgresql_outage_answers_503_and_everything_reconnects(env) -> None:
    run_id = _trigger(env, "fault_server_restart", sleep=25)
    _running("fault_server_restart", run_id, ["first"])
    _sleeping(env, 25)
    token = mwaa_client(NATIVE_PORTS).create_cli_token(Name=NAME)["CliToken"]
    reporting = _reporting_since(time.time() - 15)
    assert {"autoscaler", "scheduler", "webserver", "worker-1"} <= {
        c.split("@")[0] for c in reporting
    }
    supervisor = _supervisor(env)
    supervisor.stop("postgres", wait=True)
    try:
        mwaa = _no_retry_client()
        assert _error_code(lambda: mwaa.get_environment(Name=NAME)) == (
            "ServiceUnavailableException"
        )
        assert _error_code(lambda: mwaa.create_cli_token(Name=NAME)) == (
            "ServiceUnavailableException"
        )
        answer = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
             "-H", f"Authorization: Bearer {token}", "--data-raw", "version",
             f"{WEB}/aws_mwaa/cli"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert answer.stdout == "503"
    finally:
        supervisor.start("postgres", wait=True)
    assert _finished("fault_server_restart", run_id, 300) == "success"
    assert set(_tasks("fault_server_restart", run_id).values()) == {("success", 1)}
    assert mwaa_client(NATIVE_PORTS).get_environment(Name=NAME)["Environment"]["Name"] == NAME
    _available(env)
    # Every service reports the definition it runs again, which UpdateEnvironment waits for:
    # the database connections they keep were opened anew.
    back = time.time()
    wait_until(lambda: _reporting_since(back) >= reporting, 30, "every service to report again")


def _reporting_since(moment: float) -> set[str]:
    """The services that told the database which definition they run since `moment`."""
    rows = _query("select component from mwaa_local_component where seen_at > %s", moment)
    return {component for (component,) in rows}


def test_a_redis_outage_answers_503_for_queueing_and_a_crash_heals(env) -> None:
    supervisor = _supervisor(env)
    token = mwaa_client(NATIVE_PORTS).create_cli_token(Name=NAME)["CliToken"]
    supervisor.stop("redis", wait=True)
    try:
        answer = subprocess.run(
            ["curl", "-s", "-X", "POST", "-H", f"Authorization: Bearer {token}",
             "--data-raw", "run fault_server_restart then 2020-01-01", f"{WEB}/aws_mwaa/cli"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        body = json.loads(answer.stdout)
        assert "broker" in body["message"], body
        # The control plane does not need the broker: it answers, and says UNAVAILABLE.
        mwaa = mwaa_client(NATIVE_PORTS)
        wait_until(
            lambda: mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "UNAVAILABLE",
            60,
            "UNAVAILABLE while Redis is away",
        )
    finally:
        supervisor.start("redis", wait=True)
    _available(env)
    # A crash mid-run: redis-server killed, supervisord starts it again by itself.
    run_id = _trigger(env, "fault_server_restart", sleep=20)
    _running("fault_server_restart", run_id, ["first"])
    _sleeping(env, 20)
    redis = next(c for c in env.status()["Components"] if c["name"] == "redis")
    os.kill(redis["pid"], signal.SIGKILL)
    assert _finished("fault_server_restart", run_id, 300) == "success"
    assert set(_tasks("fault_server_restart", run_id).values()) == {("success", 1)}
    _available(env)


def _ours(env: Env) -> list[psutil.Process]:
    """Every process of this environment: its folder is in their command lines, or they are
    below one whose is, or they have its supervisord's address (as all its processes do)."""
    found = {p.pid: p for p in _supervisor(env).orphans()}
    for proc in psutil.process_iter():
        try:
            if str(env.home) in " ".join(proc.cmdline()):
                for each in [proc, *proc.children(recursive=True)]:
                    found[each.pid] = each
        except psutil.Error:
            continue
    return list(found.values())


def test_down_within_30_s_and_up_after_a_crash_the_first_time(env) -> None:
    try:
        run_id = _trigger(env, "fault_server_restart", sleep=90)
        _running("fault_server_restart", run_id, ["first"])
        # `down` while a task runs: everything stops within 30 s, and no lock is left.
        env.ok("down", timeout=30)
        assert _ours(env) == [], "processes left running after down"
        assert not (env.home / "postgres" / "data" / "postmaster.pid").exists()
        env.ok("up", "--runtime", "native", timeout=600)

        # A crash: supervisord and everything under it killed at once, as a power cut would.
        victims = _ours(env)
        for proc in victims:
            # A short-lived child (a health probe, a task's shell) may be gone already.
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(victims, timeout=30)
        # After a reboot the pids in the lock files belong to other processes: a live one of
        # PostgreSQL's user, which PostgreSQL and gunicorn take for a running server.
        stand_in = subprocess.Popen(["sleep", "600"], user=_postgres_user(env))
        try:
            for lock in (
                env.home / "postgres" / "data" / "postmaster.pid",
                env.home / "airflow" / "airflow-webserver.pid",
            ):
                assert lock.exists(), f"{lock} was not left by the crash"
                lines = lock.read_text().splitlines()
                lock.write_text("\n".join([str(stand_in.pid), *lines[1:]]) + "\n")
            up = env.run("up", "--runtime", "native", timeout=600)
            assert up.returncode == 0, up.stdout + up.stderr
        finally:
            stand_in.kill()
            stand_in.wait()
        _available(env)
        # The run the crash interrupted ends (its task is a zombie, failed: no retries).
        assert _finished("fault_server_restart", run_id, 300) in ("success", "failed")
    finally:
        # The session's other tests share this environment: bring it back whatever failed.
        if _status_or_none(env) != "AVAILABLE":
            env.run("up", "--runtime", "native", timeout=600)


def _status_or_none(env: Env) -> str | None:
    try:
        return env.status().get("Status")
    except (ValueError, subprocess.SubprocessError):
        return None


def _postgres_user(env: Env) -> str | int:
    return (env.home / "postgres" / "data").stat().st_uid
