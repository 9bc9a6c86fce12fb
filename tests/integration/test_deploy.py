"""`mwaa-local deploy`'s S3 half on the project's real S3 server (serve.py, as the native
runtime runs it). The whole command against a running environment: test_bucket.py."""

from __future__ import annotations

import pytest

from emulator.deploy import (
    DeployError,
    deterministic_zip,
    etag_md5,
    put_if_changed,
    sync_dags,
)
from tests.conftest import PORT_OFFSET, s3_server
from tests.unit.test_deploy import PLUGINS, md5, write

# --- the S3 half, on a real S3 server ------------------------------------------------------


# Below 32768, out of the ephemeral range (see tests/conftest.py).
PORT = 27950 + PORT_OFFSET


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3data"), PORT) as (client, _process):
        yield client


def _bucket(s3, name: str, versioned: bool = True) -> str:
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _keys(s3, bucket: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def test_dags_are_mirrored_by_md5(s3, tmp_path):
    bucket = _bucket(s3, "airflow-deploy-dags")
    s3.put_object(Bucket=bucket, Key="dags/", Body=b"")  # a console "folder": kept
    s3.put_object(Bucket=bucket, Key="plugins.zip", Body=b"zip")  # outside the prefix: kept
    dags = tmp_path / "dags"
    write(dags, {"a.py": "a = 1\n", "sub/b.py": "b = 1\n", "sub/c.json": "{}", "d.py": "d\n"})
    said: list[str] = []

    first = sync_dags(s3, bucket, "dags", dags, said.append)
    assert first == said == ["+ dags/a.py", "+ dags/d.py", "+ dags/sub/b.py", "+ dags/sub/c.json"]
    assert sync_dags(s3, bucket, "/dags/", dags, said.append) == []  # same prefix, no change

    (dags / "a.py").write_text("a = 2\n")
    (dags / "d.py").unlink()
    write(dags, {"sub/new.py": "n\n", "__pycache__/a.cpython-311.pyc": b"junk"})
    assert sync_dags(s3, bucket, "dags", dags, said.append) == [
        "~ dags/a.py",
        "+ dags/sub/new.py",
        "- dags/d.py",
    ]
    assert _keys(s3, bucket) == {
        "dags/": b"",
        "dags/a.py": b"a = 2\n",
        "dags/sub/b.py": b"b = 1\n",
        "dags/sub/c.json": b"{}",
        "dags/sub/new.py": b"n\n",
        "plugins.zip": b"zip",
    }


def test_a_failed_listing_stops_before_any_change(s3, tmp_path):
    """The bucket's listing fails (injected into the real client: a listing error the server
    cannot be made to produce on demand): nothing is uploaded or deleted."""
    bucket = "airflow-deploy-listing"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dags/a.py", Body=b"a = 1\n")
    s3.put_object(Bucket=bucket, Key="dags/gone.py", Body=b"g\n")
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "a.py").write_text("a = 2\n")
    (tmp_path / "dags" / "b.py").write_text("b\n")

    def listing_fails(**_kwargs) -> None:
        raise s3.exceptions.ClientError(
            {"Error": {"Code": "InternalError", "Message": "listing failed"}}, "ListObjectsV2"
        )

    s3.meta.events.register("before-call.s3.ListObjectsV2", listing_fails)
    try:
        with pytest.raises(s3.exceptions.ClientError, match="listing failed"):
            sync_dags(s3, bucket, "dags", tmp_path / "dags", print)
    finally:
        s3.meta.events.unregister("before-call.s3.ListObjectsV2", listing_fails)
    assert _keys(s3, bucket) == {"dags/a.py": b"a = 1\n", "dags/gone.py": b"g\n"}


def test_an_empty_dag_path_is_refused(s3, tmp_path):
    with pytest.raises(DeployError, match="DagS3Path"):
        sync_dags(s3, "airflow-any", "/", tmp_path, print)


def test_objects_are_uploaded_only_when_changed(s3, tmp_path):
    bucket = _bucket(s3, "airflow-deploy-objects")
    folder = tmp_path / "plugins"
    write(folder, PLUGINS)

    v1, mark = put_if_changed(s3, bucket, "plugins.zip", deterministic_zip(folder))
    assert mark == "+"
    assert put_if_changed(s3, bucket, "plugins.zip", deterministic_zip(folder)) == (v1, None)

    (folder / "operators" / "hello.py").write_text("class Hello: pass  # v2\n")
    v2, mark = put_if_changed(s3, bucket, "plugins.zip", deterministic_zip(folder))
    assert mark == "~" and v2 != v1
    head = s3.head_object(Bucket=bucket, Key="plugins.zip")
    assert head["VersionId"] == v2
    assert etag_md5(head["ETag"]) == md5(deterministic_zip(folder))


def test_an_unversioned_bucket_is_an_error(s3):
    bucket = _bucket(s3, "airflow-deploy-unversioned", versioned=False)
    with pytest.raises(DeployError, match="versioning"):
        put_if_changed(s3, bucket, "requirements.txt", b"boto3\n")


def test_up_refuses_a_bucket_without_versioning(s3):
    """`up`'s init step, against a bucket a user made without versioning: refused, saying how
    to turn it on; a bucket that does not exist yet is created with versioning on."""
    from types import SimpleNamespace

    from emulator.environment.airflow_config import Infrastructure
    from emulator.errors import ServiceError
    from emulator.services.init import ensure_bucket

    infra = Infrastructure(
        db_url="unused",
        broker_url="unused",
        s3_endpoint=f"http://127.0.0.1:{PORT}",
        s3_access_key="test",
        s3_secret_key="test",
    )
    bucket = _bucket(s3, "airflow-up-unversioned", versioned=False)
    ctx = SimpleNamespace(spec=SimpleNamespace(bucket=bucket), infra=infra)
    with pytest.raises(ServiceError, match="put-bucket-versioning --bucket airflow-up-unversioned"):
        ensure_bucket(ctx)  # type: ignore[arg-type]

    ctx = SimpleNamespace(spec=SimpleNamespace(bucket="airflow-up-new"), infra=infra)
    ensure_bucket(ctx)  # type: ignore[arg-type]
    assert s3.get_bucket_versioning(Bucket="airflow-up-new")["Status"] == "Enabled"
