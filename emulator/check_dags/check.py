"""`mwaa-local check-dags`: a project's DAG files parsed as the environment would parse them,
with no environment running.

The same Airflow (this platform's 1.10.12), the project's plugins as the environment gets
them (plugins/ zipped as `deploy` zips it, then extracted), requirements.txt installed as the
environment installs it (pip with the platform's constraints; kept between runs, keyed by the
file's content) and the environment's configuration (environment.json's
AirflowConfigurationOptions over MWAA's defaults: `core.dag_discovery_safe_mode`,
`operators.default_owner`, `core.dagbag_import_timeout`, ...). The parsing itself runs in a
process of its own (emulator/airflow_side/dag_parser.py) against a throwaway SQLite database.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulator import project as project_files
from emulator.artifacts import requirements as pip_requirements
from emulator.artifacts.plugins_zip import deterministic_zip, walk
from emulator.check_dags import report as report_module
from emulator.environment import spec as spec_module
from emulator.environment.airflow_config import Infrastructure, Paths, airflow_environment
from emulator.environment.secrets import Secrets
from emulator.errors import MwaaLocalError

LOG = logging.getLogger(__name__)
PARSER = "emulator.airflow_side.dag_parser"
# A stand-in for what only a running environment has; nothing is ever sent there.
_NOWHERE = "http://127.0.0.1:9"
# How many requirements installs are kept (one per distinct requirements.txt).
KEEP_INSTALLS = 3
# Extra time the parser gets beyond dagbag_import_timeout for each file.
PARSER_SLACK_S = 120

Progress = Callable[[str], None]


class CheckError(MwaaLocalError):
    """check-dags could not run at all (not: found problems); says why and what to do."""

    exit_code = 2


@dataclass(frozen=True)
class Layout:
    """What check-dags reads of a folder: a project (holding dags/), or a DAGs folder itself."""

    project: Path
    dags: Path
    plugins: Path | None
    requirements: Path | None
    environment: Path | None


def layout(path: Path) -> Layout:
    path = path.resolve()
    if not path.is_dir():
        raise CheckError(f"{path}: no such folder (give a project folder, or its dags/ folder)")
    environment = path / "environment.json"
    if project_files.dags_dir(path).is_dir():
        plugins = project_files.plugins_dir(path)
        return Layout(
            project=path,
            dags=project_files.dags_dir(path),
            plugins=plugins if plugins.is_dir() else None,
            requirements=project_files.requirements_file(path),
            environment=environment if environment.is_file() else None,
        )
    return Layout(path, path, None, None, environment if environment.is_file() else None)


def environment_spec(file: Path | None) -> spec_module.EnvironmentSpec:
    """environment.json's definition, or MWAA's defaults when the folder has none."""
    if file is None:
        return spec_module.validate(
            {"Name": "check-dags", "SourceBucketArn": "arn:aws:s3:::airflow-check-dags"}
        )
    try:
        return spec_module.load(file)
    except spec_module.SpecError as exc:
        raise CheckError(f"{file.name}: {exc}") from None


def _shown(base: Path) -> Callable[[str], str]:
    """Paths as the user reads them: relative to the working folder when under it."""
    cwd = Path.cwd().resolve()

    def show(path: str) -> str:
        absolute = Path(path)
        for root in (cwd, base):
            try:
                return absolute.relative_to(root).as_posix()
            except ValueError:
                continue
        return path

    return show


def stage_plugins(plugins: Path | None, into: Path) -> tuple[Path, str]:
    """The plugins folder a component gets: plugins/ as `deploy` zips it, extracted."""
    into.mkdir(parents=True)
    if plugins is None:
        return into, "none"
    files = walk(plugins)[1]
    with zipfile.ZipFile(io.BytesIO(deterministic_zip(plugins))) as archive:
        archive.extractall(into)
    return into, f"{plugins.name}/ ({len(files)} file{'s' if len(files) != 1 else ''})"


def _requirements_key(text: str, plugins: Path) -> str:
    h = hashlib.sha256(text.encode())
    h.update(sys.version.encode())
    h.update("\n".join(pip_requirements.platform_constraints()).encode())
    if pip_requirements.PLATFORM_PLUGINS in text:  # wheels may come from plugins.zip
        for name in walk(plugins)[1]:
            h.update(name.encode() + b"\0" + (plugins / name).read_bytes())
    return h.hexdigest()[:20]


def install_requirements(
    file: Path | None, plugins: Path, cache: Path, show: Callable[[str], str], progress: Progress
) -> tuple[Path | None, str, report_module.Problem | None]:
    """(folder for PYTHONPATH, summary, problem) for requirements.txt, installed once per
    content into `cache`; a failed install is a problem, and parsing goes on without it, as
    the environment starts Airflow without the packages."""
    if file is None:
        return None, "none", None
    text = file.read_text()
    if not pip_requirements.has_requirements(text):
        return None, f"{show(str(file))} (no requirements)", None
    key = _requirements_key(text, plugins)
    target = cache / key
    if (target / ".installed").is_file():
        return target, f"{show(str(file))}: {(target / '.installed').read_text().strip()}", None
    progress(f"installing {show(str(file))} as the environment would (once per version)")
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / f"{key}.log"
    result = pip_requirements.install(file, target, log, plugins_dir=plugins)
    if not result.ok:
        problem = report_module.Problem(
            kind="requirements",
            path=show(str(file)),
            line=None,
            message=(
                f"pip could not install it: {result.summary}; on MWAA the update fails "
                "(or Airflow starts without these packages), so the DAGs below are parsed "
                "without them"
            ),
            detail="\n".join(log.read_text(errors="replace").splitlines()[-10:]),
        )
        return None, f"{show(str(file))}: FAILED", problem
    (target / ".installed").write_text(result.summary + "\n")
    log.unlink(missing_ok=True)
    installs = sorted(
        (p for p in cache.iterdir() if p.is_dir() and p != target),
        key=lambda p: p.stat().st_mtime,
    )
    for old in installs[: max(0, len(installs) - (KEEP_INSTALLS - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return target, f"{show(str(file))}: {result.summary}", None


def parser_environment(
    spec: spec_module.EnvironmentSpec,
    home: Path,
    dags: Path,
    plugins: Path,
    packages: Path | None,
) -> dict[str, str]:
    """A component's environment (its AIRFLOW__* configuration, `~` the Airflow home) with a
    throwaway SQLite database instead of the environment's PostgreSQL."""
    secrets = Secrets(fernet_key=_fernet_key(), web_secret="check-dags", created_at=0.0)
    database = f"sqlite:///{home / 'check-dags.db'}"
    infra = Infrastructure(database, "redis://127.0.0.1:9/0", _NOWHERE, "check", "check")
    paths = Paths(str(home), str(dags), str(plugins))
    computed = airflow_environment(spec, secrets, infra, paths, timing="mwaa")
    # SQLite only works with the sequential executor (Airflow refuses it otherwise).
    computed["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"
    computed["AIRFLOW__CORE__SQL_ALCHEMY_CONN"] = database
    computed["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    computed["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    computed["AIRFLOW__CORE__LOGGING_LEVEL"] = "WARNING"
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTHON")) and not k.startswith("MWAA_LOCAL_")
    }
    env = {**inherited, **computed}
    if packages is not None:
        env["PYTHONPATH"] = str(packages)
    return env


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def run_parser(env: dict[str, str], home: Path, files_hint: int, import_timeout: int) -> dict:
    output = home / "parsed.json"
    timeout = import_timeout * (files_hint + 1) + PARSER_SLACK_S
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-m", PARSER, str(output)],
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise CheckError(f"parsing the DAGs took longer than {timeout} s") from None
    if done.returncode != 0 or not output.is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise CheckError(
            f"the DAG parser stopped (exit {done.returncode}) before it could report:\n{tail}"
        )
    return json.loads(output.read_text())


def check(path: Path, cache: Path, progress: Progress | None = None) -> report_module.Report:
    """Parse the DAGs of `path` (a project or a DAGs folder) as the environment would.

    `cache` keeps requirements installs between runs. Raises CheckError when the check cannot
    run; problems the DAGs have are in the report."""
    tell = progress or (lambda _: None)
    started = time.monotonic()
    found = layout(path)
    spec = environment_spec(found.environment)
    show = _shown(found.project)
    with tempfile.TemporaryDirectory(prefix="mwaa-local-check-dags-") as scratch:
        home = Path(scratch) / "airflow"
        home.mkdir()
        plugins, plugins_summary = stage_plugins(found.plugins, home / "plugins")
        packages, requirements_summary, requirements_problem = install_requirements(
            found.requirements, plugins, cache / "requirements", show, tell
        )
        env = parser_environment(spec, home, found.dags, plugins, packages)
        files_hint = sum(1 for _ in found.dags.rglob("*.py"))
        timeout = int(env.get("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "30"))
        parsed = run_parser(env, home, files_hint, timeout)
        web_server = None
        if packages is not None:
            # The web server's view: the same, without requirements.txt's packages.
            web_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
            web_server = run_parser(web_env, home, files_hint, timeout)
    return report_module.build(
        parsed,
        project=show(str(found.project)) or ".",
        show=show,
        plugins=plugins_summary,
        requirements=requirements_summary,
        requirements_problem=requirements_problem,
        without_requirements=web_server,
        seconds=time.monotonic() - started,
    )
