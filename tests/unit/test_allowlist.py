"""MWAA's Airflow 1.10.12 CLI allow-list and how a request body becomes argv."""

from __future__ import annotations

import pytest

from emulator.airflow_side.allowlist import ALLOWED, UNSUPPORTED, check, parse

# Every sub-command of `airflow` 1.10.12 (its usage line).
AIRFLOW_1_10_12 = {
    "backfill", "list_dag_runs", "list_tasks", "clear", "pause", "unpause", "trigger_dag",
    "delete_dag", "show_dag", "pool", "variables", "kerberos", "render", "run", "initdb",
    "list_dags", "dag_state", "task_failed_deps", "task_state", "serve_logs", "test",
    "webserver", "resetdb", "upgradedb", "checkdb", "shell", "scheduler", "worker", "flower",
    "version", "connections", "create_user", "delete_user", "list_users", "sync_perm",
    "next_execution", "rotate_fernet_key", "config", "info",
}  # fmt: skip


def test_lists_are_disjoint_and_are_airflow_commands() -> None:
    assert not ALLOWED & UNSUPPORTED
    assert len(ALLOWED) == 20 and len(UNSUPPORTED) == 17
    # MWAA's guide lists neither `config` nor `info`: not allowed either.
    assert AIRFLOW_1_10_12 - ALLOWED - UNSUPPORTED == {"config", "info"}
    assert ALLOWED | UNSUPPORTED <= AIRFLOW_1_10_12


@pytest.mark.parametrize("command", sorted(ALLOWED))
def test_allowed(command: str) -> None:
    assert check([command, "--help"]) is None


@pytest.mark.parametrize("command", sorted(UNSUPPORTED))
def test_unsupported_names_the_command(command: str) -> None:
    message = check([command])
    assert message is not None
    assert f"Airflow command '{command}' is not supported by MWAA" in message
    assert "list_dags" in message  # says what is supported


@pytest.mark.parametrize("command", ["config", "info", "dags", "listdags", "LIST_DAGS"])
def test_unknown_commands_are_refused(command: str) -> None:
    message = check([command, "list"])
    assert message is not None and f"'{command}'" in message and "allow-list" in message


def test_empty_option_first_and_airflow_word() -> None:
    assert "No Airflow command" in check([])
    assert "'-h'" in check(["-h"])
    assert "without the word 'airflow'" in check(["airflow", "list_dags"])
    assert "'list_dags'" in check(["airflow", "list_dags"])


@pytest.mark.parametrize(
    ("body", "argv"),
    [
        ("version", ["version"]),
        ("  list_dags \n", ["list_dags"]),
        ("trigger_dag my_dag --conf '{\"a\": 1}'", ["trigger_dag", "my_dag", "--conf", '{"a": 1}']),
        ('variables --set key "two words"', ["variables", "--set", "key", "two words"]),
        (r"variables --set key a\ b", ["variables", "--set", "key", "a b"]),
        ("list_dags; rm -rf / $(id) `id` | cat",
         ["list_dags;", "rm", "-rf", "/", "$(id)", "`id`", "|", "cat"]),
        ("variables --set k #not-a-comment", ["variables", "--set", "k", "#not-a-comment"]),
        ("trigger_dag d -c ''", ["trigger_dag", "d", "-c", ""]),
    ],
)  # fmt: skip
def test_parse_splits_like_a_shell_without_one(body: str, argv: list[str]) -> None:
    assert parse(body) == argv


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
def test_parse_rejects_empty(body: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        parse(body)


def test_parse_rejects_nul_and_unbalanced_quotes() -> None:
    with pytest.raises(ValueError, match="NUL"):
        parse("list_dags\0")
    with pytest.raises(ValueError, match="quotation"):
        parse("variables --set k 'open")
    with pytest.raises(ValueError, match="escaped"):
        parse("list_dags \\")
