"""MWAA's CloudWatch log groups on the native runtime, with real clients: the five groups and
their ARNs, task logs in MWAA's streams, components at their LogLevel, `aws logs tail
--follow` on a running task, `mwaa-local logs`, UpdateEnvironment of LoggingConfiguration
(the UI and the CLI endpoint say what MWAA's say), no secret in any group, and a logs server
that restarts or goes away without losing a line or failing a task."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from emulator.cloudwatch import lines
from emulator.cloudwatch.log_types import LEVELS
from emulator.runtime.processes import Supervisor
from tests.browser import Browser
from tests.conftest import (
    NATIVE_PORTS,
    PROJECT,
    Env,
    aws,
    follow_log_tail,
    logs_client,
    mwaa_client,
    run_dag_to_success,
    s3_client,
    wait_for_update,
    wait_until,
)
from tests.integration.ui_checks import UITarget, sign_in

pytestmark = pytest.mark.native

NAME = "mwaa-local"
BUCKET = "airflow-mwaa-local"
PORTS = NATIVE_PORTS
ENDPOINT = f"http://127.0.0.1:{PORTS['logs']}"
TYPES = {
    "DagProcessingLogs": "DAGProcessing",
    "SchedulerLogs": "Scheduler",
    "WebserverLogs": "WebServer",
    "WorkerLogs": "Worker",
    "TaskLogs": "Task",
}
GROUPS = {f"airflow-{NAME}-{suffix}" for suffix in TYPES.values()}
SECRET_CONNECTION = "cw_secret_conn"
SECRET_PASSWORD = "s3cr3t-Pa55word-for-logs"

MARKERS_DAG = '''"""A DAG of the CloudWatch tests: what it prints, logs and parses."""
import logging
import os

from airflow import DAG
from airflow.operators.python_operator import PythonOperator
from airflow.utils.dates import days_ago

# At parse time: DAG processing logs, at DagProcessingLogs' level (WARNING here).
logging.getLogger("cw_test").warning("parse-warning-{dag_id}")
logging.getLogger("cw_test").info("parse-info-{dag_id}")


def speak(**context):
    print("print-marker-{dag_id}")
    logging.getLogger("cw_test").warning("warning-marker-{dag_id}")
    logging.getLogger("cw_test").debug("debug-marker-{dag_id}")


def reveal(**context):
    from airflow.hooks.base_hook import BaseHook

    try:
        connection = BaseHook.get_connection("{connection}")
    except Exception:  # made by the secrets test only
        print("no connection {connection} yet")
    else:
        print("password is", connection.password)
    print("environment:", dict(os.environ))


with DAG("{dag_id}", start_date=days_ago(1), schedule_interval=None, catchup=False) as dag:
    PythonOperator(task_id="speak", python_callable=speak, provide_context=True)
    PythonOperator(task_id="reveal", python_callable=reveal, provide_context=True)
'''

FOLLOW_DAG = '''"""A DAG of the CloudWatch tests: a task that runs until the test lets it finish."""
import os
import time

from airflow import DAG
from airflow.operators.python_operator import PythonOperator
from airflow.utils.dates import days_ago


def wait_for_the_test():
    print("follow-start-{dag_id}", flush=True)
    deadline = time.time() + 240
    while not os.path.exists("{flag}") and time.time() < deadline:
        time.sleep(0.2)
    print("follow-end-{dag_id}", flush=True)


with DAG("{dag_id}", start_date=days_ago(1), schedule_interval=None, catchup=False) as dag:
    PythonOperator(task_id="wait", python_callable=wait_for_the_test)
'''


# -- helpers ----------------------------------------------------------------------------------


def _dag(template: str, purpose: str, **fields: str) -> str:
    """A DAG of this test's own in the bucket; its id."""
    dag_id = f"cw_{purpose}_{time.time_ns() % 10**8}"
    body = template.format(dag_id=dag_id, connection=SECRET_CONNECTION, **fields)
    s3_client(PORTS).put_object(Bucket=BUCKET, Key=f"dags/cloudwatch/{dag_id}.py", Body=body)
    return dag_id


def _execution_date(env: Env, dag_id: str, run_id: str) -> str:
    out = env.airflow("list_dag_runs", dag_id)
    return next(line for line in out.splitlines() if run_id in line).split("|")[3].strip()


def _task_stream(dag_id: str, task_id: str, execution_date: str, try_number: int = 1) -> str:
    # MWAA 1.10.12's template; CloudWatch allows no ':' in a stream name.
    return f"{dag_id}/{task_id}/{execution_date.replace(':', '_')}/{try_number}.log"


