"""mwaa-local's S3 server: moto's S3, in-process, with its objects kept in a folder.

    serve.py [--host 0.0.0.0] [--port 9000] [--data /data]

Both runtimes run this file: the native one with .venv-servers' python (see
emulator/runtime/servers.py), Docker as the S3 stand-in's main process (images/offline/s3).

moto keeps S3 in memory; a restart must not empty the bucket (the watcher would delete every
DAG) nor change version ids (plugins.zip and requirements.txt are referenced by them). So:
- DATA/state.json lists every bucket and every object version, delete markers included, with
  its version id, time, ETag and metadata; it is written atomically within about a second of
  any request that may change something, and on SIGTERM/SIGINT.
- DATA/objects/<sha256> holds the bodies, content-addressed: a snapshot writes only bodies it
  has not written before, and deletes those nothing refers to any more.
- On start, the state is put back into moto's backend before the port opens.
Not kept: multipart uploads in progress, ACLs, bucket policies and other bucket configuration.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import werkzeug.serving
from moto.moto_server.werkzeug_app import create_backend_app
from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, S3Backend, s3_backends

log = logging.getLogger("s3")

FORMAT = 1
# Methods that never change S3 state: no snapshot needed after them.
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
# A snapshot waits this long after a change, so that a burst of requests costs one write.
SAVE_DELAY_S = 0.2
# Plain attributes of an object version kept beside its body and metadata.
KEY_ATTRIBUTES = (
    "checksum_algorithm",
    "checksum_value",
    "checksum_type",
    "checksum_parts",
    "encryption",
    "kms_key_id",
    "website_redirect_location",
    "lock_mode",
    "lock_legal_status",
    "lock_until",
)
# Set on a FakeKey once its body's digest is known: its value never changes afterwards, so a
# snapshot hashes each body once.
DIGEST_ATTRIBUTE = "_mwaa_local_sha256"


def _lock_etag_computation() -> None:
    """moto computes an object's ETag on first use by seeking its body's shared buffer and
    reading it in chunks, without the lock its `value` getter takes. A listing or a snapshot
    touching a large new object while its PUT answers then interleaves the reads and caches a
    wrong ETag for good; the watcher would re-download that object forever. Take the lock."""
    compute = FakeKey.etag.fget

    def etag(self: FakeKey) -> str:
        if self._etag is None:
            with self.lock:
                return compute(self)
        return compute(self)

    FakeKey.etag = property(etag)  # type: ignore[method-assign,assignment]


_lock_etag_computation()


class Gate:
    """Lets requests that change state run together, and a snapshot's reading alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._writers = 0
        self._snapshotting = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._snapshotting)
            self._writers += 1
        try:
            yield
        finally:
            with self._cond:
                self._writers -= 1
                self._cond.notify_all()

    @contextmanager
    def reading(self, reopen: bool = True) -> Iterator[None]:
        """Wait for the writers to finish and keep new ones out; `reopen=False` for the last
        snapshot: a request that slipped in after it would be acknowledged but never saved."""
        with self._cond:
            self._snapshotting = True
            self._cond.wait_for(lambda: self._writers == 0)
        try:
            yield
        finally:
            if reopen:
                with self._cond:
                    self._snapshotting = False
                    self._cond.notify_all()


class MarkChanges:
    """WSGI middleware: a request that may change state passes the gate, then marks dirty."""

    def __init__(self, app: Callable[..., Iterable[bytes]], gate: Gate, dirty: threading.Event):
        self.app = app
        self.gate = gate
        self.dirty = dirty

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD", "GET") in READ_ONLY:
            return self.app(environ, start_response)
        # moto acts on the request inside this call; only the response body streams later.
        with self.gate.writing():
            try:
                return self.app(environ, start_response)
            finally:
                self.dirty.set()


def _backends() -> Iterator[tuple[str, str, S3Backend]]:
    """(account, partition, backend) of every S3 backend in use."""
    # dict's own items(): indexing would create backends for accounts nobody used.
    for account, partitions in list(dict.items(s3_backends)):
        for partition, backend in list(dict.items(partitions)):
            yield account, partition, backend


