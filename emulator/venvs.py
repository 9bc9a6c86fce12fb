"""Making a virtual environment from a lock file, as `make venv` does: `python -m venv`, pip below
24.1 (Airflow 1.10.12 installs with nothing newer), then every pin with `--no-deps` (the locks
are complete; Airflow 1.10.12's own metadata cannot be met on Python 3.11).

Standard library only: the tool (emulator/tool/) runs it before anything else is installed.
With a wheelhouse (a folder of wheels, e.g. a CI cache, or a checkout's images/airflow/wheels)
nothing comes from the package index.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

# The first pip that refuses Airflow 1.10.12's dependencies' metadata.
PIP_LIMIT = (24, 1)
INSTALLED = ".installed"  # what `make venv` leaves in a finished venv
HEARTBEAT_S = 15.0

Say = Callable[[str], None]


class VenvError(RuntimeError):
    """A venv could not be made; the message says which step, and where its log is."""


def _pins(lock: Path) -> int:
    return sum(1 for line in lock.read_text().splitlines() if line.split("#", 1)[0].strip())


def _pip_version(python: Path) -> tuple[int, ...]:
    out = subprocess.run(
        [str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.match(r"pip (\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0,)


def _run(argv: list[str], log: Path, what: str, say: Say, total: int = 0) -> None:
    """Run a step with its output in `log`; every HEARTBEAT_S say that it still runs."""
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"=== {' '.join(argv)}\n")
        out.flush()
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(HEARTBEAT_S):
                text = log.read_text(errors="replace")
                # pip fetches (or finds) every package first, then installs them all.
                if "Installing collected packages" in text:
                    step = "unpacking them"
                elif total:
                    found = len(re.findall(r"^(?:Collecting|Processing) ", text, re.MULTILINE))
                    step = f"{min(found, total)} of {total} packages found"
                else:
                    step = "working"
                say(f"  still {what}: {step} ({time.monotonic() - started:.0f} s; log {log})")

        threading.Thread(target=heartbeat, daemon=True).start()
        try:
            code = process.wait()
        finally:
            done.set()
    if code != 0:
        tail = "\n".join(
            f"    {line}" for line in log.read_text(errors="replace").splitlines()[-25:]
        )
        raise VenvError(f"{what} failed (exit {code}); the end of {log}:\n{tail}")


def create(
    python: str,
    folder: Path,
    lock: Path,
    log: Path,
    say: Say,
    wheelhouse: Path | None = None,
    extra: list[list[str]] | None = None,
) -> None:
    """A venv at `folder` with every pin of `lock`, then each of `extra` (pip arguments, e.g.
    an editable install). Marked finished with `.installed` only when all of it worked."""
    sources = ["--no-index", "--find-links", str(wheelhouse)] if wheelhouse else []
    _run([python, "-m", "venv", str(folder)], log, f"making {folder.name}", say)
    venv_python = folder / "bin" / "python"
    pip = [str(venv_python), "-m", "pip", "--disable-pip-version-check"]
    if _pip_version(venv_python) >= PIP_LIMIT:
        _run([*pip, "install", *sources, "pip<24.1"], log, "installing pip<24.1", say)
    _run(
        [*pip, "install", "--no-deps", *sources, "-r", str(lock)],
        log,
        f"installing {lock.name}",
        say,
        total=_pins(lock),
    )
    for arguments in extra or []:
        _run([*pip, "install", *arguments], log, f"installing {arguments[-1]}", say)
    (folder / INSTALLED).write_text(f"{lock.name}\n")