def _events(group: str, **query: Any) -> list[dict]:
    logs = logs_client(PORTS["logs"])
    found, token = [], None
    while True:
        try:
            page = logs.filter_log_events(
                logGroupName=group, **query, **({"nextToken": token} if token else {})
            )
        except logs.exceptions.ResourceNotFoundException:
            return []
        found += page["events"]
        token = page.get("nextToken")
        if not token:
            return found


def _streams(group: str) -> list[str]:
    logs = logs_client(PORTS["logs"])
    paginator = logs.get_paginator("describe_log_streams")
    return [
        s["logStreamName"] for p in paginator.paginate(logGroupName=group) for s in p["logStreams"]
    ]


def _configuration() -> dict:
    return json.loads((PROJECT / "environment.json").read_text())["LoggingConfiguration"]


def _update_logging(configuration: dict) -> dict:
    mwaa = mwaa_client(PORTS)
    mwaa.update_environment(Name=NAME, LoggingConfiguration=configuration)
    environment = wait_for_update(mwaa, NAME)
    assert environment["Status"] == "AVAILABLE", environment.get("LastUpdate")
    return environment


def _cli(env: Env, command: str) -> str:
    return env.ok("cli", *command.split())


# -- the tests --------------------------------------------------------------------------------


def test_the_logs_endpoint_is_printed_exported_and_listed(native_env) -> None:
    env, up = native_env
    assert f"CloudWatch Logs:   {ENDPOINT}" in up.stdout
    exports = env.ok("env")
    assert f"export AWS_ENDPOINT_URL_LOGS={ENDPOINT}" in exports
    # What boto3 and newer AWS CLIs read for CloudWatch Logs.
    assert f"export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS={ENDPOINT}" in exports
    status = env.status()
    assert status["LogsEndpoint"] == ENDPOINT
    logs = next(c for c in status["Components"] if c["name"] == "logs")
    assert logs["healthy"], logs


def test_the_five_groups_and_their_arns_in_get_environment(native_env) -> None:
    prefix = f"airflow-{NAME}"
    listed = aws(
        "logs", "describe-log-groups", "--log-group-name-prefix", prefix, endpoint=ENDPOINT
    )
    assert listed.returncode == 0, listed.stderr
    groups = {g["logGroupName"]: g for g in json.loads(listed.stdout)["logGroups"]}
    assert set(groups) == GROUPS
    logging = mwaa_client(PORTS).get_environment(Name=NAME)["Environment"]["LoggingConfiguration"]
    for module, suffix in TYPES.items():
        group = groups[f"airflow-{NAME}-{suffix}"]
        assert logging[module]["CloudWatchLogGroupArn"] == group["arn"].removesuffix(":*")


