"""The S3 server both runtimes use (images/offline/s3/serve.py) keeps buckets and object
versions, with their version ids, across a restart and a crash."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import PORT_OFFSET, PROJECT, unavailable, wait_until

pytestmark = pytest.mark.native

SERVE = PROJECT / "images" / "offline" / "s3" / "serve.py"
SERVERS_PYTHON = PROJECT / ".venv-servers" / "bin" / "python"
# 27900-27999 are this file's; below Linux's ephemeral range, like every test port.
PORT = 27900 + PORT_OFFSET
START_S = 60
STOP_S = 30


class Server:
    """serve.py as a child process, on PORT, keeping its state in `data`."""

    def __init__(self, data: Path, log: Path):
        self.data = data
        self.url = f"http://127.0.0.1:{PORT}"
        argv = [str(SERVERS_PYTHON), str(SERVE), "--host", "127.0.0.1", "--port", str(PORT)]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [*argv, "--data", str(data)], stdout=out, stderr=subprocess.STDOUT
            )
        self.log = log
        wait_until(self._answers, START_S, f"the S3 server on {self.url}", interval=0.2)

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"serve.py exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            urllib.request.urlopen(self.url, timeout=2).close()
        except urllib.error.HTTPError:
            return True  # any answer means it is up
        except OSError:
            return False
        return True

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(STOP_S)

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[], Server]]:
    """Start serve.py on tmp_path/data (again and again: the same folder each time)."""
    if not SERVERS_PYTHON.exists():
        unavailable(f"{SERVERS_PYTHON} is missing: run `make venv`")
    started: list[Server] = []

    def start() -> Server:
        server = Server(tmp_path / "data", tmp_path / "serve.log")
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait(STOP_S)


def _everything(s3: Any) -> dict[str, Any]:
    """What a restart must not change: buckets, versioning, every version and delete marker."""
    out: dict[str, Any] = {}
    for bucket in sorted(b["Name"] for b in s3.list_buckets()["Buckets"]):
        listing = s3.list_object_versions(Bucket=bucket)
        out[bucket] = {
            "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
            "versions": [
                {k: v[k] for k in ("Key", "VersionId", "IsLatest", "ETag", "Size", "LastModified")}
                for v in listing.get("Versions", [])
            ],
            "delete_markers": [
                {k: m[k] for k in ("Key", "VersionId", "IsLatest", "LastModified")}
                for m in listing.get("DeleteMarkers", [])
            ],
        }
    return out


def _status(call: Callable[[], object]) -> int:
    try:
        call()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"]
    return 200


def test_restart_keeps_buckets_and_versions(start_server: Callable[[], Server]) -> None:
    server = start_server()
    s3 = server.client()
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(
        Bucket="versioned",
        Key="dags/a.py",
        Body=b"first",
        ContentType="text/x-python",
        Metadata={"origin": "test"},
    )
    second = s3.put_object(Bucket="versioned", Key="dags/a.py", Body=b"second")
    s3.put_object(Bucket="versioned", Key="dags/nested/deep/b.py", Body=b"nested")
    s3.put_object(Bucket="versioned", Key="gone.txt", Body=b"deleted soon")
    marker = s3.delete_object(Bucket="versioned", Key="gone.txt")
    assert marker["DeleteMarker"]
    blob = bytes(range(256)) * 64
    s3.create_bucket(Bucket="plain")
    plain_etag = s3.put_object(Bucket="plain", Key="blob.bin", Body=blob)["ETag"]
    before = _everything(s3)

    assert server.stop() == 0, server.log.read_text()
    s3 = start_server().client()

    assert _everything(s3) == before
    assert before["versioned"]["versioning"] == "Enabled"
    assert before["plain"]["versioning"] is None
    assert [m["VersionId"] for m in before["versioned"]["delete_markers"]] == [marker["VersionId"]]
    old = s3.get_object(Bucket="versioned", Key="dags/a.py", VersionId=first["VersionId"])
    assert old["Body"].read() == b"first"
    assert old["ETag"] == first["ETag"]
    assert old["ContentType"] == "text/x-python"
    assert old["Metadata"] == {"origin": "test"}
    latest = s3.get_object(Bucket="versioned", Key="dags/a.py")
    assert (latest["Body"].read(), latest["VersionId"]) == (b"second", second["VersionId"])
    assert latest["ETag"] == second["ETag"]
    nested = s3.get_object(Bucket="versioned", Key="dags/nested/deep/b.py")
    assert nested["Body"].read() == b"nested"
    assert _status(lambda: s3.get_object(Bucket="versioned", Key="gone.txt")) == 404
    plain = s3.get_object(Bucket="plain", Key="blob.bin")
    assert (plain["Body"].read(), plain["ETag"]) == (blob, plain_etag)
    assert [v["VersionId"] for v in before["plain"]["versions"]] == ["null"]

    # Still writable after the restart, and the restored history goes on.
    third = s3.put_object(Bucket="versioned", Key="dags/a.py", Body=b"third")
    versions = s3.list_object_versions(Bucket="versioned", Prefix="dags/a.py")["Versions"]
    assert {v["VersionId"] for v in versions} == {
        first["VersionId"],
        second["VersionId"],
        third["VersionId"],
    }


def test_crash_after_snapshot_loses_nothing(
    start_server: Callable[[], Server], tmp_path: Path
) -> None:
    server = start_server()
    s3 = server.client()
    s3.create_bucket(Bucket="bucket")
    s3.put_bucket_versioning(Bucket="bucket", VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket="bucket", Key="plugins.zip", Body=b"PK plugins")
    state = tmp_path / "data" / "state.json"
    wait_until(
        lambda: state.exists() and put["VersionId"] in state.read_text(),
        10,
        "the snapshot to hold the new version",
        interval=0.1,
    )

    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    s3 = start_server().client()

    got = s3.get_object(Bucket="bucket", Key="plugins.zip", VersionId=put["VersionId"])
    assert (got["Body"].read(), got["ETag"]) == (b"PK plugins", put["ETag"])
    assert s3.get_bucket_versioning(Bucket="bucket")["Status"] == "Enabled"


def test_bodies_nothing_refers_to_are_removed(
    start_server: Callable[[], Server], tmp_path: Path
) -> None:
    s3 = start_server().client()
    s3.create_bucket(Bucket="bucket")
    s3.put_bucket_versioning(Bucket="bucket", VersioningConfiguration={"Status": "Enabled"})
    body = b"a requirements.txt"
    blob = tmp_path / "data" / "objects" / hashlib.sha256(body).hexdigest()
    put = s3.put_object(Bucket="bucket", Key="requirements.txt", Body=body)
    wait_until(blob.exists, 10, f"{blob.name} to be written", interval=0.1)

    s3.delete_object(Bucket="bucket", Key="requirements.txt", VersionId=put["VersionId"])

    wait_until(lambda: not blob.exists(), 10, f"{blob.name} to be removed", interval=0.1)
    state = json.loads((tmp_path / "data" / "state.json").read_text())
    assert state["buckets"][0]["keys"] == {}


def test_etag_of_a_large_object_listed_while_it_is_put(
    start_server: Callable[[], Server],
) -> None:
    """The watcher lists the bucket every second. moto reads a new object's body in chunks to
    compute its ETag; a listing doing the same at that moment must not corrupt either ETag
    (it did: the watcher then re-downloaded a file forever, each copy 'not matching')."""
    server = start_server()
    s3 = server.client()
    s3.create_bucket(Bucket="bucket")
    s3.put_bucket_versioning(Bucket="bucket", VersioningConfiguration={"Status": "Enabled"})
    stop = threading.Event()
    putting = threading.Event()
    errors: list[BaseException] = []
    during_puts = [0]  # listings made while a PUT was under way: the race was on

    def list_and_head() -> None:
        reader = server.client()
        try:
            while not stop.is_set():
                racing = putting.is_set()
                for obj in reader.list_objects_v2(Bucket="bucket").get("Contents", []):
                    try:
                        reader.head_object(Bucket="bucket", Key=obj["Key"])
                    except ClientError as exc:
                        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                            raise  # only "deleted in between" is expected
                if racing:
                    during_puts[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    readers = [threading.Thread(target=list_and_head) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for i in range(6):
            body = os.urandom(64 * 1024 * 1024)
            want = f'"{hashlib.md5(body).hexdigest()}"'
            putting.set()
            put = s3.put_object(Bucket="bucket", Key=f"dags/big{i}.bin", Body=body)
            putting.clear()
            listed = s3.list_objects_v2(Bucket="bucket", Prefix=f"dags/big{i}.bin")["Contents"]
            got = s3.get_object(Bucket="bucket", Key=f"dags/big{i}.bin", IfMatch=listed[0]["ETag"])
            assert (put["ETag"], listed[0]["ETag"], got["ETag"]) == (want, want, want), i
            assert hashlib.md5(got["Body"].read()).hexdigest() == want.strip('"')
            s3.delete_object(Bucket="bucket", Key=f"dags/big{i}.bin")
    finally:
        stop.set()
        for reader in readers:
            reader.join(30)
    assert errors == [], f"a reader failed: {errors[0]!r}"
    assert during_puts[0] > 0, "no listing ran while a PUT was under way: nothing was tested"
