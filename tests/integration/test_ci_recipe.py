"""examples/ci/run.sh end to end, as a CI job runs it on a plain machine: mwaa-local installed
from `make dist`'s wheel into a fresh venv, `check-dags` (which stops the job on the sample
project's broken DAG), then, with the DAG fixed, `up`, the sample project's own tests through
the pytest plugin, `down`. And the installed tool itself: `mwaa-local` in a user's venv brings
its platform along on first use, outside that venv, and later calls reuse it.

Nothing comes from the package index while the job runs: pip (PIP_NO_INDEX, PIP_FIND_LINKS) and
the tool (MWAA_LOCAL_WHEELHOUSE) install from a wheelhouse of the lock files' wheels. It and the
tool's platform (MWAA_LOCAL_TOOL_HOME) live in CACHE, kept between test runs: a fresh machine
(CI) installs the platform once, a checkout whose code did not change reuses it.

CI's budget: the embedded servers' venv (servers.lock) is the checkout's, through
MWAA_LOCAL_SERVERS_VENV, rather than a second install of it in the tool's folder (about a minute
on 2 cores); the platform the tool installs (Airflow 1.10.12) is its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator import __version__
from tests.conftest import PROJECT, make_state_dir, ports, unavailable

pytestmark = pytest.mark.native

CACHE = PROJECT / ".mwaa-local" / "ci-recipe"  # gitignored; kept between runs
WHEELHOUSE = CACHE / "wheelhouse"
TOOL_HOME = CACHE / "tool-home"
SAMPLE = PROJECT / "examples" / "user-project"
RUN_SH = PROJECT / "examples" / "ci" / "run.sh"
PORTS = ports(
    web=12080, https=12443, airflow=12081, s3=12900, postgres=12433, redis=12380, logs=12910
)
# What `[pytest]` brings besides what platform.lock pins (boto3 and its dependencies).
TEST_TOOLS = ("pytest", "iniconfig", "pluggy")
# The sample project's tests (examples/user-project/tests/test_dags.py), every one must pass.
SAMPLE_TESTS = {
    "test_the_environment_is_available",
    "test_the_bucket_holds_the_project",
    "test_the_cli_lists_the_dags",
    "test_the_report_runs_with_the_plugin_and_the_requirement",
    "test_a_new_dag_deploys_and_runs",
}
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def _say(line: str) -> None:
    print(line, flush=True)


def _link_wheels(source: Path, into: Path) -> None:
    for wheel in source.iterdir():
        if wheel.suffix == ".whl" or wheel.name.endswith(".tar.gz"):
            link = into / wheel.name
            if not link.exists():
                link.symlink_to(wheel.resolve())


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """One folder with a wheel of every pin the job installs: platform.lock's are the Docker
    tier's wheelhouse (images/airflow/wheels, built once from pip's cache by whichever test
    needs it first), plus pytest's own from dev.lock. Each is rebuilt only when its pins
    change."""
    from emulator.runtime import images

    CACHE.mkdir(parents=True, exist_ok=True)
    images.build_airflow_wheelhouse(_say)
    pins = [
        line
        for line in (PROJECT / "requirements" / "dev.lock").read_text().splitlines()
        if line.split("==")[0].strip().lower() in TEST_TOOLS
    ]
    assert len(pins) == len(TEST_TOOLS), f"dev.lock pins {pins}, not each of {TEST_TOOLS}"
    lock = CACHE / "test-tools.lock"
    lock.write_text("\n".join(pins) + "\n")
    images.build_wheelhouse(lock, CACHE / "test-tools-wheels", _say)
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir()
    for source in (images.airflow_wheelhouse(), CACHE / "test-tools-wheels"):
        _link_wheels(source, WHEELHOUSE)
    return WHEELHOUSE


@pytest.fixture(scope="module")
def wheel() -> Path:
    """mwaa-local's wheel, made as a user makes it (`make dist`; the venvs are there already,
    so make is told not to look at them)."""
    if shutil.which("make") is None:
        unavailable("make is not installed")
    done = subprocess.run(
        ["make", "-s", "dist", "-o", ".venv/.installed", "-o", ".venv-servers/.installed"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = sorted((PROJECT / "dist").glob("mwaa_local-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def job_env(wheelhouse: Path) -> dict[str, str]:
    """A CI machine's environment: pip and the tool install from the wheelhouse only, the
    environment gets ports of its own; nothing of this test run's Python or pytest leaks in."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MWAA_LOCAL_", "PYTEST_", "PIP_", "VIRTUAL_ENV", "PYTHON"))
    }
    return {
        **inherited,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "MWAA_LOCAL_WHEELHOUSE": str(wheelhouse),
        "MWAA_LOCAL_TOOL_HOME": str(TOOL_HOME),
        "MWAA_LOCAL_SERVERS_VENV": str(PROJECT / ".venv-servers"),
        **{f"MWAA_LOCAL_{name.upper()}_PORT": str(port) for name, port in PORTS.items()},
    }


