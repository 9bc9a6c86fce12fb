"""Native backend: worker processes (`mwaa-local run worker` with MWAA_LOCAL_WORKER_ID=worker-N)
kept with the native runtime's own bookkeeping (run/worker-N.pid in the state folder), so that
`mwaa-local down` stops them and `mwaa-local status` shows them whoever started them.

A worker being retired has run/worker-N.retiring (its deadline): it was told to stop consuming
the queue and SIGTERMed (Celery's warm shutdown finishes its running tasks); only once the
deadline has passed is what is left of it killed.
"""

from __future__ import annotations

import os
import signal
import time

from emulator.runtime.native import NativeRuntime, _kill_group_leftovers, _venv_bin
from emulator.services.health import worker_node_name

RETIRING = ".retiring"


class ProcessBackend:
    name = "native"

    def __init__(self, broker_url: str, grace_s: float, log=print):
        self.runtime = NativeRuntime()
        self.broker_url = broker_url
        self.grace_s = grace_s
        self.log = log

    # -- what runs ------------------------------------------------------------------------------
    def _run(self):
        return self.runtime.layout.run

    def _retiring_file(self, worker: str):
        return self._run() / f"{worker}{RETIRING}"

    def _ids(self) -> list[str]:
        return sorted(p.stem for p in self._run().glob("worker-*.pid"))

    def workers(self) -> list[str]:
        """Live workers that take tasks."""
        return [
            w
            for w in self._ids()
            if self.runtime._process(w) is not None and not self._retiring_file(w).exists()
        ]

    def retiring(self) -> list[str]:
        return sorted(p.name[: -len(RETIRING)] for p in self._run().glob(f"worker-*{RETIRING}"))

    # -- changes --------------------------------------------------------------------------------
    def _argv(self) -> list[str]:
        svc = next(s for s in self.runtime.services if s.name == "worker")
        return [str(_venv_bin() / svc.command[0]), *svc.command[1:]]

    def start(self, count: int) -> list[str]:
        taken = {w for w in self._ids() if self.runtime._process(w) is not None}
        taken |= set(self.retiring())
        started: list[str] = []
        number = 1
        while len(started) < count:
            wid = f"worker-{number}"
            number += 1
            if wid in taken:
                continue
            self.runtime._start(
                wid, self._argv(), self.runtime._process_env({"MWAA_LOCAL_WORKER_ID": wid})
            )
            started.append(wid)
        return started

    def retire(self, worker: str, queue: str) -> None:
        proc = self.runtime._process(worker)
        if proc is None:
            self.runtime._pidfile(worker).unlink(missing_ok=True)
            return
        self._retiring_file(worker).write_text(f"{time.time() + self.grace_s}\n")
        try:
            from celery import Celery

            app = Celery(broker=self.broker_url)
            app.control.cancel_consumer(
                queue, destination=[worker_node_name(worker)], reply=True, timeout=2.0
            )
        except Exception as exc:  # noqa: BLE001 - the warm shutdown below stops it consuming too
            self.log(f"cancel_consumer {queue} on {worker} failed: {exc}")
        try:
            os.kill(proc.pid, signal.SIGTERM)  # once: `run worker` passes it on to Celery
        except ProcessLookupError:
            pass

    def reap(self) -> list[str]:
        """Forget retired workers that have exited; kill those past their deadline."""
        gone = []
        for worker in self.retiring():
            marker = self._retiring_file(worker)
            try:
                deadline = float(marker.read_text().strip() or 0)
            except (OSError, ValueError):
                deadline = 0.0
            proc = self.runtime._process(worker)
            if proc is not None and time.time() < deadline:
                continue
            if proc is not None:
                self.log(f"{worker} still running after {self.grace_s:.0f} s: stopping it")
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                _kill_group_leftovers(proc.pid)
            self.runtime._pidfile(worker).unlink(missing_ok=True)
            marker.unlink(missing_ok=True)
            gone.append(worker)
        return gone
