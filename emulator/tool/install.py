"""The platform a user's installed mwaa-local brings along: made once, on first use, in a folder
of its own, never in the user's Python.

    ~/.cache/mwaa-local/0.1.0-<digest>/   (MWAA_LOCAL_TOOL_HOME; the digest is of the code and
        emulator/ docker-compose.yml ...    its files, so another build gets its own folder)
        .venv/                             Airflow 1.10.12 and the pinned platform (platform.lock),
                                           mwaa-local itself installed from the folder
        .ready                             written last: a half-made folder is made again

That folder looks like a checkout, so mwaa-local's code finds its files there as in one (and
the native runtime makes .venv-servers there when it first needs it). With
MWAA_LOCAL_WHEELHOUSE (a folder of wheels) nothing comes from the package index; a CI job can
also keep MWAA_LOCAL_TOOL_HOME in its cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulator import __version__, venvs
from emulator.tool import bundle

PACKAGE = Path(__file__).resolve().parent.parent  # the installed `emulator` package
PYTHON_VERSION = "3.11"
READY = ".ready"

Say = Callable[[str], None]


class ToolError(RuntimeError):
    """The platform cannot be installed; the message says why and what to do."""

    exit_code = 2


@dataclass(frozen=True)
class Settings:
    """The tool's variables (fields of emulator/config.py's Settings too, documented there)."""

    tool_home: Path
    wheelhouse: Path | None
    platform_python: str | None

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        home = env.get("MWAA_LOCAL_TOOL_HOME")
        wheelhouse = env.get("MWAA_LOCAL_WHEELHOUSE")
        return cls(
            tool_home=Path(home) if home else cache / "mwaa-local",
            wheelhouse=Path(wheelhouse) if wheelhouse else None,
            platform_python=env.get("MWAA_LOCAL_PLATFORM_PYTHON") or None,
        )


def source_root() -> Path:
    """Where this installed mwaa-local's files are: its bundle (a wheel), or the checkout it
    runs from (an editable install)."""
    if (PACKAGE / bundle.BUNDLE_DIR).is_dir():
        return PACKAGE / bundle.BUNDLE_DIR
    if bundle.is_checkout(PACKAGE.parent):
        return PACKAGE.parent
    raise ToolError(
        f"{PACKAGE} has none of the files mwaa-local runs with (docker-compose.yml, images/, "
        "requirements/): install it from a wheel made by `make dist`, or from the repository"
    )


def _code_files() -> list[Path]:
    return sorted(
        p
        for p in PACKAGE.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix != ".pyc"
        and bundle.BUNDLE_DIR not in p.relative_to(PACKAGE).parts
    )


def digest() -> str:
    """Of the code and its files: another build of the same version gets a folder of its own."""
    h = hashlib.sha256()
    root = source_root()
    for relative in bundle.files(root):
        h.update(relative.encode() + b"\0" + (root / relative).read_bytes())
    for path in _code_files():
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def folder(settings: Settings) -> Path:
    return settings.tool_home / f"{__version__}-{digest()}"


def _python_version(python: str) -> str:
    try:
        return subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
    except OSError:
        return ""


def platform_python(settings: Settings) -> str:
    """The Python 3.11 the platform runs on (Airflow 1.10.12 with the project's overrides)."""
    candidates = [settings.platform_python] if settings.platform_python else []
    if not candidates:
        if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION:
            candidates.append(sys.executable)
        found = shutil.which(f"python{PYTHON_VERSION}")
        if found:
            candidates.append(found)
    for python in candidates:
        if _python_version(python) == PYTHON_VERSION:
            return python
    tried = f" ({', '.join(candidates)} is not {PYTHON_VERSION})" if candidates else ""
    raise ToolError(
        f"mwaa-local's platform (Airflow 1.10.12) runs on Python {PYTHON_VERSION}, and none was "
        f"found{tried}: install it (Debian/Ubuntu: `apt-get install python3.11 python3.11-venv`; "
        "GitHub Actions: actions/setup-python with 3.11), or set MWAA_LOCAL_PLATFORM_PYTHON"
    )


def _copy_files(target: Path) -> None:
    root = source_root()
    for relative in bundle.files(root):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, destination)
    for path in _code_files():
        destination = target / "emulator" / path.relative_to(PACKAGE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def ensure(settings: Settings, say: Say) -> Path:
    """The platform's folder, made first when it is not there (once: other processes that
    need it meanwhile wait for this one)."""
    target = folder(settings)
    if (target / READY).is_file():
        return target
    settings.tool_home.mkdir(parents=True, exist_ok=True)
    with open(settings.tool_home / f"{target.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("mwaa-local: another mwaa-local is installing the platform; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / READY).is_file():
            return target
        _install(settings, target, say)
    return target


def _install(settings: Settings, target: Path, say: Say) -> None:
    python = platform_python(settings)
    if settings.wheelhouse is not None and not settings.wheelhouse.is_dir():
        raise ToolError(f"MWAA_LOCAL_WHEELHOUSE={settings.wheelhouse}: no such folder")
    source = f"the wheelhouse {settings.wheelhouse}" if settings.wheelhouse else "the package index"
    say(
        f"mwaa-local: first use: installing its platform (Airflow 1.10.12 on Python "
        f"{PYTHON_VERSION}) from {source} into {target}; this happens once"
    )
    started = time.monotonic()
    shutil.rmtree(target, ignore_errors=True)  # what a failed attempt left
    target.mkdir(parents=True)
    _copy_files(target)
    log = settings.tool_home / f"{target.name}.install.log"
    log.unlink(missing_ok=True)
    try:
        venvs.create(
            python,
            target / ".venv",
            target / "requirements" / "platform.lock",
            log,
            say,
            wheelhouse=settings.wheelhouse,
            extra=[["--no-deps", "--no-build-isolation", "-e", str(target)]],
        )
    except venvs.VenvError as exc:
        raise ToolError(
            f"{exc}\nNothing of your own Python was changed. Fix the cause (network, "
            "MWAA_LOCAL_WHEELHOUSE), then run mwaa-local again: it starts over."
        ) from None
    record = {"version": __version__, "python": python, "seconds": time.monotonic() - started}
    (target / READY).write_text(json.dumps(record) + "\n")
    say(f"mwaa-local: platform ready in {time.monotonic() - started:.0f} s")
