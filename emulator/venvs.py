"""Making a virtual environment from lock files, for `make venv`, the tool (emulator/tool/) and
the native runtime's servers: `python -m venv`, pip below 24.1, then every pin with `--no-deps`
(the locks are complete; Airflow 1.10.12's own metadata cannot be met on Python 3.11).

The pins are installed with uv (UV_VERSION, bootstrapped by the venv's own pip into a `.uv`
folder beside the venv: a fresh machine has only python3), about five times faster than pip.
Every pin of the locks installs with uv, Airflow 1.10.12's old sdists included. pip is still
what the venv is seeded with, and what the platform runs for a user's requirements.txt (MWAA's
pip < 24.1): `python -m venv` seeds it from the interpreter's own wheels (with setuptools,
whose pkg_resources Airflow 1.10.12 imports), offline, where `uv venv` would make a venv
without them. pip also installs the pins when a wheelhouse has no uv wheel to bootstrap from.

Standard library only: this runs before anything else is installed, also as a script:
    python3 -m emulator.venvs .venv --lock requirements/platform.lock --editable .
With a wheelhouse (a folder of wheels, e.g. a CI cache, or a checkout's images/airflow/wheels)
nothing comes from the package index.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# The one pin of uv: `make venv`, the tool and bench/install all bootstrap this version.
UV_VERSION = "0.13.9"
UV_DIR = ".uv"  # beside the venvs: <UV_DIR>/<UV_VERSION>/bin/uv
# The first pip that refuses Airflow 1.10.12's dependencies' metadata.
PIP_LIMIT = (24, 1)
INSTALLED = ".installed"  # what a finished venv holds
HEARTBEAT_S = 15.0

Say = Callable[[str], None]


class VenvError(RuntimeError):
    """A venv could not be made; the message says which step, and where its log is."""


def pins(locks: Sequence[Path]) -> int:
    return sum(
        1
        for lock in locks
        for line in lock.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    )


def uv_binary(uv_home: Path) -> Path:
    return uv_home / UV_VERSION / "bin" / "uv"


def sources(wheelhouse: Path | None) -> list[str]:
    """Where packages come from: the package index, or only the wheelhouse."""
    return ["--no-index", "--find-links", str(wheelhouse)] if wheelhouse else []


def uv_bootstrappable(wheelhouse: Path | None) -> bool:
    """Whether uv can be had: from the package index, or from a wheel in the wheelhouse."""
    return wheelhouse is None or any(wheelhouse.glob(f"uv-{UV_VERSION}-*.whl"))


def bootstrap_argv(venv_python: Path, target: Path, wheelhouse: Path | None) -> list[str]:
    """pip puts the pinned uv (one wheel, no dependencies) into `target`, outside any venv."""
    return [
        str(venv_python),
        "-m",
        "pip",
        "--disable-pip-version-check",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        str(target),
        *sources(wheelhouse),
        f"uv=={UV_VERSION}",
    ]


def install_argv(
    uv: Path | None,
    venv_python: Path,
    wheelhouse: Path | None,
    arguments: Sequence[str],
    compile_bytecode: bool = True,
) -> list[str]:
    """One install into the venv of `venv_python`: with uv, or with the venv's pip when `uv`
    is None. `arguments` are in pip's syntax, which `uv pip install` shares."""
    if uv is None:
        installer = [str(venv_python), "-m", "pip", "--disable-pip-version-check", "install"]
        if not compile_bytecode:
            installer.append("--no-compile")
    else:
        # Byte-compiled as pip does: the unprivileged user that runs Airflow's commands cannot
        # write __pycache__ into the venv, and would compile every module on every start.
        installer = [str(uv), "pip", "install", "--python", str(venv_python)]
        if compile_bytecode:
            installer.append("--compile-bytecode")
    return [*installer, *sources(wheelhouse), *arguments]


def lock_arguments(locks: Sequence[Path]) -> list[str]:
    return ["--no-deps", *(argument for lock in locks for argument in ("-r", str(lock)))]


def progress_step(log_text: str, total: int) -> str:
    """What an install is doing, from its output so far (pip's, or uv's)."""
    # uv resolves (instantly with --no-deps), fetches and builds everything, then links it.
    if re.search(r"^(?:Installed|Prepared|Audited) \d+ package", log_text, re.MULTILINE):
        return "unpacking them"
    if re.search(r"^Resolved \d+ package", log_text, re.MULTILINE):
        counts = []
        for done, started, what in (
            (r"^ Downloaded ", r"^Downloading ", "large downloads"),
            (r"^ +Built ", r"^ +Building ", "sdists built"),
        ):
            begun = len(re.findall(started, log_text, re.MULTILINE))
            if begun:
                counts.append(f"{len(re.findall(done, log_text, re.MULTILINE))} of {begun} {what}")
        detail = f" ({', '.join(counts)})" if counts else ""
        return f"fetching and building {total} packages{detail}"
    # pip fetches (or finds) every package first, then installs them all.
    if "Installing collected packages" in log_text:
        return "unpacking them"
    found = len(re.findall(r"^(?:Collecting|Processing) ", log_text, re.MULTILINE))
    if found:
        return f"{min(found, total)} of {total} packages found"
    return "working" if not total else f"0 of {total} packages found"


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
        offset = out.tell()
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(HEARTBEAT_S):
                with log.open(errors="replace") as text:
                    text.seek(offset)
                    step = progress_step(text.read(), total)
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


