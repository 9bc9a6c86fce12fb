"""The warm Airflow CLI runner, for real, against an Airflow of its own (a database of its own
in the session's PostgreSQL, 10 DAGs): same output as spawning `airflow`, timeouts, queueing
and a zygote that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from emulator.airflow_side.cli_runner import CliResult, WarmRunner, ZygoteError, comparable
from emulator.environment import database
from tests.conftest import NATIVE_PORTS, unavailable, wait_until

AIRFLOW = Path(sys.executable).parent / "airflow"
DATABASE = "cli_runner_test"

pytestmark = pytest.mark.native

DAG_TEMPLATE = """\
from datetime import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperator
from airflow.operators.python_operator import PythonOperator

with DAG("cli_dag_{i:02d}", start_date=datetime(2020, 1, 1), schedule_interval=None) as dag:
    hello = BashOperator(task_id="say_hello", bash_command="echo hello")
    add = PythonOperator(task_id="add", python_callable=lambda: 1 + 1)
    hello >> add
"""

# Parsing this file takes ten minutes; it records its pid and a grandchild's first. The
# grandchild ignores SIGTERM: only the SIGKILL that follows stops it.
SLEEPY_DAG = """\
import os, signal, subprocess, time
from airflow import DAG  # noqa: F401 - DagBag only parses files that mention DAG and airflow

sleeper = subprocess.Popen(
    ["sleep", "600"], preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)
)
with open({pids!r} + ".tmp", "w") as f:
    f.write(f"{{os.getpid()}} {{sleeper.pid}}")
os.rename({pids!r} + ".tmp", {pids!r})
time.sleep(600)
"""


def _fresh_database(name: str) -> str:
    """A new, empty database in the session environment's PostgreSQL; its SQLAlchemy URL."""
    server = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{NATIVE_PORTS['postgres']}"
    conn = database.connect(f"{server}/postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}"')
            cur.execute(f'create database "{name}"')
    finally:
        conn.close()
    return f"{server}/{name}"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, native_env) -> dict[str, str]:
    """An Airflow home with a database of its own and 10 DAGs."""
    if not AIRFLOW.exists():
        unavailable("Airflow is not installed in this venv (make venv)")
    root = tmp_path_factory.mktemp("airflow-cli")
    dags = root / "dags"
    dags.mkdir()
    for i in range(10):
        (dags / f"cli_dag_{i:02d}.py").write_text(DAG_TEMPLATE.format(i=i))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(root / "home"),
        AIRFLOW__CORE__SQL_ALCHEMY_CONN=_fresh_database(DATABASE),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    init = subprocess.run(
        [str(AIRFLOW), "initdb"], env=env, capture_output=True, timeout=300, cwd=root
    )
    assert init.returncode == 0, init.stdout.decode() + init.stderr.decode()
    return env


@pytest.fixture(scope="module")
def runner(airflow_env):
    warm = WarmRunner(airflow_env)
    warm.start()
    yield warm
    warm.close()


