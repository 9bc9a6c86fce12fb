"""Native backend: the worker processes of the native runtime's supervisord (`worker-1` ..
`worker-25`, the `worker` program), started and stopped through its RPC API, so that
`mwaa-local down` stops them and `mwaa-local status` shows them whoever started them.

Retiring one: cancel its consumer of the queue, then supervisord's stop (SIGTERM to the
worker's leader: Celery's warm shutdown finishes running tasks; SIGKILL to its process group
only after the grace, the program's stopwaitsecs).
"""

from __future__ import annotations

from collections.abc import Callable

from emulator.config import Settings
from emulator.health import worker_node_name
from emulator.runtime.layout import Layout
from emulator.runtime.processes import STOPPING, Supervisor

GROUP = "worker"


class ProcessBackend:
    name = "native"

    def __init__(
        self, config: Settings, broker_url: str, grace_s: float, log: Callable[[str], None]
    ):
        layout = Layout(config.state_root)
        self.supervisor = Supervisor(layout.run, layout.logs)
        self.broker_url = broker_url
        self.grace_s = grace_s
        self.log = log
        self._retired: set[str] = set()

    def _group(self):
        return [p for p in self.supervisor.processes() if p.group == GROUP]

    def workers(self) -> list[str]:
        return sorted(
            (p.name for p in self._group() if p.alive and p.state != STOPPING),
            key=_number,
        )

    def retiring(self) -> list[str]:
        return sorted((p.name for p in self._group() if p.state == STOPPING), key=_number)

    def start(self, count: int) -> list[str]:
        free = sorted((p.name for p in self._group() if not p.alive), key=_number)
        started = free[:count]
        for worker in started:
            self.supervisor.start(worker)
        return started

    def retire(self, worker: str, queue: str) -> None:
        try:
            from celery import Celery

            Celery(broker=self.broker_url).control.cancel_consumer(
                queue, destination=[worker_node_name(worker)], reply=True, timeout=2.0
            )
        except Exception as exc:  # noqa: BLE001 - the warm shutdown stops it consuming too
            self.log(f"cancel_consumer {queue} on {worker} failed: {exc}")
        self.supervisor.stop(worker, wait=False)
        self._retired.add(worker)

    def reap(self) -> list[str]:
        stopped = {p.name for p in self._group() if not p.alive}
        gone = sorted(self._retired & stopped, key=_number)
        self._retired -= set(gone)
        return gone


def _number(worker: str) -> int:
    return int(worker.rsplit("-", 1)[1])
