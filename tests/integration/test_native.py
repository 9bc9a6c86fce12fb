"""The native runtime, for real: embedded PostgreSQL, Redis and S3, Airflow's scheduler, web
server and a Celery worker as local processes."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import (
    MWAA_LOCAL,
    NATIVE_PORTS,
    PROJECT,
    Env,
    ports,
    run_dag_to_success,
    wait_until,
)

pytestmark = pytest.mark.native

PORTS = NATIVE_PORTS
OTHER_PORTS = ports(
    web=22080, https=22443, airflow=22081, s3=22900, postgres=22433, redis=22380, logs=22910
)
DAG = "example_bash_python"


ARN = "arn:aws:airflow:us-east-1:000000000000:environment/mwaa-local"


def _mwaa():
    import boto3
    from botocore.config import Config

    return boto3.client(
        "mwaa",
        endpoint_url=f"http://127.0.0.1:{PORTS['web']}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(inject_host_prefix=False),
    )


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _processes_under(home: Path) -> list[psutil.Process]:
    """Processes started for this state folder (their environment or argv names it)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            env = proc.info["environ"] or {}
            cmd = " ".join(proc.info["cmdline"] or [])
            if env.get("MWAA_LOCAL_HOME") == str(home) or str(home) in cmd:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_up_reports_available_with_addresses(native_env) -> None:
    env, up = native_env
    assert "runtime: native (RUNTIME=native was asked for)" in up.stdout
    assert "is AVAILABLE" in up.stdout
    assert f"http://127.0.0.1:{PORTS['web']}" in up.stdout
    assert f"WebServerHostname: localhost:{PORTS['https']}" in up.stdout
    assert f"Airflow UI:        https://localhost:{PORTS['https']}" in up.stdout
    status = env.status()
    assert status["Status"] == "AVAILABLE"
    assert status["Runtime"] == "native"
    assert status["WebserverUrl"] == f"http://127.0.0.1:{PORTS['web']}"
    assert status["S3Endpoint"] == f"http://127.0.0.1:{PORTS['s3']}"
    names = {c["name"] for c in status["Components"]}
    assert {"postgres", "redis", "s3", "api", "webserver", "scheduler", "worker-1"} <= names
    assert all(c["healthy"] for c in status["Components"])
    text = env.run("status").stdout
    assert "AVAILABLE" in text and "worker-1" in text


def test_status_into_a_closed_pipe_prints_no_traceback(native_env) -> None:
    """`mwaa-local status | head` (or `| true`): the reader leaves before we have written."""
    env, _ = native_env
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [MWAA_LOCAL, "status"], env=env.env, stdout=write, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write)
    assert "Traceback" not in result.stderr, result.stderr
    assert "BrokenPipeError" not in result.stderr, result.stderr


def test_bucket_exists_with_versioning(native_env) -> None:
    import boto3

    env, _ = native_env
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{PORTS['s3']}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    assert s3.get_bucket_versioning(Bucket="airflow-mwaa-local")["Status"] == "Enabled"


def test_webserver_health_through_the_api(native_env) -> None:
    import urllib.request

    # Through the API's proxy, on the web server host, as on MWAA.
    with urllib.request.urlopen(f"http://127.0.0.1:{PORTS['web']}/health", timeout=10) as page:
        assert json.load(page)["metadatabase"]["status"] == "healthy"


def test_bash_and_python_tasks_run_through_celery(native_env) -> None:
    env, _ = native_env
    run_id = run_dag_to_success(env, DAG)
    when = _execution_date(env, run_id)
    for task in ("say_hello", "greet"):
        out = env.airflow("task_state", DAG, task, when)
        assert out.strip().splitlines()[-1] == "success"
    # A Celery worker ran each task of this very run: its log has the command it was sent.
    logs = "".join(p.read_text(errors="replace") for p in (env.home / "logs").glob("worker-*.log"))
    for task in ("say_hello", "greet"):
        sent = f"Executing command in Celery: ['airflow', 'run', '{DAG}', '{task}', '{when}'"
        assert sent.replace("+00:00", "") in logs.replace("+00:00", ""), (task, when)


