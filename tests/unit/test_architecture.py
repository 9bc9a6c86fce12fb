"""The shape of the code holds: no import cycles, Airflow behind one seam, one settings object
that the README documents whole, logging and the project's errors instead of print and exit."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.config import FIELDS, variable
from tests.conftest import PROJECT

EMULATOR = PROJECT / "emulator"
# Tools and scripts that are not the emulator's library code (scheduler.py is `airflow
# scheduler`, which prints Airflow's header as that command does).
OWN_PROCESS = {"cli.py", "__main__.py", "zygote.py", "launcher.py", "scheduler.py"}
# Loaded by Airflow itself (a plugin, the logging configuration), by its Celery worker (the
# app), or started as Airflow's scheduler: they import it at the top.
INSIDE_AIRFLOW = {
    "emulator.airflow_side.login_plugin",
    "emulator.airflow_side.cloudwatch_logging",
    "emulator.airflow_side.celery_worker",
    "emulator.airflow_side.scheduler",
}
# What runs in a user's Python, where only the light part of mwaa-local is installed: the
# standard library, pytest, and boto3 once a client is asked for. These read their few
# variables themselves (no pydantic there); each is a field of Settings all the same.
LIGHT = ("emulator/tool/", "emulator/testing/", "emulator/venvs.py")


def _modules() -> list[Path]:
    return sorted(p for p in EMULATOR.rglob("*.py") if "__pycache__" not in p.parts)


def test_import_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml: no cycles, Airflow only in airflow_side."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def test_the_emulator_imports_and_builds_its_api_without_airflow() -> None:
    """Later Airflow versions plug in at emulator.airflow_side: everything else must import,
    and the API app must be built, with no Airflow installed."""
    modules = []
    for path in _modules():
        name = ".".join(path.relative_to(PROJECT).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        if name in INSIDE_AIRFLOW or path.name in OWN_PROCESS:
            continue
        modules.append(name)
    script = f"""
import importlib, sys
class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError("Airflow is not installed here")
sys.meta_path.insert(0, NoAirflow())
for name in {modules!r}:
    importlib.import_module(name)
from emulator.api.app import create_app
app = create_app(backend=None, cli_runner=None, airflow_url="http://127.0.0.1:1")
assert "control_plane" in app.blueprints
print("ok", len({modules!r}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


def _documented() -> set[str]:
    text = (PROJECT / "README.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in re.findall(r"^\| (.+?) \|", section, re.MULTILINE):  # the first column
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row))
    return names


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = _documented()
    fields = {variable(name) for name in FIELDS}
    assert fields - documented == set(), "settings the README's Settings table leaves out"
    assert documented - fields == set(), "the README documents settings that do not exist"
    read = set()
    for path in [
        *_modules(),
        PROJECT / "docker-compose.yml",
        PROJECT / ".env",
        PROJECT / "Makefile",
    ]:
        read |= set(re.findall(r"\bMWAA_LOCAL_[A-Z0-9_]+\b", path.read_text()))
    assert read - documented == set(), "variables the code uses but the README does not name"


def test_settings_are_read_in_one_place() -> None:
    """Only emulator/config.py reads MWAA_LOCAL_* from the environment (and the light part,
    before msgspec is there: every variable it reads is a field of Settings)."""
    offenders = []
    fields = {variable(name) for name in FIELDS}
    for path in _modules():
        relative = path.relative_to(PROJECT).as_posix()
        if relative.startswith(LIGHT):
            unknown = set(re.findall(r"\bMWAA_LOCAL_[A-Z0-9_]+\b", path.read_text())) - fields
            offenders += [f"{relative}: {name} is no field of Settings" for name in unknown]
            continue
        if path.name == "config.py":
            continue
        text = path.read_text()
        for match in re.finditer(r"os\.(?:environ|getenv)[^\n]*MWAA_LOCAL_", text):
            offenders.append(f"{path.relative_to(PROJECT)}: {match.group(0)}")
    assert offenders == []


def _calls(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "print":
                found.append(("print", node.lineno))
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name) and target.id == "SystemExit":
                found.append(("raise SystemExit", node.lineno))
    return found


def test_library_code_logs_and_raises_instead_of_printing_and_exiting() -> None:
    """print is the CLI's, for its user; errors are the project's exceptions, which the CLI maps
    to exit codes (the zygote mimics a Python interpreter and is left out)."""
    offenders = [
        f"{path.relative_to(PROJECT)}:{line}: {what}"
        for path in _modules()
        if path.name not in OWN_PROCESS
        for what, line in _calls(path)
    ]
    assert offenders == []


def test_the_light_part_imports_only_what_a_users_python_has() -> None:
    """The launcher and the pytest plugin import with the standard library and pytest alone
    (boto3 only when a test asks for a client), and import no Airflow: loading the plugin
    changes nothing of a test run that does not use its fixtures."""
    script = """
import sys
import pytest  # with its own dependencies: the user's pytest brings them
ALLOWED = {"emulator"}
class OnlyTheLightPart:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in ALLOWED and top not in sys.stdlib_module_names:
            raise ImportError(f"{name} imported by the light part")
sys.meta_path.insert(0, OnlyTheLightPart())
import emulator.tool.launcher, emulator.tool.install, emulator.testing.plugin
from emulator.tool.launcher import platform_here
plugin = emulator.testing.plugin
hooks = sorted(n for n in dir(plugin) if n.startswith("pytest_"))
autouse = [n for n in dir(plugin) if getattr(getattr(plugin, n), "_fixture_function_marker", None)
           and getattr(plugin, n)._fixture_function_marker.autouse]
print(hooks, autouse)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    # Options only: no hook that runs at every session, no fixture that runs unasked.
    assert result.stdout.strip() == "['pytest_addoption'] []"


def test_this_projects_own_run_does_not_load_the_pytest_plugin(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    """.venv's editable install registers the plugin (pytest11) and a user's pytest loads it,
    with its options; the project's own run blocks it (pyproject's addopts), so its tests get
    none of the plugin's fixtures, which would start an environment for a stray `deploy` or
    `s3_client` parameter."""
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="pytest11") if e.name == "mwaa_local"] == [
        "emulator.testing.plugin"
    ]
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    elsewhere = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert elsewhere.returncode == 0, elsewhere.stderr[-2000:]
    assert "--mwaa-local-reuse" in elsewhere.stdout
    assert pytestconfig.pluginmanager.get_plugin("mwaa_local") is None
    assert "emulator.testing.plugin" not in sys.modules