def ensure_uv(
    uv_home: Path, venv_python: Path, wheelhouse: Path | None, log: Path, say: Say
) -> Path | None:
    """The pinned uv, bootstrapped once into `uv_home`; None when the wheelhouse has no uv
    wheel (pip installs then)."""
    binary = uv_binary(uv_home)
    if binary.is_file():
        return binary
    if not uv_bootstrappable(wheelhouse):
        say(f"  {wheelhouse} has no uv {UV_VERSION} wheel: installing with pip (slower)")
        return None
    # Into a folder of its own first: another install may be bootstrapping it at the same time.
    uv_home.mkdir(parents=True, exist_ok=True)
    partial = uv_home / f"{UV_VERSION}.partial-{time.monotonic_ns()}"
    try:
        _run(
            bootstrap_argv(venv_python, partial, wheelhouse),
            log,
            f"bootstrapping uv {UV_VERSION}",
            say,
        )
        try:
            partial.rename(binary.parent.parent)
        except OSError:
            if not binary.is_file():  # not another install's uv, finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return binary


def create(
    python: str,
    folder: Path,
    lock: Path | Sequence[Path],
    log: Path,
    say: Say,
    wheelhouse: Path | None = None,
    extra: list[list[str]] | None = None,
    uv_home: Path | None = None,
    use_uv: bool = True,
    compile_bytecode: bool = True,
) -> None:
    """A venv at `folder` with every pin of `lock` (one lock file or several), then each of
    `extra` (install arguments in pip's syntax, e.g. an editable install). Marked finished
    with `.installed` only when all of it worked. uv comes from `uv_home` (default: `.uv`
    beside the venv); `use_uv=False` installs with pip alone (bench/install compares them).
    `compile_bytecode=False` leaves the modules to be compiled when first imported: for a venv
    whose Python only root runs (the servers'), which writes __pycache__ itself."""
    locks = [lock] if isinstance(lock, Path) else list(lock)
    log.parent.mkdir(parents=True, exist_ok=True)
    _run([python, "-m", "venv", str(folder)], log, f"making {folder.name}", say)
    venv_python = folder / "bin" / "python"
    uv = (
        ensure_uv(uv_home or folder.parent / UV_DIR, venv_python, wheelhouse, log, say)
        if use_uv
        else None
    )
    if _pip_version(venv_python) >= PIP_LIMIT:
        _run(
            install_argv(uv, venv_python, wheelhouse, ["pip<24.1"]),
            log,
            "installing pip<24.1",
            say,
        )
    names = " and ".join(lock.name for lock in locks)
    _run(
        install_argv(uv, venv_python, wheelhouse, lock_arguments(locks), compile_bytecode),
        log,
        f"installing {names}",
        say,
        total=pins(locks),
    )
    for arguments in extra or []:
        _run(
            install_argv(uv, venv_python, wheelhouse, arguments, compile_bytecode),
            log,
            f"installing {arguments[-1]}",
            say,
        )
    (folder / INSTALLED).write_text("".join(f"{lock.name}\n" for lock in locks))


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """`make venv`'s entry point: the checkout's venvs, made as the tool makes its own."""
    parser = argparse.ArgumentParser(prog="python3 -m emulator.venvs", description=__doc__)
    parser.add_argument("folder", type=Path, help="the venv to make (or bring up to date)")
    parser.add_argument("--lock", type=Path, action="append", required=True)
    parser.add_argument("--editable", type=Path, help="a project to install with -e, no deps")
    parser.add_argument("--python", default=sys.executable, help="the venv's interpreter")
    parser.add_argument("--wheelhouse", type=Path, help="install only from this folder")
    parser.add_argument("--log", type=Path, help="default: FOLDER/install.log")
    parser.add_argument(
        "--no-compile", action="store_true", help="no byte-compiling (a venv only root runs)"
    )
    args = parser.parse_args(argv)
    log = args.log or args.folder / "install.log"
    extra = (
        [["--no-deps", "--no-build-isolation", "-e", str(args.editable)]] if args.editable else []
    )
    started = time.monotonic()
    try:
        create(
            args.python,
            args.folder,
            args.lock,
            log,
            _say,
            args.wheelhouse,
            extra,
            compile_bytecode=not args.no_compile,
        )
    except (VenvError, OSError, subprocess.CalledProcessError) as exc:
        sys.stderr.write(f"mwaa-local: {exc}\n")
        return 1
    _say(f"mwaa-local: {args.folder} ready in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