def installed(venv: Path) -> dict[str, str]:
    """The venv's distributions (pip list): name -> version."""
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return {item["name"].lower(): item["version"] for item in json.loads(out)}


def platform_folder(venv: Path, env: dict[str, str]) -> Path:
    """The platform folder the mwaa-local installed in `venv` uses (its code's digest)."""
    script = (
        "from emulator.tool import install; "
        "print(install.folder(install.Settings.from_environment()))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return Path(out.strip())


@dataclass
class Tool:
    """mwaa-local installed from its wheel into a venv of a user's own."""

    venv: Path
    env: dict[str, str]
    platform: Path
    installed: dict[str, str]  # the venv's distributions once mwaa-local was installed
    before: dict[str, str]  # ... and before


@pytest.fixture(scope="module")
def tool(wheel: Path, wheelhouse: Path) -> Iterator[Tool]:
    """A user's venv with mwaa-local installed (and nothing run yet). The tool's folders of
    other builds (older code) are deleted: only this build's platform is kept."""
    if not Path(BASE_PYTHON).exists():
        unavailable(f"no base Python at {BASE_PYTHON}")
    root = make_state_dir("mwaa-local-tool-")
    venv = root / "users-venv"
    env = job_env(wheelhouse)
    subprocess.run([BASE_PYTHON, "-m", "venv", str(venv)], check=True, timeout=300)
    before = installed(venv)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    platform = platform_folder(venv, env)
    if TOOL_HOME.is_dir():
        for other in TOOL_HOME.iterdir():
            if not other.name.startswith(platform.name):
                if other.is_dir():
                    shutil.rmtree(other, ignore_errors=True)
                else:
                    other.unlink(missing_ok=True)
    try:
        yield Tool(venv, env, platform, installed(venv), before)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_job(project: Path, wheel: Path, env: dict[str, str], *pytest_args: str):
    """examples/ci/run.sh in `project`, as the CI job runs it: (exit code, what it printed)."""
    done = subprocess.run(
        ["bash", str(RUN_SH), *pytest_args],
        cwd=project,
        env={
            **env,
            "INSTALL_FROM": f"{wheel}[pytest]",
            "PYTHON": BASE_PYTHON,
            "UP_TIMEOUT": "600",
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1500,
    )
    return done.returncode, done.stdout


def outcomes(report: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        children = [child.tag for child in case]
        outcome = next((t for t in ("failure", "error", "skipped") if t in children), "passed")
        found[case.get("name", "?")] = outcome
    return found


def test_the_ci_recipe_stops_at_the_broken_dag_then_runs_the_projects_tests(
    tool: Tool, wheel: Path
) -> None:
    root = make_state_dir("mwaa-local-ci-recipe-")
    project = root / "team-etl"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".mwaa-local"))
    ci_venv = project / ".ci-venv"
    first_use = not (tool.platform / ".ready").is_file()
    try:
        # The pull request with the typo: check-dags fails the job before anything starts.
        code, out = run_job(project, wheel, tool.env)
        print(out)  # each step with its time of day
        assert code == 1, out
        assert (
            "dags/broken_export.py:8: import error: ImportError: cannot import name "
            "'BashOperater' from 'airflow.operators.bash_operator'" in out
        ), out
        assert "FAILED: 1 problem; 2 DAGs" in out, out
        assert "== start the environment" not in out, out
        if first_use:  # a fresh machine: the platform comes from the wheelhouse, once
            assert (
                "first use: installing its platform (Airflow 1.10.12 on Python 3.11) from the "
                f"wheelhouse {tool.env['MWAA_LOCAL_WHEELHOUSE']} into {tool.platform}" in out
            ), out
            assert "platform ready in" in out, out
        ready = (tool.platform / ".ready").read_text()

        # The fix: the job runs every step, against an environment of its own.
        (project / "dags" / "broken_export.py").unlink()
        report = root / "junit.xml"
        code, out = run_job(
            project, wheel, tool.env, "-p", "no:cacheprovider", f"--junitxml={report}"
        )
        print(out)
        assert code == 0, out[-8000:]
        assert "first use" not in out, out  # the platform of the first run, reused
        assert (tool.platform / ".ready").read_text() == ready
        assert "OK: no problems; 2 DAGs" in out, out
        assert "environment team-etl is AVAILABLE after" in out, out
        assert "using the running environment team-etl (--mwaa-local-reuse)" in out, out
        assert outcomes(report) == dict.fromkeys(SAMPLE_TESTS, "passed"), out[-8000:]
        assert "== stop the environment" in out, out
        status = subprocess.run(
            [str(ci_venv / "bin" / "mwaa-local"), "status", "--json"],
            cwd=project,
            env=tool.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        components = json.loads(status.stdout)["Components"]
        assert components and all(c["state"] == "stopped" for c in components), components
    finally:
        if (ci_venv / "bin" / "mwaa-local").exists():
            subprocess.run(
                [str(ci_venv / "bin" / "mwaa-local"), "down"],
                cwd=project,
                env=tool.env,
                capture_output=True,
                timeout=300,
            )
        shutil.rmtree(root, ignore_errors=True)


def test_the_installed_tool_keeps_its_platform_out_of_the_users_python(
    tool: Tool, tmp_path: Path
) -> None:
    # Installing mwaa-local adds mwaa-local alone: the light part needs nothing.
    assert tool.installed == {**tool.before, "mwaa-local": __version__}, tool.installed

    first_use = not (tool.platform / ".ready").is_file()  # when run on its own
    project = tmp_path / "project"
    (project / "dags").mkdir(parents=True)
    (project / "dags" / "one.py").write_text(
        "from datetime import datetime\n"
        "from airflow import DAG\n"
        "from airflow.operators.dummy_operator import DummyOperator\n"
        "with DAG('one', start_date=datetime(2020, 1, 1), default_args={'owner': 'me'}) as dag:\n"
        "    DummyOperator(task_id='t')\n"
    )
    check = subprocess.run(
        [str(tool.venv / "bin" / "mwaa-local"), "check-dags", "."],
        cwd=project,
        env={**tool.env, "MWAA_LOCAL_HOME": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # Airflow 1.10.12 parsed it: the platform's, not the user's venv's, which has none.
    assert "1 DAG file in dags (Airflow 1.10.12, safe mode on)" in check.stdout, check.stdout
    # Made by the first call (the recipe's, when it ran before), then reused.
    assert ("first use: installing its platform" in check.stderr) == first_use, check.stderr
    assert installed(tool.venv) == tool.installed  # the user's venv, untouched
    platform_python = tool.platform / ".venv" / "bin" / "python"
    assert (tool.platform / ".ready").is_file() and platform_python.exists()
