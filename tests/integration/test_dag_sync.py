"""The watcher's DAG sync, with the watcher's own S3 client, against the project's real S3
server: what is fetched, what is kept, and that nothing is deleted when S3 cannot be listed.
Objects are put with boto3, as a user would."""

from __future__ import annotations

import io
import os
import signal

import pytest

from emulator.s3 import wire
from emulator.watcher.dag_sync import STAGING, DagSync
from tests.conftest import PORT_OFFSET, s3_server

pytestmark = pytest.mark.native

# Below 32768, out of the ephemeral range (see tests/conftest.py).
PORT = 27960 + PORT_OFFSET
BUCKET = "airflow-sync"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3data"), PORT) as (client, process):
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client, process


def watchers_client() -> wire.S3Client:
    return wire.S3Client(f"http://127.0.0.1:{PORT}", "us-east-1", "test", "test", timeout_s=5)


@pytest.fixture
def sync(server, tmp_path, request):
    client, _process = server
    prefix = f"{request.node.name}/dags/"
    sync = DagSync(watchers_client(), BUCKET, prefix, tmp_path / "dags", tmp_path / "manifest.json")
    sync.user = client  # the user's boto3 client, which puts and deletes
    return sync


def put(sync: DagSync, path: str, body: bytes) -> None:
    sync.user.put_object(Bucket=BUCKET, Key=sync.prefix + path, Body=body)


def files(sync: DagSync) -> dict[str, bytes]:
    return {
        str(p.relative_to(sync.folder)): p.read_bytes()
        for p in sync.folder.rglob("*")
        if p.is_file()
    }


def test_unchanged_objects_are_not_downloaded_again(sync) -> None:
    put(sync, "a.py", b"a = 1\n")
    put(sync, "sub/deeper/b.sql", b"select 1\n")
    assert sorted(sync.run_once().fetched) == ["a.py", "sub/deeper/b.sql"]
    assert sync.run_once().fetched == []
    put(sync, "a.py", b"a = 2\n")
    assert sync.run_once().fetched == ["a.py"]
    assert files(sync) == {"a.py": b"a = 2\n", "sub/deeper/b.sql": b"select 1\n"}
    assert not (sync.folder / STAGING).exists()


def test_a_file_removed_locally_comes_back_and_others_files_are_never_deleted(sync) -> None:
    put(sync, "a.py", b"a\n")
    put(sync, "b.py", b"b\n")
    sync.run_once()
    (sync.folder / "a.py").unlink()
    (sync.folder / "__pycache__").mkdir()
    (sync.folder / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"airflow's")
    (sync.folder / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"airflow's")
    (sync.folder / "notes.txt").write_bytes(b"someone's")
    assert sync.run_once().fetched == ["a.py"]
    sync.user.delete_object(Bucket=BUCKET, Key=sync.prefix + "a.py")
    result = sync.run_once()
    assert result.deleted == ["a.py"]
    # The deleted file's bytecode goes with it; nothing else the watcher did not write.
    assert files(sync) == {
        "b.py": b"b\n",
        "__pycache__/b.cpython-311.pyc": b"airflow's",
        "notes.txt": b"someone's",
    }


def test_a_failed_listing_deletes_nothing(sync, server) -> None:
    put(sync, "keep.py", b"k\n")
    sync.run_once()
    _client, process = server
    process.send_signal(signal.SIGSTOP)  # S3 stops answering
    try:
        result = sync.run_once()
    finally:
        process.send_signal(signal.SIGCONT)
    assert result.error and "listing" in result.error
    assert result.deleted == [] and files(sync) == {"keep.py": b"k\n"}
    assert sync.run_once().error is None


def test_keys_with_spaces_plus_signs_and_accents_arrive_under_their_own_names(sync) -> None:
    names = ["my dag.py", "a+b.py", "café/ünïcode dag.py", "100%.py", "tilde~.py"]
    for name in names:
        put(sync, name, name.encode())
    assert sorted(sync.run_once().fetched) == sorted(names)
    assert files(sync) == {name: name.encode() for name in names}
    assert sync.run_once().fetched == []


def test_a_listing_in_pages_is_the_whole_listing(server, request) -> None:
    client, _process = server
    prefix = f"{request.node.name}/"
    for n in range(5):
        client.put_object(Bucket=BUCKET, Key=f"{prefix}k{n} x.py", Body=b"")
    ours = watchers_client()
    keys, token = [], {}
    while True:
        page = ours.list_objects_v2(Bucket=BUCKET, Prefix=prefix, MaxKeys=2, **token)
        assert len(page["Contents"]) <= 2
        keys += [item["Key"] for item in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    everything = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    assert keys == [item["Key"] for item in everything]
    assert len(keys) == 5


def test_unsafe_keys_never_leave_the_folder(sync, tmp_path) -> None:
    put(sync, "../../escape.py", b"x\n")
    put(sync, "fine.py", b"y\n")
    result = sync.run_once()
    assert result.fetched == ["fine.py"]
    assert sync.prefix + "../../escape.py" in result.skipped
    assert not any(p.name == "escape.py" for p in tmp_path.rglob("*"))
    assert os.listdir(sync.folder) == ["fine.py"]


class _Truncating:
    """The real client, except that one key's download comes back short. A fault S3 cannot be
    made to cause for real (the server checks what it stores), so it is faked here."""

    def __init__(self, client, key: str):
        self._client, self._key = client, key

    def __getattr__(self, name):
        return getattr(self._client, name)

    def get_object(self, **kwargs):
        answer = self._client.get_object(**kwargs)
        if kwargs["Key"] == self._key:
            answer["Body"] = io.BytesIO(answer["Body"].read()[:-1])
        return answer


def test_one_bad_download_does_not_hold_back_the_others(sync) -> None:
    put(sync, "a_bad.py", b"bad = 1\n")
    put(sync, "b_good.py", b"good = 1\n")
    sync.s3 = _Truncating(sync.s3, sync.prefix + "a_bad.py")
    result = sync.run_once()
    assert result.fetched == ["b_good.py"]
    assert result.error and "a_bad.py" in result.error and "ETag" in result.error
    assert files(sync) == {"b_good.py": b"good = 1\n"}  # never half of a_bad.py
    assert not (sync.folder / STAGING).exists()
    sync.s3 = sync.s3._client  # the fault is gone: the next round fetches it
    result = sync.run_once()
    assert (result.fetched, result.error) == (["a_bad.py"], None)
