"""Which Airflow 1.10.12 commands MWAA's CLI endpoint runs, and how it splits a request body."""

from __future__ import annotations

import shlex

# The union of what MWAA's user guide marked supported for Airflow 1.10.12.
ALLOWED = frozenset(
    {
        "backfill",
        "clear",
        "dag_state",
        "delete_dag",
        "list_dag_runs",
        "list_dags",
        "list_tasks",
        "next_execution",
        "pause",
        "pool",
        "render",
        "run",
        "show_dag",
        "task_failed_deps",
        "task_state",
        "test",
        "trigger_dag",
        "unpause",
        "variables",
        "version",
    }
)

# Marked unsupported by MWAA's user guide: servers, user and database administration.
UNSUPPORTED = frozenset(
    {
        "checkdb",
        "connections",
        "create_user",
        "delete_user",
        "flower",
        "initdb",
        "kerberos",
        "list_users",
        "resetdb",
        "rotate_fernet_key",
        "scheduler",
        "serve_logs",
        "shell",
        "sync_perm",
        "upgradedb",
        "webserver",
        "worker",
    }
)


def check(argv: list[str]) -> str | None:
    """None when MWAA runs `airflow ARGV`; otherwise a message saying why not."""
    if not argv:
        return "No Airflow command given: send one such as 'list_dags' or 'version'."
    command = argv[0]
    if command in ALLOWED:
        return None
    supported = ", ".join(sorted(ALLOWED))
    if command == "airflow":
        return (
            "Send the Airflow command without the word 'airflow', "
            f"e.g. '{' '.join(argv[1:]) or 'version'}'."
        )
    if command in UNSUPPORTED:
        return (
            f"Airflow command '{command}' is not supported by MWAA (Airflow 1.10.12). "
            f"Supported commands: {supported}."
        )
    if command.startswith("-"):
        return f"Expected an Airflow command before options, got '{command}'. " + (
            f"Supported commands: {supported}."
        )
    return (
        f"Airflow command '{command}' is not in MWAA's allow-list for Airflow 1.10.12. "
        f"Supported commands: {supported}."
    )


def parse(body: str) -> list[str]:
    """Split a request body into argv as a POSIX shell would (quotes, escapes), no shell run.

    Raises ValueError for an empty body, NUL bytes or unbalanced quotes.
    """
    if "\0" in body:
        raise ValueError("the command contains a NUL byte")
    try:
        argv = shlex.split(body, comments=False, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ValueError(f"cannot split the command: {exc}") from None
    if not argv:
        raise ValueError("the command is empty")
    return argv
