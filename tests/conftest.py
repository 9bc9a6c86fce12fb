"""Shared helpers: run `mwaa-local` as a user would, with its own state folder and ports."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.browser import Browser, start_chromium

PROJECT = Path(__file__).resolve().parent.parent
MWAA_LOCAL = str(Path(sys.executable).parent / "mwaa-local")


def make_state_dir(prefix: str) -> Path:
    """A state folder outside pytest's 0700 tmp tree: PostgreSQL may run as another user."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str) -> NoReturn:
    """Skip a test whose tool or server is missing here; in CI, where .ci/run installs all of
    them, fail instead: a skip must never hide there."""
    if in_ci():
        pytest.fail(f"{message}; in CI it must be there (.ci/run installs it)", pytrace=False)
    pytest.skip(message)


# Screenshots of failed browser tests, listed at the end of the run.
SCREENSHOTS: list[Path] = []


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


# Wall time per test file: setup, call and teardown of its tests, shared fixtures included
# where the file's first test started them.
FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    FILE_SECONDS[path] = FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if FILE_SECONDS:
        terminalreporter.section("wall time per test file")
        for path, seconds in sorted(FILE_SECONDS.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
        terminalreporter.write_line(f"{sum(FILE_SECONDS.values()):8.1f} s  in all")
    if SCREENSHOTS:
        terminalreporter.section("screenshots of failed browser tests")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium; a failing test leaves a screenshot of the page it was on."""
    started = start_chromium()
    if started is None:
        unavailable("Debian's chromium and chromium-driver are not installed")
    driver, profile = started
    browser = Browser(driver)
    try:
        yield browser
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid)
            try:
                path = browser.screenshot(name)
                SCREENSHOTS.append(path)
                print(f"screenshot of the failed page ({browser.url}): {path}")
            except Exception as exc:  # noqa: BLE001 - the browser itself may be what failed
                print(f"no screenshot: {exc}")
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Env:
    """One mwaa-local installation: a state folder, ports, and `mwaa-local` run against them."""

    def __init__(self, home: Path, ports: dict[str, int], extra: dict[str, str] | None = None):
        self.home = home
        self.env = {
            **os.environ,
            "MWAA_LOCAL_HOME": str(home),
            "MWAA_LOCAL_WEB_PORT": str(ports["web"]),
            "MWAA_LOCAL_HTTPS_PORT": str(ports["https"]),
            "MWAA_LOCAL_AIRFLOW_PORT": str(ports["airflow"]),
            "MWAA_LOCAL_S3_PORT": str(ports["s3"]),
            "MWAA_LOCAL_POSTGRES_PORT": str(ports["postgres"]),
            "MWAA_LOCAL_REDIS_PORT": str(ports["redis"]),
            "MWAA_LOCAL_LOGS_PORT": str(ports["logs"]),
            **(extra or {}),
        }
        self.ports = ports

    def run(self, *args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [MWAA_LOCAL, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT,
        )

    def ok(self, *args: str, timeout: float = 900) -> str:
        result = self.run(*args, timeout=timeout)
        command = " ".join(args)
        assert result.returncode == 0, f"mwaa-local {command}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def status(self) -> dict:
        return json.loads(self.run("status", "--json").stdout)

    def component(self, name: str) -> dict:
        """One component of `status --json` (pid, state, restarts, last exit, ...)."""
        found = [c for c in self.status()["Components"] if c["name"] == name]
        assert found, f"no component {name} in mwaa-local status"
        return found[0]

    def airflow(self, *args: str) -> str:
        return self.ok("airflow", *args, timeout=120)


def curl_cli(hostname: str, token: str, command: str) -> dict:
    """MWAA's documented curl example, to the letter (with -k for the self-signed cert)."""
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl is not installed")
    out = subprocess.run(
        [
            curl,
            "-sk",
            "--request",
            "POST",
            f"https://{hostname}/aws_mwaa/cli",
            "--header",
            f"Authorization: Bearer {token}",
            "--header",
            "Content-Type: text/plain",
            "--data-raw",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return json.loads(out)


def aws_cli_v2() -> str:
    """The AWS CLI v2 (`aws logs tail` is v2 only; Debian's package `awscli` is 2.9): the first
    `aws` on PATH that is v2, else Debian's. The venv's own `aws` is v1."""
    candidates = [shutil.which("aws"), "/usr/bin/aws", "/usr/local/bin/aws"]
    for candidate in dict.fromkeys(c for c in candidates if c):
        try:
            version = subprocess.run(
                [candidate, "--version"], capture_output=True, text=True, timeout=60
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.startswith("aws-cli/2."):
            return candidate
    unavailable("the AWS CLI v2 is not installed (Debian: apt-get install awscli)")


def aws(*args: str, endpoint: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`aws ARGS` (v2) against a local endpoint. Debian's 2.9 predates AWS_ENDPOINT_URL_*
    (2.13), so the endpoint goes in as --endpoint-url, as a user of that version gives it."""
    return subprocess.run(
        [aws_cli_v2(), *args, "--endpoint-url", endpoint, "--region", "us-east-1"],
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": "mwaa-local",
            "AWS_SECRET_ACCESS_KEY": "mwaa-local-s3-key",
            "AWS_PAGER": "",
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class FollowedTail:
    """`aws logs tail GROUP --follow` running, with the lines it has printed so far."""

    process: subprocess.Popen
    lines: list[str]

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def follow_log_tail(group: str, stream_prefix: str, endpoint: str) -> FollowedTail:
    """`aws logs tail --follow` (v2) as a user runs it to watch a task, read in the background."""
    process = subprocess.Popen(
        [
            aws_cli_v2(),
            "logs",
            "tail",
            group,
            "--follow",
            "--log-stream-name-prefix",
            stream_prefix,
            "--format",
            "short",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
        ],  # fmt: skip
        env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_PAGER": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    followed = FollowedTail(process, [])

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            followed.lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return followed


def logs_client(port: int):
    """boto3's CloudWatch Logs client for a local server."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "logs",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="mwaa-local",
        aws_secret_access_key="mwaa-local-s3-key",
        config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10),
    )


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.5
) -> object:
    """Poll `condition` until it returns something truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def mwaa_client(ports: dict[str, int], key: str = "AKIDTEST", secret: str = "secret"):
    """boto3's MWAA client pointed at an environment, as `mwaa-local env` would set it up."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "mwaa",
        endpoint_url=f"http://127.0.0.1:{ports['web']}",
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(inject_host_prefix=False),
    )


def s3_client(ports: dict[str, int]):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{ports['s3']}",
        region_name="us-east-1",
        aws_access_key_id="mwaa-local",
        aws_secret_access_key="mwaa-local-s3-key",
        config=Config(s3={"addressing_style": "path"}),
    )


