"""The team's tests, run against a local MWAA environment through mwaa-local's pytest plugin:
`pytest --mwaa-local-reuse` against a running one (examples/ci/run.sh starts it), or plain
`pytest`, which starts one for the session and stops it at the end."""

import shutil
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_the_environment_is_available(mwaa_client, mwaa_environment):
    environment = mwaa_client.get_environment(Name=mwaa_environment.name)["Environment"]
    assert environment["Status"] == "AVAILABLE"
    assert environment["AirflowVersion"] == "1.10.12"
    assert environment["Tags"] == {"team": "data"}


def test_the_bucket_holds_the_project(s3_client, mwaa_environment):
    listing = s3_client.list_objects_v2(Bucket=mwaa_environment.bucket)
    keys = {item["Key"] for item in listing["Contents"]}
    assert {"dags/daily_report.py", "dags/cleanup.py", "plugins.zip", "requirements.txt"} <= keys


def test_the_cli_lists_the_dags(mwaa_cli):
    stdout, stderr = mwaa_cli("list_dags")
    assert "daily_report" in stdout and "cleanup" in stdout


def test_the_report_runs_with_the_plugin_and_the_requirement(run_dag):
    run = run_dag("daily_report", conf={"name": "Ada"}, timeout=600)
    assert run.state == "success", run
    assert run.tasks == {"shout": "success", "greet": "success"}
    assert "shouting: REPORT FOR ADA" in run.logs["shout"]
    assert "Hello, Ada!" in run.logs["greet"]


def test_a_new_dag_deploys_and_runs(deploy, run_dag, tmp_path):
    # A folder as `mwaa-local deploy` sends it: its dags/ is mirrored, so it keeps the others.
    shutil.copytree(PROJECT / "dags", tmp_path / "dags")
    (tmp_path / "dags" / "hello.py").write_text(
        "from datetime import datetime\n"
        "from airflow import DAG\n"
        "from airflow.operators.bash_operator import BashOperator\n"
        "with DAG('hello', start_date=datetime(2020, 1, 1), schedule_interval=None,\n"
        "         default_args={'owner': 'data-team'}) as dag:\n"
        "    BashOperator(task_id='hi', bash_command='echo hi from a new DAG')\n"
    )
    try:
        deployed = deploy(tmp_path)
        assert "+ dags/hello.py" in deployed.changes
        run = run_dag("hello", timeout=600)
        assert run.state == "success", run
        assert "hi from a new DAG" in run.logs["hi"]
    finally:
        deploy(PROJECT)  # the project as it is again
