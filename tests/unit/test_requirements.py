"""requirements.txt installed the MWAA way, for real: pip, wheels and the platform's constraints.

Every requirements file says --no-index, so nothing depends on a package index.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from emulator.artifacts.requirements import (
    PLATFORM_PLUGINS,
    has_requirements,
    install,
    platform_constraints,
    rewrite,
)
from tests.conftest import MWAA_LOCAL


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel, written by hand: METADATA, WHEEL and a true RECORD."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={encoded},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


FROM_PLUGINS = f"--no-index\n--find-links {PLATFORM_PLUGINS}\n"


def _imports(target: Path, module: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.VERSION, {module}.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_wheel_shipped_in_plugins_installs_and_imports(tmp_path):
    plugins = tmp_path / "plugins"
    make_wheel(plugins, "mypkg", "1.0")
    requirements = tmp_path / "requirements.txt"
    text = FROM_PLUGINS + "mypkg==1.0\n"
    requirements.write_text(text)
    target, log = tmp_path / "packages", tmp_path / "install.log"

    result = install(requirements, target, log, plugins_dir=plugins)

    assert result.ok, result.summary
    assert result.summary == "installed 1 package: mypkg 1.0"
    assert result.log == log
    assert requirements.read_text() == text  # the user's file is never modified
    assert not target.with_name("packages.partial").exists()
    version, location = _imports(target, "mypkg").split()
    assert version == "1.0"
    assert Path(location).is_relative_to(target)
    logged = log.read_text()
    assert str(requirements) in logged and "--target" in logged
    assert "Successfully installed mypkg-1.0" in logged


def test_conflict_with_the_platform_fails_and_leaves_nothing(tmp_path):
    plugins = tmp_path / "plugins"
    # six is part of the platform (1.17.0); this package wants another one.
    make_wheel(plugins, "mypkg", "1.0", requires=("six==1.0.0",))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(FROM_PLUGINS + "mypkg==1.0\n")
    target, log = tmp_path / "packages", tmp_path / "logs" / "install.log"

    result = install(requirements, target, log, plugins_dir=plugins)

    assert not result.ok
    assert "conflicts with the platform" in result.summary
    assert "six==1.0.0" in result.summary and "six==1.17.0" in result.summary
    assert not target.exists()
    assert not target.with_name("packages.partial").exists()
    assert "ResolutionImpossible" in log.read_text()


def test_airflow_itself_cannot_be_replaced(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("--no-index\napache-airflow==2.0.0\n")
    target = tmp_path / "packages"

    result = install(requirements, target, tmp_path / "install.log")

    assert not result.ok
    assert "apache-airflow==1.10.12" in result.summary
    assert not target.exists()


def test_missing_package_reports_pips_error(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("--no-index\nno-such-package-mwaa-local==1.0\n")

    result = install(requirements, tmp_path / "packages", tmp_path / "install.log")

    assert not result.ok
    assert "no-such-package-mwaa-local" in result.summary.lower()


def test_a_failure_keeps_the_previous_target_and_a_success_replaces_it(tmp_path):
    plugins = tmp_path / "plugins"
    make_wheel(plugins, "mypkg", "1.0")
    make_wheel(plugins, "mypkg", "2.0")
    target, log = tmp_path / "packages", tmp_path / "install.log"
    target.mkdir()
    (target / "previous.txt").write_text("old")
    requirements = tmp_path / "requirements.txt"

    requirements.write_text(FROM_PLUGINS + "mypkg==3.0\n")
    assert not install(requirements, target, log, plugins_dir=plugins).ok
    assert (target / "previous.txt").read_text() == "old"

    requirements.write_text(FROM_PLUGINS + "mypkg==2.0\n")
    assert install(requirements, target, log, plugins_dir=plugins).ok
    assert not (target / "previous.txt").exists()
    assert _imports(target, "mypkg").split()[0] == "2.0"
    assert log.read_text().count("=== pip exited with code") == 2  # appended, not replaced


def test_only_comments_is_ok_without_pip(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing yet\n\n   # indented comment\n")
    target, log = tmp_path / "packages", tmp_path / "install.log"

    result = install(requirements, target, log)

    assert result.ok
    assert target.is_dir() and not any(target.iterdir())
    assert "pip install" not in log.read_text()


def test_timeout_kills_pip(tmp_path):
    plugins = tmp_path / "plugins"
    make_wheel(plugins, "mypkg", "1.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(FROM_PLUGINS + "mypkg==1.0\n")
    target, log = tmp_path / "packages", tmp_path / "install.log"

    # pip cannot even start in 50 ms.
    result = install(requirements, target, log, plugins_dir=plugins, timeout_s=0.05)

    assert not result.ok
    assert "20 minutes" in result.summary
    assert not target.exists()
    assert "killed" in log.read_text()


def test_rewrite_points_mwaa_paths_here_and_keeps_relative_ones_meaning(tmp_path):
    source = tmp_path / "project"
    (source / "wheels").mkdir(parents=True)
    text = (
        "--find-links /usr/local/airflow/plugins\n"
        "-f file:///usr/local/airflow/plugins/wheels\n"
        "--find-links=/usr/local/airflow/plugins_other\n"
        "-r base.txt\n"
        "-cpins.txt\n"
        "--find-links wheels\n"
        "--find-links missing\n"
        "-r /abs/other.txt\n"
        "# -r not-an-option.txt\n"
        "boto3\n"
    )
    rewritten = rewrite(text, source, Path("/here/plugins")).splitlines()
    assert rewritten == [
        "--find-links /here/plugins",
        "-f file:///here/plugins/wheels",
        "--find-links=/usr/local/airflow/plugins_other",
        f"-r {source / 'base.txt'}",
        f"-c {source / 'pins.txt'}",
        f"--find-links {source / 'wheels'}",
        "--find-links missing",  # pip keeps it relative to the working folder too
        "-r /abs/other.txt",
        "# -r not-an-option.txt",
        "boto3",
    ]
    assert rewrite(text, source).splitlines()[0] == "--find-links /usr/local/airflow/plugins"


def test_has_requirements():
    assert not has_requirements("")
    assert not has_requirements("# a\n\n  # b\n")
    assert has_requirements("# a\nboto3  # for S3\n")
    assert has_requirements("--no-index\n")


def test_constraints_pin_the_platform_but_not_the_emulator():
    pins = platform_constraints()
    assert "apache-airflow==1.10.12" in pins
    assert any(p.lower().startswith("six==") for p in pins)
    assert not any(p.lower().startswith(("mwaa-local==", "mwaa_local==")) for p in pins)
    names = [p.split("==")[0].lower() for p in pins]
    assert len(names) == len(set(names))


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MWAA_LOCAL, "test-requirements", *args],
        env={**os.environ, "MWAA_LOCAL_PROJECT_DIR": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_test_requirements_exit_codes(tmp_path):
    project = tmp_path / "project"
    make_wheel(project / "plugins", "mypkg", "1.0")
    make_wheel(project / "plugins", "badpkg", "1.0", requires=("six==1.0.0",))
    (project / "requirements").mkdir()
    (project / "requirements" / "requirements.txt").write_text(FROM_PLUGINS + "mypkg==1.0\n")
    (project / "conflict.txt").write_text(FROM_PLUGINS + "badpkg==1.0\n")

    ok = _cli(project)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "throwaway environment with the platform's constraints" in ok.stdout
    assert "requirements OK: installed 1 package: mypkg 1.0" in ok.stdout

    bad = _cli(project, "--file", "conflict.txt")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "requirements FAILED: conflicts with the platform" in bad.stderr
    assert "ResolutionImpossible" in bad.stderr  # the log's last lines
    assert "make test-requirements" in bad.stderr

    absent = _cli(project, "--file", str(tmp_path / "absent.txt"))
    assert absent.returncode == 2