@contextlib.contextmanager
def s3_server(data: Path, port: int):
    """The project's S3 server (serve.py, as the native runtime runs it) on its own; yields
    (a boto3 client for it, its process)."""
    import boto3
    from botocore.config import Config

    from emulator.runtime import servers

    if not (servers.servers_venv() / ".installed").exists():
        unavailable("needs .venv-servers (make venv)")
    launch = servers.s3(data, port)
    process = subprocess.Popen(
        launch.argv,
        env={**os.environ, **launch.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=5,
        ),
    )

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail("the S3 server exited at start")
        try:
            client.list_buckets()
        except Exception:  # noqa: BLE001 - any failure means "not up yet"
            return False
        return True

    try:
        wait_until(answers, 60, f"the S3 server on port {port}", interval=0.2)
        yield client, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for_update(mwaa, name: str, timeout: float = 600) -> dict:
    """Poll GetEnvironment until the status leaves UPDATING; the environment then."""

    def finished():
        env = mwaa.get_environment(Name=name)["Environment"]
        return env if env["Status"] != "UPDATING" else None

    return wait_until(finished, timeout, f"the update of {name} to finish", interval=1)


def run_dag_to_success(env: Env, dag_id: str, timeout: float = 240) -> str:
    """Unpause, trigger and wait for the run to succeed; returns the run id."""
    # unpause and trigger_dag need the DAG in the metadata DB (DagModel, serialized DAG): the
    # scheduler writes it some time after list_dags, which parses the file itself, sees it.
    wait_until(
        lambda: env.run("airflow", "unpause", dag_id, timeout=120).returncode == 0,
        120,
        f"the scheduler to know {dag_id} (unpause to succeed)",
        interval=1,
    )
    run_id = f"test_{time.time_ns()}"
    refusals: list[str] = []
    first_refusal: list[str] = []

    def triggered() -> bool:
        done = env.run("airflow", "trigger_dag", dag_id, "--run_id", run_id)
        if done.returncode == 0:
            return True
        lines = (done.stdout + done.stderr).strip().splitlines() or ["(no output)"]
        if not first_refusal:
            first_refusal.extend([f"exit {done.returncode}", *lines[-25:]])
        refusals.append(lines[-1])
        # An earlier attempt created the run and still failed (CI saw it once, after a
        # scheduler's restart): the run is there and goes on; its first failure is printed.
        created = len(refusals) > 1 and "DagRunAlreadyExists" in lines[-1] and run_id in lines[-1]
        if created:
            # In the warnings summary of a passing run too: the cause is still to be found.
            warnings.warn(
                f"trigger_dag {dag_id} failed yet created {run_id}: " + " | ".join(first_refusal),
                stacklevel=1,
            )
        return created

    try:
        # 240 s: in CI both lanes share two cores, and each environment parses every file
        # once a second (the fast timing); a rehearsal once saw 120 s pass here.
        wait_until(
            triggered, 240, f"the scheduler to know {dag_id} (trigger_dag to succeed)", interval=1
        )
    finally:
        # What trigger_dag said (DagNotFound, a run that already exists, ...): pytest shows it
        # with a failure.
        if refusals:
            print(f"trigger_dag {dag_id} refused {len(refusals)}x; last: {refusals[-3:]}")
            print("the first refusal:\n" + "\n".join(first_refusal))

    def state() -> str | None:
        out = env.airflow("list_dag_runs", dag_id)
        row = next((line for line in out.splitlines() if run_id in line), "")
        for word in ("success", "failed"):
            if f"| {word}" in row:
                return word
        return None

    final = wait_until(state, timeout, f"{dag_id} run {run_id} to finish", interval=1)
    assert final == "success", f"{dag_id} run {run_id} ended {final}"
    return run_id


