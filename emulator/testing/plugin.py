"""pytest plugin: a local MWAA environment for a project's tests (entry point `pytest11`).

Fixtures (nothing happens until a test asks for one):

- `mwaa_environment` (session): starts the project's environment once and stops it at the end,
  or, with `--mwaa-local-reuse`, uses the running one (and leaves it running). The project's
  dags/, plugins/ and requirements.txt are deployed first, so the tests see the working tree.
- `mwaa_client`, `s3_client`: boto3 clients pointed at it.
- `mwaa_cli(command)`: an Airflow command through `/aws_mwaa/cli`; returns stdout and stderr.
- `run_dag(dag_id, conf=None, timeout=300)`: unpause, trigger, wait; the run's state, each
  task's state and the task logs.
- `deploy(path)`: a folder's dags/, plugins/ and requirements, as `mwaa-local deploy` sends them.

Options: `--mwaa-local-runtime auto|docker|native`, `--mwaa-local-reuse`; ini
`mwaa_local_project` (the project folder, relative to the rootdir; default the rootdir).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from emulator.testing import dag_runs, environment, web

RUNTIMES = ("auto", "docker", "native")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mwaa-local", "mwaa-local: a local Amazon MWAA environment")
    group.addoption(
        "--mwaa-local-runtime",
        choices=RUNTIMES,
        default="auto",
        help="where mwaa_environment starts the environment: docker, native, or auto (Docker "
        "when an engine answers)",
    )
    group.addoption(
        "--mwaa-local-reuse",
        action="store_true",
        help="run against the project's running environment (and leave it running); one is "
        "started when none runs",
    )
    parser.addini(
        "mwaa_local_project",
        "the project folder (environment.json, dags/, plugins/, requirements.txt), relative "
        "to the rootdir; default: MWAA_LOCAL_PROJECT_DIR, else the rootdir",
        default="",
    )


def _project(config: pytest.Config) -> Path:
    configured = str(config.getini("mwaa_local_project") or "")
    if configured:
        return (config.rootpath / configured).resolve()
    if os.environ.get("MWAA_LOCAL_PROJECT_DIR"):
        return Path(os.environ["MWAA_LOCAL_PROJECT_DIR"]).resolve()
    return config.rootpath.resolve()


def _say(config: pytest.Config) -> Callable[[str], None]:
    """Lines shown as they come, even while pytest captures output: starting takes a while."""
    capture = config.pluginmanager.getplugin("capturemanager")
    writer = config.get_terminal_writer()

    def say(line: str) -> None:
        if capture is None:
            writer.line(line)
            return
        with capture.global_and_fixture_disabled():
            writer.line(line)

    return say


def _fail(exc: Exception) -> Any:
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mwaa_environment(request: pytest.FixtureRequest) -> Iterator[environment.MwaaEnvironment]:
    config = request.config
    say = _say(config)
    try:
        env = environment.open_environment(
            _project(config),
            runtime=config.getoption("--mwaa-local-runtime"),
            reuse=config.getoption("--mwaa-local-reuse"),
            say=say,
        )
    except environment.MwaaLocalTestError as exc:
        _fail(exc)
    try:
        environment.deploy(env, env.project, say)
    except environment.MwaaLocalTestError as exc:
        environment.close_environment(env, say)
        _fail(exc)
    try:
        yield env
    finally:
        environment.close_environment(env, say)


@pytest.fixture(scope="session")
def mwaa_client(mwaa_environment: environment.MwaaEnvironment) -> Any:
    try:
        return mwaa_environment.mwaa_client()
    except environment.MwaaLocalTestError as exc:
        return _fail(exc)


@pytest.fixture(scope="session")
def s3_client(mwaa_environment: environment.MwaaEnvironment) -> Any:
    try:
        return mwaa_environment.s3_client()
    except environment.MwaaLocalTestError as exc:
        return _fail(exc)


@pytest.fixture(scope="session")
def mwaa_cli(
    mwaa_environment: environment.MwaaEnvironment, mwaa_client: Any
) -> Callable[[str | Sequence[str]], web.CliResult]:
    """`mwaa_cli("list_dags")` -> CliResult(stdout, stderr); raises web.MwaaCliError when the
    endpoint refuses the command (HTTP 500 for one MWAA does not run)."""

    def cli(command: str | Sequence[str]) -> web.CliResult:
        return web.cli(mwaa_client, mwaa_environment.name, command)

    return cli


@pytest.fixture(scope="session")
def run_dag(
    mwaa_environment: environment.MwaaEnvironment,
    mwaa_cli: Callable[[str | Sequence[str]], web.CliResult],
) -> Callable[..., dag_runs.DagRunResult]:
    """`run_dag("my_dag", conf={...}, timeout=300)` -> DagRunResult(state, tasks, logs, ...)."""

    def run(
        dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 300
    ) -> dag_runs.DagRunResult:
        return dag_runs.run_dag(mwaa_cli, mwaa_environment.ui, dag_id, conf, timeout)

    return run


@pytest.fixture(scope="session")
def deploy(
    mwaa_environment: environment.MwaaEnvironment, request: pytest.FixtureRequest
) -> Callable[[str | Path], environment.DeployResult]:
    """`deploy(path)`: the folder's dags/ (mirrored), plugins/ and requirements.txt sent to the
    environment, which is back AVAILABLE with them when it returns."""
    say = _say(request.config)

    def send(path: str | Path) -> environment.DeployResult:
        try:
            return environment.deploy(mwaa_environment, Path(path).resolve(), say)
        except environment.MwaaLocalTestError as exc:
            return _fail(exc)

    return send