LINEAGE_DAG = """\
import os
from datetime import datetime

import psutil
from airflow import DAG
from airflow.operators.python_operator import PythonOperator


def lineage():
    supervisor = psutil.Process(os.getppid())  # `airflow run --local`, the task's supervisor
    print("SUPERVISOR=" + " ".join(supervisor.cmdline()))
    print("ITS_PARENT=" + " ".join(supervisor.parent().cmdline()))


with DAG("fork_lineage", start_date=datetime(2020, 1, 1), schedule_interval=None) as dag:
    PythonOperator(task_id="lineage", python_callable=lineage)
"""


def test_a_task_starts_in_a_fork_of_the_warm_worker(native_env) -> None:
    """In the fast timing a task's `airflow run --local` is a fork of the Celery pool process,
    which has Airflow imported already, not a new `airflow` interpreter (about 1.5 s to start
    on this machine); `ps` shows it as Airflow 2.0 names it."""
    from tests.conftest import s3_client

    env, _ = native_env
    s3_client(PORTS).put_object(
        Bucket="airflow-mwaa-local", Key="dags/fork_lineage.py", Body=LINEAGE_DAG.encode()
    )
    run_dag_to_success(env, "fork_lineage")
    logs = list(env.home.rglob("fork_lineage/lineage/*/1.log"))
    assert logs, "no task log for fork_lineage.lineage"
    text = logs[0].read_text(errors="replace")
    supervisor = re.search(r"SUPERVISOR=(.*)", text)
    parent = re.search(r"ITS_PARENT=(.*)", text)
    assert supervisor and parent, text[-2000:]
    assert supervisor.group(1).startswith(
        "airflow task supervisor: airflow run fork_lineage lineage"
    ), supervisor.group(1)
    assert "ForkPoolWorker" in parent.group(1), parent.group(1)


def quick_start() -> list[list[str]]:
    """The README's quick start, as argv lists (comments dropped)."""
    text = (PROJECT / "README.md").read_text()
    block = text.split("<!-- quick-start", 1)[1].split("<!-- /quick-start -->", 1)[0]
    code = block.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("#", 1)[0]) for line in code.splitlines() if line.split("#")[0]]


def test_the_readme_quick_start_runs_the_example_to_success(native_env) -> None:
    env, _ = native_env
    env.airflow("pause", DAG)  # as a fresh environment has it: MWAA creates DAGs paused
    lines = quick_start()
    assert lines[0] == ["make", "up"]  # the fixture's `mwaa-local up`
    outputs = []
    for argv in lines[1:]:
        assert argv[0] == ".venv/bin/mwaa-local", argv
        # --open would start a desktop browser; the URL is what it opens.
        outputs.append(env.ok(*[a for a in argv[1:] if a != "--open"]))
    triggered = next(o for argv, o in zip(lines[1:], outputs, strict=True) if "trigger_dag" in argv)
    run_id = re.search(r"(manual__[^,\s>]+)", triggered).group(1)

    def state() -> str | None:
        out = env.ok("cli", "list_dag_runs", DAG)
        row = next((line for line in out.splitlines() if run_id in line), "")
        return next((w for w in ("success", "failed") if f"| {w}" in row), None)

    assert wait_until(state, 240, f"{run_id} to finish") == "success"


def test_an_airflow_command_prints_no_warning_about_our_own_settings(native_env) -> None:
    env, _ = native_env
    done = env.run("airflow", "version")
    assert done.returncode == 0, done.stdout + done.stderr
    # Airflow warns of every option it is asked for and lacks: the user saw one above each
    # command's output.
    shown = done.stdout + done.stderr
    assert "not found in config" not in shown, shown
    assert "1.10.12" in done.stdout, shown