# Test and bench ports stay below 32768, out of Linux's ephemeral range (32768-60999): an
# outgoing connection can never be holding one when a server wants it.
# Checkouts that run the suite side by side on one machine (worktrees) each set
# MWAA_LOCAL_TEST_PORT_OFFSET (say 300, 600, 900): every port and Compose project moves.
PORT_OFFSET = int(os.environ.get("MWAA_LOCAL_TEST_PORT_OFFSET", "0"))


def ports(**given: int) -> dict[str, int]:
    """Test ports, moved by MWAA_LOCAL_TEST_PORT_OFFSET."""
    return {name: number + PORT_OFFSET for name, number in given.items()}


# IAM as the tests model it: which access key may log in as which Airflow role.
ACCESS = {
    "AKIDVIEWER": {
        "secret": "viewer-secret",
        "identity": "assumed-role/Viewer/vera",
        "roles": ["Viewer"],
    },
    "AKIDNOBODY": {"secret": "nobody-secret", "identity": "user/nobody", "roles": []},
}

NATIVE_PORTS = ports(
    web=28080, https=28443, airflow=28081, s3=29000, postgres=25433, redis=26380, logs=29010
)


@pytest.fixture(scope="session")
def native_env():
    """One native environment shared by the tests that do not disturb it."""
    import shutil

    home = make_state_dir("mwaa-local-native-")
    access = home / "access.json"
    access.write_text(json.dumps(ACCESS))
    env = Env(home, NATIVE_PORTS, {"MWAA_LOCAL_ACCESS_FILE": str(access)})
    up = env.run("up", "--runtime", "native")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env, up
    finally:
        env.run("down")
        shutil.rmtree(home, ignore_errors=True)


# The CloudWatch Logs server of the server tests (test_logs_server.py, test_shipper.py).
LOGS_SERVER_PORT = 27800 + PORT_OFFSET


class LogsServer:
    """images/logs/serve.py as the native runtime starts it, on LOGS_SERVER_PORT, with its
    state in `data`."""

    def __init__(self, data: Path, log: Path, port: int = LOGS_SERVER_PORT):
        from emulator.runtime import servers

        self.port = port
        launch = servers.logs(data, port)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                launch.argv, env={**os.environ, **launch.env}, stdout=out, stderr=subprocess.STDOUT
            )
        self.log = log
        wait_until(self._answers, 60, f"the logs server on port {port}", interval=0.2)

    def _answers(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.proc.poll() is not None:
            pytest.fail(f"serve.py exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            logs_client(self.port).describe_log_groups()
        except (BotoCoreError, ClientError):
            return False
        return True

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[], LogsServer]]:
    """Start the logs server on tmp_path/data (again and again: the same folder each time)."""
    from emulator.runtime import servers

    if not (servers.servers_venv() / ".installed").exists():
        unavailable("needs .venv-servers (make venv)")
    started: list[LogsServer] = []

    def start() -> LogsServer:
        server = LogsServer(tmp_path / "data", tmp_path / "serve.log")
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait(30)


SPARE_PORTS = ports(
    web=14080, https=14443, airflow=14081, s3=14900, postgres=14433, redis=14380, logs=14910
)


@pytest.fixture(scope="session")
def spare_env():
    """A second native environment, not started: for tests that start, stop or break one of
    their own (each leaves it stopped). Its state folder lives for the session, so a later
    start is a restart."""
    home = make_state_dir("mwaa-local-spare-")
    env = Env(home, SPARE_PORTS)
    try:
        yield env
    finally:
        env.run("down")
        shutil.rmtree(home, ignore_errors=True)


def user_project(root: Path, tests: dict[str, str]) -> Path:
    """A user's project folder for pytest with mwaa-local's plugin: this repository's
    environment.json, dags/, plugins/ and requirements (so deploying it to one of the test
    environments changes nothing), and the given test files."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "environment.json", root / "environment.json")
    for folder in ("dags", "plugins", "requirements"):
        shutil.copytree(
            PROJECT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    (root / "pytest.ini").write_text("[pytest]\n")
    for name, text in tests.items():
        (root / name).write_text(text)
    return root


def inner_pytest(
    project: Path, env: Env, *args: str, timeout: float = 1800
) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """pytest run in `project` as its user would run it (mwaa-local's plugin comes through its
    entry point), against the environment of `env`; (the run, test name -> outcome)."""
    import xml.etree.ElementTree as ElementTree

    report = project / "junit.xml"
    report.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args,
         f"--junitxml={report}"],
        cwd=project,
        env={k: v for k, v in env.env.items() if not k.startswith("PYTEST_")},
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip
    outcomes: dict[str, str] = {}
    if report.exists():
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            children = [child.tag for child in case]
            outcome = next((t for t in ("failure", "error", "skipped") if t in children), "passed")
            outcomes[case.get("name", "?")] = outcome
    return done, outcomes
