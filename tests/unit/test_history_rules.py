"""The pure parts of moving history: what an archive holds and in what order, how secrets are
sealed, what a plain pg_dump loses on the way in, and how a bucket returns to a snapshot."""

from __future__ import annotations

import io

import pytest

from emulator.errors import HistoryError
from emulator.history import sealing, tables
from emulator.history.scratch import _without_roles, redacted, with_database
from emulator.snapshots.bucket_plan import Version, plan_restore


def test_every_table_the_issue_names_is_exported_in_an_order_that_can_be_imported() -> None:
    names = [t.name for t in tables.TABLES]
    for wanted in (
        "dag_run",
        "task_instance",
        "task_fail",
        "task_reschedule",
        "xcom",
        "variable",
        "connection",
        "slot_pool",
        "sla_miss",
        "log",
        "dag",
    ):
        assert wanted in names
    # Task instances before the reschedules that reference them, pools before both.
    assert names.index("slot_pool") < names.index("task_instance") < names.index("task_reschedule")


def test_serial_ids_and_encryption_flags_stay_behind() -> None:
    connection = tables.BY_NAME["connection"]
    present = ["id", "conn_id", "password", "extra", "is_encrypted", "is_extra_encrypted"]
    assert tables.exported_columns(connection, present) == ["conn_id", "password", "extra"]
    dag = tables.BY_NAME["dag"]
    assert tables.exported_columns(dag, ["dag_id", "is_paused", "fileloc"]) == [
        "dag_id",
        "is_paused",
    ]


def test_rows_without_a_key_are_ordered_by_all_they_hold() -> None:
    log = tables.BY_NAME["log"]
    columns = ["dttm", "dag_id", "task_id", "event", "execution_date", "owner", "extra"]
    order = tables.order_columns(log, columns)
    assert order[:5] == ["dttm", "event", "dag_id", "task_id", "execution_date"]
    assert set(order) == set(columns)
    assert tables.order_columns(
        tables.BY_NAME["dag_run"], ["dag_id", "execution_date", "state"]
    ) == [
        "dag_id",
        "execution_date",
    ]


def test_the_services_own_start_events_are_not_history() -> None:
    where = tables.BY_NAME["log"].where
    for event in ("cli_scheduler", "cli_webserver", "cli_worker"):
        assert f"'{event}'" in where
    assert "cli_trigger_dag" not in where and "cli_run" not in where


def test_sealed_secrets_open_only_with_their_passphrase_and_seal_alike() -> None:
    salt = sealing.salt_for(["a" * 64, "b" * 64])
    values = ["p4ssw0rd", "", '{"token": "x"}']
    blob = sealing.seal(values, b"a long passphrase", salt)
    assert blob == sealing.seal(values, b"a long passphrase", salt)  # a re-export equals
    for value in values[:1] + values[2:]:
        assert value.encode() not in blob
    assert sealing.unseal(blob, b"a long passphrase", salt, sealing.KDF) == values
    with pytest.raises(HistoryError, match="passphrase does not open"):
        sealing.unseal(blob, b"another passphrase", salt, sealing.KDF)
    with pytest.raises(HistoryError, match="passphrase does not open"):
        sealing.unseal(blob, b"a long passphrase", sealing.salt_for(["c" * 64]), sealing.KDF)
    with pytest.raises(HistoryError, match="too short"):
        sealing.seal(values, b"short", salt)


def test_a_fernet_token_of_another_key_is_a_clear_error() -> None:
    from cryptography.fernet import Fernet

    mine, theirs = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = sealing.encrypt(sealing.fernet(theirs), "secret")
    assert sealing.decrypt(sealing.fernet(f"{mine},{theirs}"), token, "x") == "secret"
    with pytest.raises(HistoryError, match="connection a's password cannot be decrypted"):
        sealing.decrypt(sealing.fernet(mine), token, "connection a's password")
    with pytest.raises(HistoryError, match="not a Fernet key"):
        sealing.fernet("not-a-key")


def test_a_plain_dump_loses_its_owners_and_grants_but_never_data() -> None:
    dump = (
        b"CREATE TABLE public.variable (key text, val text);\n"
        b"ALTER TABLE public.variable OWNER TO old_admin;\n"
        b"COPY public.variable (key, val) FROM stdin;\n"
        b"GRANT ALL\tkept because it is data\n"
        b"ALTER TABLE x OWNER TO y;\tdata too\n"
        b"\\.\n"
        b"GRANT SELECT ON public.variable TO reader;\n"
        b"REVOKE ALL ON SCHEMA public FROM PUBLIC;\n"
    )
    out = io.BytesIO()
    _without_roles(io.BytesIO(dump), out)
    text = out.getvalue()
    assert b"OWNER TO old_admin" not in text and b"TO reader" not in text
    assert b"REVOKE" not in text
    assert b"GRANT ALL\tkept because it is data\n" in text
    assert b"ALTER TABLE x OWNER TO y;\tdata too\n" in text


def test_addresses_are_shown_without_their_password() -> None:
    url = "postgresql://airflow:s3cret@db.example:5432/airflow"
    assert redacted(url) == "postgresql://airflow@db.example:5432/airflow"
    assert with_database(url, "other") == "postgresql://airflow:s3cret@db.example:5432/other"


def _versions(key: str, *ids: str) -> list[Version]:
    return [Version(key, v, blob=f"blob-{v}") for v in ids]


def test_a_bucket_returns_to_its_snapshot_by_deleting_what_came_after() -> None:
    wanted = {
        "dags/a.py": _versions("dags/a.py", "1", "2"),
        "plugins.zip": _versions("plugins.zip", "p"),
    }
    present = {
        "dags/a.py": _versions("dags/a.py", "1", "2", "3"),
        "plugins.zip": _versions("plugins.zip", "p"),
        "dags/new.py": _versions("dags/new.py", "n"),
    }
    plan = plan_restore(wanted, present)
    assert [(v.key, v.version_id) for v in plan.delete] == [
        ("dags/a.py", "3"),
        ("dags/new.py", "n"),
    ]
    assert plan.upload == []
    assert plan.kept == 3


def test_a_deleted_file_comes_back_with_its_delete_marker_gone() -> None:
    wanted = {"dags/a.py": _versions("dags/a.py", "1")}
    present = {"dags/a.py": [*_versions("dags/a.py", "1"), Version("dags/a.py", "m", True)]}
    plan = plan_restore(wanted, present)
    assert [v.version_id for v in plan.delete] == ["m"] and plan.upload == []


def test_a_version_that_is_gone_is_uploaded_again_with_every_later_one() -> None:
    """After `make clean` the bucket is empty; a version deleted by id takes the newer
    ones of its key with it (they are uploaded again, so the newest stays the newest)."""
    wanted = {"k": _versions("k", "1", "2", "3")}
    assert [v.version_id for v in plan_restore(wanted, {}).upload] == ["1", "2", "3"]
    plan = plan_restore(wanted, {"k": _versions("k", "1", "3", "4")})
    assert [v.version_id for v in plan.upload] == ["2", "3"]
    assert [v.version_id for v in plan.delete] == ["3", "4"]


def test_an_untouched_bucket_needs_nothing() -> None:
    same = {"k": _versions("k", "1", "2")}
    assert plan_restore(same, same).unchanged
