"""Who runs what when mwaa-local is started as root: PostgreSQL refuses root, and the commands
of MWAA's CLI endpoint must not act on the host as root. Both run as one unprivileged user."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int


def run_as() -> str | None:
    """The user to run as instead of this process's, None when this process is not root."""
    return UNPRIVILEGED_USER if os.geteuid() == 0 else None


def cli_user() -> User | None:
    """Who runs the CLI endpoint's commands, None for this process's own user."""
    name = run_as()
    if name is None:
        return None
    entry = pwd.getpwnam(name)
    return User(name, entry.pw_uid, entry.pw_gid)


def unreachable_python(user: User) -> str | None:
    """Why `user` cannot run this Python with the modules a command imports as it goes (the
    CLI endpoint's commands run as `user`, forked from a process that imported Airflow as
    root), or None when it can. The usual cause: Python installed under a folder that other
    users cannot search, such as /root."""
    import stat
    import subprocess
    import sys
    from pathlib import Path

    try:
        probe = subprocess.run(
            # Modules no running process has imported yet: read from disk as `user`.
            [sys.executable, "-c", "import multiprocessing.pool, xml.dom.minidom, psycopg2"],
            user=user.uid,
            group=user.gid,
            extra_groups=[],
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "HOME": "/"},
            capture_output=True,
            text=True,
        )
        failed = probe.returncode != 0
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
    except OSError as exc:  # it cannot even start the interpreter
        failed, last = True, str(exc)
    if not failed:
        return None
    for root in (Path(sys.base_prefix), Path(sys.prefix)):
        for folder in [root, *root.parents]:
            if not folder.stat().st_mode & stat.S_IXOTH:
                return (
                    f"{folder} is not searchable by other users, so the CLI endpoint's "
                    f"commands (run as {user.name}, because mwaa-local runs as root) cannot "
                    f"import Python's modules from {root}. Fix: chmod o+x {folder}"
                )
    return f"{user.name} cannot run {sys.executable} ({last})"
