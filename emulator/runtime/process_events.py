"""supervisord's event listener for the native runtime: what each process went through, and
the last part of the restart policy.

Run by supervisord (`python -m emulator.runtime.process_events RECORD SOCKET LOG`), it hears every
PROCESS_STATE event (supervisor's event listener protocol) and keeps, per process, how often it
was started and restarted after dying, and how it last exited, in RECORD (JSON) for
`mwaa-local status`. A process supervisord gave up on (FATAL: it kept dying as it started) is
started again after a growing pause (30 s, 60 s, ... at most 5 minutes), as Docker keeps
restarting a crashing container with a growing delay; the status shows it failing meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

import psutil
from supervisor import childutils
from supervisor.xmlrpc import SupervisorTransport

from emulator import logs

LOG = logging.getLogger(__name__)
FIRST_RETRY_S = 30.0
MAX_RETRY_S = 300.0
# A process that ran this long before dying was not crash-looping: its backoff starts over.
STEADY_S = 60.0


class Recorder:
    def __init__(self, record: Path, socket: str, supervisord_log: Path):
        self.record = record
        self.socket = socket
        self.supervisord_log = supervisord_log
        self.lock = threading.Lock()
        try:
            self.data: dict[str, dict[str, Any]] = json.loads(record.read_text())
        except (OSError, ValueError):
            self.data = {}

    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def _save(self) -> None:
        tmp = self.record.with_name(f".{self.record.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.record)

    def handle(self, event: str, fields: dict[str, str]) -> None:
        name, group = fields.get("processname", "?"), fields.get("groupname", "?")
        now = time.time()
        with self.lock:
            entry = self.data.setdefault(
                name, {"starts": 0, "restarts": 0, "fatal": 0, "state": "?", "last_exit": None}
            )
            entry["state"] = event.removeprefix("PROCESS_STATE_")
            entry["state_since"] = now
            if event == "PROCESS_STATE_STARTING":
                entry["starts"] += 1
                entry["started_at"] = now
                if entry.pop("died", False):
                    entry["restarts"] += 1
            elif event == "PROCESS_STATE_RUNNING":
                entry["running_since"] = now
                # Which process it is, so that `up` finds it should supervisord die.
                entry["pid"], entry["pid_started"] = _identity(int(fields.get("pid", 0)))
            elif event in ("PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF"):
                expected = fields.get("expected") == "1"
                ran = now - entry.get("started_at", now)
                how = self._exit_reason(name)
                status = re.search(r"exit status (\d+)", how)
                entry["last_exit"] = {
                    "at": now,
                    "status": int(status.group(1)) if status else None,
                    "how": how,
                    "expected": expected,
                    "ran_s": round(ran, 1),
                }
                if not expected:
                    entry["died"] = True  # the next start is a restart
                if ran >= STEADY_S:
                    entry["fatal"] = 0
            elif event == "PROCESS_STATE_FATAL":
                entry["fatal"] += 1
                entry["died"] = True
                delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (entry["fatal"] - 1))
                entry["retry_at"] = now + delay
                timer = threading.Timer(delay, self._retry, args=(group, name))
                timer.daemon = True
                timer.start()
            elif event == "PROCESS_STATE_STOPPED":
                entry.pop("died", None)  # stopped on purpose (down, or a retired worker)
                entry.pop("retry_at", None)
            self._save()

    def _exit_reason(self, name: str) -> str:
        """supervisord's own words for the exit ("exit status 137; not expected"): it logs
        them before telling listeners, and the exit status is gone once it has respawned."""
        try:
            with open(self.supervisord_log, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 65536))
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        found = re.findall(rf"(?:exited|stopped): {re.escape(name)} \(([^)]*)\)", text)
        return found[-1] if found else ""

    def _retry(self, group: str, name: str) -> None:
        with self.lock:
            entry = self.data.get(name, {})
            if entry.get("state") != "FATAL":
                return  # started or stopped meanwhile
            entry.pop("retry_at", None)
        try:
            self._rpc().startProcess(f"{group}:{name}", False)
        except (OSError, xmlrpc.client.Error) as exc:
            LOG.warning("retrying %s failed: %s", name, exc)


def _identity(pid: int) -> tuple[int, float | None]:
    """A pid with its process's start time (a pid alone may be another process's later)."""
    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return pid, None


def parse(payload: str) -> dict[str, str]:
    """supervisor's `key:value key:value` event payload (its first line)."""
    first = payload.split("\n", 1)[0]
    return dict(part.split(":", 1) for part in first.split() if ":" in part)


def main() -> None:
    logs.setup("process-events")  # to stderr: stdout is supervisord's event protocol
    record, socket, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    recorder = Recorder(record, socket, log)
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        try:
            recorder.handle(headers.get("eventname", ""), parse(payload))
        except Exception as exc:  # noqa: BLE001 - a listener that dies loses events: go on
            LOG.exception("event not recorded: %r", exc)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