def spawn(env: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AIRFLOW), *argv], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=120
    )


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _sleepy(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "sleepy"
    folder.mkdir()
    pids = tmp_path / "pids"
    (folder / "sleepy_dag.py").write_text(SLEEPY_DAG.format(pids=str(pids)))
    return folder, pids


@pytest.mark.parametrize(
    "argv",
    [["version"], ["list_dags"], ["list_tasks", "cli_dag_03"], ["list_tasks", "cli_dag_07", "-t"]],
    ids=" ".join,
)
def test_output_identical_to_spawned_airflow(runner, airflow_env, argv) -> None:
    warm = runner.run(argv)
    cold = spawn(airflow_env, argv)
    assert cold.returncode == 0, cold.stderr.decode()
    assert warm.exit_code == 0 and not warm.timed_out
    assert comparable(warm.stdout) == comparable(cold.stdout)
    assert comparable(warm.stderr) == comparable(cold.stderr)
    if argv == ["list_dags"]:
        for i in range(10):
            assert f"\ncli_dag_{i:02d}\n".encode() in warm.stdout


def test_airflow_rejects_command(runner, airflow_env) -> None:
    warm = runner.run(["list_tasks", "no_such_dag"])
    cold = spawn(airflow_env, ["list_tasks", "no_such_dag"])
    assert warm.exit_code == cold.returncode == 1
    assert b"dag_id could not be found: no_such_dag" in warm.stderr
    # The traceback too: it starts in bin/airflow, as when spawned.
    assert comparable(warm.stderr) == comparable(cold.stderr)
    assert comparable(warm.stdout) == comparable(cold.stdout)

    usage = runner.run(["list_dags", "--no-such-option"])
    assert usage.exit_code == 2
    assert b"unrecognized arguments: --no-such-option" in usage.stderr


def test_dag_files_are_read_by_each_command(runner, tmp_path) -> None:
    """The zygote never imports DAG files: a new or changed one shows at the next command."""
    dag = tmp_path / "late_dag.py"
    for i in (41, 420):  # sizes differ: a .pyc cache checks only mtime (seconds) and size
        dag.write_text(DAG_TEMPLATE.format(i=i))
        result = runner.run(["list_dags", "-sd", str(tmp_path)])
        assert result.exit_code == 0, result.stderr.decode()
        assert f"\ncli_dag_{i}\n".encode() in result.stdout
    assert b"cli_dag_41" not in result.stdout


def test_timeout_stops_command_and_its_children(runner, tmp_path) -> None:
    folder, pids = _sleepy(tmp_path)
    started = time.monotonic()
    result = runner.run(["list_dags", "-sd", str(folder)], timeout=5)
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert result.exit_code < 0  # killed by a signal
    assert b"did not finish within 5 s and was stopped" in result.stderr
    assert elapsed < 5 + 10
    command, grandchild = (int(p) for p in pids.read_text().split())
    assert _gone(command)  # reaped before run() returned
    wait_until(lambda: _gone(grandchild), 10, "the command's own child to be stopped", 0.05)
    assert runner.run(["version"]).stdout == b"1.10.12\n"


def test_concurrent_callers_queue(airflow_env) -> None:
    """Twelve callers at once on a runner of two slots: the runner itself never has more than
    two commands running, and every caller gets its command's true output."""
    expected = {
        "version": comparable(spawn(airflow_env, ["version"]).stdout),
        "list_dags": comparable(spawn(airflow_env, ["list_dags"]).stdout),
    }
    with WarmRunner(airflow_env, max_concurrent=2) as shared:
        commands = ["version", "list_dags"] * 6
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            results = list(pool.map(lambda c: shared.run([c], timeout=120), commands))
        assert shared.peak_in_flight == 2, "the runner ran more (or fewer) commands at once"
        assert shared.in_flight == 0
    for command, result in zip(commands, results, strict=True):
        assert result.exit_code == 0, result.stderr.decode()
        assert comparable(result.stdout) == expected[command]


def test_killed_zygote_is_restarted(runner) -> None:
    first = runner.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    result = runner.run(["version"])
    assert (result.exit_code, result.stdout) == (0, b"1.10.12\n")
    assert runner.pid not in (None, first)


def test_an_idle_runner_lets_its_airflow_go_and_the_next_call_brings_it_back(
    airflow_env, tmp_path
) -> None:
    """Its memory is given back after `idle_stop_s` without a command, never during one (a
    command longer than the idle time still finishes), and the next call answers as ever."""
    folder = tmp_path / "slow"
    folder.mkdir()
    # DagBag parses only files that mention DAG and airflow.
    (folder / "slow_dag.py").write_text("import time  # a DAG file of airflow\ntime.sleep(3)\n")
    with WarmRunner(airflow_env, idle_stop_s=1.0) as idle:
        first = idle.pid
        assert first is not None
        result = idle.run(["list_dags", "-sd", str(folder)], timeout=120)
        assert result.exit_code == 0, result.stderr.decode()
        assert idle.pid == first, "the zygote was stopped while a command ran"
        wait_until(lambda: idle.pid is None, 30, "the idle zygote to stop", 0.05)
        assert _gone(first)
        again = idle.run(["version"])
        assert (again.exit_code, again.stdout) == (0, b"1.10.12\n")
        assert idle.pid not in (None, first)


def test_a_start_longer_than_the_idle_time_still_gives_the_zygote_its_idle_time(
    airflow_env,
) -> None:
    """Importing Airflow takes a second or more; with an idle time shorter than that, the zygote
    must not be stopped the moment it is ready (the first command would pay for a new start)."""
    idle_s = 0.2
    with WarmRunner(airflow_env, idle_stop_s=idle_s) as idle:
        ready = time.monotonic()
        first = idle.pid
        assert first is not None, "the zygote was stopped as soon as it started"
        # Not a wait for readiness: the zygote must still be there for most of its idle time.
        while time.monotonic() - ready < idle_s * 0.75:
            assert idle.pid == first, (
                f"stopped {time.monotonic() - ready:.2f} s after it started (idle time {idle_s} s)"
            )
            time.sleep(0.01)
        wait_until(lambda: idle.pid is None, 30, "the idle zygote to stop", 0.05)


def test_zygote_dying_mid_command(runner, tmp_path) -> None:
    folder, pids = _sleepy(tmp_path)
    results: list[CliResult] = []
    call = threading.Thread(
        target=lambda: results.append(runner.run(["list_dags", "-sd", str(folder)], timeout=120))
    )
    call.start()
    wait_until(pids.exists, 60, "the command to start parsing", 0.05)
    os.kill(runner.pid, signal.SIGKILL)
    call.join(60)
    assert results and results[0].exit_code != 0
    assert b"stopped while the command ran" in results[0].stderr
    command, grandchild = (int(p) for p in pids.read_text().split())
    wait_until(lambda: _gone(command), 10, "the orphaned command to die with its zygote", 0.05)
    wait_until(lambda: _gone(grandchild), 10, "the command's own child to be stopped", 0.05)
    assert runner.run(["version"]).exit_code == 0


def test_broken_configuration_answers_as_airflow_does(airflow_env) -> None:
    env = {**airflow_env, "AIRFLOW__CORE__SQL_ALCHEMY_CONN": "nosuchdb://x"}
    cold = spawn(env, ["version"])
    assert cold.returncode == 1 and b"NoSuchModuleError" in cold.stderr
    runner = WarmRunner(env)
    with pytest.raises(ZygoteError) as raised:
        runner.start()
    assert comparable(raised.value.stderr) == comparable(cold.stderr)
    assert "NoSuchModuleError" in str(raised.value)
    result = runner.run(["version"])  # tries to start again: answers what `airflow` printed
    assert result.exit_code == 1
    assert (comparable(result.stdout), comparable(result.stderr)) == (
        comparable(cold.stdout),
        comparable(cold.stderr),
    )
    runner.close()
    with pytest.raises(ZygoteError, match="closed"):
        runner.run(["version"])
