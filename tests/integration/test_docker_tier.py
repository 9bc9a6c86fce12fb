"""The Docker tier, for real: the images (built offline here: debootstrap base, host
wheelhouses, and stand-ins for PostgreSQL, Redis and MinIO where no registry has them),
docker-compose.yml under a compose project and ports of its own, the example DAG run through
Celery, and the UI in Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from emulator import config
from emulator.runtime import images, select, topology
from emulator.runtime.base import UP_TIMEOUT_S
from emulator.runtime.docker import DockerRuntime
from tests.conftest import (
    ACCESS,
    PORT_OFFSET,
    PROJECT,
    Env,
    curl_cli,
    make_state_dir,
    ports,
    unavailable,
    wait_until,
)
from tests.integration.ui_checks import UIChecks, UITarget

pytestmark = pytest.mark.docker

# Not the defaults, nor the native tier's: a developer's own environment keeps running.
PORTS = ports(
    web=18080, https=18443, airflow=18081, s3=19000, postgres=25432, redis=26379, logs=19010
)
COMPOSE_PROJECT = f"mwaa-local-dockertest{PORT_OFFSET or ''}"
DAG = "example_bash_python"
RUN_TIMEOUT_S = 180
# The autoscaler's idle window here (MWAA's is 120 s).
IDLE_WINDOW_S = 20
# Every long-running service of docker-compose.yml, with MinWorkers (1) workers.
COMPONENTS = {
    s.name for s in topology.load(PROJECT / "docker-compose.yml") if s.kind != "oneshot"
} - {"worker"} | {"worker-1"}


def _say(message: str) -> None:
    print(f"docker tier: {message}", flush=True)


def _require_engine() -> None:
    if not select.docker_engine_answers():
        unavailable("no Docker engine answers (start dockerd, or set DOCKER_HOST)")


@dataclass
class Tier:
    env: Env
    runtime: DockerRuntime
    up_output: str
    # Execution dates of DAG runs that succeeded, for the state-keeping test.
    runs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def tier(request: pytest.FixtureRequest):
    _require_engine()
    home = make_state_dir("mwaa-local-docker-")
    access = home / "access.json"
    access.write_text(json.dumps(ACCESS))
    access.chmod(0o644)  # read by the api container's airflow user
    settings = {
        "MWAA_LOCAL_HOME": str(home),
        "COMPOSE_PROJECT_NAME": COMPOSE_PROJECT,
        "MWAA_LOCAL_ACCESS_FILE": str(access),
        "MWAA_LOCAL_WEB_PORT": str(PORTS["web"]),
        "MWAA_LOCAL_HTTPS_PORT": str(PORTS["https"]),
        "MWAA_LOCAL_AIRFLOW_PORT": str(PORTS["airflow"]),
        "MWAA_LOCAL_S3_PORT": str(PORTS["s3"]),
        "MWAA_LOCAL_POSTGRES_PORT": str(PORTS["postgres"]),
        "MWAA_LOCAL_REDIS_PORT": str(PORTS["redis"]),
        "MWAA_LOCAL_LOGS_PORT": str(PORTS["logs"]),
        "MWAA_LOCAL_SCALE_IN_IDLE_S": str(IDLE_WINDOW_S),
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            # DockerRuntime in this process reads the same settings as the `mwaa-local` it runs.
            for name, value in settings.items():
                patch.setenv(name, value)
            # The stand-ins are built first (timed apart from `up`); `up` itself runs with the
            # default images of .env, and falls back to the stand-ins where no registry has
            # them, as a user's `make up` does.
            images.build_offline(_say)
            env = Env(home, PORTS)  # takes this process's environment, patched above
            config.settings.cache_clear()  # read once per process: read the patched ones
            runtime = DockerRuntime(config.load())
            runtime.clean(_say)  # whatever an interrupted run left behind
            yield from _up(request, env, runtime)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _up(request: pytest.FixtureRequest, env: Env, runtime: DockerRuntime):
    """`mwaa-local up`, then (after the tests) the compose logs if anything failed, and clean."""
    failures = request.session.testsfailed
    up_ok = False
    try:
        up = env.run("up", "--runtime", "docker", timeout=UP_TIMEOUT_S + 300)
        print(up.stdout, up.stderr, sep="\n")
        assert up.returncode == 0, f"mwaa-local up failed:\n{up.stdout}\n{up.stderr}"
        up_ok = True
        yield Tier(env, runtime, up.stdout)
    finally:
        if not up_ok or request.session.testsfailed > failures:
            logs = env.run("logs", timeout=120).stdout.splitlines()
            print("\n".join(["--- compose logs (last 300 lines) ---", *logs[-300:]]))
        runtime.clean(_say)


def _airflow(tier: Tier, *args: str) -> str:
    """`airflow ARGS` in the scheduler container; stdout, which Airflow shares with its logs."""
    result = tier.runtime.airflow(list(args))
    assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _answer(text: str) -> str:
    """The command's answer: its last line that is not one of Airflow's log lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    answers = [line for line in lines if not line.startswith("[")]
    return answers[-1] if answers else ""