def test_the_example_plugin_reaches_the_dags(native_env) -> None:
    """plugins/ went to the bucket as plugins.zip at the first `up`: its operator runs on the
    workers and its macro renders through the CLI endpoint."""
    env, _ = native_env
    _deploy_the_example_plugin()
    run_id = run_dag_to_success(env, "example_plugin")
    out = env.airflow("list_dag_runs", "example_plugin")
    when = next(line for line in out.splitlines() if run_id in line).split("|")[3].strip()
    rendered = env.ok("cli", "render", "example_plugin", "greet", when)
    assert "HELLO FROM PLUGINS.ZIP! (" + run_id + ")" in rendered, rendered


def _deploy_the_example_plugin() -> None:
    """The project's plugins/ as plugins.zip and its example DAG, as `up` uploaded them at
    first (other tests of this shared environment deploy projects of their own)."""
    from emulator.deploy import deterministic_zip, put_if_changed
    from tests.conftest import mwaa_client, s3_client, wait_for_update

    s3 = s3_client(PORTS)
    dag = PROJECT / "dags" / "example_plugin_dag.py"
    s3.put_object(Bucket="airflow-mwaa-local", Key=f"dags/{dag.name}", Body=dag.read_bytes())
    zipped = deterministic_zip(PROJECT / "plugins")
    version, _ = put_if_changed(s3, "airflow-mwaa-local", "plugins.zip", zipped)
    mwaa = mwaa_client(PORTS)
    current = mwaa.get_environment(Name="mwaa-local")["Environment"]
    if current.get("PluginsS3ObjectVersion") != version:
        mwaa.update_environment(
            Name="mwaa-local", PluginsS3Path="plugins.zip", PluginsS3ObjectVersion=version
        )
        assert wait_for_update(mwaa, "mwaa-local")["Status"] == "AVAILABLE"


def _execution_date(env: Env, run_id: str) -> str:
    out = env.airflow("list_dag_runs", DAG)
    row = next(line for line in out.splitlines() if run_id in line)
    return row.split("|")[3].strip()


def test_down_leaves_nothing_running_and_up_keeps_history(native_env) -> None:
    env, _ = native_env
    run_id = run_dag_to_success(env, DAG)
    _mwaa().tag_resource(ResourceArn=ARN, Tags={"restart": "survived"})
    down = env.run("down")
    assert down.returncode == 0, down.stderr
    assert not [p for p in _processes_under(env.home) if p.is_running()], "processes left behind"
    for port in PORTS.values():
        assert not _port_open(port), f"port {port} still open after down"
    assert env.status()["Status"] == "UNAVAILABLE"

    up = env.run("up", "--runtime", "native")
    assert up.returncode == 0, up.stdout + up.stderr
    assert run_id in env.airflow("list_dag_runs", DAG), "run history lost across down/up"
    wait_until(lambda: env.status()["Status"] == "AVAILABLE", 60, "AVAILABLE after restart")
    # The API's state (here a tag set before the restart) is kept too.
    assert _mwaa().list_tags_for_resource(ResourceArn=ARN)["Tags"]["restart"] == "survived"
    _mwaa().untag_resource(ResourceArn=ARN, tagKeys=["restart"])  # others share this env


def _up_with(tmp_path: Path, changes: dict) -> tuple[subprocess.CompletedProcess, Path]:
    """`up` with environment.json changed as given, in a state folder of its own."""
    home = tmp_path / "state"  # nothing may start, so pytest's private tmp will do
    good = json.loads((PROJECT / "environment.json").read_text())
    bad = tmp_path / "environment.json"
    bad.write_text(json.dumps({**good, **changes}))
    env = Env(home, OTHER_PORTS, {"MWAA_LOCAL_ENVIRONMENT_FILE": str(bad)})
    return env.run("up", "--runtime", "native", timeout=60), home


