"""mwaa-local's CloudWatch Logs server: moto's `logs` backend, in-process, kept on disk.

    serve.py [--host 0.0.0.0] [--port 9000] [--data /data]
    serve.py --check [URL]          exit 0 when the server at URL answers (a health check)

Both runtimes run this file: the native one with .venv-servers' python (see
emulator/runtime/servers.py), Docker as the `logs` service's main process (images/logs).

moto keeps CloudWatch Logs in memory; MWAA's log groups must survive a restart, and a line a
client was told is stored (PutLogEvents answered 200) must never be lost, not even by a crash.
So every change is written down before its answer leaves:
- The backend's mutating methods (log groups and streams created or deleted, their retention
  and tags, events put) are wrapped to note what they changed; the WSGI layer appends those
  facts to DATA/journal-N.jsonl and fsyncs it before the response is sent.
- DATA/snapshot.json holds the whole state as the same facts, as of journal N-1; it is written
  at start (after restoring), on SIGTERM/SIGINT, and when a journal grows past JOURNAL_MAX.
  Journals it covers are deleted only once it is durable.
- On start the snapshot and the newer journals are put back into moto's backend, event ids
  included, before the port opens. A torn last journal line (a crash while writing it) was
  never acknowledged and is skipped.
Not kept: metric and subscription filters, destinations, resource policies, queries, export
tasks and deliveries.

moto's behaviour is also brought closer to CloudWatch's: FilterLogEvents honours
logStreamNamePrefix and always interleaves streams (AWS ignores `interleaved` since 2019),
requests that change state run one at a time (moto's backend is not thread-safe: event ids
could repeat), and reads run beside each other but never during a change.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("logs")

FORMAT = 1
DEFAULT_ACCOUNT = "000000000000"
# A new snapshot once the journal holds this much: restart time stays bounded.
JOURNAL_MAX = 64 * 1024 * 1024
HEALTH_PATH = "/_mwaa_local/health"
# CloudWatch Logs actions that only read: they run beside each other.
READ_ONLY = re.compile(r"^(Describe|Get|Filter|List|Test)")


# --- moto, patched and watched -------------------------------------------------------------


def _import_moto() -> None:
    """moto reads its account from MOTO_ACCOUNT_ID on every request; ARNs must carry the
    environment's (MWAA_LOCAL_ACCOUNT_ID), as GetEnvironment's CloudWatchLogGroupArn does."""
    os.environ.setdefault("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT)
    global logs_backends, LogEvent, LogGroup, LogStream, LogsBackend, LogsResponse
    global InvalidParameterException, create_backend_app
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.models import LogEvent, LogGroup, LogsBackend, LogStream, logs_backends
    from moto.logs.responses import LogsResponse
    from moto.moto_server.werkzeug_app import create_backend_app


class Facts(threading.local):
    """What the request being served changed, as journal entries (one list per thread)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []


FACTS = Facts()


def _millis(value: datetime.datetime | None) -> int | None:
    if value is None:
        return None
    return int((value - datetime.datetime(1970, 1, 1)).total_seconds() * 1000)


def _from_millis(value: int | None) -> datetime.datetime | None:
    if value is None:
        return None
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=value)


def group_fact(backend: Any, group: Any) -> dict[str, Any]:
    return {
        "op": "group",
        "a": backend.account_id,
        "r": backend.region_name,
        "name": group.name,
        "created": _millis(group.creation_time),
        "retention": group.retention_in_days,
        "kms": group.kms_key_id,
        "tags": backend.tagger.get_tag_dict_for_resource(group.arn),
    }


def stream_fact(backend: Any, group: Any, stream: Any) -> dict[str, Any]:
    return {
        "op": "stream",
        "a": backend.account_id,
        "r": backend.region_name,
        "group": group.name,
        "name": stream.log_stream_name,
        "created": _millis(stream.creation_time),
    }


def events_fact(backend: Any, group: Any, stream: Any, events: list[Any]) -> dict[str, Any]:
    return {
        "op": "events",
        "a": backend.account_id,
        "r": backend.region_name,
        "group": group.name,
        "stream": stream.log_stream_name,
        "events": [[e.event_id, e.timestamp, e.ingestion_time, e.message] for e in events],
    }


def _note_group(backend: Any, name: str) -> None:
    group = backend.groups.get(name)
    if group is None:
        FACTS.entries.append(
            {"op": "group_deleted", "a": backend.account_id, "r": backend.region_name, "name": name}
        )
    else:
        FACTS.entries.append(group_fact(backend, group))


