"""The shipper: sends a spool folder to CloudWatch Logs, in a thread of the service that owns
the folder (`mwaa-local run scheduler`, `worker`, `webserver`, `api`).

Every round reads what is new in the spool, sends it as PutLogEvents calls (batches.py), and
moves the spool's offsets past what CloudWatch accepted. While the server does not answer,
nothing is moved: the lines wait on disk and go once it is back (a restarted component
resumes from its offsets). Delivery is at least once: a line can be sent twice only when an
answer was lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emulator.cloudwatch import batches, groups
from emulator.cloudwatch.spool import Record, SpoolReader

LOG = logging.getLogger(__name__)
POLL_S = 0.2
BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
# Answers that mean "not now" rather than "never": the batch waits for the next round.
_RETRYABLE = {
    "ServiceUnavailableException",
    "ThrottlingException",
    "InternalFailure",
    "InternalServerError",
}


class ServerAway(Exception):
    """CloudWatch Logs did not take a batch now; the spool keeps it."""


def settled_offsets(sent: list[Record], unsent: list[Record]) -> list[Record]:
    """The records whose offsets may be committed: per spool file, those before its first
    record that was not sent (a file's offset only moves past lines that all went out)."""
    first_unsent: dict[str, int] = {}
    for record in unsent:
        first_unsent[record.source] = min(first_unsent.get(record.source, record.end), record.end)
    return [r for r in sent if r.end < first_unsent.get(r.source, r.end + 1)]


class Shipper:
    def __init__(
        self,
        folder: Path,
        logs_client: Callable[[], Any],
        poll_s: float = POLL_S,
        name: str = "cloudwatch-shipper",
    ) -> None:
        self.reader = SpoolReader(folder)
        self._new_client = logs_client
        self._client: Any = None
        self._known: set[tuple[str, str]] = set()
        self._groups: list[str] = []
        self._streams: list[tuple[str, str]] = []
        self._poll_s = poll_s
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one round at a time (the thread, or a final drain)
        self.away_since: float | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- control ----------------------------------------------------------------------------
    def start(self) -> Shipper:
        self.thread.start()
        return self

    def want_groups(self, names: list[str], streams: Sequence[tuple[str, str]] = ()) -> None:
        """Create these log groups (the enabled types') and (group, stream)s (a component's
        own, before its first line) as soon as the server answers."""
        self._groups = list(names)
        self._streams = list(streams)
        self._wake.set()

    def stop(self, drain_s: float = 10.0) -> int:
        """Stop the thread, then send what is left for up to `drain_s` seconds; returns the
        bytes left in the spool (sent when the service starts again)."""
        self._stopping.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join(drain_s + 10)
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self.reader.pending_bytes():
            try:
                self.send_once()
            except ServerAway:
                time.sleep(0.5)
        left = self.reader.pending_bytes()
        if left:
            LOG.warning(
                "%d bytes of log lines not sent to CloudWatch Logs yet; kept in %s and sent "
                "when this service starts again",
                left,
                self.reader.folder,
            )
        return left

    # -- a round ----------------------------------------------------------------------------
    def _logs(self) -> Any:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def send_once(self) -> int:
        """One round; returns the records settled. Raises ServerAway when the server is not
        taking lines now (nothing is lost: the spool keeps them)."""
        with self._lock:
            if self._groups or self._streams:
                try:
                    groups.ensure_groups(self._logs(), self._groups)
                    for group, stream in self._streams:
                        groups.ensure_stream(self._logs(), group, stream)
                        self._known.add((group, stream))
                except (BotoCoreError, ClientError) as exc:
                    raise ServerAway(str(exc)) from exc
                self._groups, self._streams = [], []
            records = self.reader.read()
            if not records:
                self.reader.tidy()
                return 0
            planned, settled = batches.plan(records)
            unsent: list[Record] = []
            away: Exception | None = None
            for batch in planned:
                if away is not None:
                    unsent += batch.records
                    continue
                try:
                    self._put(batch)
                except ServerAway as exc:
                    away = exc
                    unsent += batch.records
                    continue
                settled += batch.records
            self.reader.commit(settled_offsets(settled, unsent))
            if away is not None:
                raise away
            return len(settled)

    def _put(self, batch: batches.Batch) -> None:
        logs = self._logs()
        key = (batch.group, batch.stream)
        try:
            if key not in self._known:
                groups.ensure_stream(logs, batch.group, batch.stream)
                self._known.add(key)
            try:
                answer = logs.put_log_events(
                    logGroupName=batch.group, logStreamName=batch.stream, logEvents=batch.events
                )
            except ClientError as exc:
                if not groups.is_missing(exc):
                    raise
                # Deleted meanwhile (aws logs delete-log-group): make it again, once.
                groups.ensure_stream(logs, batch.group, batch.stream)
                answer = logs.put_log_events(
                    logGroupName=batch.group, logStreamName=batch.stream, logEvents=batch.events
                )
        except BotoCoreError as exc:
            raise ServerAway(f"{type(exc).__name__}: {exc}") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if error.get("Code") in _RETRYABLE or status >= 500:
                raise ServerAway(f"{error.get('Code')}: {error.get('Message')}") from exc
            # Refused for good (bad input): dropping it is better than holding back the rest.
            LOG.error(
                "CloudWatch Logs refused %d events for %s/%s (%s: %s); dropped",
                len(batch.events),
                batch.group,
                batch.stream,
                error.get("Code"),
                error.get("Message"),
            )
            return
        rejected = answer.get("rejectedLogEventsInfo")
        if rejected:
            LOG.warning("CloudWatch Logs rejected some events of %s: %s", batch.stream, rejected)

    # -- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                sent = self.send_once()
            except ServerAway as exc:
                if self.away_since is None:
                    self.away_since = time.monotonic()
                    LOG.warning(
                        "CloudWatch Logs is not taking lines (%s); they wait in %s and go "
                        "when it is back",
                        exc,
                        self.reader.folder,
                    )
                self._client = None  # a fresh connection next time
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                self._wake.wait(delay)
                self._wake.clear()
                continue
            except Exception:  # noqa: BLE001 - the shipper must outlive any one bad round
                LOG.exception("sending logs to CloudWatch Logs failed; trying again")
                self._wake.wait(BACKOFF_S[-1])
                self._wake.clear()
                continue
            if self.away_since is not None:
                LOG.warning(
                    "CloudWatch Logs is back after %.0f s; sending the waiting lines",
                    time.monotonic() - self.away_since,
                )
                self.away_since = None
            failures = 0
            if not sent:
                self._wake.wait(self._poll_s)
                self._wake.clear()
