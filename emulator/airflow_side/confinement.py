"""Which files a command of MWAA's CLI endpoint may name: on MWAA the commands run in a
throwaway container; here they run on the host, so every option that names a file or a folder
is resolved (symbolic links followed) and refused unless it lies where the environment allows:

- `-sd`/`--subdir` (which DAG files to parse, that is, to execute): the DAGs folder or below;
- every other such option (`variables -e/-i`, `pool -e/-i`, `show_dag -s`, `run --cfg_path`):
  the exchange folder, where a relative path lands (the commands run there).

The options come from each allowed command's own argument parser (Airflow's), found by what
their help says they take, so that abbreviations (`--exp`), `--opt=value` and `-oVALUE` are
read exactly as Airflow reads them. Standard library only: it runs inside the CLI runner's
zygote (zygote.py), which has Airflow imported.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
from dataclasses import dataclass

# An option takes a file or folder when its help says so ("File location or directory ...",
# "Path to config file ...", "Export variables to JSON file").
_NAMES_A_PATH = re.compile(r"\b(files?|paths?|director(y|ies)|folders?)\b", re.IGNORECASE)
SUBDIR = "subdir"
# Airflow's `process_subdir` replaces this word with the DAGs folder.
DAGS_FOLDER_WORD = "DAGS_FOLDER"


@dataclass(frozen=True)
class Folders:
    exchange: str  # where file options may point, and where commands run
    dags: str  # the DAGs folder, as Airflow's configuration names it


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def path_options(parser: argparse.ArgumentParser) -> dict[str, dict[str, str]]:
    """For each command: {dest: its longest option string} of the options naming a path."""
    found: dict[str, dict[str, str]] = {}
    for command, sub in _subcommands(parser).items():
        options: dict[str, str] = {}
        for action in sub._actions:
            takes_value = action.nargs != 0 and action.option_strings
            if takes_value and _NAMES_A_PATH.search(action.help or ""):
                options[action.dest] = max(action.option_strings, key=len)
        found[command] = options
    return found


def resolve(value: str, cwd: str) -> str:
    """The file a command opens for `value` (as given: Airflow expands no `~` in these), with
    every symbolic link followed."""
    return os.path.realpath(os.path.join(cwd, value))


def within(path: str, folder: str) -> bool:
    folder = os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def subdir_refusal(command: str, value: str | None, folders: Folders) -> str | None:
    """`-sd` as Airflow's `process_subdir` reads it must be the DAGs folder or below it."""
    if not value:  # Airflow uses the DAGs folder then
        return None
    resolved = resolve(
        os.path.expanduser(value.replace(DAGS_FOLDER_WORD, folders.dags)), folders.exchange
    )
    if within(resolved, folders.dags):
        return None
    return (
        f"`{command} --subdir {value}` was refused: --subdir (-sd) must name the DAGs folder, "
        f"{folders.dags}, or a file or folder below it (DAGS_FOLDER/... is replaced by it); "
        f"this one is {resolved}."
    )


def file_refusal(command: str, option: str, value: str, folders: Folders) -> str | None:
    """A file option must stay inside the exchange folder, however it is spelt."""
    paths = [value]
    if command == "show_dag" and "." in value:
        # `show_dag -s NAME.FORMAT` has graphviz write NAME too (then delete it).
        paths.append(value.rpartition(".")[0])
    for path in paths:
        resolved = resolve(path, folders.exchange)
        if not within(resolved, folders.exchange):
            return (
                f"`{command} {option} {value}` was refused: {option} must name a file in the "
                f"exchange folder, {folders.exchange} (a relative path such as "
                f"`{command} {option} {os.path.basename(value) or 'file.json'}` lands there); "
                f"this one is {resolved}."
            )
    return None


class Checker:
    """Decides, for an argv without the word `airflow`, whether the command stays inside."""

    def __init__(self, parser: argparse.ArgumentParser, folders: Folders):
        self.parser = parser
        self.folders = folders
        self.options = path_options(parser)
        # An argument file (`@FILE`) would be read by the parser itself, before any check.
        self.prefix = parser.fromfile_prefix_chars

    def _parse(self, argv: list[str]) -> argparse.Namespace | None:
        """The arguments as Airflow will read them; None when Airflow will refuse them too,
        before doing anything."""
        silenced = io.StringIO()
        try:
            with contextlib.redirect_stdout(silenced), contextlib.redirect_stderr(silenced):
                return self.parser.parse_args(argv)
        except SystemExit:
            return None

    def needs_broker(self, argv: list[str]) -> bool:
        """Whether the command hands tasks to the Celery executor, through the broker:
        `run` without --local or --raw, `backfill` without --local."""
        namespace = self._parse(argv)
        if namespace is None:
            return False
        command = getattr(namespace, "subcommand", None)
        if command == "run":
            return not (namespace.local or namespace.raw)
        return command == "backfill" and not namespace.local

    def refusal(self, argv: list[str]) -> str | None:
        """Why the command may not run, or None when it names no path outside."""
        if self.prefix and any(a[:1] in self.prefix for a in argv):
            return f"Arguments starting with {self.prefix!r} (argument files) are not accepted."
        namespace = self._parse(argv)
        if namespace is None:
            return None
        command = getattr(namespace, "subcommand", None) or argv[0]
        for dest, option in self.options.get(command, {}).items():
            value = getattr(namespace, dest, None)
            if dest == SUBDIR:
                problem = subdir_refusal(command, value, self.folders)
            elif isinstance(value, str):
                problem = file_refusal(command, option, value, self.folders)
            elif value is None:
                problem = None
            else:  # several values for one path option: none of them is looked at
                problem = f"`{command} {option}` takes one path."
            if problem:
                return problem
        return None