def _group_named_by(backend: Any, arn: str) -> str | None:
    for name, group in backend.groups.items():
        if arn in (group.arn, f"{group.arn}:*"):
            return name
    return None


def _serve_every_region() -> None:
    """moto asks botocore which regions CloudWatch Logs exists in the first time an account is
    used, and botocore parses its whole endpoint data to answer: about 11 MiB this server then
    holds for good. A local endpoint needs no such list (a client reaches it only by being
    pointed at it), so every region name is served."""
    logs_backends._use_boto3_regions = False
    os.environ["MOTO_ALLOW_NONEXISTENT_REGION"] = "true"


def _watch_backend() -> None:
    """Wrap LogsBackend's mutating methods so that each notes what it changed."""

    def after(method: Callable[..., Any], note: Callable[..., None]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = method(self, *args, **kwargs)
            note(self, *args, **kwargs)
            return result

        return wrapper

    def group_from_first(self: Any, name: str, *_: Any, **__: Any) -> None:
        _note_group(self, name)

    def group_from_arn(self: Any, arn: str, *_: Any, **__: Any) -> None:
        name = _group_named_by(self, arn)
        if name is not None:
            _note_group(self, name)

    for name in (
        "create_log_group",
        "ensure_log_group",
        "delete_log_group",
        "put_retention_policy",
        "delete_retention_policy",
        "tag_log_group",
        "untag_log_group",
    ):
        setattr(LogsBackend, name, after(getattr(LogsBackend, name), group_from_first))
    for name in ("tag_resource", "untag_resource"):
        setattr(LogsBackend, name, after(getattr(LogsBackend, name), group_from_arn))

    def stream_changed(self: Any, group_name: str, stream_name: str, *_: Any, **__: Any) -> None:
        group = self.groups.get(group_name)
        stream = group.streams.get(stream_name) if group else None
        if stream is None:
            FACTS.entries.append(
                {
                    "op": "stream_deleted",
                    "a": self.account_id,
                    "r": self.region_name,
                    "group": group_name,
                    "name": stream_name,
                }
            )
        else:
            FACTS.entries.append(stream_fact(self, group, stream))

    for name in ("create_log_stream", "ensure_log_stream", "delete_log_stream"):
        setattr(LogsBackend, name, after(getattr(LogsBackend, name), stream_changed))

    put = LogsBackend.put_log_events

    def put_log_events(
        self: Any, log_group_name: str, log_stream_name: str, log_events: list[Any]
    ) -> Any:
        group = self.groups.get(log_group_name)
        stream = group.streams.get(log_stream_name) if group else None
        before = len(stream.events) if stream is not None else 0
        result = put(self, log_group_name, log_stream_name, log_events)
        if stream is not None and len(stream.events) > before:
            FACTS.entries.append(events_fact(self, group, stream, stream.events[before:]))
        return result

    LogsBackend.put_log_events = put_log_events  # type: ignore[method-assign]


def _patch_filter_log_events() -> None:
    """FilterLogEvents as CloudWatch answers it: logStreamNamePrefix selects streams (moto
    ignores it and searches them all), and events of several streams are always interleaved."""
    original = LogsResponse.filter_log_events

    def filter_log_events(self: Any) -> Any:
        prefix = self._get_param("logStreamNamePrefix")
        if prefix is None:
            self._set_param("interleaved", True)
            return original(self)
        if self._get_param("logStreamNames"):
            raise InvalidParameterException(
                msg="logStreamNames and logStreamNamePrefix are mutually exclusive"
            )
        group = self.logs_backend.groups.get(self._get_param("logGroupName"))
        names = sorted(s for s in (group.streams if group else ()) if s.startswith(prefix))
        if group is not None and not names:
            return json.dumps({"events": [], "searchedLogStreams": []})
        self._set_param("logStreamNames", names)
        self._set_param("interleaved", True)
        return original(self)

    def _set_param(self: Any, name: str, value: Any) -> None:
        # LogsResponse reads every parameter from the JSON body.
        body = json.loads(self.body or "{}")
        body[name] = value
        self.body = json.dumps(body)

    LogsResponse._set_param = _set_param  # type: ignore[attr-defined]
    LogsResponse.filter_log_events = filter_log_events  # type: ignore[method-assign]


def _backends() -> Iterator[Any]:
    # dict's own items(): indexing would create backends for accounts nobody used.
    for _account, regions in list(dict.items(logs_backends)):
        for _region, backend in list(dict.items(regions)):
            yield backend


# --- facts <-> moto's state ----------------------------------------------------------------


def apply(fact: dict[str, Any]) -> None:
    """Put one fact back into moto's backend (restoring the snapshot and the journals)."""
    backend = logs_backends[fact["a"]][fact["r"]]
    op = fact["op"]
    if op == "group":
        group = backend.groups.get(fact["name"])
        if group is None:
            group = LogGroup(backend.account_id, backend.region_name, fact["name"])
            backend.groups[fact["name"]] = group
        group.creation_time = _from_millis(fact["created"]) or group.creation_time
        group.retention_in_days = fact.get("retention")
        group.kms_key_id = fact.get("kms")
        existing = backend.tagger.get_tag_dict_for_resource(group.arn)
        if existing:
            backend.tagger.untag_resource_using_names(group.arn, list(existing))
        if fact.get("tags"):
            backend.tagger.tag_resource(
                group.arn, [{"Key": k, "Value": v} for k, v in fact["tags"].items()]
            )
    elif op == "group_deleted":
        backend.groups.pop(fact["name"], None)
    elif op == "stream":
        group = backend.groups[fact["group"]]
        if fact["name"] not in group.streams:
            group.streams[fact["name"]] = LogStream(group, fact["name"])
        stream = group.streams[fact["name"]]
        stream.creation_time = _from_millis(fact["created"]) or stream.creation_time
    elif op == "stream_deleted":
        group = backend.groups.get(fact["group"])
        if group is not None:
            group.streams.pop(fact["name"], None)
    elif op == "events":
        stream = backend.groups[fact["group"]].streams[fact["stream"]]
        for event_id, timestamp, ingestion, message in fact["events"]:
            event = LogEvent.__new__(LogEvent)
            event.event_id, event.timestamp = event_id, timestamp
            event.ingestion_time, event.message = ingestion, message
            stream.events.append(event)
            stream.stored_bytes += len(message)
            LogEvent._event_id = max(LogEvent._event_id, event_id + 1)
        stream.upload_sequence_token += 1
        stream.last_ingestion_time = _from_millis(fact["events"][-1][2])
    else:
        raise ValueError(f"unknown journal entry {op!r}")


def state_facts() -> Iterator[dict[str, Any]]:
    """The whole state as facts, in an order `apply` can replay."""
    for backend in _backends():
        for group in list(backend.groups.values()):
            yield group_fact(backend, group)
            for stream in list(group.streams.values()):
                yield stream_fact(backend, group, stream)
                events = list(stream.events)
                if events:
                    yield events_fact(backend, group, stream, events)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """moto's logs state <-> DATA/snapshot.json + DATA/journal-N.jsonl."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.snapshot = folder / "snapshot.json"
        self.lock = threading.Lock()  # the journal file and its number
        self.number = 0
        self.journal: io.BufferedWriter | None = None
        self.written = 0

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.glob("journal-*.jsonl"):
            try:
                found.append((int(path.stem.split("-", 1)[1]), path))
            except ValueError:
                continue
        return sorted(found)

    def restore(self) -> int:
        """Put the saved state back; returns how many events it holds."""
        self.folder.mkdir(parents=True, exist_ok=True)
        covered = -1
        if self.snapshot.exists():
            saved = json.loads(self.snapshot.read_text())
            if saved.get("format") != FORMAT:
                raise SystemExit(f"{self.snapshot}: unknown format {saved.get('format')!r}")
            covered = saved["covers"]
            for fact in saved["facts"]:
                apply(fact)
        for number, path in self._journals():
            if number <= covered:
                continue
            with open(path, "rb") as journal:
                for line in journal:
                    if not line.endswith(b"\n"):
                        log.warning("logs: %s ends in a torn entry (never acknowledged)", path)
                        break
                    apply(json.loads(line))
            self.number = max(self.number, number)
        return sum(
            len(stream.events)
            for backend in _backends()
            for group in backend.groups.values()
            for stream in group.streams.values()
        )

    def compact(self) -> None:
        """Write a snapshot of the state (call with every writer kept out), start a new
        journal, and delete the journals the snapshot covers."""
        with self.lock:
            covers = self.number
            self._open(covers + 1)
        tmp = self.snapshot.with_name(".tmp-snapshot.json")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(f'{{"format": {FORMAT}, "covers": {covers}, "facts": [\n')
            for index, fact in enumerate(state_facts()):
                out.write(("," if index else "") + json.dumps(fact, ensure_ascii=False) + "\n")
            out.write("]}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.snapshot)
        _fsync_dir(self.folder)
        for number, path in self._journals():
            if number <= covers:
                path.unlink()

    def _open(self, number: int) -> None:
        if self.journal is not None:
            self.journal.close()
        self.number = number
        path = self.folder / f"journal-{number}.jsonl"
        self.journal = open(path, "ab")  # noqa: SIM115 - kept open for the process' life
        _fsync_dir(self.folder)
        self.written = 0

    def record(self, facts: list[dict[str, Any]]) -> bool:
        """Append facts and make them durable; returns whether the journal wants compacting."""
        data = b"".join(json.dumps(f, ensure_ascii=False).encode() + b"\n" for f in facts)
        with self.lock:
            assert self.journal is not None
            self.journal.write(data)
            self.journal.flush()
            os.fsync(self.journal.fileno())
            self.written += len(data)
            return self.written > JOURNAL_MAX

    def close(self) -> None:
        with self.lock:
            if self.journal is not None:
                self.journal.close()
                self.journal = None


# --- serving -------------------------------------------------------------------------------


class ReadWriteLock:
    """Reads run beside each other; a change runs alone. A waiting change goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._waiting_writers)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._waiting_writers -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class Journaled:
    """WSGI middleware: a change is journaled (and fsynced) before its answer is sent."""

    def __init__(self, app: Callable[..., Iterable[bytes]], store: Store):
        self.app = app
        self.store = store
        self.lock = ReadWriteLock()
        self.stopping = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return self._health(start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target.rsplit(".", 1)[-1]
        if READ_ONLY.match(action):
            with self.lock.reading():
                return self.app(environ, start_response)
        status: list[str] = []

        def recording_start(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info)

        with self.lock.writing():
            if self.stopping:
                body = b'{"__type": "ServiceUnavailableException", "message": "stopping"}'
                start_response("503 Service Unavailable", [("Content-Type", "application/json")])
                return [body]
            FACTS.entries = []
            # moto acts on the request inside this call; only the response body streams later.
            answer = self.app(environ, recording_start)
            facts, FACTS.entries = FACTS.entries, []
            if facts and status and status[0].startswith("2"):
                if self.store.record(facts):
                    self.store.compact()
            return answer

    def _health(self, start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock.reading():
            groups = sum(len(b.groups) for b in _backends())
        body = json.dumps({"status": "ok", "log_groups": groups}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    def final_snapshot(self) -> None:
        with self.lock.writing():
            self.stopping = True
            self.store.compact()
            self.store.close()


def check(url: str) -> int:
    """The health check: 0 when the server answers (it opens its port once restored)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + HEALTH_PATH, timeout=5) as answer:
            print(answer.read().decode())
    except OSError as exc:
        print(f"logs: not answering at {url}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--data", type=Path, default=Path("/data"))
    parser.add_argument(
        "--check",
        nargs="?",
        const="http://127.0.0.1:9000",
        metavar="URL",
        help="ask a running server whether it answers, and exit",
    )
    args = parser.parse_args(argv)
    if args.check:
        return check(args.check)

    # Signals are taken by sigwait below, not by handlers: every thread started from here on
    # inherits the mask, so none is interrupted, and as PID 1 in a container (where a signal
    # with no handler is dropped) a blocked SIGTERM still arrives.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    _import_moto()
    _serve_every_region()
    _watch_backend()
    _patch_filter_log_events()
    import werkzeug.serving

    # Our log is a file or `docker logs`, rarely a terminal: no colour codes in it.
    werkzeug.serving._log_add_style = sys.stderr.isatty()
    # Health checks, and the shippers' steady PutLogEvents, would drown everything else.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    store = Store(args.data)
    restored = store.restore()
    store.compact()
    app = Journaled(create_backend_app("logs"), store)
    # The port opens only once the state is back: "answering" means "restored".
    server = werkzeug.serving.make_server(args.host, args.port, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, name="logs-http", daemon=True)
    serving.start()
    log.info(
        "logs: moto CloudWatch Logs server on http://%s:%d (account %s), %d events restored "
        "from %s",
        args.host,
        args.port,
        os.environ["MOTO_ACCOUNT_ID"],
        restored,
        args.data,
    )

    received = signal.sigwait(stop_signals)
    log.info("logs: %s: saving the state and stopping", signal.Signals(received).name)
    app.final_snapshot()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
