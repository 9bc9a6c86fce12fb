"""mwaa-local's pytest plugin as a user's project uses it: a pytest run in a project folder of
its own, the plugin loaded through its `pytest11` entry point, every fixture used against a
real environment. With --mwaa-local-reuse against the session's native environment (left
running and as it was); without it, on an environment of its own, started and stopped."""

from __future__ import annotations

import pytest

from tests.conftest import Env, inner_pytest, s3_client, user_project, wait_until

pytestmark = pytest.mark.native

FIXTURES = '''
import shutil
from pathlib import Path

import pytest

from emulator.testing.web import MwaaCliError

PROJECT = Path(__file__).resolve().parent
NEW_DAGS = {
    "hello_plugin_test.py": """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash_operator import BashOperator
with DAG("hello_plugin_test", start_date=datetime(2020, 1, 1), schedule_interval=None,
         default_args={"owner": "tests"}) as dag:
    BashOperator(task_id="hi", bash_command="echo hi {{ dag_run.conf['who'] }}")
""",
    "boom_plugin_test.py": """
from datetime import datetime
from airflow import DAG
from airflow.operators.python_operator import PythonOperator
def boom():
    raise ValueError("boom on purpose")
with DAG("boom_plugin_test", start_date=datetime(2020, 1, 1), schedule_interval=None,
         default_args={"owner": "tests", "retries": 0}) as dag:
    PythonOperator(task_id="boom", python_callable=boom)
""",
}


def test_the_clients_point_at_the_environment(mwaa_environment, mwaa_client, s3_client):
    assert not mwaa_environment.started  # --mwaa-local-reuse
    found = mwaa_client.get_environment(Name=mwaa_environment.name)["Environment"]
    assert found["Status"] == "AVAILABLE"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=mwaa_environment.bucket)["Contents"]]
    assert "dags/example_dag.py" in keys


def test_the_cli_fixture_runs_airflow_commands(mwaa_cli):
    stdout, stderr = mwaa_cli("list_dags")
    assert "example_bash_python" in stdout
    assert mwaa_cli(["version"]).stdout.strip().endswith("1.10.12")
    with pytest.raises(MwaaCliError) as refused:
        mwaa_cli("resetdb")
    assert refused.value.status == 500 and "not supported by MWAA" in refused.value.message


def test_run_dag_returns_the_states_and_the_logs(run_dag):
    run = run_dag("example_bash_python", timeout=600)
    assert run.state == "success", run
    assert run.tasks == {"say_hello": "success", "greet": "success"}
    assert "hello from bash" in run.logs["say_hello"]
    assert f"hello from example_bash_python, run {run.run_id}" in run.logs["greet"]


def test_deploy_sends_a_folder_and_run_dag_reports_a_failure(deploy, run_dag, tmp_path):
    shutil.copytree(PROJECT / "dags", tmp_path / "dags")
    for name, text in NEW_DAGS.items():
        (tmp_path / "dags" / name).write_text(text)
    try:
        sent = deploy(tmp_path)
        assert sorted(c for c in sent.changes if c.startswith("+")) == [
            "+ dags/boom_plugin_test.py",
            "+ dags/hello_plugin_test.py",
        ]
        hello = run_dag("hello_plugin_test", conf={"who": "from conf"}, timeout=600)
        assert hello.state == "success" and "hi from conf" in hello.logs["hi"]
        boom = run_dag("boom_plugin_test", timeout=600)
        assert boom.state == "failed" and boom.tasks == {"boom": "failed"}
        assert "ValueError: boom on purpose" in boom.logs["boom"]
    finally:
        restored = deploy(PROJECT)
        assert "- dags/hello_plugin_test.py" in restored.changes
'''

STARTS = """
def test_it_starts_one_for_the_session(mwaa_environment, mwaa_cli):
    assert mwaa_environment.started and mwaa_environment.runtime == "native"
    assert mwaa_cli("version").stdout.strip().endswith("1.10.12")
"""


def _available(env: Env) -> bool:
    return env.status()["Status"] == "AVAILABLE"


def test_every_fixture_against_a_running_environment_reused(native_env, tmp_path) -> None:
    env, _ = native_env
    wait_until(lambda: _available(env), 120, "the shared environment to be AVAILABLE")
    project = user_project(tmp_path / "project", {"test_fixtures.py": FIXTURES})
    done, outcomes = inner_pytest(project, env, "--mwaa-local-reuse")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert outcomes == {
        "test_the_clients_point_at_the_environment": "passed",
        "test_the_cli_fixture_runs_airflow_commands": "passed",
        "test_run_dag_returns_the_states_and_the_logs": "passed",
        "test_deploy_sends_a_folder_and_run_dag_reports_a_failure": "passed",
    }
    assert "using the running environment mwaa-local (--mwaa-local-reuse)" in done.stdout
    # Reused, so left running; and the bucket is as it was.
    assert _available(env)
    keys = [
        o["Key"]
        for o in s3_client(env.ports).list_objects_v2(Bucket="airflow-mwaa-local")["Contents"]
    ]
    assert "dags/example_dag.py" in keys and "dags/hello_plugin_test.py" not in keys


def test_a_running_environment_is_not_taken_without_reuse(native_env, tmp_path) -> None:
    env, _ = native_env
    project = user_project(tmp_path / "project", {"test_starts.py": STARTS})
    done, outcomes = inner_pytest(project, env)
    assert done.returncode == 1, done.stdout[-4000:]
    assert outcomes == {"test_it_starts_one_for_the_session": "error"}
    assert "is running already" in done.stdout and "--mwaa-local-reuse" in done.stdout
    assert _available(env)  # not stopped by a session that did not start it


def test_the_session_starts_an_environment_and_stops_it(spare_env: Env, tmp_path) -> None:
    env = spare_env
    project = user_project(tmp_path / "project", {"test_starts.py": STARTS})
    done, outcomes = inner_pytest(project, env, "--mwaa-local-runtime", "native")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert outcomes == {"test_it_starts_one_for_the_session": "passed"}
    assert "starting the environment of" in done.stdout
    assert "is AVAILABLE after" in done.stdout  # up's progress, shown live
    assert "stopping the environment this test session started" in done.stdout
    status = env.status()
    assert status["Status"] != "AVAILABLE"
    assert all(c["state"] == "stopped" for c in status["Components"]), status
