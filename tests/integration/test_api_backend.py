"""The control plane's rules, driven directly (no HTTP, no Flask) against the native
environment's real PostgreSQL and S3, with environment records of the tests' own."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from emulator.api.auth import Principal
from emulator.api.backend import LIST_MAX, Backend
from emulator.api.errors import AccessDeniedException, ValidationException
from emulator.environment import spec as spec_module
from emulator.environment.store import Store
from tests.conftest import NATIVE_PORTS, PROJECT, s3_client

pytestmark = pytest.mark.native

DB_URL = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{NATIVE_PORTS['postgres']}/airflow"


@pytest.fixture
def backend(native_env) -> Iterator[Backend]:
    own = spec_module.load(PROJECT / "environment.json")
    store = Store(DB_URL)
    made: list[str] = []
    backend = Backend(
        store=store,
        s3=s3_client(NATIVE_PORTS),
        own=own,
        state_dir=native_env[0].home / "environment",
        web_server_hostname="localhost:1",
        region="us-east-1",
        account="000000000000",
        healthy=lambda: True,
        on_spec_applied=lambda spec: None,
    )
    backend.made = made  # type: ignore[attr-defined]
    try:
        yield backend
    finally:
        for name in made:
            store.delete(name)


def _record(backend: Backend, name: str, status: str) -> None:
    data = json.loads((PROJECT / "environment.json").read_text())
    backend.store.create(name, {**data, "Name": name}, status)
    backend.made.append(name)  # type: ignore[attr-defined]


def test_list_environments_pages_through_more_than_a_page(backend: Backend) -> None:
    names = [f"zz-page-{i:02d}" for i in range(LIST_MAX + 5)]
    for name in names:
        _record(backend, name, "AVAILABLE")
    first = backend.list_environments(None, None)
    assert len(first["Environments"]) == LIST_MAX and "NextToken" in first
    rest = backend.list_environments(None, first["NextToken"])
    seen = first["Environments"] + rest["Environments"]
    assert "NextToken" not in rest
    assert set(names) <= set(seen) and len(seen) == len(set(seen))
    with pytest.raises(ValidationException):
        backend.list_environments("26", None)
    with pytest.raises(ValidationException):
        backend.list_environments(None, "not-a-token")


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("CREATE_FAILED", "Environments with CREATE_FAILED status cannot be updated."),
        ("UPDATING", "is UPDATING; it can be updated once it is AVAILABLE"),
        ("CREATING", "is CREATING; it can be updated once it is AVAILABLE"),
    ],
)
def test_an_update_is_refused_unless_the_environment_is_available(
    backend: Backend, status: str, said: str
) -> None:
    name = f"zz-rules-{status.lower()}"
    _record(backend, name, status)
    with pytest.raises(ValidationException) as caught:
        backend.update_environment(name, {"MaxWorkers": 2})
    assert said in caught.value.message
    assert backend.store.get(name).spec["MaxWorkers"] != 2


def test_web_login_needs_a_role_and_the_strongest_one_wins(backend: Backend) -> None:
    _record(backend, "zz-login", "AVAILABLE")
    with pytest.raises(AccessDeniedException) as caught:
        backend.create_web_login_token("zz-login", Principal("AK", "user/nobody", ()))
    assert "airflow:CreateWebLoginToken" in caught.value.message
    answer = backend.create_web_login_token(
        "zz-login", Principal("AK", "assumed-role/Ops/olga", ("Viewer", "Op"))
    )
    grant = backend.store.check_token("web", answer["WebToken"], single_use=True)
    assert grant is not None and grant.role == "Op"
    assert backend.store.check_token("web", answer["WebToken"], single_use=True) is None


def test_log_group_arns_only_for_enabled_log_types(backend: Backend) -> None:
    _record(backend, "zz-logs", "AVAILABLE")
    record = backend.store.get("zz-logs")
    spec = {
        **record.spec,
        "LoggingConfiguration": {"TaskLogs": {"Enabled": True, "LogLevel": "INFO"}},
    }
    backend.store.update("zz-logs", spec=spec)
    logging = backend.get_environment("zz-logs")["Environment"]["LoggingConfiguration"]
    assert logging["TaskLogs"]["CloudWatchLogGroupArn"].endswith(":log-group:airflow-zz-logs-Task")
    assert "CloudWatchLogGroupArn" not in logging["SchedulerLogs"]


def test_a_bad_tag_is_refused_and_nothing_changes(backend: Backend) -> None:
    _record(backend, "zz-tags", "AVAILABLE")
    arn = backend.arn("zz-tags")
    backend.tag_resource(arn, {"team": "data"})
    with pytest.raises(ValidationException):
        backend.tag_resource(arn, {"x" * 200: "too long a key"})
    assert backend.list_tags(arn)["Tags"] == {**backend.store.get("zz-tags").tags}
    assert backend.list_tags(arn)["Tags"].get("team") == "data"


def test_an_update_whose_services_never_come_up_is_rolled_back(backend: Backend) -> None:
    """UpdateEnvironment gives the services 10 minutes (here: 3 s) to run healthy on the new
    definition; then UPDATE_FAILED, and the previous definition back on a newer generation
    (so the services restart onto it)."""
    from emulator.api import operations
    from tests.conftest import wait_until

    _record(backend, "zz-rollback", "AVAILABLE")
    before = backend.store.get("zz-rollback")
    new = {**before.spec, "MaxWorkers": 2}
    operations.start_update(
        backend.store,
        "zz-rollback",
        new,
        healthy=lambda: False,
        on_applied=lambda spec: None,
        timeout_s=3,
    )
    assert backend.store.get("zz-rollback").status == "UPDATING"
    after = wait_until(
        lambda: (r := backend.store.get("zz-rollback")).status != "UPDATING" and r, 60, "rollback"
    )
    assert after.status == "UPDATE_FAILED"
    assert after.last_update["Error"]["ErrorCode"] == "UPDATE_TIMEOUT"
    assert after.spec == before.spec
    assert after.generation == before.generation + 2
