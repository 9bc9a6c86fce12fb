"""The environment a test session uses, seen from outside: `mwaa-local` commands run for the
user's project, the addresses they print, and the clients a test talks to it with.

Standard library only (boto3 when a client is asked for): this runs in the user's Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.testing import web

Say = Callable[[str], None]
# `mwaa-local` as the user's Python runs it: it brings its own platform along on first use.
LAUNCHER = (sys.executable, "-m", "emulator")
UP_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 300


class MwaaLocalTestError(RuntimeError):
    """The environment could not be started, reached or used; the message says why."""


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise MwaaLocalTestError(
            "the mwaa_client and s3_client fixtures (and mwaa_cli, run_dag) need boto3 in the "
            f"Python that runs pytest ({sys.executable}): `pip install boto3`, or install "
            "mwaa-local with its extra, `pip install 'mwaa-local[pytest]'`"
        ) from None
    return boto3


class MwaaLocal:
    """`mwaa-local COMMAND` for one project."""

    def __init__(self, project: Path, env: dict[str, str] | None = None):
        self.project = project
        base = dict(os.environ if env is None else env)
        base["MWAA_LOCAL_PROJECT_DIR"] = str(project)
        self.env = base

    def argv(self, *args: str) -> list[str]:
        return [*LAUNCHER, *args]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*args),
            env=self.env,
            cwd=self.project,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def stream(self, *args: str, say: Say, timeout: float) -> tuple[int, str]:
        """Run a long command, passing each line it prints to `say`; (exit code, output)."""
        process = subprocess.Popen(
            self.argv(*args),
            env=self.env,
            cwd=self.project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            say(line.rstrip())
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        return code, "".join(lines)

    def json(self, *args: str) -> dict[str, Any]:
        done = self.run(*args)
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise MwaaLocalTestError(
                f"`mwaa-local {' '.join(args)}` failed (exit {done.returncode}):\n"
                f"{done.stdout}{done.stderr}"
            ) from None


@dataclass
class MwaaEnvironment:
    """The running environment of a test session (the `mwaa_environment` fixture)."""

    name: str
    project: Path
    runtime: str
    started: bool  # by this session, which stops it at the end
    exports: dict[str, str]  # AWS_ENDPOINT_URL_MWAA, ..._S3, region, keys (`mwaa-local env`)
    web_server_hostname: str
    bucket: str
    command: MwaaLocal = field(repr=False)
    _ui: web.UiSession | None = field(default=None, repr=False)

    @property
    def api_endpoint(self) -> str:
        return self.exports["AWS_ENDPOINT_URL_MWAA"]

    @property
    def s3_endpoint(self) -> str:
        return self.exports["AWS_ENDPOINT_URL_S3"]

    def _client(self, service: str, endpoint: str, config: Any) -> Any:
        return _boto3().client(
            service,
            endpoint_url=endpoint,
            region_name=self.exports["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.exports["AWS_SECRET_ACCESS_KEY"],
            config=config,
        )

    def mwaa_client(self) -> Any:
        """boto3's MWAA client, as `eval "$(mwaa-local env)"` would set it up."""
        from botocore.config import Config

        # botocore would send MWAA calls to api.127.0.0.1 / env.127.0.0.1 otherwise.
        return self._client("mwaa", self.api_endpoint, Config(inject_host_prefix=False))

    def s3_client(self) -> Any:
        from botocore.config import Config

        return self._client("s3", self.s3_endpoint, Config(s3={"addressing_style": "path"}))

    def cli(self, command: str | Sequence[str]) -> web.CliResult:
        return web.cli(self.mwaa_client(), self.name, command)

    @property
    def ui(self) -> web.UiSession:
        if self._ui is None:
            mwaa = self.mwaa_client()
            self._ui = web.UiSession(
                self.api_endpoint, lambda: mwaa.create_web_login_token(Name=self.name)["WebToken"]
            )
        return self._ui


def _running(status: dict[str, Any]) -> bool:
    return any(c.get("state") not in ("stopped", None) for c in status.get("Components", []))


