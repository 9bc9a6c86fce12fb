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