def _write_file(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a crash leaves the old file (or none) in place."""
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    """Make the renames in `path` durable, not only the files' contents."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """moto's S3 state <-> DATA/state.json + DATA/objects/."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.state = folder / "state.json"
        self.objects = folder / "objects"
        self.on_disk: set[str] = set()

    # -- restore --------------------------------------------------------------------------
    def restore(self) -> int:
        """Put the saved buckets and object versions back into moto; returns the versions."""
        self.objects.mkdir(parents=True, exist_ok=True)
        self.on_disk = {e.name for e in os.scandir(self.objects) if not e.name.startswith(".")}
        if not self.state.exists():
            return 0
        state = json.loads(self.state.read_text())
        if state.get("format") != FORMAT:
            raise SystemExit(f"{self.state}: unknown format {state.get('format')!r}")
        count = 0
        for saved in state["buckets"]:
            backend = s3_backends[saved["account"]][saved["partition"]]
            bucket = backend.create_bucket(
                saved["name"], saved["region"], bucket_namespace=saved.get("namespace")
            )
            bucket.creation_date = datetime.datetime.fromisoformat(saved["created"])
            bucket.versioning_status = saved["versioning"]
            for name, versions in saved["keys"].items():
                restored: list[FakeKey | FakeDeleteMarker] = []
                for version in versions:
                    previous = restored[-1] if restored else None
                    restored.append(self._restore_version(backend, bucket, name, version, previous))
                bucket.keys.setlist(name, restored)
                count += len(restored)
        return count

    def _restore_version(
        self,
        backend: S3Backend,
        bucket: FakeBucket,
        name: str,
        saved: dict[str, Any],
        previous: FakeKey | FakeDeleteMarker | None,
    ) -> FakeKey | FakeDeleteMarker:
        modified = datetime.datetime.fromisoformat(saved["last_modified"])
        if saved.get("delete_marker"):
            # moto links a marker to the version it hid (only its type is ever looked at); the
            # oldest version has nothing before it, and a stand-in with the name does.
            marker = FakeDeleteMarker(key=previous or types.SimpleNamespace(name=name))  # type: ignore[arg-type]
            marker._version_id = saved["version_id"]
            marker.last_modified = modified
            return marker
        key = FakeKey(
            name=name,
            value=self._read_blob(saved["blob"]),
            account_id=backend.account_id,
            region_name=backend.region_name,
            storage=saved["storage_class"],
            etag=saved["etag"],
            is_versioned=saved["is_versioned"],
            version_id=saved["version_id"],
            bucket_name=bucket.name,
        )
        key.last_modified = modified
        key.metadata.clear()
        key.metadata.update(saved["metadata"])
        for attribute, value in saved.get("attributes", {}).items():
            setattr(key, attribute, value)
        setattr(key, DIGEST_ATTRIBUTE, saved["blob"])
        if saved.get("tags"):
            tags = [{"Key": k, "Value": v} for k, v in saved["tags"].items()]
            backend.tagger.tag_resource(key.arn, tags)
        return key

    def _read_blob(self, digest: str) -> bytes:
        path = self.objects / digest
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SystemExit(f"{self.state} refers to {path}, which is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise SystemExit(f"{path} is corrupt: its contents do not match its name")
        return data

    # -- snapshot -------------------------------------------------------------------------
    def save(self, gate: Gate, final: bool = False) -> None:
        """Write a snapshot: new bodies first, then the state that refers to them."""
        with gate.reading(reopen=not final):
            state, new_blobs = self._collect()
        for digest, data in new_blobs.items():
            _write_file(self.objects / digest, data)
        if new_blobs:
            # The bodies' names must be durable before a state that refers to them is.
            _fsync_dir(self.objects)
        _write_file(self.state, json.dumps(state, indent=1).encode())
        _fsync_dir(self.folder)
        self.on_disk |= set(new_blobs)
        self._collect_garbage(state)

    def _collect(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The state as JSON-ready data, and the bodies not on disk yet (digest -> bytes)."""
        new_blobs: dict[str, bytes] = {}
        buckets = []
        for account, partition, backend in _backends():
            for bucket in list(backend.buckets.values()):
                keys = {
                    name: [self._version(backend, v, new_blobs) for v in list(versions)]
                    for name, versions in list(bucket.keys.lists())
                }
                buckets.append(
                    {
                        "account": account,
                        "partition": partition,
                        "name": bucket.name,
                        "region": bucket.region_name,
                        "namespace": bucket.bucket_namespace,
                        "created": bucket.creation_date.isoformat(),
                        "versioning": bucket.versioning_status,
                        "keys": keys,
                    }
                )
        return {"format": FORMAT, "buckets": buckets}, new_blobs

    def _version(
        self, backend: S3Backend, version: FakeKey | FakeDeleteMarker, new_blobs: dict[str, bytes]
    ) -> dict[str, Any]:
        saved: dict[str, Any] = {
            "version_id": version.version_id,
            "last_modified": version.last_modified.isoformat(),
        }
        if isinstance(version, FakeDeleteMarker):
            return {**saved, "delete_marker": True}
        digest = getattr(version, DIGEST_ATTRIBUTE, None)
        if digest is None or (digest not in self.on_disk and digest not in new_blobs):
            value = version.value
            digest = hashlib.sha256(value).hexdigest()
            setattr(version, DIGEST_ATTRIBUTE, digest)
            if digest not in self.on_disk:
                new_blobs[digest] = value
        attributes = {
            name: getattr(version, name, None)
            for name in KEY_ATTRIBUTES
            if isinstance(getattr(version, name, None), str | int)
        }
        return {
            **saved,
            "blob": digest,
            "etag": version.etag.strip('"'),
            "is_versioned": version._is_versioned,
            "storage_class": version.storage_class,
            "metadata": dict(version.metadata),
            "attributes": attributes,
            "tags": backend.tagger.get_tag_dict_for_resource(version.arn),
        }

    def _collect_garbage(self, state: dict[str, Any]) -> None:
        """Delete bodies the state just written does not refer to (and leftover temp files)."""
        referenced = {
            version["blob"]
            for bucket in state["buckets"]
            for versions in bucket["keys"].values()
            for version in versions
            if "blob" in version
        }
        for entry in os.scandir(self.objects):
            if entry.name not in referenced:
                os.unlink(entry.path)
        # A body deleted here that a newer request uploaded again is rewritten next time.
        self.on_disk &= referenced


class Saver(threading.Thread):
    """Writes a snapshot soon after each change, and a last one when asked to stop."""

    def __init__(self, store: Store, gate: Gate, dirty: threading.Event):
        super().__init__(name="s3-saver", daemon=True)
        self.store = store
        self.gate = gate
        self.dirty = dirty
        self.stopping = threading.Event()
        self.failed = False

    def stop(self) -> None:
        self.stopping.set()
        self.dirty.set()
        self.join()

    def run(self) -> None:
        while True:
            self.dirty.wait()
            self.stopping.wait(SAVE_DELAY_S)
            # Cleared before reading the state: a change made meanwhile sets it again.
            self.dirty.clear()
            final = self.stopping.is_set()
            try:
                self.store.save(self.gate, final=final)
                self.failed = False
            except Exception:  # noqa: BLE001 - one failed snapshot (disk full...) must not end the rest
                log.exception("s3: could not save the state to %s", self.store.folder)
                self.failed = True
                self.dirty.set()
                self.stopping.wait(1)
            if final:
                return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--data", type=Path, default=Path("/data"))
    args = parser.parse_args(argv)

    # Signals are taken by sigwait below, not by handlers: every thread started from here on
    # inherits the mask, so none is interrupted, and as PID 1 in a container (where a signal
    # with no handler is dropped) a blocked SIGTERM still arrives.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Our log is a file or `docker logs`, rarely a terminal: no colour codes in it.
    werkzeug.serving._log_add_style = sys.stderr.isatty()
    # The healthchecks ask for / every 2 s: keep those out of the log.
    logging.getLogger("werkzeug").addFilter(lambda record: '"GET / HTTP' not in record.getMessage())

    store = Store(args.data)
    restored = store.restore()
    gate = Gate()
    dirty = threading.Event()
    saver = Saver(store, gate, dirty)
    saver.start()
    # The port opens only once the state is back: "answering" means "restored".
    server = werkzeug.serving.make_server(
        args.host, args.port, MarkChanges(create_backend_app("s3"), gate, dirty), threaded=True
    )
    serving = threading.Thread(target=server.serve_forever, name="s3-http", daemon=True)
    serving.start()
    log.info(
        "s3: moto S3 server on http://%s:%d, %d object versions restored from %s",
        args.host,
        args.port,
        restored,
        args.data,
    )

    received = signal.sigwait(stop_signals)
    log.info("s3: %s: saving the state and stopping", signal.Signals(received).name)
    server.shutdown()
    saver.stop()
    server.server_close()
    return 1 if saver.failed else 0


if __name__ == "__main__":
    sys.exit(main())