def _bucket(project: Path, env: dict[str, str]) -> str:
    file = Path(env.get("MWAA_LOCAL_ENVIRONMENT_FILE") or project / "environment.json")
    try:
        arn = json.loads(file.read_text())["SourceBucketArn"]
    except (OSError, ValueError, KeyError) as exc:
        raise MwaaLocalTestError(f"{file}: cannot read SourceBucketArn ({exc})") from None
    return str(arn).split(":::", 1)[-1]


def open_environment(
    project: Path, runtime: str, reuse: bool, say: Say, up_timeout: float = UP_TIMEOUT_S
) -> MwaaEnvironment:
    """The project's environment: started (by this session), or with `reuse`, the running
    one. A running environment is never taken over without `reuse`: the session would stop
    it at the end."""
    if not (project / "environment.json").is_file():
        raise MwaaLocalTestError(
            f"{project} has no environment.json: run pytest from your project's folder, or set "
            "mwaa_local_project in pytest's configuration (or MWAA_LOCAL_PROJECT_DIR)"
        )
    command = MwaaLocal(project)
    status = command.json("status", "--json")
    started = False
    if _running(status):
        if not reuse:
            raise MwaaLocalTestError(
                f"environment {status['Name']} of {project} is running already "
                f"({status['Status']}, {status['Runtime']} runtime): pass --mwaa-local-reuse "
                "to run the tests against it, or stop it with `mwaa-local down`"
            )
        say(f"mwaa-local: using the running environment {status['Name']} (--mwaa-local-reuse)")
        code, output = command.stream(
            "wait", "--timeout", str(up_timeout), say=say, timeout=up_timeout + 60
        )
        if code != 0:
            raise MwaaLocalTestError(f"`mwaa-local wait` failed (exit {code}):\n{output}")
    else:
        say(f"mwaa-local: starting the environment of {project} ({runtime} runtime)")
        code, output = command.stream(
            "up",
            "--runtime",
            runtime,
            "--timeout",
            str(up_timeout),
            say=say,
            timeout=up_timeout + 600,
        )
        started = True
        if code != 0:
            command.run("down", timeout=COMMAND_TIMEOUT_S)
            raise MwaaLocalTestError(f"`mwaa-local up` failed (exit {code}):\n{output}")
        status = command.json("status", "--json")
    environment = MwaaEnvironment(
        name=status["Name"],
        project=project,
        runtime=status["Runtime"],
        started=started,
        exports=command.json("env", "--json"),
        web_server_hostname=status["WebServerHostname"],
        bucket=_bucket(project, command.env),
        command=command,
    )
    return environment


@dataclass(frozen=True)
class DeployResult:
    changes: list[str]  # "+ dags/new.py", "~ plugins.zip (version ...)", "update-environment: ..."
    output: str  # all that `mwaa-local deploy` printed


CHANGE_MARKS = ("+ ", "~ ", "- ", "update-environment: ")


def deploy(environment: MwaaEnvironment, path: Path, say: Say) -> DeployResult:
    """`mwaa-local deploy PATH --wait`: the folder's dags/ (mirrored: what it lacks is deleted),
    plugins/ as plugins.zip and requirements.txt, then UpdateEnvironment for what changed, and
    the wait until the environment runs on it with the DAGs in its DAGs folder."""
    code, output = environment.command.stream("deploy", str(path), "--wait", say=say, timeout=1500)
    if code != 0:
        raise MwaaLocalTestError(
            f"`mwaa-local deploy {path} --wait` failed (exit {code}):\n{output}"
        )
    changes = [
        line.strip()
        for line in output.splitlines()
        if line.startswith("  ") and line.strip().startswith(CHANGE_MARKS)
    ]
    return DeployResult(changes, output)


def close_environment(environment: MwaaEnvironment, say: Say) -> None:
    """Stop the environment when this session started it."""
    if not environment.started:
        return
    say(f"mwaa-local: stopping the environment this test session started ({environment.name})")
    code, output = environment.command.stream("down", say=say, timeout=COMMAND_TIMEOUT_S)
    if code != 0:
        raise MwaaLocalTestError(f"`mwaa-local down` failed (exit {code}):\n{output}")