def test_tasks_dag_files_and_components_log_to_their_groups(native_env) -> None:
    env, _ = native_env
    since = int(time.time() * 1000)
    dag_id = _dag(MARKERS_DAG, "markers")
    run_id = run_dag_to_success(env, dag_id)
    when = _execution_date(env, dag_id, run_id)
    task = f"airflow-{NAME}-Task"
    stream = _task_stream(dag_id, "speak", when)

    # The task's stream, as MWAA 1.10.12 names it, read with boto3's get_log_events.
    def speak_lines() -> list[str]:
        try:
            page = logs_client(PORTS["logs"]).get_log_events(
                logGroupName=task, logStreamName=stream, startFromHead=True
            )
        except Exception:  # noqa: BLE001 - not there yet
            return []
        return [e["message"] for e in page["events"]]

    wait_until(lambda: any("Task exited" in m for m in speak_lines()), 60, f"{stream}'s end")
    speak = "\n".join(speak_lines())
    assert f"print-marker-{dag_id}" in speak
    assert f"warning-marker-{dag_id}" in speak
    assert f"debug-marker-{dag_id}" not in speak  # TaskLogs at INFO
    assert _task_stream(dag_id, "reveal", when) in _streams(task)

    # filter-log-events with the AWS CLI finds the line by a filter pattern.
    found = aws(
        "logs", "filter-log-events", "--log-group-name", task,
        "--filter-pattern", f'"print-marker-{dag_id}"', endpoint=ENDPOINT,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    events = json.loads(found.stdout)["events"]
    assert [e["logStreamName"] for e in events] == [stream]

    # DAG processing: a stream per DAG file; at WARNING, the file's warning and not its info.
    processing = f"airflow-{NAME}-DAGProcessing"
    file_stream = f"scheduler_cloudwatch/{dag_id}.py.log"
    wait_until(lambda: file_stream in _streams(processing), 60, f"the stream {file_stream}")
    parsed = [e["message"] for e in _events(processing, logStreamNames=[file_stream])]
    assert any(f"parse-warning-{dag_id}" in m for m in parsed), parsed
    assert not any(f"parse-info-{dag_id}" in m for m in parsed), parsed

    # Scheduler, worker and web server: a stream per component instance, at their WARNING.
    for component, prefix in (
        ("Scheduler", "scheduler_"),
        ("Worker", "worker_worker-1_"),
        ("WebServer", "webserver_"),
    ):
        group = f"airflow-{NAME}-{component}"
        assert any(s.startswith(prefix) for s in _streams(group)), (group, _streams(group))
        previous = LEVELS["INFO"]
        for event in _events(group, startTime=since):
            previous = lines.level_of(event["message"], previous)
            assert previous >= LEVELS["WARNING"], (group, event["message"])

    # `mwaa-local logs` reads the same store.
    shown = env.run("logs", "task")
    assert shown.returncode == 0, shown.stderr
    assert f"{stream} " in shown.stdout and f"print-marker-{dag_id}" in shown.stdout
    assert f"log group {task}" in shown.stderr
    worker = env.run("logs", "worker-1")
    assert worker.returncode == 0, worker.stderr
    assert "streams worker_worker-1_*" in worker.stderr
    shown_streams = {
        line.split(" ")[1] for line in worker.stdout.splitlines() if line[:4].isdigit()
    }
    assert shown_streams and all(s.startswith("worker_worker-1_") for s in shown_streams)


def test_aws_logs_tail_follow_shows_a_running_tasks_lines(native_env, tmp_path: Path) -> None:
    env, _ = native_env
    flag = tmp_path / "let-it-finish"
    dag_id = _dag(FOLLOW_DAG, "follow", flag=str(flag))
    tail = follow_log_tail(f"airflow-{NAME}-Task", f"{dag_id}/", ENDPOINT)
    result: dict[str, str] = {}
    runner = threading.Thread(target=lambda: result.update(run=run_dag_to_success(env, dag_id)))
    try:
        runner.start()
        wait_until(lambda: tail.saw(f"follow-start-{dag_id}"), 180, "tail's line")
        # The task is still running: it waits for the flag this test has not made yet.
        runs = env.airflow("list_dag_runs", dag_id)
        assert "| running" in runs, runs
        assert not tail.saw(f"follow-end-{dag_id}")
        flag.touch()
        wait_until(lambda: tail.saw(f"follow-end-{dag_id}"), 120, "the last line")
        runner.join(240)
        assert result.get("run"), "the DAG run did not succeed"
    finally:
        flag.touch()
        tail.stop()


def test_update_of_logging_configuration_takes_effect(native_env, browser: Browser) -> None:
    """UpdateEnvironment turns types off and changes levels: a disabled type ships nothing, the
    CLI endpoint and the UI say what MWAA's say; then the environment.json's are restored."""
    env, _ = native_env
    original = _configuration()
    changed = {
        **original,
        "DagProcessingLogs": {"Enabled": False, "LogLevel": "INFO"},
        "TaskLogs": {"Enabled": False, "LogLevel": "INFO"},
        "SchedulerLogs": {"Enabled": True, "LogLevel": "INFO"},
        "WorkerLogs": {"Enabled": True, "LogLevel": "INFO"},
        "WebserverLogs": {"Enabled": True, "LogLevel": "INFO"},
    }
    try:
        environment = _update_logging(changed)
        assert "CloudWatchLogGroupArn" not in environment["LoggingConfiguration"]["TaskLogs"]
        # MWAA 1.10.12's CLI answers begin so with DAG processing logs off.
        version = _cli(env, "version")
        assert version.startswith("Cloudwatch logging is disabled for CloudwatchProcessorHandler\n")

        since = int(time.time() * 1000)
        dag_id = _dag(MARKERS_DAG, "disabled")
        run_id = run_dag_to_success(env, dag_id)
        when = _execution_date(env, dag_id, run_id)
        # The worker's INFO lines now reach its group (WARNING before the update).
        wait_until(
            lambda: any(
                "INFO" in e["message"] and dag_id in e["message"]
                for e in _events(f"airflow-{NAME}-Worker", startTime=since)
            ),
            60,
            "the worker's INFO lines about the run",
        )
        # Disabled types ship nothing: no stream for the run's tasks, none for its DAG file.
        assert not [s for s in _streams(f"airflow-{NAME}-Task") if s.startswith(f"{dag_id}/")]
        assert not [s for s in _streams(f"airflow-{NAME}-DAGProcessing") if dag_id in s], (
            "a disabled DAG processing group got the new file's stream"
        )

        # The UI's task log view says why there is nothing to show.
        target = UITarget("native", env)
        sign_in(browser, target)
        query = f"dag_id={dag_id}&task_id=speak&execution_date={urllib.parse.quote(when)}"
        problems = browser.visit(f"{target.https}/log?{query}", ready="#try-1")
        browser.wait(
            lambda: "Task logs are disabled" in browser.driver.find_element("id", "try-1").text,
            60,
            "the log view's message",
        )
        text = browser.driver.find_element("id", "try-1").text
        assert "TaskLogs" in text and "update-environment" in text, text
        assert problems == [], "\n".join(map(str, problems))
        assert not browser.visible("#loading-1")  # nothing more is coming
    finally:
        environment = _update_logging(original)
    assert environment["LoggingConfiguration"]["TaskLogs"]["CloudWatchLogGroupArn"]
    assert not _cli(env, "version").startswith("Cloudwatch logging is disabled")


def test_no_secret_reaches_any_group(native_env) -> None:
    """A run that used a connection's password (and printed it and the whole environment),
    CLI and web login tokens used meanwhile: not one of them is in any stream of any group."""
    env, _ = native_env
    env.airflow(
        "connections", "--add", "--conn_id", SECRET_CONNECTION, "--conn_type", "http",
        "--conn_host", "example.com", "--conn_password", SECRET_PASSWORD,
    )  # fmt: skip
    mwaa = mwaa_client(PORTS)
    cli_token = mwaa.create_cli_token(Name=NAME)["CliToken"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['web']}/aws_mwaa/cli",
        data=b"list_dags",
        headers={"Authorization": f"Bearer {cli_token}", "Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status == 200
    web_token = mwaa.create_web_login_token(Name=NAME)["WebToken"]
    login = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['web']}/aws_mwaa/login",
        data=f"token={web_token}".encode(),
        method="POST",
    )
    urllib.request.urlopen(login, timeout=60).close()
    dag_id = _dag(MARKERS_DAG, "secrets")
    run_id = run_dag_to_success(env, dag_id)
    reveal = _task_stream(dag_id, "reveal", _execution_date(env, dag_id, run_id))

    def revealed() -> str:
        return "\n".join(
            e["message"] for e in _events(f"airflow-{NAME}-Task", logStreamNames=[reveal])
        )

    wait_until(lambda: "Task exited" in revealed(), 60, "the reveal task's lines")
    # The task did print them: masked.
    assert "password is ***" in revealed()
    assert "'AIRFLOW__CORE__FERNET_KEY': '***'" in revealed()

    state = json.loads((env.home / "environment" / "environment-state.json").read_text())
    secrets = {
        "the Fernet key": state["fernet_key"],
        "the web server's secret key": state["web_secret"],
        "the S3 secret key": "mwaa-local-s3-key",
        "the connection's password": SECRET_PASSWORD,
        "a CLI token": cli_token,
        "a web login token": web_token,
    }
    for group in GROUPS:
        text = "\n".join(e["message"] for e in _events(group))
        leaked = [what for what, value in secrets.items() if value in text]
        assert not leaked, f"{group} holds {', '.join(leaked)}"


def test_the_logs_server_going_away_loses_nothing_and_fails_no_task(native_env) -> None:
    env, _ = native_env
    supervisor = Supervisor(env.home / "run", env.home / "logs")
    task = f"airflow-{NAME}-Task"
    before = _events(task)
    assert before, "no task lines yet to keep"
    supervisor.stop("logs", wait=True)
    try:
        # A task runs, and succeeds, with CloudWatch Logs away.
        dag_id = _dag(MARKERS_DAG, "away")
        run_id = run_dag_to_success(env, dag_id)
    finally:
        supervisor.start("logs", wait=True)
    stream = _task_stream(dag_id, "speak", _execution_date(env, dag_id, run_id))
    wait_until(
        lambda: any(
            f"print-marker-{dag_id}" in e["message"] for e in _events(task, logStreamNames=[stream])
        ),
        90,
        "the lines spooled while the server was away",
    )
    # What the server had acknowledged before the stop is all there after its restart.
    after = {(e["logStreamName"], e["eventId"], e["message"]) for e in _events(task)}
    assert {(e["logStreamName"], e["eventId"], e["message"]) for e in before} <= after
    wait_until(lambda: env.status()["Status"] == "AVAILABLE", 120, "AVAILABLE again")
