"""The `mwaa-local` command (and `python -m emulator`), in whatever Python it was installed into.

In mwaa-local's own platform (a checkout's .venv, the tool's, the Airflow image) it is the CLI
itself. Anywhere else, a user's Python with only the light part of mwaa-local, it makes sure
the platform is installed (once) and hands the command over to it, for the project it was run
in: the nearest folder up from here with an environment.json (or this one).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

AIRFLOW_VERSION = "1.10.12"
# What the CLI needs besides Airflow; a Python without them is not the platform.
PLATFORM_DISTRIBUTIONS = ("msgspec", "boto3", "psycopg2-binary")


def platform_here() -> bool:
    """Whether this interpreter is mwaa-local's platform: its site-packages hold Airflow 1.10.12
    and the distributions above. Read from the folders' names, not through importlib.metadata,
    which would cost every service process started through here some 4 MiB."""
    installed: set[str] = set()
    for folder in sys.path:
        if folder.endswith("site-packages") and os.path.isdir(folder):
            installed.update(n.lower() for n in os.listdir(folder) if n.endswith(".dist-info"))
    wanted = [f"apache_airflow-{AIRFLOW_VERSION}"]
    wanted += [f"{name.replace('-', '_')}-" for name in PLATFORM_DISTRIBUTIONS]
    return all(any(n.startswith(w) for n in installed) for w in wanted)


def find_project(start: Path) -> Path:
    """The nearest folder from `start` up that holds an environment.json, else `start`."""
    for folder in (start, *start.parents):
        if (folder / "environment.json").is_file():
            return folder
    return start


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if platform_here():
        from emulator.cli import main as cli_main

        return cli_main(args)
    from emulator.tool import install

    try:
        platform = install.ensure(install.Settings.from_environment(), _say)
    except install.ToolError as exc:
        _say(f"mwaa-local: {exc}")
        return exc.exit_code
    command = platform / ".venv" / "bin" / "mwaa-local"
    env = dict(os.environ)
    env.setdefault("MWAA_LOCAL_PROJECT_DIR", str(find_project(Path.cwd())))
    os.execve(command, [str(command), *args], env)
    return 0  # not reached: the platform's mwaa-local replaces this process
