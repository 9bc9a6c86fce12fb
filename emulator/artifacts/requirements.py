"""Installing requirements.txt as MWAA does: `pip install -r` beside the platform, never over it.

Packages go into their own folder with `pip install --target`; the services later put that
folder on PYTHONPATH. pip with `--target` ignores what is already installed, so on its own it
would happily bring a second Airflow or another SQLAlchemy; a constraints file pinning every
distribution of the running interpreter ("the same as the platform") turns such a conflict into
a failed install instead.

MWAA users ship wheels inside plugins.zip and write `--find-links /usr/local/airflow/plugins`;
that prefix is rewritten to the local plugins folder in a temporary copy of the file. Relative
paths in `-r`, `-c` and `--find-links` lines keep meaning the user's folder. A file included
with `-r` is read as is (the plugins prefix is not rewritten inside it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib import metadata

from emulator.config import CONTAINER_AIRFLOW_HOME

PLATFORM_PLUGINS = f"{CONTAINER_AIRFLOW_HOME}/plugins"
# MWAA fails an update whose requirements install runs past about 20 minutes.
INSTALL_TIMEOUT_S = 1200
# Never part of the constraints: the emulator itself (an editable install locally).
OWN_DISTRIBUTION = "mwaa-local"

_PLUGINS_PREFIX = re.compile(re.escape(PLATFORM_PLUGINS) + r"(?=/|\s|$)", re.MULTILINE)
_PATH_OPTION = re.compile(
    r"^(?P<option>\s*(?:-r|--requirement|-c|--constraint|-f|--find-links))"
    r"(?P<sep>\s*=\s*|\s+|(?<=-[rcf]))(?P<path>\S+)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class InstallResult:
    ok: bool
    summary: str  # one line: "installed N packages: ..." or what failed
    log: Path


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    try:
        return bool(json.loads(text).get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False


def platform_constraints() -> list[str]:
    """`name==version` for every distribution installed in this interpreter's site-packages.

    Only site-packages, not all of sys.path: an earlier requirements folder on PYTHONPATH is
    the user's, not the platform's, and must not pin the next install.
    """
    folders = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    # Imported here: every service process imports this module, few of them call this.
    from importlib import metadata

    pins: dict[str, str] = {}
    for dist in metadata.distributions(path=folders):
        name, version = dist.metadata["Name"], dist.version
        if not name or not version:
            continue
        key = _normalize(name)
        # The first one found is the one Python imports, as with sys.path order.
        if key in pins or key == OWN_DISTRIBUTION or _is_editable(dist):
            continue
        pins[key] = f"{name}=={version}"
    return sorted(pins.values(), key=str.lower)


def has_requirements(text: str) -> bool:
    """False when the file holds only comments and blank lines."""
    for line in text.splitlines():
        if re.sub(r"(^|\s)#.*", "", line).strip():
            return True
    return False


def rewrite(text: str, source_dir: Path, plugins_dir: Path | None = None) -> str:
    """The file's text as pip should read it from a temporary copy.

    MWAA's plugins folder becomes `plugins_dir`; relative paths of `-r`, `-c` and
    `--find-links` are made absolute against `source_dir` (pip reads them relative to the
    requirements file, which is now elsewhere).
    """
    if plugins_dir is not None:
        text = _PLUGINS_PREFIX.sub(lambda _: str(plugins_dir), text)

    def absolute(match: re.Match[str]) -> str:
        path = match["path"]
        if "://" in path or os.path.isabs(path):
            return match[0]
        candidate = source_dir / path
        # pip only takes a relative --find-links from the file's folder when it exists there.
        if match["option"].strip() in ("-f", "--find-links") and not candidate.exists():
            return match[0]
        return f"{match['option']}{match['sep'] or ' '}{candidate}"

    return _PATH_OPTION.sub(absolute, text)


def _summarize_failure(output: str, returncode: int) -> str:
    lines = output.splitlines()
    if "ResolutionImpossible" in output:
        causes = []
        try:
            start = lines.index("The conflict is caused by:") + 1
        except ValueError:
            start = len(lines)
        for line in lines[start:]:
            if not line.startswith("    "):
                break
            # The constraints file is ours, not the user's: say what it stands for.
            causes.append(
                line.strip().replace("The user requested (constraint)", "the platform has")
            )
        detail = "; ".join(causes) or "see the log"
        return f"conflicts with the platform's packages (its constraints): {detail}"
    errors = [line[len("ERROR:") :].strip() for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1]
    return f"pip exited with code {returncode}"


def _installed(folder: Path) -> list[str]:
    from importlib import metadata

    found = []
    for dist in metadata.distributions(path=[str(folder)]):
        if dist.metadata["Name"]:
            found.append(f"{dist.metadata['Name']} {dist.version}")
    return sorted(found, key=str.lower)


def _publish(staging: Path, target: Path) -> None:
    """Put `staging` at `target`, replacing what was there only now that it succeeded."""
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)


def install(
    requirements: Path,
    target: Path,
    log: Path,
    plugins_dir: Path | None = None,
    timeout_s: float = INSTALL_TIMEOUT_S,
) -> InstallResult:
    """`pip install -r requirements --target target` with the platform's constraints.

    pip's output is appended to `log`. The packages are staged beside `target` and moved there
    only on success; after a failure `target` is as it was (absent for a fresh one).
    """
    requirements = Path(requirements).resolve()
    target = Path(target)
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z")

    try:
        text = requirements.read_text()
    except OSError as exc:
        with log.open("a") as out:
            out.write(f"=== {stamp} {requirements}: cannot read: {exc}\n")
        return InstallResult(False, f"cannot read {requirements}: {exc.strerror}", log)

    if not has_requirements(text):
        with log.open("a") as out:
            out.write(f"=== {stamp} {requirements}: no requirements, nothing to install\n")
        staging.mkdir()
        _publish(staging, target)
        return InstallResult(True, "no requirements (only comments or blank lines)", log)

    with tempfile.TemporaryDirectory(prefix="mwaa-local-requirements-") as scratch:
        copy = Path(scratch) / "requirements.txt"
        copy.write_text(rewrite(text, requirements.parent, plugins_dir))
        constraints = Path(scratch) / "platform-constraints.txt"
        constraints.write_text("\n".join(platform_constraints()) + "\n")
        command = [
            sys.executable, "-m", "pip", "install",
            "--target", str(staging),
            "--no-warn-script-location",
            "--disable-pip-version-check",
            "-r", str(copy),
            "-c", str(constraints),
        ]  # fmt: skip
        # An earlier requirements folder on PYTHONPATH is not the platform: keep it out of pip.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        # Nobody answers a credentials prompt; fail instead of waiting for the timeout.
        env["PIP_NO_INPUT"] = "1"
        with log.open("ab") as out:
            out.write(f"=== {stamp} {requirements}: {shlex.join(command)}\n".encode())
            out.flush()
            start = out.tell()
            # A session of its own, so a timeout also ends the builds pip started.
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            try:
                returncode = process.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                returncode = process.wait()
                timed_out = True
        with log.open("rb") as out:
            out.seek(start)
            output = out.read().decode(errors="replace")
        with log.open("a") as out:
            if timed_out:
                out.write(f"=== killed: still running after {timeout_s:.0f} s\n")
            else:
                out.write(f"=== pip exited with code {returncode}\n")

    if timed_out or returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        if timed_out:
            summary = (
                f"pip was still running after {timeout_s:.0f} s and was stopped "
                "(MWAA fails an update whose requirements take longer than about 20 minutes)"
            )
        else:
            summary = _summarize_failure(output, returncode)
        return InstallResult(False, summary, log)

    packages = _installed(staging)
    _publish(staging, target)
    summary = f"installed {len(packages)} package{'' if len(packages) == 1 else 's'}"
    if packages:
        summary += ": " + ", ".join(packages[:10]) + (", ..." if len(packages) > 10 else "")
    return InstallResult(True, summary, log)