def _get(path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{PORTS['web']}{path}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read()


def test_up_reports_available_on_the_docker_runtime(tier: Tier) -> None:
    assert "runtime: docker (RUNTIME=docker was asked for)" in tier.up_output
    assert "is AVAILABLE" in tier.up_output
    assert f"http://127.0.0.1:{PORTS['web']}" in tier.up_output
    assert f"WebServerHostname: localhost:{PORTS['https']}" in tier.up_output
    # Compose's line per container and step is folded into `up`'s own "waiting for" line.
    chatter = [
        line
        for line in tier.up_output.splitlines()
        if re.search(r"compose: (Container|Creating|Network|Volume) ", line)
    ]
    assert not chatter, chatter
    status = tier.env.status()
    assert status["Status"] == "AVAILABLE", json.dumps(status, indent=2)
    assert status["Runtime"] == "docker"
    assert status["WebserverUrl"] == f"http://127.0.0.1:{PORTS['web']}"
    assert status["S3Endpoint"] == f"http://127.0.0.1:{PORTS['s3']}"
    names = {c["name"] for c in status["Components"]}
    assert names == COMPONENTS
    assert all(c["healthy"] for c in status["Components"]), status["Components"]


def test_infrastructure_runs_the_default_images_or_says_why_not(tier: Tier) -> None:
    """The images of .env where a registry has them; otherwise the stand-ins, said in one line
    of `up`, with none of the daemon's pull errors."""
    import docker

    assert "Error response from daemon" not in tier.up_output, tier.up_output
    no_registry = "no registry answers: using offline stand-ins" in tier.up_output
    if not no_registry:
        print("docker tier: a registry answers; running the default infrastructure images")
    else:
        print("docker tier: no registry answers here; testing the offline stand-ins instead")
    client = docker.from_env()
    try:
        running = {
            c.labels["com.docker.compose.service"]: c.image.tags
            for c in client.containers.list(
                filters={"label": f"com.docker.compose.project={COMPOSE_PROJECT}"}
            )
        }
    finally:
        client.close()
    for standin in images.STANDINS:
        configured = standin.configured()
        wanted = standin.tag if no_registry else configured
        assert wanted in running[standin.folder], running


def test_webserver_answers_on_the_published_port(tier: Tier) -> None:
    status, body = _get("/health")
    assert status == 200
    assert json.loads(body)["metadatabase"]["status"] == "healthy"


def test_compose_ps_in_the_project_folder_shows_the_environment(tier: Tier) -> None:
    """Compose reads COMPOSE_PROJECT_NAME (from .env, or the shell as here) by itself."""
    import subprocess

    commands = [c for c in (("docker", "compose"), ("docker-compose",)) if _compose_works(c)]
    if len(commands) < 2:
        from tests.conftest import unavailable

        unavailable(f"both Compose v2 and v1 are needed here (found {commands})")
    for command in commands:
        out = subprocess.run(
            [*command, "ps"], cwd=PROJECT, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        for service in ("scheduler", "webserver", "api", "worker"):
            assert service in out.stdout, (command, out.stdout)


def _compose_works(command: tuple[str, ...]) -> bool:
    import subprocess

    try:
        return subprocess.run([*command, "version"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def _run_to_success(tier: Tier, dag: str) -> tuple[str, str]:
    """Unpause, trigger and wait for success inside the containers; (execution date, run id)."""
    # The DAG can be unpaused once the scheduler has put it into the metadata database.
    wait_until(
        lambda: tier.runtime.airflow(["unpause", dag]).returncode == 0,
        120,
        f"the scheduler to register {dag}",
        interval=2,
    )
    execution = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0).isoformat()
    run_id = f"dockertest_{execution.replace(':', '').replace('+', '_')}"
    # trigger_dag reads the serialized DAG, which the scheduler writes a little after the row
    # unpause needs.
    wait_until(
        lambda: (
            tier.runtime.airflow(
                ["trigger_dag", dag, "--run_id", run_id, "--exec_date", execution]
            ).returncode
            == 0
        ),
        120,
        f"the scheduler to serialize {dag} (trigger_dag to succeed)",
        interval=2,
    )

    def finished() -> str | None:
        result = tier.runtime.airflow(["dag_state", dag, execution])
        state = _answer(result.stdout) if result.returncode == 0 else ""
        return state if state in ("success", "failed") else None

    final = wait_until(finished, RUN_TIMEOUT_S, f"{dag} run {run_id} to finish", interval=2)
    assert final == "success", f"{dag} run {run_id} ended {final}"
    return execution, run_id


def test_example_dag_runs_through_celery(tier: Tier) -> None:
    execution, run_id = _run_to_success(tier, DAG)
    tasks = [line.strip() for line in _airflow(tier, "list_tasks", DAG).splitlines()]
    tasks = [t for t in tasks if t and not t.startswith("[")]
    assert len(tasks) >= 2, tasks
    for task in tasks:
        assert _answer(_airflow(tier, "task_state", DAG, task, execution)) == "success", task
    # The same run through the user's command (`mwaa-local airflow`, the remembered runtime).
    assert run_id in tier.env.airflow("list_dag_runs", DAG)
    tier.runs.append(execution)


def test_cloudwatch_log_groups_in_containers(tier: Tier) -> None:
    """The logs container serves MWAA's groups to the AWS CLI and boto3: a run's task lines
    are in the Task group under MWAA 1.10.12's stream names, and the worker container's
    lines in the Worker group under its own stream."""
    from tests.conftest import aws, logs_client

    execution = tier.runs[-1] if tier.runs else _run_to_success(tier, DAG)[0]
    endpoint = f"http://127.0.0.1:{PORTS['logs']}"
    listed = aws(
        "logs", "describe-log-groups", "--log-group-name-prefix", "airflow-mwaa-local",
        endpoint=endpoint,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    groups = {g["logGroupName"] for g in json.loads(listed.stdout)["logGroups"]}
    kinds = ("DAGProcessing", "Scheduler", "Task", "WebServer", "Worker")
    assert groups == {f"airflow-mwaa-local-{kind}" for kind in kinds}, groups

    logs = logs_client(PORTS["logs"])
    stream = f"{DAG}/say_hello/{execution.replace(':', '_')}/1.log"

    def task_lines() -> list[str]:
        try:
            page = logs.get_log_events(
                logGroupName="airflow-mwaa-local-Task", logStreamName=stream, startFromHead=True
            )
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [event["message"] for event in page["events"]]

    wait_until(lambda: any("Task exited" in m for m in task_lines()), 90, f"{stream}'s end")
    assert any("hello from bash" in m for m in task_lines()), task_lines()
    workers = logs.describe_log_streams(logGroupName="airflow-mwaa-local-Worker")["logStreams"]
    assert any(s["logStreamName"].startswith("worker_") for s in workers), workers


def test_mwaa_api_in_containers(tier: Tier) -> None:
    """The api container fronts the web server: boto3, the documented curl over HTTPS, login."""
    import base64
    import http.cookiejar

    import boto3
    from botocore.config import Config

    mwaa = boto3.client(
        "mwaa",
        endpoint_url=f"http://127.0.0.1:{PORTS['web']}",
        region_name="us-east-1",
        aws_access_key_id="AKIDDOCKER",
        aws_secret_access_key="x",
        config=Config(inject_host_prefix=False),
    )
    wait_until(
        lambda: mwaa.get_environment(Name="mwaa-local")["Environment"]["Status"] == "AVAILABLE",
        120,
        "GetEnvironment AVAILABLE",
    )
    token = mwaa.create_cli_token(Name="mwaa-local")
    assert token["WebServerHostname"] == f"localhost:{PORTS['https']}"
    body = curl_cli(token["WebServerHostname"], token["CliToken"], "list_dags")
    assert DAG in base64.b64decode(body["stdout"]).decode()
    web = mwaa.create_web_login_token(Name="mwaa-local")["WebToken"]
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['web']}/aws_mwaa/login",
        data=f"token={web}".encode(),
        method="POST",
    )
    with opener.open(request, timeout=60) as page:
        assert page.url.endswith("/home")
        assert DAG in page.read().decode()


def _cli_call(token: str, command: str) -> tuple[int, dict]:
    """POST /aws_mwaa/cli over the published HTTP port; (status, MWAA's JSON answer)."""
    import urllib.error

    request = urllib.request.Request(
        f"http://127.0.0.1:{PORTS['web']}/aws_mwaa/cli",
        data=command.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_cli_commands_stay_inside_the_api_container(tier: Tier) -> None:
    """On MWAA the CLI endpoint's commands run in a container of their own. Here they run in
    the api container, as its unprivileged user and in its exchange folder: a file option
    that leads out of that folder is refused in MWAA's error shape, nothing from outside the
    DAGs folder is parsed, and an export lands in the container, not on the host."""
    import base64

    from tests.conftest import mwaa_client

    token = mwaa_client(PORTS).create_cli_token(Name="mwaa-local")["CliToken"]
    api = _container("api")
    exchange = "/usr/local/airflow/exchange"
    for command in (
        "variables -e /usr/local/airflow/state/stolen.json",
        f"variables -e ../../../..{tier.env.home}/stolen.json",
        "pool -e /tmp/pools.json",
        "variables -i /usr/local/airflow/access.json",
        "list_dags -sd /tmp",
    ):
        status, body = _cli_call(token, command)
        assert status == 400, (command, body)
        assert set(body) >= {"message"} and (
            "exchange folder" in body["message"] or "DAGs folder" in body["message"]
        ), (command, body)
    assert not (tier.env.home / "stolen.json").exists()
    code, _ = api.exec_run(["test", "-e", "/usr/local/airflow/state/stolen.json"])
    assert code != 0, "a refused export was written in the container"

    status, body = _cli_call(token, "variables -s docker_exchange_probe forty-two")
    assert status == 200, body
    try:
        status, body = _cli_call(token, "variables -e exported.json")
        assert status == 200, body
        code, out = api.exec_run(["stat", "-c", "%U %s", f"{exchange}/exported.json"])
        assert code == 0, out.decode()
        owner = out.decode().split()[0]
        assert owner != "root", f"the export was written by {owner}"
        code, out = api.exec_run(["cat", f"{exchange}/exported.json"])
        assert json.loads(out)["docker_exchange_probe"] == "forty-two"
        # Only in the container: nothing of it in the environment's folder on the host.
        assert not list(tier.env.home.rglob("exported.json"))
        status, body = _cli_call(token, "variables -g docker_exchange_probe")
        assert base64.b64decode(body["stdout"]).decode().strip().splitlines()[-1] == "forty-two"
    finally:
        _cli_call(token, "variables -x docker_exchange_probe")
        api.exec_run(["rm", "-f", f"{exchange}/exported.json"])


LOGS_DAG = """from airflow import DAG
import logging
from airflow.operators.python_operator import PythonOperator
from airflow.utils.dates import days_ago


def speak():
    from airflow.hooks.base_hook import BaseHook

    print("print-marker-docker")
    logging.getLogger("cw_test").warning("warning-marker-docker")
    logging.getLogger("cw_test").debug("debug-marker-docker")
    print("password is", BaseHook.get_connection("docker_secret_conn").password)


with DAG("cw_docker", start_date=days_ago(1), schedule_interval=None, catchup=False) as dag:
    PythonOperator(task_id="speak", python_callable=speak)
"""
SECRET_PASSWORD = "d0cker-Pa55word-for-logs"


def test_task_logs_keep_their_level_hide_secrets_and_survive_a_logs_outage(tier: Tier) -> None:
    """With the logs container stopped, a task that logs at three levels and prints a
    connection's password still succeeds; once it is back, the Task group has the lines
    spooled meanwhile at TaskLogs' level (INFO), `aws logs tail` shows them, and neither the
    password nor the tokens used are in any group."""
    from tests.conftest import aws, logs_client, mwaa_client, s3_client

    mwaa = mwaa_client(PORTS)
    cli_token = mwaa.create_cli_token(Name="mwaa-local")["CliToken"]
    # connections is not on MWAA's allow-list: through the scheduler container, as a user would.
    _airflow(
        tier, "connections", "--add", "--conn_id", "docker_secret_conn", "--conn_type", "http",
        "--conn_host", "example.com", "--conn_password", SECRET_PASSWORD,
    )  # fmt: skip
    s3_client(PORTS).put_object(Bucket="airflow-mwaa-local", Key="dags/cw_docker.py", Body=LOGS_DAG)
    logs_container = _container("logs")
    logs_container.stop(timeout=10)
    try:
        execution, _ = _run_to_success(tier, "cw_docker")
    finally:
        logs_container.start()
    endpoint = f"http://127.0.0.1:{PORTS['logs']}"
    group = "airflow-mwaa-local-Task"
    stream = f"cw_docker/speak/{execution.replace(':', '_')}/1.log"

    def lines() -> str:
        try:
            page = logs_client(PORTS["logs"]).get_log_events(
                logGroupName=group, logStreamName=stream, startFromHead=True
            )
        except Exception:  # noqa: BLE001 - the server is coming back, or the stream is not there yet
            return ""
        return "\n".join(e["message"] for e in page["events"])

    wait_until(lambda: "Task exited" in lines(), 120, f"{stream}, spooled while logs was away")
    text = lines()
    assert "print-marker-docker" in text and "warning-marker-docker" in text, text
    assert "debug-marker-docker" not in text  # TaskLogs at INFO
    assert "password is ***" in text, text

    tail = aws("logs", "tail", group, "--since", "30m", endpoint=endpoint)
    assert tail.returncode == 0, tail.stderr
    assert any(
        line.split(" ")[1:2] == [stream] and "print-marker-docker" in line
        for line in tail.stdout.splitlines()
    ), tail.stdout[-3000:]

    # The components' own groups: a stream per container, nothing below their WARNING.
    from emulator.cloudwatch import lines as log_lines
    from emulator.cloudwatch.log_types import LEVELS

    logs = logs_client(PORTS["logs"])
    for kind in ("Scheduler", "Worker", "WebServer"):
        name = f"airflow-mwaa-local-{kind}"
        assert logs.describe_log_streams(logGroupName=name)["logStreams"], f"{name}: no stream"
        previous = LEVELS["INFO"]
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=name):
            for event in page["events"]:
                previous = log_lines.level_of(event["message"], previous)
                assert previous >= LEVELS["WARNING"], (name, event["message"])

    web_token = mwaa.create_web_login_token(Name="mwaa-local")["WebToken"]
    for name in {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}:
        found = []
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=name):
            found += [e["message"] for e in page["events"]]
        text = "\n".join(found)
        for secret in (SECRET_PASSWORD, cli_token, web_token, "mwaa-local-s3-key"):
            assert secret not in text, f"{name} holds a secret"


FOLLOW_DAG = """import time

from airflow import DAG
from airflow.models import Variable
from airflow.operators.python_operator import PythonOperator
from airflow.utils.dates import days_ago


def wait_for_the_test():
    print("follow-start-docker", flush=True)
    deadline = time.time() + 240
    while Variable.get("cw_docker_release", default_var=None) is None and time.time() < deadline:
        time.sleep(0.5)
    print("follow-end-docker", flush=True)


with DAG("cw_docker_follow", start_date=days_ago(1), schedule_interval=None, catchup=False) as dag:
    PythonOperator(task_id="wait", python_callable=wait_for_the_test)
"""


def test_tail_follow_and_a_logging_update_in_containers(tier: Tier) -> None:
    """`aws logs tail --follow` shows a running task's lines as they come; then UpdateEnvironment
    turns task and DAG processing logs off: the CLI endpoint's answers begin as MWAA's do, and a
    run ships no task stream; turned on again, the groups are as before."""
    import base64
    import threading

    from tests.conftest import follow_log_tail, logs_client, mwaa_client, s3_client, wait_for_update

    mwaa = mwaa_client(PORTS)
    token = mwaa.create_cli_token(Name="mwaa-local")["CliToken"]
    _cli_call(token, "variables -x cw_docker_release")
    s3_client(PORTS).put_object(
        Bucket="airflow-mwaa-local", Key="dags/cw_docker_follow.py", Body=FOLLOW_DAG
    )
    tail = follow_log_tail(
        "airflow-mwaa-local-Task", "cw_docker_follow/", f"http://127.0.0.1:{PORTS['logs']}"
    )
    result: dict[str, tuple[str, str]] = {}
    runner = threading.Thread(
        target=lambda: result.update(run=_run_to_success(tier, "cw_docker_follow"))
    )
    try:
        runner.start()
        wait_until(lambda: tail.saw("follow-start-docker"), 180, "tail's line")
        assert not tail.saw("follow-end-docker")  # still running
        status, body = _cli_call(token, "variables -s cw_docker_release now")
        assert status == 200, body
        try:
            wait_until(lambda: tail.saw("follow-end-docker"), 180, "the last line")
        except BaseException:
            print("tail printed:", *tail.lines, sep="\n")
            print(_airflow(tier, "list_dag_runs", "cw_docker_follow"))
            raise
        runner.join(RUN_TIMEOUT_S)
        assert result.get("run"), "the follow DAG's run did not succeed"
    finally:
        _cli_call(token, "variables -s cw_docker_release now")
        tail.stop()

    # What GetEnvironment shows, as UpdateEnvironment's input (without the ARNs).
    shown = mwaa.get_environment(Name="mwaa-local")["Environment"]["LoggingConfiguration"]
    original = {
        kind: {"Enabled": each["Enabled"], "LogLevel": each["LogLevel"]}
        for kind, each in shown.items()
    }
    changed = {
        **original,
        "DagProcessingLogs": {"Enabled": False, "LogLevel": "WARNING"},
        "TaskLogs": {"Enabled": False, "LogLevel": "INFO"},
    }
    logs = logs_client(PORTS["logs"])
    try:
        mwaa.update_environment(Name="mwaa-local", LoggingConfiguration=changed)
        environment = wait_for_update(mwaa, "mwaa-local")
        assert environment["Status"] == "AVAILABLE", environment.get("LastUpdate")
        assert "CloudWatchLogGroupArn" not in environment["LoggingConfiguration"]["TaskLogs"]
        token = mwaa.create_cli_token(Name="mwaa-local")["CliToken"]
        status, body = _cli_call(token, "version")
        assert status == 200, body
        assert (
            base64.b64decode(body["stdout"])
            .decode()
            .startswith("Cloudwatch logging is disabled for CloudwatchProcessorHandler\n")
        ), body
        execution, _ = _run_to_success(tier, "cw_docker_follow")
        prefix = f"cw_docker_follow/wait/{execution.replace(':', '_')}/"
        streams = logs.describe_log_streams(
            logGroupName="airflow-mwaa-local-Task", logStreamNamePrefix=prefix
        )["logStreams"]
        assert streams == [], "a disabled Task group got the run's stream"
    finally:
        mwaa.update_environment(Name="mwaa-local", LoggingConfiguration=original)
        environment = wait_for_update(mwaa, "mwaa-local")
    assert environment["Status"] == "AVAILABLE", environment.get("LastUpdate")
    assert environment["LoggingConfiguration"]["TaskLogs"]["CloudWatchLogGroupArn"]


class TestDockerUI(UIChecks):
    @pytest.fixture
    def target(self, tier: Tier) -> UITarget:
        return UITarget("docker", tier.env)


def _component(tier: Tier, name: str) -> dict:
    return next(c for c in tier.env.status()["Components"] if c["name"] == name)


def test_a_failing_health_check_is_shown_at_once(tier: Tier) -> None:
    """Docker calls a container healthy until 30 probes in a row have failed (150 s here);
    `mwaa-local status` shows the component unhealthy from the first failed one."""
    import signal

    import docker

    client = docker.from_env()
    try:
        (api,) = client.containers.list(
            filters={
                "label": [
                    f"com.docker.compose.project={COMPOSE_PROJECT}",
                    "com.docker.compose.service=api",
                ]
            }
        )
        # Host process ids: the API server stops answering, as a hung process would.
        rows = api.top(ps_args="-eo pid,args")["Processes"]
        pid = next(
            int(row[0])
            for row in rows
            if "mwaa-local run api" in row[1] and "docker-init" not in row[1]  # not tini
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_until(
                lambda: not _component(tier, "api")["healthy"], 60, "status to show api unhealthy"
            )
            api.reload()
            assert api.attrs["State"]["Health"]["Status"] == "healthy"  # Docker's own view
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        client.close()
    wait_until(lambda: _component(tier, "api")["healthy"], 60, "api healthy again")


def _container(service: str, number: int = 1):
    import docker

    client = docker.from_env()
    try:
        return next(
            c
            for c in client.containers.list(
                filters={
                    "label": [
                        f"com.docker.compose.project={COMPOSE_PROJECT}",
                        f"com.docker.compose.service={service}",
                    ]
                }
            )
            if c.labels.get("com.docker.compose.container-number") == str(number)
        )
    finally:
        client.close()


@pytest.mark.parametrize("component", ["scheduler", "worker-1"])
def test_a_killed_component_is_restarted_by_compose(tier: Tier, component: str) -> None:
    """SIGKILL of the Airflow process (as an OOM kill would do it): the container ends with
    137, Docker's restart policy starts it again, `status` shows the restart, and DAGs run."""
    import signal

    service, _, number = component.partition("-")
    before = _component(tier, component)
    container = _container(service, int(number or 1))
    rows = container.top(ps_args="-eo pid,ppid,args")["Processes"]
    # Airflow's own process: the direct child of `mwaa-local run NAME` (not its children).
    wrapper = next(
        row[0]
        for row in rows
        if f"mwaa-local run {service}" in row[2] and "docker-init" not in row[2]  # not tini
    )
    pid = next(int(row[0]) for row in rows if row[1] == wrapper)
    os.kill(pid, signal.SIGKILL)

    def restarted() -> dict | None:
        now = _component(tier, component)
        return now if now["restarts"] > before["restarts"] and now["healthy"] else None

    after = wait_until(restarted, 240, f"{component} to be restarted and healthy", interval=2)
    assert "exit 137" in after["last_exit"], after
    wait_until(
        lambda: tier.env.status()["Status"] == "AVAILABLE", 120, "AVAILABLE after the restart"
    )
    assert f"restarts {after['restarts']}" in tier.env.run("status").stdout
    _run_to_success(tier, DAG)


def test_home_is_the_airflow_home_in_the_containers(tier: Tier) -> None:
    from tests.conftest import s3_client
    from tests.integration.test_bucket import put_home_loader

    put_home_loader(s3_client(PORTS))
    _run_to_success(tier, "home_sample")  # its task checks `~` in the worker container


def _list_dags(mwaa) -> set[str]:
    import base64

    token = mwaa.create_cli_token(Name="mwaa-local")
    body = curl_cli(token["WebServerHostname"], token["CliToken"], "list_dags")
    return set(base64.b64decode(body["stdout"]).decode().split())


def test_bucket_feeds_the_containers(tier: Tier, tmp_path) -> None:
    """The watcher container mirrors the bucket into the dags volume; deploy's plugins.zip and
    requirements.txt reach the scheduler, the workers and the web server after an update."""
    from tests.conftest import mwaa_client, s3_client, wait_for_update
    from tests.integration.test_bucket import PLAIN_DAG, make_project, plugin_view

    mwaa, s3 = mwaa_client(PORTS), s3_client(PORTS)
    key = "dags/nested/deeper/docker_probe.py"
    s3.put_object(Bucket="airflow-mwaa-local", Key=key, Body=PLAIN_DAG.format(dag_id="probe"))
    wait_until(lambda: "probe" in _list_dags(mwaa), 60, "probe in list_dags", interval=1)
    s3.delete_object(Bucket="airflow-mwaa-local", Key=key)
    wait_until(lambda: "probe" not in _list_dags(mwaa), 60, "probe deleted", interval=1)

    project = make_project(tmp_path, "docker")
    deployed = tier.env.run("deploy", "--wait", MWAA_LOCAL_PROJECT_DIR=str(project))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    _run_to_success(tier, "uses_plugin")  # plugin operator + a package from requirements.txt
    # The web server container loaded the plugin's view.
    assert plugin_view(mwaa, f"http://127.0.0.1:{PORTS['web']}") == "hello plugin view docker"
    log = tier.env.run("logs", "requirements", timeout=60).stdout
    assert "mwaa_local_probe" in log or "mwaa-local-probe" in log, log[-2000:]

    bad = s3.put_object(Bucket="airflow-mwaa-local", Key="plugins.zip", Body=b"not a zip")
    mwaa.update_environment(Name="mwaa-local", PluginsS3ObjectVersion=bad["VersionId"])
    failed = wait_for_update(mwaa, "mwaa-local")
    assert failed["Status"] == "UPDATE_FAILED"
    assert failed["LastUpdate"]["Error"]["ErrorCode"] == "INCORRECT_PLUGINS"


def _worker_list() -> list:
    """The running worker containers of the test's compose project (Docker SDK objects)."""
    import docker

    client = docker.from_env()
    try:
        return client.containers.list(
            filters={
                "label": [
                    f"com.docker.compose.project={COMPOSE_PROJECT}",
                    "com.docker.compose.service=worker",
                ]
            }
        )
    finally:
        client.close()


def _worker_name(container) -> str:
    return f"worker-{container.labels['com.docker.compose.container-number']}"


def _worker_containers() -> dict[str, dict[str, str]]:
    """worker-N -> labels."""
    return {_worker_name(c): c.labels for c in _worker_list()}


def _workers_in_status(tier: Tier) -> dict[str, bool]:
    return {
        c["name"]: c["healthy"]
        for c in tier.env.status()["Components"]
        if c["name"].startswith("worker-")
    }


def _worker_hostnames() -> dict[str, str]:
    """Container hostname (the Celery node's name) -> worker-N."""
    return {c.attrs["Config"]["Hostname"]: _worker_name(c) for c in _worker_list()}


def _states(dag_id: str) -> dict[str, int]:
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1",
        port=PORTS["postgres"],
        user="airflow",
        password="airflow",
        dbname="airflow",
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select coalesce(state, 'none'), count(*) from task_instance "
                "where dag_id = %s group by 1",
                (dag_id,),
            )
            return dict(cur.fetchall())
    finally:
        conn.close()


def test_autoscaler_adds_and_removes_worker_containers(tier: Tier) -> None:
    """The Docker backend, driven by a real DAG: 30 parallel tasks on mw1.small (5 per worker)
    want ceil(30 / 5) = 6 workers, clamped to MaxWorkers 3, and all succeed; MaxWorkers
    lowered live while a long task runs on a worker above it: the autoscaler retires that
    worker container, which finishes the task first; back to one worker."""
    from celery import Celery

    from tests.conftest import mwaa_client, s3_client, wait_for_update
    from tests.integration.test_autoscale import BURST, DAGS, LONG, node_running

    s3_client(PORTS).put_object(
        Bucket="airflow-mwaa-local", Key="dags/autoscale/autoscale_dags.py", Body=DAGS.encode()
    )
    for dag in (BURST, LONG):
        wait_until(
            lambda dag=dag: tier.runtime.airflow(["unpause", dag]).returncode == 0,
            120,
            f"the scheduler to register {dag}",
            interval=2,
        )
    _airflow(tier, "trigger_dag", BURST)
    wait_until(
        lambda: _workers_in_status(tier) == {f"worker-{n}": True for n in (1, 2, 3)},
        240,
        "3 healthy workers",
        interval=2,
    )
    containers = _worker_containers()
    assert set(containers) == {"worker-1", "worker-2", "worker-3"}

    # `mwaa-local status` shows current and wanted workers and the queue depth.
    def status_with_3_workers() -> str:
        out = tier.env.run("status").stdout
        return out if "workers 3 (wanted 3)" in out else ""

    shown = wait_until(
        status_with_3_workers,
        60,
        "status to show 3 workers (the autoscaler's health line)",
        interval=2,
    )
    assert "queue depth" in shown, shown
    assert containers["worker-3"].get("mwaa-local.autoscaled") == "true"
    assert containers["worker-3"]["mwaa-local.kind"] == "service"
    wait_until(
        lambda: _states(BURST).get("success") == 30 or _states(BURST).get("failed"),
        300,
        "all 30 tasks of the burst to finish",
        interval=2,
    )
    assert _states(BURST) == {"success": 30}

    # The long task goes to worker-3 (the others stop taking tasks for a while), before the
    # idle window could scale in; then MaxWorkers goes down to 1 under it.
    control = Celery(broker=f"redis://127.0.0.1:{PORTS['redis']}/0").control
    others = [f"celery@{h}" for h, w in _worker_hostnames().items() if w != "worker-3"]
    control.cancel_consumer("default", destination=others, reply=True, timeout=5)
    mwaa = mwaa_client(PORTS)
    try:
        _airflow(tier, "trigger_dag", LONG)
        node = wait_until(
            lambda: node_running(PORTS["redis"], LONG), 120, "the long task to run", interval=1
        )
        assert _worker_hostnames().get(node) == "worker-3", node
        mwaa.update_environment(Name="mwaa-local", MaxWorkers=1)
        assert wait_for_update(mwaa, "mwaa-local")["Status"] == "AVAILABLE"
    finally:
        alive = [f"celery@{h}" for h in _worker_hostnames()]
        control.add_consumer("default", destination=alive, reply=True, timeout=5)
    wait_until(
        lambda: _states(LONG).get("success") == 1 or _states(LONG).get("failed"),
        300,
        "the long task to finish",
        interval=1,
    )
    assert _states(LONG) == {"success": 1}, "the retired worker's task did not succeed"
    wait_until(lambda: set(_worker_containers()) == {"worker-1"}, 180, "1 worker container")
    log = tier.env.run("logs", "autoscaler", timeout=60).stdout
    assert "scale out 1 -> 3" in log, log[-2000:]
    assert "scale in 3 -> 1: above MaxWorkers 1" in log, log[-2000:]
    mwaa.update_environment(Name="mwaa-local", MaxWorkers=3)  # as environment.json has it
    assert wait_for_update(mwaa, "mwaa-local")["Status"] == "AVAILABLE"


def test_history_export_and_a_snapshot_restore_in_containers(tier: Tier, tmp_path) -> None:
    """`db export` reads the postgres container's database with the Fernet key of the state
    volume; a snapshot keeps the database, the bucket's versions and the volumes, and brings
    back a variable and a DAG deleted after it, then the environment is AVAILABLE."""
    from tests.conftest import s3_client
    from tests.integration.test_bucket import PLAIN_DAG
    from tests.integration.test_history import manifest, query

    env, s3 = tier.env, s3_client(PORTS)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a docker passphrase\n")
    env.ok("cli", "variables", "-s", "docker_snapshot_var", "kept-by-the-snapshot")
    key = "dags/snapshot/snapshot_probe.py"
    s3.put_object(
        Bucket="airflow-mwaa-local", Key=key, Body=PLAIN_DAG.format(dag_id="snapshot_probe")
    )
    mwaa = _mwaa_client()
    wait_until(lambda: "snapshot_probe" in _list_dags(mwaa), 60, "the probe DAG", interval=1)

    archive = tmp_path / "docker.tar.gz"
    env.ok("db", "export", str(archive), "--passphrase-file", str(passphrase))
    record = manifest(archive)
    (runs,) = query(PORTS, "select count(*) from dag_run")[0]
    assert record["tables"]["dag_run"]["rows"] == runs >= len(tier.runs)
    assert record["secrets"]["state"] == "sealed"

    try:
        saved = env.ok("snapshot", "save", "docker-point", timeout=600)
        assert "snapshot docker-point saved" in saved, saved
        env.ok("cli", "variables", "-x", "docker_snapshot_var")
        s3.delete_object(Bucket="airflow-mwaa-local", Key=key)
        wait_until(
            lambda: "snapshot_probe" not in _list_dags(mwaa), 60, "the probe gone", interval=1
        )

        restored = env.run("snapshot", "restore", "docker-point", timeout=UP_TIMEOUT_S + 600)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert env.status()["Status"] == "AVAILABLE"
        value = env.ok("cli", "variables", "-g", "docker_snapshot_var").strip().splitlines()[-1]
        assert value == "kept-by-the-snapshot"
        assert "snapshot_probe" in _list_dags(mwaa)
        for execution in tier.runs:  # the history from before the snapshot is all there
            assert _answer(_airflow(tier, "dag_state", DAG, execution)) == "success"
    finally:
        env.run("snapshot", "delete", "docker-point")
        env.run("cli", "variables", "-x", "docker_snapshot_var")
        s3.delete_object(Bucket="airflow-mwaa-local", Key=key)


def _mwaa_client():
    from tests.conftest import mwaa_client

    return mwaa_client(PORTS)


def test_down_keeps_the_state_and_up_brings_it_back(tier: Tier) -> None:
    execution, _run_id = _run_to_success(tier, DAG)  # its own run to find again
    tier.runs.append(execution)
    tier.env.ok("down", timeout=300)
    stopped = tier.env.status()
    assert stopped["Status"] == "UNAVAILABLE"
    assert stopped["Runtime"] == "docker"
    assert {c["name"] for c in stopped["Components"]} == COMPONENTS
    assert not any(c["healthy"] for c in stopped["Components"])
    import docker

    client = docker.from_env()
    try:
        project = {"label": f"com.docker.compose.project={COMPOSE_PROJECT}"}
        assert not client.containers.list(all=True, filters=project)
        kept = {
            v.attrs["Labels"]["com.docker.compose.volume"]
            for v in client.volumes.list(filters=project)
        }
    finally:
        client.close()
    assert {"postgres-db", "mwaa-state", "airflow-logs", "dags", "s3-data"} <= kept, kept

    up = tier.env.run("up", "--runtime", "docker", timeout=UP_TIMEOUT_S + 300)
    assert up.returncode == 0, f"mwaa-local up (again) failed:\n{up.stdout}\n{up.stderr}"
    assert tier.env.status()["Status"] == "AVAILABLE"
    # The metadata database outlived the containers.
    for execution in tier.runs:
        assert _answer(_airflow(tier, "dag_state", DAG, execution)) == "success"