def test_bad_environment_file_stops_up_before_anything_starts(tmp_path) -> None:
    result, home = _up_with(tmp_path, {"MinWorkers": 4, "MaxWorkers": 2})
    assert result.returncode == 2
    assert "MinWorkers: must not exceed MaxWorkers (got 4 > 2)" in result.stderr
    assert "nothing was started" in result.stderr
    assert not (home / "run").exists()
    assert not _processes_under(home)


def test_overriding_an_essential_setting_is_refused(tmp_path) -> None:
    result, home = _up_with(
        tmp_path, {"AirflowConfigurationOptions": {"core.executor": "SequentialExecutor"}}
    )
    assert result.returncode == 2
    assert (
        "AirflowConfigurationOptions.core.executor: the executor is set by the service "
        "and cannot be overridden"
    ) in result.stderr
    assert not _processes_under(home)


def test_a_bad_setting_names_its_variable(tmp_path) -> None:
    env = Env(tmp_path / "state", OTHER_PORTS, {"MWAA_LOCAL_WEB_PORT": "eighty"})
    result = env.run("status", timeout=60)
    assert result.returncode == 2
    assert "MWAA_LOCAL_WEB_PORT: should be an integer" in result.stderr
    assert "'eighty'" in result.stderr and "Traceback" not in result.stderr


def test_an_environment_never_started_is_not_created(tmp_path) -> None:
    env = Env(tmp_path / "state", OTHER_PORTS)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "runtime").write_text("native\n")  # `up` would remember this
    status = env.status()
    assert status["Status"] == "NOT_CREATED"
    assert all(c["state"] == "stopped" for c in status["Components"])


def test_clean_removes_the_state_folder(tmp_path) -> None:
    home = tmp_path / "state"
    (home / "environment").mkdir(parents=True)
    (home / "runtime").write_text("native\n")
    (home / "environment" / "environment-state.json").write_text("{}")
    result = Env(home, OTHER_PORTS).run("clean", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not home.exists()
    assert f"removed {home}" in result.stdout


def test_logs_shows_a_components_log(native_env) -> None:
    env, _ = native_env
    out = env.ok("logs", "watcher", timeout=60)
    assert "mirroring the bucket into" in out
    missing = env.run("logs", "no-such-component", timeout=60)
    assert missing.returncode == 2 and "known: " in missing.stderr


def test_login_open_opens_the_sso_url_in_the_browser(native_env, tmp_path) -> None:
    """`--open` hands the URL to the user's browser (Python's webbrowser honours $BROWSER)."""
    env, _ = native_env
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {opened}\n")
    browser.chmod(0o755)
    result = env.run("login", "--open", timeout=60, BROWSER=f"{browser} %s")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed.startswith(f"https://localhost:{PORTS['https']}/aws_mwaa/aws-console-sso")
    wait_until(opened.exists, 30, "the browser to be started")
    assert opened.read_text() == printed


def test_the_runtime_is_docker_when_an_engine_answers_and_native_otherwise(tmp_path) -> None:
    import docker

    def engine_answers() -> bool:
        try:
            return bool(docker.from_env(timeout=10).ping())
        except Exception:  # noqa: BLE001 - no engine here
            return False

    script = "from emulator.runtime import select; print(select.choose('auto')[0])"
    env = {**os.environ, "MWAA_LOCAL_HOME": str(tmp_path)}
    # An engine busy with the Docker lane's clean-up can miss one 3 s ping (CI saw it once):
    # the choice is asked again, up to three times, while it differs from what the engine
    # answered just before and just after it.
    for _ in range(3):
        before = engine_answers()
        answer = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True
        )
        expected = "docker" if before else "native"
        if engine_answers() == before and answer.stdout.strip() == expected:
            break
    assert answer.stdout.strip() == expected, answer.stderr
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-such.sock"
    answer = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert answer.stdout.strip() == "native", answer.stderr
